package dataplane

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/nstest"
)

// Benchmarks of the data plane on the real kernel (issue 5). They build
// everything in namespaces of their own, run once per invocation and
// report their numbers with b.ReportMetric; run them with -benchtime=1x:
//
//	go test -run '^$' -bench . -benchtime=1x ./internal/dataplane/

// The forwarding path of the throughput benchmark. Every variant uses the
// same addresses in namespaces of its own: src —veth— router —veth— dst,
// where the router is a hand-built namespace or a tsunagi hub, and flows
// from src leave the router translated to the NAPT public range.
const (
	tpSrc      = "169.254.10.2"
	tpSrcNet   = "169.254.10.0/30"
	tpRtrIn    = "169.254.10.1"
	tpDst      = "169.254.20.2"
	tpDstNet   = "169.254.20.0/30"
	tpRtrOut   = "169.254.20.1"
	tpPublic   = "203.0.113.8/30"
	tpSpeed    = 100_000 // Mbit/s: htb in the path, never the bottleneck
	tpSeconds  = 3
	tpRounds   = 7
	iperfPort  = "5201"
	iperfBin   = "iperf3"
	tpHandRule = "ip saddr 169.254.10.0/30 ip daddr 169.254.20.0/30 meta l4proto tcp counter accept"
)

// BenchmarkThroughput measures TCP goodput (iperf3, one stream) through
// six paths built in the same run, measured in turn, tpRounds times each,
// the median kept:
//
//   - direct: a bare veth pair between two namespaces;
//   - hand-nft: src → router → dst built with ip and nft: forwarding, a
//     stateful filter (conntrack) on the inbound port and SNAT on the
//     outbound port;
//   - hand-egress: hand-nft plus an htb qdisc and class on each port's
//     egress only (how tsunagi shaped before it shaped what enters a port);
//   - hand-nft-tc: hand-nft plus both ports shaped in both directions, as
//     tsunagi shapes every port: an htb qdisc and class on each port's
//     egress, and its ingress redirected (u32, mirred) to an ifb device
//     with the same htb;
//   - hub: a tsunagi hub built by Manager.Apply with a stateful firewall on
//     the inbound port, NAPT on the outbound port and both ports shaped in
//     both directions (at 100 Gbit/s, so that htb is in the path but never
//     the limit);
//   - hub-guards: the hub with the on-premises port's layer-2 guards.
//
// The ratio is hub / hand-nft-tc; hand-nft / direct is the cost
// of a stateful filter and SNAT themselves; hand-nft-tc / hand-egress the
// cost of shaping what enters a port (the ifb); guards / hub the cost of
// the layer-2 guards.
func BenchmarkThroughput(b *testing.B) {
	nstest.RequireRoot(b)
	if _, err := exec.LookPath(iperfBin); err != nil {
		b.Skipf("needs iperf3 (Debian package iperf3): %v", err)
	}
	ctx := context.Background()
	prefix := nstest.RunPrefix(b)
	runDir, err := os.MkdirTemp("", prefix)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(runDir) })

	type path struct {
		name     string
		src, dst string // namespaces
		dstAddr  string
		srcAddr  string
	}
	var paths []path

	// direct: one veth pair.
	{
		src, dst := prefix+"-dsrc", prefix+"-ddst"
		nstest.AddNamespace(b, src)
		nstest.AddNamespace(b, dst)
		nstest.Sh(b, "ip", "-n", src, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", dst)
		nstest.IPBatch(b, src, []string{"addr add " + tpSrc + "/30 dev eth0", "link set eth0 up"})
		nstest.IPBatch(b, dst, []string{"addr add 169.254.10.1/30 dev eth0", "link set eth0 up"})
		paths = append(paths, path{name: "direct", src: src, dst: dst, srcAddr: tpSrc, dstAddr: "169.254.10.1"})
	}
	// hand-nft and hand-nft-tc: a router namespace built with ip, nft, tc.
	for _, v := range []struct {
		name, tag       string
		shaped, ingress bool
	}{{"hand-nft", "h", false, false}, {"hand-egress", "e", true, false}, {"hand-nft-tc", "t", true, true}} {
		src, rtr, dst := prefix+"-"+v.tag+"src", prefix+"-"+v.tag+"rtr", prefix+"-"+v.tag+"dst"
		wirePath(b, src, rtr, dst, "in0", "out0")
		nstest.Sh(b, "ip", "netns", "exec", rtr, "sysctl", "-qw", "net.ipv4.ip_forward=1")
		nft := exec.Command("ip", "netns", "exec", rtr, "nft", "-f", "-")
		nft.Stdin = strings.NewReader(handRuleset("in0", "out0"))
		if out, err := nft.CombinedOutput(); err != nil {
			b.Fatalf("nft in %s: %v: %s", rtr, err, out)
		}
		if v.shaped {
			// Both directions of both ports, as tsunagi shapes them: htb on
			// each port's egress, and its ingress (IPv4 to a unicast MAC)
			// redirected to an ifb with the same htb.
			var lines []string
			htb := func(dev string) {
				lines = append(lines,
					"qdisc add dev "+dev+" root handle 1: htb default 10",
					fmt.Sprintf("class add dev %s parent 1: classid 1:10 htb rate %dmbit ceil %dmbit quantum 200000", dev, tpSpeed, tpSpeed))
			}
			for _, dev := range []string{"in0", "out0"} {
				htb(dev)
				if !v.ingress {
					continue
				}
				ifb := "ifb" + dev
				nstest.IPBatch(b, rtr, []string{"link add " + ifb + " txqueuelen 1000 type ifb", "link set " + ifb + " up"})
				htb(ifb)
				lines = append(lines, "qdisc add dev "+dev+" handle ffff: ingress",
					"filter add dev "+dev+" parent ffff: protocol ip prio 1 u32 match u8 0 1 at -14 action mirred egress redirect dev "+ifb)
			}
			tc := exec.Command("ip", "netns", "exec", rtr, "tc", "-batch", "-")
			tc.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
			if out, err := tc.CombinedOutput(); err != nil {
				b.Fatalf("tc in %s: %v: %s", rtr, err, out)
			}
		}
		paths = append(paths, path{name: v.name, src: src, dst: dst, srcAddr: tpSrc, dstAddr: tpDst})
	}
	// hub: the same path realised by tsunagi; hub-guards adds the
	// on-premises port's layer-2 guards (a netdev ingress chain: BPDU
	// drop, the source-MAC set, storm control), as the service has them.
	for _, v := range []struct {
		name, tag string
		guards    bool
	}{{"hub", "u", false}, {"hub-guards", "g", true}} {
		node, src, dst := prefix+"-"+v.tag+"node", prefix+"-"+v.tag+"src", prefix+"-"+v.tag+"dst"
		nstest.AddNamespace(b, node)
		inIf, outIf := prefix+v.tag+"i", prefix+v.tag+"o"
		for _, side := range []struct{ ns, port, addr, via, to string }{
			{src, inIf, tpSrc, tpRtrIn, tpDstNet}, {dst, outIf, tpDst, tpRtrOut, tpPublic},
		} {
			nstest.AddNamespace(b, side.ns)
			nstest.Sh(b, "ip", "-n", node, "link", "add", side.port, "type", "veth", "peer", "name", "eth0", "netns", side.ns)
			nstest.IPBatch(b, side.ns, []string{"addr add " + side.addr + "/30 dev eth0", "link set eth0 up", "route add " + side.to + " via " + side.via})
		}
		h := Hub{
			ID: prefix + "-tp" + v.tag, LocalASN: 65100, RouterID: netip.MustParseAddr("10.100.0.1"),
			InternalNetwork: mustPrefix("10.100.0.0/24"), MonitoringNetwork: mustPrefix("10.200.0.0/24"),
			Ports: []Port{
				{Name: "onprem", Interface: inIf, Address: mustPrefix(tpRtrIn + "/30"), PeerAddress: netip.MustParseAddr(tpSrc), PeerASN: 65001,
					Policy: RoutePolicy{Kind: PolicyAll}, SpeedMbps: tpSpeed,
					Firewall: &FirewallPolicy{Stateful: true, Rules: []Rule{{Action: Accept, Sources: []netip.Prefix{mustPrefix(tpSrcNet)},
						Destinations: []netip.Prefix{mustPrefix(tpDstNet)}, Protocol: "tcp"}}}},
				{Name: "pub", Interface: outIf, Address: mustPrefix(tpRtrOut + "/30"), PeerAddress: netip.MustParseAddr(tpDst), PeerASN: 12076,
					Policy: RoutePolicy{Kind: PolicyDefaultRoute}, SpeedMbps: tpSpeed,
					NAPT: &NAPT{Inside: []netip.Prefix{mustPrefix(tpSrcNet)}, Public: []netip.Prefix{mustPrefix(tpPublic)}}},
			},
		}
		if v.guards {
			h.Ports[0].L2Guard = &L2Guard{BPDUGuard: true, StormControlPPS: 1000, FlapLimit: 5, FlapWindowSeconds: 60,
				MACLimit: 5, MACAgeingSeconds: 2400, MTU: 1500}
		}
		m := NewManager(Options{RunDir: runDir, NodeNamespace: node})
		cleanupHub(b, m, runDir, h.ID)
		if err := m.Apply(ctx, h); err != nil {
			b.Fatal(err)
		}
		paths = append(paths, path{name: v.name, src: src, dst: dst, srcAddr: tpSrc, dstAddr: tpDst})
	}

	for _, p := range paths {
		startIperfServer(b, p.dst, p.dstAddr)
	}
	got := map[string][]float64{}
	for round := range tpRounds {
		for _, p := range paths {
			bps, err := iperfClient(p.src, p.srcAddr, p.dstAddr, tpSeconds)
			if err != nil {
				b.Fatalf("round %d, %s: %v", round, p.name, err)
			}
			got[p.name] = append(got[p.name], bps)
		}
	}
	med := map[string]float64{}
	for name, v := range got {
		med[name] = median(v)
		b.Logf("%-12s %s Gbit/s, median %.2f", name, gbits(v), med[name]/1e9)
	}
	// A ratio is the median of the rounds' ratios: the paths of one round
	// run within seconds of each other, so on a machine whose load comes
	// and goes (a shared CI host) a round's ratio is fairer than the ratio
	// of two medians taken from different moments.
	ratio := func(a, b string) float64 {
		r := make([]float64, len(got[a]))
		for i := range r {
			r[i] = got[a][i] / got[b][i]
		}
		return median(r)
	}
	b.ReportMetric(med["direct"]/1e9, "direct-Gbit/s")
	b.ReportMetric(med["hand-nft"]/1e9, "hand-nft-Gbit/s")
	b.ReportMetric(med["hand-nft-tc"]/1e9, "hand-nft-tc-Gbit/s")
	b.ReportMetric(med["hub"]/1e9, "hub-Gbit/s")
	b.ReportMetric(ratio("hub", "hand-nft-tc"), "hub/hand")
	b.ReportMetric(ratio("hand-nft", "direct"), "hand-nft/direct")
	b.ReportMetric(ratio("hand-nft-tc", "direct"), "hand-nft-tc/direct")
	b.ReportMetric(ratio("hand-nft-tc", "hand-egress"), "both-ways/egress")
	b.ReportMetric(ratio("hub", "direct"), "hub/direct")
	b.ReportMetric(ratio("hub-guards", "hub"), "guards/hub")
}

