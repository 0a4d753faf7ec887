package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
)

// fakeNet stands for the hubs' namespaces: it answers each probe as told
// per target (answered by default, after 1 ms; a silent target times
// out), and records every probe with its time.
type fakeNet struct {
	mu     sync.Mutex
	silent map[netip.Addr]bool
	sent   []sentProbe
	// cause, when set, is why the node cannot send any probe.
	cause error
}

type sentProbe struct {
	at   time.Time
	spec dataplane.ProbeSpec
}

func (f *fakeNet) probe(ctx context.Context, s dataplane.ProbeSpec) dataplane.ProbeResult {
	f.mu.Lock()
	f.sent = append(f.sent, sentProbe{time.Now(), s})
	silent, cause := f.silent[s.Target], f.cause
	f.mu.Unlock()
	if cause != nil {
		return dataplane.ProbeResult{Error: dataplane.ProbeNodeError, Cause: cause}
	}
	wait := time.Millisecond
	if silent {
		wait = s.Timeout
	}
	select {
	case <-ctx.Done():
		return dataplane.ProbeResult{Error: dataplane.ProbeTimeout}
	case <-time.After(wait):
	}
	if silent {
		return dataplane.ProbeResult{Error: dataplane.ProbeTimeout}
	}
	return dataplane.ProbeResult{OK: true, RTT: wait}
}

func (f *fakeNet) setSilent(target string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.silent == nil {
		f.silent = map[netip.Addr]bool{}
	}
	f.silent[netip.MustParseAddr(target)] = on
}

// probesTo are the probes sent to target so far.
func (f *fakeNet) probesTo(target string) []sentProbe {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sentProbe
	for _, p := range f.sent {
		if p.spec.Target.String() == target {
			out = append(out, p)
		}
	}
	return out
}

// monitorState is a node's desired state with one hub and its monitors.
func monitorState(mons ...desired.Monitor) desired.State {
	return desired.State{Schema: desired.Schema, Node: "tyo-1", Region: "tyo", RouteLimit: 1000, Hubs: []desired.Hub{{
		HubID: "hub_a", CustomerID: "cus_a", Namespace: "hub-a", ASN: 64600, InternalNetwork: "10.100.0.0/24", MonitoringNetwork: "10.200.0.0/24",
		Backbone: desired.Backbone{VNI: 100},
		Ports:    []desired.Port{{PortCode: "shc00000001", Kind: "onprem", SpeedMbps: 100, Legs: []desired.Leg{{Interface: "eth1"}}}}, Monitors: mons}}}
}

func icmpMonitor(id, target string, interval, failAfter int) desired.Monitor {
	return desired.Monitor{ID: id, PortCode: "shc00000001", Target: target, Probe: "icmp", IntervalSeconds: interval, FailAfter: failAfter}
}

// TestProberSchedules: each monitor probes once per interval, at a fixed
// phase of it, from the hub's monitoring address in the hub's namespace,
// with a timeout of half the interval at most 2 s; monitors are spread
// over their interval rather than started together.
func TestProberSchedules(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var net fakeNet
		p := newProber(net.probe)
		defer p.Close()
		tcp := desired.Monitor{ID: "mon_b", PortCode: "shc00000001", Target: "10.10.0.2", Probe: "tcp", TCPPort: 443, IntervalSeconds: 60, FailAfter: 3}
		p.Set(monitorState(icmpMonitor("mon_a", "10.10.0.1", 10, 3), tcp))
		time.Sleep(10 * time.Minute)

		for _, c := range []struct {
			target   string
			interval time.Duration
			port     int
		}{{"10.10.0.1", 10 * time.Second, 0}, {"10.10.0.2", time.Minute, 443}} {
			sent := net.probesTo(c.target)
			if want := int(10 * time.Minute / c.interval); len(sent) != want {
				t.Errorf("%s: %d probes in 10 minutes, want %d", c.target, len(sent), want)
			}
			for i, s := range sent {
				want := dataplane.ProbeSpec{Namespace: "hub-a", Source: netip.MustParseAddr("10.200.0.1"), Target: netip.MustParseAddr(c.target),
					TCPPort: c.port, ID: s.spec.ID, Seq: uint16(i), Timeout: 2 * time.Second}
				if s.spec != want {
					t.Errorf("%s probe %d: %+v, want %+v", c.target, i, s.spec, want)
				}
				if i > 0 && s.at.Sub(sent[i-1].at) != c.interval {
					t.Errorf("%s probe %d came %v after the one before, want %v", c.target, i, s.at.Sub(sent[i-1].at), c.interval)
				}
			}
		}
		// Twenty monitors of one interval are spread over it.
		var mons []desired.Monitor
		for i := range 20 {
			mons = append(mons, icmpMonitor(fmt.Sprintf("mon_s%02d", i), fmt.Sprintf("10.10.1.%d", i+1), 60, 3))
		}
		p.Set(monitorState(mons...))
		time.Sleep(time.Minute)
		// Each sixth of the minute has some of them.
		sixths := map[time.Duration]int{}
		for i := range 20 {
			for _, s := range net.probesTo(fmt.Sprintf("10.10.1.%d", i+1)) {
				sixths[s.at.Sub(s.at.Truncate(time.Minute))/(10*time.Second)]++
			}
		}
		if len(sixths) != 6 {
			t.Errorf("20 monitors of 60 s probe in these sixths of their minute: %v, want them spread over all six", sixths)
		}
	})
}

