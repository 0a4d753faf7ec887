package agent

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/nstest"
)

// BenchmarkProberCPU measures the agent's CPU for 200 monitors: the real
// prober (real ICMP echoes and TCP connections from a hub-like
// namespace's monitoring address to 200 customer addresses behind a veth
// pair) with the interval scaled down from 60 s to 1 s, so each second of
// the run is one 60 s interval's work. One b.N is one such interval. The
// process's CPU (getrusage: user and system) over the run, divided by the
// intervals run, is the CPU of one interval of 200 monitors, reported as
// a share of one core per 60 s ("%core/60s"; the target is below 2).
// The customer's TCP service runs in a process of its own, so its CPU is
// not counted. Half the monitors are ICMP, half TCP.
func BenchmarkProberCPU(b *testing.B) {
	nstest.RequireRoot(b)
	py, err := exec.LookPath("python3")
	if err != nil {
		b.Skip("needs python3 for the customer's TCP service")
	}
	const monitors = 200
	prefix := nstest.RunPrefix(b)
	hubNS, custNS, port := prefix+"-hub", prefix+"-cust", prefix+"p"
	nstest.AddNamespace(b, hubNS)
	nstest.AddNamespace(b, custNS)
	nstest.Sh(b, "ip", "-n", hubNS, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", custNS)
	nstest.IPBatch(b, hubNS, []string{"addr add 10.200.0.1/32 dev lo", "addr add 169.254.10.1/30 dev " + port,
		"link set " + port + " up", "route add 10.10.0.0/16 via 169.254.10.2"})
	cust := []string{"addr add 169.254.10.2/30 dev eth0", "link set eth0 up", "route add 10.200.0.0/24 via 169.254.10.1"}
	var mons []desired.Monitor
	for i := range monitors {
		target := fmt.Sprintf("10.10.%d.%d", i/250, i%250+1)
		cust = append(cust, "addr add "+target+"/32 dev lo")
		m := desired.Monitor{ID: fmt.Sprintf("mon_%03d", i), PortCode: "shc00000001", Target: target, Probe: "icmp", IntervalSeconds: 1, FailAfter: 3}
		if i%2 == 1 {
			m.Probe, m.TCPPort = "tcp", 8080
		}
		mons = append(mons, m)
	}
	nstest.IPBatch(b, custNS, cust)
	srv := exec.Command("ip", "netns", "exec", custNS, py, "-c", `import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(1024)
while True:
    c, _ = s.accept(); c.close()`)
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	s := monitorState(mons...)
	s.Hubs[0].Namespace = hubNS
	// The service listens once a connection to it is accepted.
	try := dataplane.ProbeSpec{Namespace: hubNS, Source: netip.MustParseAddr("10.200.0.1"), Target: netip.MustParseAddr("10.10.0.2"),
		TCPPort: 8080, Timeout: time.Second}
	for !dataplane.Probe(context.Background(), try).OK {
		if err := srv.Process.Signal(syscall.Signal(0)); err != nil {
			b.Fatalf("the customer's TCP service: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	p := NewProber(nil)
	defer p.Close()
	p.Set(s)
	time.Sleep(2 * time.Second) // every monitor has started
	p.Take()
	before := cpu(b)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		time.Sleep(time.Second)
	}
	elapsed := time.Since(start)
	used := cpu(b) - before
	b.StopTimer()

	ok, failed := 0, map[string]int{}
	for _, rs := range p.Take() {
		for _, r := range rs {
			for _, pr := range r.Probes {
				if pr.OK {
					ok++
				} else {
					failed[pr.Error]++
				}
			}
		}
	}
	intervals := elapsed.Seconds() // each 1 s of the run is one 60 s interval
	if min := 0.95 * intervals * monitors; float64(ok) < min {
		b.Fatalf("%d probes answered in %.1f intervals of %d monitors, want at least %.0f; failed: %v", ok, intervals, monitors, min, failed)
	}
	perInterval := used.Seconds() / intervals
	b.ReportMetric(100*perInterval/60, "%core/60s")
	b.ReportMetric(float64(used.Microseconds())/float64(ok+sum(failed)), "cpu-µs/probe")
	b.ReportMetric(float64(ok+sum(failed))/elapsed.Seconds(), "probes/s")
}

// cpu is the process's user and system CPU so far.
func cpu(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