// wirePath makes src —veth— rtr —veth— dst with the benchmark's addresses
// and the routes the flows and their (translated) replies need.
func wirePath(b *testing.B, src, rtr, dst, inIf, outIf string) {
	b.Helper()
	for _, ns := range []string{src, rtr, dst} {
		nstest.AddNamespace(b, ns)
	}
	nstest.Sh(b, "ip", "-n", rtr, "link", "add", inIf, "type", "veth", "peer", "name", "eth0", "netns", src)
	nstest.Sh(b, "ip", "-n", rtr, "link", "add", outIf, "type", "veth", "peer", "name", "eth0", "netns", dst)
	nstest.IPBatch(b, rtr, []string{
		"addr add " + tpRtrIn + "/30 dev " + inIf, "link set " + inIf + " up",
		"addr add " + tpRtrOut + "/30 dev " + outIf, "link set " + outIf + " up",
	})
	nstest.IPBatch(b, src, []string{"addr add " + tpSrc + "/30 dev eth0", "link set eth0 up", "route add " + tpDstNet + " via " + tpRtrIn})
	nstest.IPBatch(b, dst, []string{"addr add " + tpDst + "/30 dev eth0", "link set eth0 up", "route add " + tpPublic + " via " + tpRtrOut})
}

// handRuleset is what an engineer would write by hand for the hub's
// forwarding path: a stateful filter on the inbound port and SNAT to the
// public range on the outbound port.
func handRuleset(inIf, outIf string) string {
	return fmt.Sprintf(`table ip hand {
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname %[1]q jump fw_in
	}
	chain fw_in {
		ct state established,related accept
		ct state invalid drop
		%[3]s
		counter drop
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname %[2]q ip saddr %[4]s counter snat to 203.0.113.8-203.0.113.11 persistent
	}
}
`, inIf, outIf, tpHandRule, tpSrcNet)
}

