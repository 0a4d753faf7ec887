package e2e_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/agent"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/nstest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// applySamples is the least number of changes BenchmarkApplyToForwarding
// times; -benchtime=Nx asks for more.
const applySamples = 30

// BenchmarkApplyToForwarding measures the time from the customer's apply
// in the service API (network.Service.Apply, after the draft was saved
// and reviewed) to the change of forwarding on the node: a controller in
// process, an enrolled agent running its loop with its default settings
// (long poll of 30 s, resync every minute), so that each change reaches
// the node by the long poll, and a hub whose on-premises port's firewall
// alternates between dropping and accepting everything.
//
// The probe is a stream of ICMP echoes from the on-premises router
// (10.0.0.2) to the cloud router's link address (169.254.100.2), each
// echo with an identifier of its own so that each is a new flow for
// conntrack. A sample ends with the first of three consecutive echoes
// that behave the new way; its time is that echo's send time, so a sample
// overstates the change by at most one probe interval (about 25 ms when
// waiting for an echo to pass, 2 ms when waiting for one to be dropped).
// The peers need no BGP for that path (both ends are on the hub's links),
// so they have static routes instead of BIRD; the hub's own BIRD runs.
//
// Before each apply the benchmark sleeps a random 0–1 s, so that applies
// fall at every phase of whatever runs periodically (the held long poll is
// woken by the apply's commit, not by a timer; see web.desiredStateRecheck).
func BenchmarkApplyToForwarding(b *testing.B) {
	h := newHarness(b)
	ctx, netSvc := h.ctx, h.netSvc
	s := newSite(h.prefix, "a")
	tyo := h.addNode(b, "tokyo", "tyo-1", []catalog.PhysicalPort{
		{Name: s.onPhys, SpeedMbps: 10_000, Kind: "onprem"},
		{Name: s.cloudPhysA, SpeedMbps: 10_000, Kind: "cloud-aws"},
		{Name: s.cloudPhysB, SpeedMbps: 10_000, Kind: "cloud-aws"}})
	node, runDir := tyo.ns, tyo.runDir
	configure(b, ctx, h.cat, netSvc, s)
	benchWire(b, node, s)

	client, state := h.enrol(b, tyo)
	m := dataplane.NewManager(dataplane.Options{RunDir: runDir, NodeNamespace: node})
	b.Cleanup(func() {
		_ = m.Remove(context.Background(), s.dataplaneID)
		nstest.KillPidFile(filepath.Join(runDir, dataplane.NamespacePrefix+s.dataplaneID, "bird.pid"))
	})
	// Wait and Resync left at zero: the agent's defaults.
	applier := &timedApplier{ChangeApplier: &agent.DataplaneApplier{M: m, RunDir: runDir, StateDir: state}}
	runAgent(b, &agent.Loop{Client: client, Applier: applier, Dir: state, Version: "bench"})

	h.converged(b, tyo, "of the first configuration")

	probe, err := newProber(s.onprem, "10.0.0.2", "169.254.100.2")
	if err != nil {
		b.Fatal(err)
	}
	defer probe.conn.Close()
	nstest.WaitFor(b, "forwarding across the hub", 30*time.Second, func() (bool, string) { return probe.echo(100 * time.Millisecond), "" })

	configs := [2]network.Config{s.cfg, s.cfg}
	for i, action := range []string{"drop", "accept"} {
		configs[i].Ports = slices.Clone(s.cfg.Ports)
		configs[i].Ports[0].Firewall = &network.Firewall{Mode: "stateful", Rules: []network.Rule{
			{Action: action, Sources: []string{"any"}, Destinations: []string{"any"}}}}
	}
	n := max(b.N, applySamples)
	var lat, api, toNode []time.Duration
	b.ResetTimer()
	for i := range n {
		passes := i%2 == 1 // even samples block the flow, odd ones allow it again
		cfg := configs[i%2]
		for _, step := range []func() error{
			func() error { _, err := netSvc.Workflow.StartEditing(ctx, tenanttest.Customer(s.cust)); return err },
			func() error { _, err := netSvc.Workflow.SaveDraft(ctx, tenanttest.Customer(s.cust), cfg); return err },
			func() error { _, err := netSvc.Workflow.Review(ctx, tenanttest.Customer(s.cust)); return err },
		} {
			if err := step(); err != nil {
				b.Fatal(err)
			}
		}
		time.Sleep(time.Duration(rand.Int64N(int64(time.Second))))
		t0 := time.Now()
		if _, err := netSvc.Workflow.Apply(ctx, tenanttest.Customer(s.cust)); err != nil {
			b.Fatal(err)
		}
		api = append(api, time.Since(t0))
		var first time.Time
		streak := 0
		for streak < 3 {
			if time.Since(t0) > 60*time.Second {
				b.Fatalf("sample %d: forwarding did not change within 60 s of the apply", i)
			}
			sent := time.Now()
			if probe.echo(25*time.Millisecond) == passes {
				if streak == 0 {
					first = sent
				}
				streak++
			} else {
				streak = 0
			}
			time.Sleep(2 * time.Millisecond)
		}
		lat = append(lat, first.Sub(t0))
		if at := applier.last(); at.After(t0) {
			toNode = append(toNode, at.Sub(t0))
		}
		h.converged(b, tyo, "after the change") // the agent is back in its long poll before the next apply
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.Logf("apply → forwarding change, ms: %s", joinMS(lat))
	b.ReportMetric(float64(len(lat)), "samples")
	b.ReportMetric(ms(percentile(lat, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 90)), "p90-ms")
	b.ReportMetric(ms(percentile(lat, 99)), "p99-ms")
	b.ReportMetric(ms(slices.Max(lat)), "max-ms")
	b.ReportMetric(ms(percentile(api, 50)), "api-apply-p50-ms")
	// The controller's part: from the apply to the document's arrival at
	// the agent's applier (the rest is the node's data plane).
	b.Logf("apply → document at the node, ms: %s", joinMS(toNode))
	b.ReportMetric(ms(percentile(toNode, 50)), "to-node-p50-ms")
	b.ReportMetric(ms(percentile(toNode, 99)), "to-node-p99-ms")
}

// timedApplier notes when each document reaches the agent's applier.
type timedApplier struct {
	agent.ChangeApplier
	mu sync.Mutex // guards at
	at time.Time
}

func (a *timedApplier) mark() {
	a.mu.Lock()
	a.at = time.Now()
	a.mu.Unlock()
}

func (a *timedApplier) Apply(ctx context.Context, s desired.State) ([]observed.Hub, error) {
	a.mark()
	return a.ChangeApplier.Apply(ctx, s)
}

func (a *timedApplier) ApplyChanged(ctx context.Context, s desired.State) ([]observed.Hub, error) {
	a.mark()
	return a.ChangeApplier.ApplyChanged(ctx, s)
}

func (a *timedApplier) last() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.at
}