// TestProberSetIsDeclarative: setting the same state again changes
// nothing (no restart: the sequence goes on); a changed monitor restarts
// with its new parameters and keeps what it measured; a monitor the state
// no longer has stops probing and its unsent probes are dropped.
func TestProberSetIsDeclarative(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var net fakeNet
		p := newProber(net.probe)
		defer p.Close()
		a, b := icmpMonitor("mon_a", "10.10.0.1", 10, 3), icmpMonitor("mon_b", "10.10.0.2", 10, 3)
		p.Set(monitorState(a, b))
		time.Sleep(30 * time.Second)
		for range 3 {
			p.Set(monitorState(a, b))
			time.Sleep(10 * time.Second)
		}
		sent := net.probesTo("10.10.0.1")
		if len(sent) != 6 {
			t.Fatalf("%d probes in 60 s at 10 s, want 6", len(sent))
		}
		for i, s := range sent {
			if s.spec.Seq != uint16(i) {
				t.Errorf("probe %d has sequence %d: the monitor was restarted by the same state", i, s.spec.Seq)
			}
		}

		a.IntervalSeconds = 20
		p.Set(monitorState(a))
		time.Sleep(time.Minute)
		if n := len(net.probesTo("10.10.0.1")) - 6; n != 3 {
			t.Errorf("%d probes in 60 s at the new interval of 20 s, want 3", n)
		}
		if n := len(net.probesTo("10.10.0.2")); n != 6 {
			t.Errorf("the removed monitor sent %d probes, want the 6 before it was removed", n)
		}
		got := p.Take()
		if len(got["hub_a"]) != 1 || got["hub_a"][0].ID != "mon_a" || len(got["hub_a"][0].Probes) != 9 {
			t.Errorf("taken after the change: %+v, want mon_a's 9 probes (6 before its restart) and nothing of mon_b", got)
		}
		p.Set(monitorState())
		time.Sleep(time.Minute)
		if n := len(net.probesTo("10.10.0.1")); n != 9 {
			t.Errorf("%d probes after every monitor was stopped, want still 9", n)
		}
		if got := p.Take(); len(got) != 0 {
			t.Errorf("taken with no monitors: %+v", got)
		}
	})
}