// startIperfServer runs iperf3 -s in ns until cleanup. ip netns exec execs
// iperf3 in place, so the process killed is iperf3 itself.
func startIperfServer(b *testing.B, ns, addr string) {
	b.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, iperfBin, "-s", "-B", addr, "-p", iperfPort)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
}

// iperfClient runs one iperf3 test and returns the receiver's rate. It
// retries briefly while the server is still starting.
func iperfClient(ns, src, dst string, seconds int) (float64, error) {
	var last error
	for range 20 {
		out, err := exec.Command("ip", "netns", "exec", ns, iperfBin, "-c", dst, "-B", src, "-p", iperfPort,
			"-t", strconv.Itoa(seconds), "-J").Output()
		var r struct {
			End struct {
				SumReceived struct {
					BitsPerSecond float64 `json:"bits_per_second"`
				} `json:"sum_received"`
			} `json:"end"`
			Error string `json:"error"`
		}
		if jerr := json.Unmarshal(out, &r); jerr == nil && r.End.SumReceived.BitsPerSecond > 0 {
			return r.End.SumReceived.BitsPerSecond, nil
		}
		last = fmt.Errorf("iperf3 %s → %s in %s: %v %s", src, dst, ns, err, r.Error)
		time.Sleep(200 * time.Millisecond)
	}
	return 0, last
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func gbits(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.2f", x/1e9)
	}
	return strings.Join(s, " ")
}

