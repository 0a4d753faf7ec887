package e2e_test

import (
	"context"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/agent"
	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/nstest"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tlsutil"
	"github.com/tsunagi-net/tsunagi/internal/web"
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
// fall at every phase of the controller's long-poll check (it reads the
// desired state once a second).
func BenchmarkApplyToForwarding(b *testing.B) {
	nstest.RequireRootTB(b)
	ctx := audit.WithActor(context.Background(), audit.Actor{ID: "acc_bench", Kind: "operator", Name: "bench"})
	prefix := nstest.RunPrefixTB(b)
	node := prefix + "-node"
	nstest.AddNamespaceTB(b, node)
	runDir := filepath.Join("/tmp", prefix)
	if err := os.MkdirAll(runDir, 0o700); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(runDir) })

	// The controller, as in TestNodeEndToEnd.
	db := storetest.SQLite(b)
	log := audit.New(db)
	cat := catalog.New(db, log)
	netSvc := network.New(db, log, network.DefaultSettings)
	fl, err := fleet.New(ctx, db, log)
	if err != nil {
		b.Fatal(err)
	}
	srv := web.New(web.Config{}, web.Deps{DB: db, Catalog: cat, Audit: log, Fleet: fl, Network: netSvc,
		DesiredState: netSvc.DesiredStateDoc, Log: slog.New(slog.DiscardHandler),
		Identity: identity.New(db, log, identity.Config{Argon2: identity.Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1}})})
	cert, _, err := tlsutil.SelfSigned(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	agentSrv := httptest.NewUnstartedServer(srv.AgentHandler())
	agentSrv.TLS = web.AgentTLS(tlsutil.ServerConfig(cert), fl)
	agentSrv.StartTLS()
	b.Cleanup(agentSrv.Close)
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	roots := x509.NewCertPool()
	roots.AddCert(leaf)

	if _, err := cat.CreateRegion(ctx, catalog.RegionInput{Code: "tokyo", NameEN: "Tokyo", NameJA: "東京", DataLocation: "Japan"}); err != nil {
		b.Fatal(err)
	}
	s := newSite(prefix, "a")
	if _, err := cat.CreateNode(ctx, catalog.NodeInput{Region: "tokyo", Name: "tyo-1", Ports: []catalog.PhysicalPort{
		{Name: s.onPhys, SpeedMbps: 10_000, Kind: "onprem"},
		{Name: s.cloudPhysA, SpeedMbps: 10_000, Kind: "cloud-aws"},
		{Name: s.cloudPhysB, SpeedMbps: 10_000, Kind: "cloud-aws"}}}); err != nil {
		b.Fatal(err)
	}
	benchConfigure(b, ctx, cat, netSvc, s)
	benchWire(b, node, s)

	tok, err := fl.IssueEnrolToken(ctx, "tyo-1")
	if err != nil {
		b.Fatal(err)
	}
	state := b.TempDir()
	if err := agent.Enrol(ctx, agentSrv.URL, roots, tok.Token, state); err != nil {
		b.Fatal(err)
	}
	client, err := agent.NewClient(agentSrv.URL, roots, state)
	if err != nil {
		b.Fatal(err)
	}
	m := dataplane.NewManager(dataplane.Options{RunDir: runDir, NodeNamespace: node})
	b.Cleanup(func() {
		_ = m.Remove(context.Background(), s.dataplaneID)
		nstest.KillPidFile(filepath.Join(runDir, dataplane.NamespacePrefix+s.dataplaneID, "bird.pid"))
	})
	agentCtx, stopAgent := context.WithCancel(context.Background())
	agentDone := make(chan struct{})
	go func() {
		defer close(agentDone)
		// Wait and Resync left at zero: the agent's defaults.
		(&agent.Loop{Client: client, Applier: &agent.DataplaneApplier{M: m, RunDir: runDir}, Dir: state, Version: "bench",
			Log: slog.New(slog.NewTextHandler(tbWriter{b}, &slog.HandlerOptions{Level: slog.LevelWarn}))}).Run(agentCtx)
	}()
	b.Cleanup(func() { stopAgent(); <-agentDone })

	converged := func() {
		b.Helper()
		_, want, err := netSvc.DesiredStateDoc(ctx, "tyo-1")
		if err != nil {
			b.Fatal(err)
		}
		waitTB(b, "the node to reach generation "+want, 90*time.Second, func() bool {
			st, err := fl.NodeStatus(ctx, "tyo-1")
			return err == nil && st.AppliedGeneration == want
		})
	}
	converged()

	probe, err := newProber(s.onprem, "10.0.0.2", "169.254.100.2")
	if err != nil {
		b.Fatal(err)
	}
	defer probe.conn.Close()
	waitTB(b, "forwarding across the hub", 30*time.Second, func() bool { return probe.echo(100 * time.Millisecond) })

	configs := [2]network.Config{s.cfg, s.cfg}
	for i, action := range []string{"drop", "accept"} {
		configs[i].Ports = slices.Clone(s.cfg.Ports)
		configs[i].Ports[0].Firewall = &network.Firewall{Mode: "stateful", Rules: []network.Rule{
			{Action: action, Sources: []string{"any"}, Destinations: []string{"any"}}}}
	}
	n := max(b.N, applySamples)
	var lat, api []time.Duration
	b.ResetTimer()
	for i := range n {
		passes := i%2 == 1 // even samples block the flow, odd ones allow it again
		cfg := configs[i%2]
		for _, step := range []func() error{
			func() error { _, err := netSvc.StartEditing(ctx, s.cust); return err },
			func() error { _, err := netSvc.SaveDraft(ctx, s.cust, cfg); return err },
			func() error { _, err := netSvc.Review(ctx, s.cust); return err },
		} {
			if err := step(); err != nil {
				b.Fatal(err)
			}
		}
		time.Sleep(time.Duration(rand.Int64N(int64(time.Second))))
		t0 := time.Now()
		if _, err := netSvc.Apply(ctx, s.cust); err != nil {
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
		converged() // the agent is back in its long poll before the next apply
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

// benchConfigure is configure (node_test.go) for a benchmark.
func benchConfigure(b *testing.B, ctx context.Context, cat *catalog.Catalog, svc *network.Service, s *site) {
	b.Helper()
	cu, err := cat.CreateCustomer(ctx, catalog.CustomerInput{Name: "Customer " + s.name})
	if err != nil {
		b.Fatal(err)
	}
	s.cust = cu.ID
	k, err := cat.CreateContract(ctx, cu.ID, catalog.ContractInput{Plan: "smart-hub"})
	if err != nil {
		b.Fatal(err)
	}
	h, err := cat.CreateHub(ctx, cu.ID, catalog.HubInput{ServiceCode: k.ServiceCode, Region: "tokyo", Priority: "main"})
	if err != nil {
		b.Fatal(err)
	}
	s.hub = h.ID
	s.dataplaneID = strings.TrimPrefix(string(h.ID), "hub_")
	on, err := cat.CreatePort(ctx, cu.ID, catalog.PortInput{ServiceCode: k.ServiceCode, HubID: h.ID, Kind: "onprem", SpeedMbps: 10_000})
	if err != nil {
		b.Fatal(err)
	}
	cl, err := cat.CreatePort(ctx, cu.ID, catalog.PortInput{ServiceCode: k.ServiceCode, HubID: h.ID, Kind: "a-private", SpeedMbps: 1_000})
	if err != nil {
		b.Fatal(err)
	}
	s.onPort, s.cloudPort = on.PortCode, cl.PortCode
	for _, pl := range []struct{ code, phys string }{{on.PortCode, s.onPhys}, {cl.PortCode, s.cloudPhysA}} {
		if _, err := svc.Place(ctx, cu.ID, pl.code, network.PlaceInput{Primary: &network.PhysRef{Node: "tyo-1", Port: pl.phys}, Reason: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
	s.cfg = network.Config{ASN: hubASN, Ports: []network.PortConfig{
		{PortCode: on.PortCode, OnPrem: &network.OnPremConnection{HubAddress: "10.0.0.1", CustomerAddress: "10.0.0.2", PrefixLength: 30, PeerASN: onpremASN,
			L2Guard: network.L2Guard{BPDUGuard: true, StormControlPPS: 1000, FlapLimit: 5, FlapWindowSeconds: 60, MACLimit: 5, MACAgeingSeconds: 2400, MTU: 1500}}},
		{PortCode: cl.PortCode, Cloud: &network.CloudConnection{VLAN: vlan, PeerASN: awsASN, RoutePolicy: network.RoutePolicy{Type: network.PolicyDefaultRoute},
			Primary:   network.Link{HubAddress: "169.254.100.1", PeerAddress: "169.254.100.2", PrefixLength: 30},
			Secondary: network.Link{HubAddress: "169.254.100.5", PeerAddress: "169.254.100.6", PrefixLength: 30}}},
	}}
	for _, step := range []func() error{
		func() error { _, err := svc.StartEditing(ctx, s.cust); return err },
		func() error { _, err := svc.SaveDraft(ctx, s.cust, s.cfg); return err },
		func() error { _, err := svc.Review(ctx, s.cust); return err },
		func() error { _, err := svc.Apply(ctx, s.cust); return err },
	} {
		if err := step(); err != nil {
			b.Fatal(err)
		}
	}
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
		nstest.AddNamespaceTB(b, side.ns)
		nstest.ShTB(b, "ip", "-n", node, "link", "add", side.ifname, "type", "veth", "peer", "name", "eth0", "netns", side.ns)
		nstest.IPBatchTB(b, side.ns, []string{"addr add " + side.addr + " dev eth0", "link set eth0 up", "route add " + side.route})
	}
}

func waitTB(b *testing.B, what string, timeout time.Duration, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSpace(string(p)))
	return len(p), nil
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
	binary.BigEndian.PutUint16(msg[2:], checksum(msg))
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

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
