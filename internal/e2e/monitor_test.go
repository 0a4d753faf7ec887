package e2e_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/agent"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/monitor"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/nstest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// monitorInterval is the monitors' interval in this test, the shortest
// the service allows; each change must be seen within three of them.
const monitorInterval = 10

// server is the customer's server the monitors probe.
const server = "10.10.5.2"

// TestMonitorEndToEnd runs reachability monitors through every part: the
// customer's monitors in the controller (package monitor), the desired
// state that carries them to the node, the agent's prober sending real
// ICMP echoes from the hub's monitoring address inside the hub's
// namespace, the node's report (sent at once when a monitor goes down or
// comes back: the agent runs with its own 30 s long poll), and the
// controller's ingestion that moves each monitor's state. The target is a server behind the customer's
// router, which is behind the hub's on-premises port (BGP with the
// router's real BIRD). When the router's interface toward the server goes
// down, the running monitor goes down within three intervals, and comes
// back up within three intervals of the interface coming back; the state
// is read back through the customer API. (The router's interface toward
// the hub would do as well for the way down, but the way back would then
// wait for BGP: BIRD's error wait, 60 s by default, after a lost
// neighbour.)
// A stopped monitor toward the same target raises nothing meanwhile: no
// state change, no mail.
func TestMonitorEndToEnd(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx
	t.Logf("names and run directories start with %s", h.prefix)
	tyo := h.addNode(t, "tokyo", "tyo-1", []catalog.PhysicalPort{{Name: "pmm", SpeedMbps: 10_000, Kind: "onprem"}})

	// The node's agent, with its prober.
	client, state := h.enrol(t, tyo)
	m := dataplane.NewManager(dataplane.Options{RunDir: tyo.runDir, NodeNamespace: tyo.ns})
	t.Cleanup(func() { removeHubs(m, tyo.runDir) })
	prober := agent.NewProber(nil)
	t.Cleanup(prober.Close)
	loop := newLoop(client, m, tyo.runDir, state)
	loop.Monitors = prober
	// The agent's own timings: a report every 30 s at most, unless the
	// prober wakes the loop, which is what makes each change seen in time.
	loop.Wait, loop.Resync = 30*time.Second, time.Minute
	runAgent(t, loop) // stops first at cleanup: then the prober, then the hubs

	// The customer: one hub with an on-premises port to its router, and
	// two monitors of its contract's option.
	c := newDRCustomer(t, h, "M", "10.93.0.0/16")
	if _, err := h.cat.SetOption(ctx, tenanttest.Operator(c.id), c.service, catalog.OptionInput{Name: monitor.Option, Quantity: 2}); err != nil {
		t.Fatal(err)
	}
	d := c.addHub(t, h, "main", tyo, m, "onprem", "pmm", "10.0.0.1")
	applyConfig(t, ctx, h.netSvc, c.id, network.Config{ASN: hubASN, Ports: []network.PortConfig{d.portConfig()}})
	// The customer's server behind its router, on the router's LAN
	// interface lan0, inside the prefix the router advertises.
	srv := h.prefix + "-msrv"
	nstest.AddNamespace(t, srv)
	nstest.Sh(t, "ip", "-n", d.peerNS, "link", "add", "lan0", "type", "veth", "peer", "name", "eth0", "netns", srv)
	nstest.IPBatch(t, d.peerNS, []string{"addr add 10.10.5.1/24 dev lan0", "link set lan0 up"})
	nstest.Sh(t, "ip", "netns", "exec", d.peerNS, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	nstest.IPBatch(t, srv, []string{"addr add " + server + "/24 dev eth0", "link set eth0 up", "route add default via 10.10.5.1"})
	h.converged(t, tyo, "with the customer's hub")

	api := h.customerAPI(t)
	token := h.customerToken(t, c.id)
	newMonitor := func(name string) monitor.Monitor {
		t.Helper()
		var mon monitor.Monitor
		apiDo(t, api, token, "POST", "/api/v1/monitors", monitor.Input{Name: name, PortCode: d.port, Target: server, Probe: "icmp",
			IntervalSeconds: monitorInterval, FailAfter: 2}, http.StatusCreated, &mon)
		return mon
	}
	running, stopped := newMonitor("router"), newMonitor("router, stopped")
	stateOf := func(id string) string {
		var got monitor.Monitor
		if code := getJSON(t, api, token, "/api/v1/monitors/"+id, &got); code != http.StatusOK {
			return fmt.Sprintf("HTTP %d", code)
		}
		return got.State
	}
	waitState := func(id, want, what string, within time.Duration) {
		t.Helper()
		nstest.WaitFor(t, id+" to be "+want+" "+what, within, func() (bool, string) {
			st := stateOf(id)
			return st == want, st
		})
	}
	// The first state waits for BGP and the first probes.
	waitState(running.ID, monitor.Up, "once the router answers", 90*time.Second)
	waitState(stopped.ID, monitor.Up, "once the router answers", 90*time.Second)
	apiDo(t, api, token, "POST", "/api/v1/monitors/"+stopped.ID+"/stop", map[string]string{"reason": "maintenance"}, http.StatusOK, nil)
	h.converged(t, tyo, "without the stopped monitor")
	if got := desiredHub(t, h, d).Monitors; len(got) != 1 || got[0].ID != running.ID {
		t.Fatalf("the node's desired state has the monitors %+v, want only %s", got, running.ID)
	}
	eventsBefore := h.count(t, `SELECT COUNT(*) FROM monitor_events WHERE monitor_id = ?`, stopped.ID)
	mailsBefore := h.count(t, `SELECT COUNT(*) FROM mail_outbox WHERE body LIKE ?`, "%"+stopped.ID+"%")

	within := 3 * monitorInterval * time.Second
	nstest.Sh(t, "ip", "-n", d.peerNS, "link", "set", "lan0", "down")
	down := time.Now()
	waitState(running.ID, monitor.Down, "after the router's interface went down", within)
	t.Logf("down after %v", time.Since(down).Round(time.Second))
	nstest.Sh(t, "ip", "-n", d.peerNS, "link", "set", "lan0", "up")
	up := time.Now()
	waitState(running.ID, monitor.Up, "after the router's interface came back", within)
	t.Logf("up after %v", time.Since(up).Round(time.Second))

	if st := stateOf(stopped.ID); st != monitor.Stopped {
		t.Errorf("the stopped monitor is %s", st)
	}
	if n := h.count(t, `SELECT COUNT(*) FROM monitor_events WHERE monitor_id = ?`, stopped.ID); n != eventsBefore {
		t.Errorf("the stopped monitor recorded %d changes while the interface was down", n-eventsBefore)
	}
	if n := h.count(t, `SELECT COUNT(*) FROM mail_outbox WHERE body LIKE ?`, "%"+stopped.ID+"%"); n != mailsBefore {
		t.Errorf("%d mails about the stopped monitor while the interface was down", n-mailsBefore)
	}
	if n := h.count(t, `SELECT COUNT(*) FROM monitor_events WHERE monitor_id = ? AND to_state = ?`, running.ID, monitor.Down); n != 1 {
		t.Errorf("the running monitor went down %d times, want once", n)
	}
}

// count runs a counting query on the controller's database.
func (h *harness) count(tb testing.TB, q string, args ...any) int {
	tb.Helper()
	var n int
	if err := h.db.QueryRow(h.ctx, q, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
	return n
}