// cleanupHub removes a hub at cleanup, and should Remove fail half-way,
// kills its BIRD and deletes its namespace anyway.
func cleanupHub(b *testing.B, m *Manager, runDir, id string) {
	b.Cleanup(func() {
		ns := Hub{ID: id}.Namespace()
		if err := m.Remove(context.Background(), id); err != nil {
			b.Logf("remove %s: %v", id, err)
		}
		nstest.KillPidFile(pathsFor(runDir, ns).PID)
		_ = exec.Command("ip", "netns", "del", ns).Run()
	})
}

// nodeHubs is the number of hubs of the node-scale benchmark.
const nodeHubs = 200

// BenchmarkNode200Hubs builds a node namespace with 400 veth pairs and
// has a fresh Manager reconcile 200 customer hubs onto it from scratch
// (each: namespace, two ports with addresses, sysctls, an nftables table
// with a stateful firewall and the on-premises port's layer-2 guards, htb
// on both ports in both directions (an ifb each), a BIRD with two BGP
// sessions), then a second Manager (an agent restart) pass over the same
// 200 hubs, which must change nothing. Each pass logs the time spent in
// each subsystem's kernel and daemon calls. It then measures the memory of the
// 200 idle hubs: their peers do not exist, so the BGP sessions stay in
// Connect/Active and no routes are learned.
//
// Memory counted per hub: the BIRD process's resident set (VmRSS, shared
// library pages counted in full in every process) and its proportional set
// (Pss, shared pages divided among the processes sharing them), and the
// kernel's growth over the 200 hubs divided by 200: Slab + Percpu +
// KernelStack + PageTables from /proc/meminfo, read before the first Apply
// and again after both passes and 2 s of idling (the veth pairs exist
// before, as a node's ports do). The kernel figure includes whatever else
// the machine did meanwhile.
func BenchmarkNode200Hubs(b *testing.B) {
	nstest.RequireRoot(b)
	ctx := context.Background()
	prefix := nstest.RunPrefix(b)
	runDir, err := os.MkdirTemp("", prefix)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(runDir) })
	node := prefix + "-node"
	nstest.AddNamespace(b, node)

	var lines []string
	hubs := make([]Hub, nodeHubs)
	for i := range hubs {
		on, cl := fmt.Sprintf("%sa%d", prefix, i), fmt.Sprintf("%sb%d", prefix, i)
		lines = append(lines,
			"link add "+on+" type veth peer name "+fmt.Sprintf("%sc%d", prefix, i),
			"link add "+cl+" type veth peer name "+fmt.Sprintf("%sd%d", prefix, i),
			"link set "+fmt.Sprintf("%sc%d", prefix, i)+" up",
			"link set "+fmt.Sprintf("%sd%d", prefix, i)+" up")
		h := e2eHub(fmt.Sprintf("%s-%d", prefix, i), on, cl, PolicyDefaultRoute)
		h.Ports[0].Firewall = &FirewallPolicy{Stateful: true, Rules: []Rule{
			{Action: Accept, Sources: []netip.Prefix{mustPrefix("10.10.0.0/16")}, Protocol: "tcp", Ports: []string{"22", "443"}},
			{Action: Accept, Protocol: "icmp"},
		}}
		// The service's guards, as every on-premises port has them.
		h.Ports[0].L2Guard = &L2Guard{BPDUGuard: true, StormControlPPS: 1000, FlapLimit: 5, FlapWindowSeconds: 60,
			MACLimit: 5, MACAgeingSeconds: 2400, MTU: 1500}
		hubs[i] = h
	}
	nstest.IPBatch(b, node, lines)

	// Each pass's Manager is NewManager's, with every kernel and daemon
	// call timed by subsystem.
	timedManager := func(t *subsystemTimes) *Manager {
		nl := netlinkOps{nodeNS: node}
		t.linkCalls = map[string]time.Duration{}
		return newManager(runDir, timedNet{nl, &t.links, t.linkCalls}, timedNft{nftCLI{}, &t.nft}, nodeNft{ns: nl.nodeNS}, timedTC{netlinkTC{ops: nl}, &t.tc}, timedBird{birdDaemon{}, &t.bird})
	}
	var fullT, noopT subsystemTimes
	m := timedManager(&fullT)
	for _, h := range hubs {
		cleanupHub(b, m, runDir, h.ID)
	}
	kernel0 := kernelMemKB(b)
	// One pass of the agent each: ApplyAll, as the agent applies a node's
	// document (the node namespace is listed once per pass).
	pass := func(m *Manager) time.Duration {
		start := time.Now()
		failed, err := m.ApplyAll(ctx, hubs)
		if err := errors.Join(append(failed, err)...); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	full := pass(m)
	noop := pass(timedManager(&noopT))
	b.Logf("from scratch: %v in all; %s", full.Round(time.Millisecond), fullT)
	b.Logf("no-op pass:   %v in all; %s", noop.Round(time.Millisecond), noopT)

	time.Sleep(2 * time.Second) // let the BIRDs settle into their idle state
	kernel1 := kernelMemKB(b)
	var rss, pss float64
	for _, h := range hubs {
		r, p := birdMemKB(b, pathsFor(runDir, h.Namespace()).PID)
		rss += r
		pss += p
	}
	n := float64(nodeHubs)
	b.ReportMetric(full.Seconds(), "reconcile-s")
	b.ReportMetric(full.Seconds()*1000/n, "reconcile-ms/hub")
	b.ReportMetric(noop.Seconds(), "noop-pass-s")
	b.ReportMetric(noop.Seconds()*1000/n, "noop-ms/hub")
	b.ReportMetric(rss/1024/n, "bird-RSS-MB/hub")
	b.ReportMetric(pss/1024/n, "bird-PSS-MB/hub")
	b.ReportMetric((kernel1-kernel0)/1024/n, "kernel-MB/hub")
	b.ReportMetric((pss+kernel1-kernel0)/1024/n, "total-MB/hub")
}

