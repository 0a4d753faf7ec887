package dataplane

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/nstest"
)

// TestGuardWatchLifecycle: a hub's guard watcher lives as long as the hub
// has guards on this Manager, and leaves nothing behind.
//
//   - Applying a guarded hub starts it; applying the hub without guards
//     stops it; guards again start it again.
//   - A BPDU that arrives while no agent runs (the Manager closed) is
//     counted by the kernel; the next agent's first apply starts a watcher
//     that reads the count and shuts the port within a second, with no
//     Observe: the watcher is rebuilt from the kernel.
//   - A watcher whose namespace is deleted behind the agent's back stops.
//   - Remove and Close stop every watcher: the goroutines return to their
//     number before the test.
func TestGuardWatchLifecycle(t *testing.T) {
	prefix, runDir := kernelTest(t)
	ctx := context.Background()
	node, cust := prefix+"-node", prefix+"-cu"
	addNamespace(t, node)
	addNamespace(t, cust)
	port := prefix + "o"
	sh(t, "ip", "-n", node, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", cust)
	sh(t, "ip", "-n", cust, "link", "set", "eth0", "up")
	guarded := Hub{
		ID: prefix + "-w", LocalASN: 65100, RouterID: netip.MustParseAddr("10.100.0.1"),
		InternalNetwork: mustPrefix("10.100.0.0/24"), MonitoringNetwork: mustPrefix("10.200.0.0/24"),
		Ports: []Port{{Name: "onprem", Interface: port, Address: mustPrefix("169.254.10.1/28"),
			PeerAddress: netip.MustParseAddr("169.254.10.2"), PeerASN: 65001, Policy: RoutePolicy{Kind: PolicyAll},
			L2Guard: serviceGuard()}},
	}
	bare := guarded
	bare.Ports = []Port{guarded.Ports[0]}
	bare.Ports[0].L2Guard = nil
	ns := guarded.Namespace()
	nl := netlinkOps{nodeNS: node}
	baseline := runtime.NumGoroutine()

	m := NewManager(Options{RunDir: runDir, NodeNamespace: node})
	var m2 *Manager
	t.Cleanup(func() {
		if m2 != nil {
			if err := m2.Remove(ctx, guarded.ID); err != nil {
				t.Errorf("remove: %v", err)
			}
			m2.Close()
		}
		m.Close()
		killPidFile(pathsFor(runDir, ns).PID)
		_ = nl.DeleteNamespace(ns)
	})
	watching := func(m *Manager) bool {
		m.watch.mu.Lock()
		defer m.watch.mu.Unlock()
		hw := m.watch.hubs[guarded.ID]
		return hw != nil && !hw.stopped()
	}
	for _, step := range []struct {
		h    Hub
		want bool
	}{{guarded, true}, {bare, false}, {guarded, true}} {
		if err := m.Apply(ctx, step.h); err != nil {
			t.Fatal(err)
		}
		if got := watching(m); got != step.want {
			t.Fatalf("guards %v: watching %v", step.h.Ports[0].L2Guard != nil, got)
		}
	}

	// The agent stops; a switch behind the port sends a BPDU.
	m.Close()
	if watching(m) {
		t.Fatal("a closed Manager still watches")
	}
	raw := nstest.OpenRaw(t, cust, "eth0")
	if err := raw.Send(nstest.BPDUFrame(raw.MAC)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if !linkOf(t, nl, ns, port).Up {
		t.Fatal("the port was shut with no agent running")
	}
	// The next agent.
	m2 = NewManager(Options{RunDir: runDir, NodeNamespace: node})
	start := time.Now()
	if err := m2.Apply(ctx, guarded); err != nil {
		t.Fatal(err)
	}
	took := shutWithin(t, nl, ns, port, time.Second)
	t.Logf("the BPDU counted while no agent ran shut the port %v after the next agent's apply began (%v after it ended)",
		time.Since(start).Round(time.Millisecond), took)
	records, err := readShut(runDir, guarded)
	if err != nil || records["onprem"].Reason != ShutBPDU {
		t.Errorf("shut records %+v, %v", records, err)
	}

	// The namespace is deleted behind the agent's back: the watcher lets
	// it go (its sockets would hold it alive, and would watch it instead
	// of the one the next apply creates).
	sh(t, "ip", "netns", "del", ns)
	for start := time.Now(); watching(m2); time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > time.Second {
			t.Fatal("the watcher still runs a second after its namespace was deleted")
		}
	}
	killPidFile(pathsFor(runDir, ns).PID)
	if err := m2.Remove(ctx, guarded.ID); err != nil {
		t.Logf("remove after the namespace was deleted: %v", err)
	}
	if watching(m2) {
		t.Error("a removed hub is still watched")
	}
	m2.Close()
	m2 = nil
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > baseline && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > baseline {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after the watchers stopped, %d before:\n%s", n, baseline, buf[:runtime.Stack(buf, true)])
	}
}

// BenchmarkCarrierPoll is one read of a hub's guarded devices' carrier
// counters by its watcher (every carrierPollEvery per guarded hub): a
// redundant port's two legs, in a namespace with a few other links.
func BenchmarkCarrierPoll(b *testing.B) {
	nstest.RequireRoot(b)
	prefix := runPrefix(b)
	ns := prefix + "-h"
	nstest.AddNamespace(b, ns)
	var lines []string
	for i := range 4 {
		lines = append(lines, fmt.Sprintf("link add p%d type veth peer name q%d", i, i), fmt.Sprintf("link set p%d up", i))
	}
	nstest.IPBatch(b, ns, lines)
	p, err := netlinkOps{}.openCarrierPoll(ns)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.close)
	b.ReportAllocs()
	for b.Loop() {
		if c, err := p.read([]string{"p0", "p1"}); err != nil || len(c) != 2 {
			b.Fatal(c, err)
		}
	}
}