// TestProberKeepsNewestProbes: while nothing is taken, a monitor keeps
// its newest observed.MaxProbes probes, oldest first, and counts the
// rest as dropped; a batch given back goes in front of the probes since,
// within the same bound; a batch taken is not taken again.
func TestProberKeepsNewestProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var net fakeNet
		p := newProber(net.probe)
		defer p.Close()
		p.Set(monitorState(icmpMonitor("mon_a", "10.10.0.1", 10, 3)))
		time.Sleep(100 * 10 * time.Second)
		b := p.Take()
		r := b["hub_a"][0]
		if len(r.Probes) != observed.MaxProbes || r.Dropped != 100-observed.MaxProbes {
			t.Fatalf("after 100 probes: %d kept, %d dropped; want %d and %d", len(r.Probes), r.Dropped, observed.MaxProbes, 100-observed.MaxProbes)
		}
		sent := net.probesTo("10.10.0.1")
		if !r.Probes[0].At.Equal(us(sent[100-observed.MaxProbes].at)) || !r.Probes[len(r.Probes)-1].At.Equal(us(sent[99].at)) {
			t.Errorf("kept %v…%v, want the newest: %v…%v", r.Probes[0].At, r.Probes[len(r.Probes)-1].At, sent[100-observed.MaxProbes].at, sent[99].at)
		}
		for _, pr := range r.Probes {
			if !pr.OK || pr.RTTMicros != 1000 || pr.Error != "" {
				t.Fatalf("probe %+v, want answered in 1000 µs", pr)
			}
		}
		if again := p.Take(); len(again) != 0 {
			t.Fatalf("taken twice: %+v", again)
		}

		time.Sleep(10 * 10 * time.Second)
		p.Return(b) // the controller did not take it
		r2 := p.Take()["hub_a"][0]
		if len(r2.Probes) != observed.MaxProbes || r2.Dropped != 100-observed.MaxProbes+10 {
			t.Errorf("given back before 10 new probes: %d kept, %d dropped; want %d and %d", len(r2.Probes), r2.Dropped, observed.MaxProbes, 100-observed.MaxProbes+10)
		}
		if err := (observed.Report{Schema: observed.Schema, AgentVersion: "test", ObservedAt: time.Now(), Hubs: []observed.Hub{{HubID: "hub_a", CustomerID: "cus_a",
			Monitors: []observed.MonitorReport{r2}}}}).WithLists().Check(); err != nil {
			t.Errorf("the merged probes are not a valid report: %v", err)
		}
		if first, last := r2.Probes[0].At, r2.Probes[len(r2.Probes)-1].At; !first.Equal(us(sent[100-observed.MaxProbes+10].at)) || !last.Equal(us(net.probesTo("10.10.0.1")[109].at)) {
			t.Errorf("kept %v…%v after the merge, want the newest 64 of 110", first, last)
		}
	})
}

// TestProberWakesOnChange: the prober signals when a monitor reaches
// fail_after consecutive failures and when it answers again, and at no
// other probe; the failed probes say why.
func TestProberWakesOnChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var net fakeNet
		p := newProber(net.probe)
		defer p.Close()
		p.Set(monitorState(icmpMonitor("mon_a", "10.10.0.1", 10, 3)))
		woken := func() bool {
			synctest.Wait()
			select {
			case <-p.Wake():
				return true
			default:
				return false
			}
		}
		time.Sleep(50 * time.Second) // answered
		if woken() {
			t.Error("woken while the target answers")
		}
		net.setSilent("10.10.0.1", true)
		for i := 1; i <= 5; i++ {
			time.Sleep(10 * time.Second)
			if got, want := woken(), i == 3; got != want {
				t.Errorf("after %d failed probes (fail_after 3): woken %v, want %v", i, got, want)
			}
		}
		net.setSilent("10.10.0.1", false)
		for i := 1; i <= 2; i++ {
			time.Sleep(10 * time.Second)
			if got, want := woken(), i == 1; got != want {
				t.Errorf("after %d answered probes following the failures: woken %v, want %v", i, got, want)
			}
		}
		failed := 0
		for _, pr := range p.Take()["hub_a"][0].Probes {
			if !pr.OK {
				failed++
				if pr.Error != dataplane.ProbeTimeout || pr.RTTMicros != 0 {
					t.Errorf("failed probe %+v", pr)
				}
			}
		}
		if failed != 5 {
			t.Errorf("%d failed probes reported, want 5", failed)
		}
	})
}

// us is a time as a probe carries it: UTC, to the microsecond.
func us(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// TestProberLogsNodeErrors: a probe the node cannot send is reported as
// a node error, without its cause (which names the node's own
// namespaces), and the cause is logged once while it lasts.
func TestProberLogsNodeErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var net fakeNet
		var logged counter
		p := newProber(net.probe)
		p.log = slog.New(&logged)
		defer p.Close()
		p.Set(monitorState(icmpMonitor("mon_a", "10.10.0.1", 10, 3)))
		net.mu.Lock()
		net.cause = errors.New(`namespace "hub-a": no such file or directory`)
		net.mu.Unlock()
		time.Sleep(time.Minute)
		if n := logged.n.Load(); n != 1 {
			t.Errorf("%d log records for 6 probes not sent for one cause, want 1", n)
		}
		for _, pr := range p.Take()["hub_a"][0].Probes {
			if pr.OK || pr.Error != dataplane.ProbeNodeError {
				t.Errorf("probe %+v, want %q alone", pr, dataplane.ProbeNodeError)
			}
		}
	})
}

// counter is a slog handler that counts its records.
type counter struct{ n atomic.Int64 }

func (c *counter) Enabled(context.Context, slog.Level) bool  { return true }
func (c *counter) Handle(context.Context, slog.Record) error { c.n.Add(1); return nil }
func (c *counter) WithAttrs([]slog.Attr) slog.Handler        { return c }
func (c *counter) WithGroup(string) slog.Handler             { return c }