// kernelMemKB sums the kernel's own allocations from /proc/meminfo.
func kernelMemKB(b *testing.B) float64 {
	b.Helper()
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var kb float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		switch k {
		case "Slab", "Percpu", "KernelStack", "PageTables":
			x, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				b.Fatalf("meminfo %s: %v", k, err)
			}
			kb += x
		}
	}
	return kb
}

// birdMemKB reads the resident and proportional set of the BIRD whose pid
// file is given.
func birdMemKB(b *testing.B, pidFile string) (rss, pss float64) {
	b.Helper()
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		b.Fatal(err)
	}
	pid := strings.TrimSpace(string(raw))
	field := func(file, name string) float64 {
		text, err := os.ReadFile(filepath.Join("/proc", pid, file))
		if err != nil {
			b.Fatalf("bird %s: %v", pid, err)
		}
		for l := range strings.SplitSeq(string(text), "\n") {
			if v, ok := strings.CutPrefix(l, name+":"); ok {
				x, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				if err != nil {
					b.Fatalf("bird %s %s: %v", pid, name, err)
				}
				return x
			}
		}
		b.Fatalf("bird %s: no %s in %s", pid, name, file)
		return 0
	}
	return field("status", "VmRSS"), field("smaps_rollup", "Pss")
}

// subsystemTimes is the time spent in each subsystem's kernel and daemon
// calls during one pass.
type subsystemTimes struct {
	links, nft, tc, bird time.Duration
	linkCalls            map[string]time.Duration
}