// percentile is the nearest-rank percentile.
func percentile(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	k := (p*len(s) + 99) / 100
	return s[max(k, 1)-1]
}

func joinMS(d []time.Duration) string {
	s := make([]string, len(d))
	for i, x := range d {
		s[i] = fmt.Sprintf("%.0f", float64(x)/float64(time.Millisecond))
	}
	return strings.Join(s, " ")
}

// benchWire is wire (node_test.go) without the peers' BIRD: each peer
// reaches the other's link through the hub by a static route.
func benchWire(b *testing.B, node string, s *site) {
	b.Helper()
	s.onIf = s.onPhys
	s.clIf = fmt.Sprintf("%s.%d", s.cloudPhysA, vlan)
	for _, side := range []struct{ ns, ifname, addr, route string }{
		{s.onprem, s.onIf, "10.0.0.2/30", "169.254.100.0/30 via 10.0.0.1"},
		{s.cloud, s.clIf, "169.254.100.2/30", "10.0.0.0/30 via 169.254.100.1"},
	} {
		nstest.AddNamespace(b, side.ns)
		nstest.Sh(b, "ip", "-n", node, "link", "add", side.ifname, "type", "veth", "peer", "name", "eth0", "netns", side.ns)
		nstest.IPBatch(b, side.ns, []string{"addr add " + side.addr + " dev eth0", "link set eth0 up", "route add " + side.route})
	}
	// The cloud port's secondary link: its leg must exist on the node; the
	// benchmark's traffic stays on the primary.
	s.clIf2 = fmt.Sprintf("%s.%d", s.cloudPhysB, vlan)
	nstest.Sh(b, "ip", "-n", node, "link", "add", s.clIf2, "type", "veth", "peer", "name", "eth1", "netns", s.cloud)
	nstest.IPBatch(b, s.cloud, []string{"addr add 169.254.100.6/30 dev eth1", "link set eth1 up"})
}

// prober sends ICMP echoes from an address in a namespace, each with an
// identifier of its own: conntrack keys echoes by identifier, so each is
// a new flow that the firewall's current rules judge, never an
// established one.
type prober struct {
	conn net.PacketConn
	dst  *net.IPAddr
	id   uint16
}

func newProber(ns, src, dst string) (*prober, error) {
	p := &prober{dst: &net.IPAddr{IP: net.ParseIP(dst)}, id: uint16(rand.Uint32())}
	err := nstest.InNamespace(ns, func() error {
		var err error
		p.conn, err = net.ListenPacket("ip4:icmp", src)
		return err
	})
	return p, err
}

// echo reports whether an echo request is answered within timeout.
func (p *prober) echo(timeout time.Duration) bool {
	p.id++
	msg := make([]byte, 16)
	msg[0] = 8 // echo request
	binary.BigEndian.PutUint16(msg[4:], p.id)
	binary.BigEndian.PutUint16(msg[6:], 1)
	copy(msg[8:], "tsunagi!")
	binary.BigEndian.PutUint16(msg[2:], nstest.ICMPChecksum(msg))
	if _, err := p.conn.WriteTo(msg, p.dst); err != nil {
		return false
	}
	_ = p.conn.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 1500)
	for {
		n, from, err := p.conn.ReadFrom(buf)
		if err != nil {
			return false
		}
		if n >= 8 && buf[0] == 0 && binary.BigEndian.Uint16(buf[4:]) == p.id && from.String() == p.dst.String() {
			return true
		}
	}
}