func (t subsystemTimes) String() string {
	var calls []string
	for name, d := range t.linkCalls {
		if d >= 10*time.Millisecond {
			calls = append(calls, fmt.Sprintf("%s %v", name, d.Round(time.Millisecond)))
		}
	}
	slices.Sort(calls)
	return fmt.Sprintf("in calls: links %v (%s), nftables %v, tc %v, bird %v",
		t.links.Round(time.Millisecond), strings.Join(calls, ", "), t.nft.Round(time.Millisecond), t.tc.Round(time.Millisecond), t.bird.Round(time.Millisecond))
}

func addSince(d *time.Duration, t0 time.Time) { *d += time.Since(t0) }

// timedNet, timedNft, timedTC and timedBird time every call of the real
// subsystem they wrap.
type timedNet struct {
	netOps
	d     *time.Duration
	calls map[string]time.Duration // by method: the links subsystem is the slow one
}

func (t timedNet) since(call string, t0 time.Time) {
	d := time.Since(t0)
	*t.d += d
	t.calls[call] += d
}

func (t timedNet) NamespaceExists(ns string) (bool, error) {
	defer t.since("NamespaceExists", time.Now())
	return t.netOps.NamespaceExists(ns)
}
func (t timedNet) CreateNamespace(ns string) error {
	defer t.since("CreateNamespace", time.Now())
	return t.netOps.CreateNamespace(ns)
}
func (t timedNet) DeleteNamespace(ns string) error {
	defer t.since("DeleteNamespace", time.Now())
	return t.netOps.DeleteNamespace(ns)
}
func (t timedNet) Links(ns string) ([]LinkState, error) {
	defer t.since("Links", time.Now())
	return t.netOps.Links(ns)
}
func (t timedNet) MoveLink(fromNS, name, toNS string) error {
	defer t.since("MoveLink", time.Now())
	return t.netOps.MoveLink(fromNS, name, toNS)
}
func (t timedNet) SetAlias(ns, name, alias string) error {
	defer t.since("SetAlias", time.Now())
	return t.netOps.SetAlias(ns, name, alias)
}
func (t timedNet) SetUp(ns, name string, up bool) error {
	defer t.since("SetUp", time.Now())
	return t.netOps.SetUp(ns, name, up)
}
func (t timedNet) AddrAdd(ns, name string, p netip.Prefix) error {
	defer t.since("AddrAdd", time.Now())
	return t.netOps.AddrAdd(ns, name, p)
}
func (t timedNet) AddrDel(ns, name string, p netip.Prefix) error {
	defer t.since("AddrDel", time.Now())
	return t.netOps.AddrDel(ns, name, p)
}
func (t timedNet) Sysctl(ns, key string) (string, error) {
	defer t.since("Sysctl", time.Now())
	return t.netOps.Sysctl(ns, key)
}
func (t timedNet) SetSysctl(ns, key, value string) error {
	defer t.since("SetSysctl", time.Now())
	return t.netOps.SetSysctl(ns, key, value)
}
func (t timedNet) AddVXLAN(ns string, v VXLANSpec) error {
	defer t.since("AddVXLAN", time.Now())
	return t.netOps.AddVXLAN(ns, v)
}
func (t timedNet) Floods(ns, dev string) ([]netip.Addr, error) {
	defer t.since("Floods", time.Now())
	return t.netOps.Floods(ns, dev)
}
func (t timedNet) FloodAdd(ns, dev string, remote netip.Addr) error {
	defer t.since("FloodAdd", time.Now())
	return t.netOps.FloodAdd(ns, dev, remote)
}
func (t timedNet) FloodDel(ns, dev string, remote netip.Addr) error {
	defer t.since("FloodDel", time.Now())
	return t.netOps.FloodDel(ns, dev, remote)
}
func (t timedNet) AddVLAN(ns string, v VLANLink) error {
	defer t.since("AddVLAN", time.Now())
	return t.netOps.AddVLAN(ns, v)
}
func (t timedNet) AddBridge(ns string, b BridgeSpec) error {
	defer t.since("AddBridge", time.Now())
	return t.netOps.AddBridge(ns, b)
}
func (t timedNet) SetMaster(ns, name, master string) error {
	defer t.since("SetMaster", time.Now())
	return t.netOps.SetMaster(ns, name, master)
}
func (t timedNet) SetIsolated(ns, name string, on bool) error {
	defer t.since("SetIsolated", time.Now())
	return t.netOps.SetIsolated(ns, name, on)
}
func (t timedNet) DeleteLink(ns, name string) error {
	defer t.since("DeleteLink", time.Now())
	return t.netOps.DeleteLink(ns, name)
}

type timedNft struct {
	nftOps
	d *time.Duration
}

func (t timedNft) List(ctx context.Context, ns string) (string, error) {
	defer addSince(t.d, time.Now())
	return t.nftOps.List(ctx, ns)
}
func (t timedNft) Apply(ctx context.Context, ns, script string) error {
	defer addSince(t.d, time.Now())
	return t.nftOps.Apply(ctx, ns, script)
}

type timedTC struct {
	tcOps
	d *time.Duration
}

func (t timedTC) Rate(ns, dev string) (uint64, bool, error) {
	defer addSince(t.d, time.Now())
	return t.tcOps.Rate(ns, dev)
}
func (t timedTC) AddShaping(ns, dev string, bps uint64) error {
	defer addSince(t.d, time.Now())
	return t.tcOps.AddShaping(ns, dev, bps)
}
func (t timedTC) ChangeRate(ns, dev string, bps uint64) error {
	defer addSince(t.d, time.Now())
	return t.tcOps.ChangeRate(ns, dev, bps)
}
func (t timedTC) RemoveShaping(ns, dev string) error {
	defer addSince(t.d, time.Now())
	return t.tcOps.RemoveShaping(ns, dev)
}
func (t timedTC) IFBs(ns string) (map[string]string, error) {
	defer addSince(t.d, time.Now())
	return t.tcOps.IFBs(ns)
}
func (t timedTC) AddIFB(ns, ifb, dev string) error {
	defer addSince(t.d, time.Now())
	return t.tcOps.AddIFB(ns, ifb, dev)
}
func (t timedTC) DeleteIFB(ns, ifb string) error {
	defer addSince(t.d, time.Now())
	return t.tcOps.DeleteIFB(ns, ifb)
}
func (t timedTC) Redirect(ns, dev string) (string, bool, error) {
	defer addSince(t.d, time.Now())
	return t.tcOps.Redirect(ns, dev)
}
func (t timedTC) SetRedirect(ns, dev, ifb string) error {
	defer addSince(t.d, time.Now())
	return t.tcOps.SetRedirect(ns, dev, ifb)
}
func (t timedTC) RemoveRedirect(ns, dev string) error {
	defer addSince(t.d, time.Now())
	return t.tcOps.RemoveRedirect(ns, dev)
}

type timedBird struct {
	birdOps
	d *time.Duration
}

func (t timedBird) Check(ctx context.Context, config string) error {
	defer addSince(t.d, time.Now())
	return t.birdOps.Check(ctx, config)
}
func (t timedBird) Running(ns string, p birdPaths) bool {
	defer addSince(t.d, time.Now())
	return t.birdOps.Running(ns, p)
}
func (t timedBird) Start(ctx context.Context, ns string, p birdPaths) error {
	defer addSince(t.d, time.Now())
	return t.birdOps.Start(ctx, ns, p)
}
func (t timedBird) Configure(ctx context.Context, p birdPaths) error {
	defer addSince(t.d, time.Now())
	return t.birdOps.Configure(ctx, p)
}
func (t timedBird) Routes(ctx context.Context, p birdPaths, within []netip.Prefix) ([]Route, error) {
	defer addSince(t.d, time.Now())
	return t.birdOps.Routes(ctx, p, within)
}
