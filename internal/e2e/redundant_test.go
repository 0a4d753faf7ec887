package e2e_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/nstest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// TestRedundantOnPremEndToEnd drives a redundant on-premises port through
// the controller and a real agent: the catalog's port is redundant, the
// operator places its legs on two physical ports of the node, and the
// configuration goes through the service model. The node bridges the two
// legs under one BGP session. The customer's router is active/standby over
// them; it fails over during a ping every 10 ms: traffic continues, the
// session is not reset, and the customer sees the primary leg without
// carrier in its hub's data-plane status.
//
// The customer's router is an active-backup pair of ports emulated
// without a bonding driver (wireRedundant).
func TestRedundantOnPremEndToEnd(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx
	t.Logf("names and run directories start with %s", h.prefix)
	s := newSite(h.prefix, "r")
	s.onPhysB = "psr"
	tyo := h.addNode(t, "tokyo", "tyo-1", []catalog.PhysicalPort{
		{Name: s.onPhys, SpeedMbps: 10_000, Kind: "onprem"},
		{Name: s.onPhysB, SpeedMbps: 10_000, Kind: "onprem"},
		{Name: s.cloudPhysA, SpeedMbps: 10_000, Kind: "cloud-aws"},
		{Name: s.cloudPhysB, SpeedMbps: 10_000, Kind: "cloud-aws"}})
	configure(t, ctx, h.cat, h.netSvc, s)

	// The controller's side: the legs on the two physical ports, and the
	// node's desired state with both legs under the one session.
	pls, err := h.netSvc.Operations.Placements(ctx, tenanttest.Operator(s.cust))
	if err != nil {
		t.Fatal(err)
	}
	var legs []string
	for _, pl := range pls {
		for _, l := range pl.Legs {
			if pl.PortCode == s.onPort {
				legs = append(legs, l.Leg+"@"+l.Node+"/"+l.Port)
			}
		}
	}
	if want := "primary@tyo-1/por secondary@tyo-1/psr"; strings.Join(legs, " ") != want {
		t.Fatalf("the redundant port is placed on %q, want %q", legs, want)
	}
	if p := desiredPort(t, h, tyo, s.onPort); len(p.Sessions) != 1 || p.Sessions[0].Name != "single" ||
		len(p.Legs) != 2 || p.Legs[0] != (desired.Leg{Role: "primary", Interface: "por"}) || p.Legs[1] != (desired.Leg{Role: "secondary", Interface: "psr"}) {
		t.Fatalf("the node's desired state of the redundant port: %+v", p)
	}

	wireRedundant(t, tyo, s)
	m := h.startAgent(t, tyo)
	h.converged(t, tyo, "of the redundant port's configuration")

	// BGP over the bridge; routes both ways; traffic.
	session := established(t, m, s.dataplaneID, onpremSession(s))
	hub := m.BirdClient(s.dataplaneID)
	waitRoute(t, "the hub", hub, "10.10.0.0/16", onpremSession(s))
	waitRoute(t, s.onprem, dataplane.BirdClient{Socket: s.onBird.Sock}, "172.31.0.0/16", "hub")
	waitRoute(t, s.cloud, dataplane.BirdClient{Socket: s.cloudBird.Sock}, "0.0.0.0/0", "hub")
	if err := nstest.Ping(s.onprem, s.onLoop, s.cloudLoop, 30*time.Second); err != nil {
		t.Fatalf("on-premises → AWS over the primary leg: %v", err)
	}
	if err := nstest.Ping(s.cloud, s.cloudLoop, s.onLoop, 30*time.Second); err != nil {
		t.Errorf("AWS → on-premises over the primary leg: %v", err)
	}

	// The customer's view: one session, the bridge and both legs with
	// carrier.
	api, token := h.customerAPI(t), h.customerToken(t, s.cust)
	before := waitView(t, api, token, s, "both legs with carrier", func(v portView) bool {
		return v.single().Info == "Established" && v.link("").Carrier && v.link("primary").Carrier && v.link("secondary").Carrier
	})

	// The second the session came up in passes, so that a reset would show
	// as a later "since" (BIRD gives it to the second).
	nstest.WaitFor(t, "the second the session came up in to pass", 5*time.Second, func() (bool, string) {
		return time.Since(session.Since) >= time.Second, session.Since.String()
	})
	// Failover during a ping every 10 ms: the router makes its standby
	// port active, then the primary's cable is cut.
	stop := make(chan struct{})
	type result struct {
		sent, lost int
		err        error
	}
	pinged := make(chan result, 1)
	go func() {
		sent, lost, err := nstest.PingStream(s.onprem, s.onLoop, s.cloudLoop, 10*time.Millisecond, stop)
		pinged <- result{sent, lost, err}
	}()
	func() {
		defer close(stop) // also when a command fails the test
		time.Sleep(time.Second)
		nstest.Activate(t, s.onprem)
		nstest.Sh(t, "ip", "-n", s.onprem, "link", "set", "eth0", "down")
		time.Sleep(2 * time.Second)
	}()
	r := <-pinged
	t.Logf("failover to the secondary leg: %d of %d pings lost at 10 ms", r.lost, r.sent)
	if r.err != nil || r.sent < 200 || r.lost*10 > r.sent {
		t.Errorf("ping across the failover: sent %d, lost %d, %v", r.sent, r.lost, r.err)
	}
	if err := nstest.Ping(s.onprem, s.onLoop, s.cloudLoop, 5*time.Second); err != nil {
		t.Errorf("on-premises → AWS over the secondary leg: %v", err)
	}
	if now := protocol(t, m, s.dataplaneID, onpremSession(s)); !now.Established() || !now.Since.Equal(session.Since) {
		t.Errorf("the failover reset the BGP session: %+v → %+v", session, now)
	}

	// The customer sees the primary leg without carrier at the node's next
	// report, the secondary carrying the traffic, and the same session.
	after := waitView(t, api, token, s, "the primary leg without carrier", func(v portView) bool {
		return !v.link("primary").Carrier && v.link("secondary").TxPackets >= before.link("secondary").TxPackets+100
	})
	if l := after.link("secondary"); !l.Carrier || !after.link("").Carrier {
		t.Errorf("after the failover the customer sees the secondary leg %+v, the bridge %+v", l, after.link(""))
	}
	if was, now := before.single(), after.single(); now.Info != "Established" || !now.Since.Equal(was.Since) {
		t.Errorf("the customer sees the session reset by the failover: %+v → %+v", was, now)
	}
}

// portView is one port of the customer's GET /api/v1/hubs/{id}/dataplane.
type portView struct {
	PortCode string        `json:"port_code"`
	Sessions []sessionView `json:"bgp_sessions"`
	Links    []linkView    `json:"links"`
}

type sessionView struct {
	Name  string    `json:"name"`
	Info  string    `json:"info"`
	Since time.Time `json:"since"`
}

type linkView struct {
	Connection string `json:"connection"`
	Leg        string `json:"leg"`
	Carrier    bool   `json:"carrier"`
	TxPackets  uint64 `json:"tx_packets"`
}

// single is the port's one session; the zero value unless it has exactly
// that one.
func (v portView) single() sessionView {
	if len(v.Sessions) == 1 && v.Sessions[0].Name == "single" {
		return v.Sessions[0]
	}
	return sessionView{}
}

// link is the port's link of the given leg ("" for the bridge); the zero
// value when it has none.
func (v portView) link(leg string) linkView {
	for _, l := range v.Links {
		if l.Leg == leg {
			return l
		}
	}
	return linkView{}
}

// waitView waits until the customer's view of the site's on-premises port
// has exactly its single session and three links — the bridge, the primary
// leg, the secondary leg, all of the single connection — and ok holds.
func waitView(t *testing.T, api *httptest.Server, token string, s *site, what string, ok func(portView) bool) portView {
	t.Helper()
	var got portView
	nstest.WaitFor(t, "the customer's view of "+s.onPort+" to show "+what, 60*time.Second, func() (bool, string) {
		var st struct {
			Ports []portView `json:"ports"`
		}
		code := getJSON(t, api, token, "/api/v1/hubs/"+string(s.hub)+"/dataplane", &st)
		got = portView{}
		for _, p := range st.Ports {
			if p.PortCode == s.onPort {
				got = p
			}
		}
		legs := map[string]bool{}
		for _, l := range got.Links {
			legs[l.Connection+"/"+l.Leg] = true
		}
		shape := len(got.Sessions) == 1 && len(got.Links) == 3 && legs["single/"] && legs["single/primary"] && legs["single/secondary"]
		return code == 200 && shape && ok(got), fmt.Sprintf("%d %+v", code, got)
	})
	return got
}

// desiredPort is the port in the node's desired state.
func desiredPort(t *testing.T, h *harness, n *node, code string) desired.Port {
	t.Helper()
	_, st, err := h.netSvc.Compiler.DesiredState(h.ctx, n.name)
	if err != nil {
		t.Fatal(err)
	}
	for _, dh := range st.Hubs {
		for _, p := range dh.Ports {
			if p.PortCode == code {
				return p
			}
		}
	}
	t.Fatalf("port %s is not in %s's desired state", code, n.name)
	return desired.Port{}
}

// established waits until the hub's BIRD has the session Established and
// returns it.
func established(t *testing.T, m *dataplane.Manager, id, name string) dataplane.ProtocolStatus {
	t.Helper()
	var got dataplane.ProtocolStatus
	nstest.WaitFor(t, name+" to be Established", 90*time.Second, func() (bool, string) {
		ps, err := m.BirdClient(id).Protocols(context.Background())
		for _, p := range ps {
			if p.Name == name {
				got = p
				return p.Established(), fmt.Sprintf("%+v", p)
			}
		}
		return false, fmt.Sprintf("no protocol %s in %+v (%v)", name, ps, err)
	})
	return got
}

// wireRedundant builds the customer's side of the site: the AWS router,
// and the on-premises router as an active-backup pair of ports, eth0
// (active) on the primary leg and eth1 (standby) on the secondary. This
// kernel has no bonding driver: the pair is a bridge with STP off, which
// carries the router's address and keeps one MAC address whichever port
// is active, as a bond does; the standby port drops all it would send or
// receive, by nftables, from before it has carrier, as a bond's inactive
// port does. (The bridge port state "blocking" the data plane's test sets
// would not do: on this kernel, 6.18, a blocking port with STP off is at
// once made forwarding again, and until a state is set the bridge joins
// the two legs, passing the hub's own frames back into the hub.) The
// ports have no IPv6 addresses, as a bond's members have none: only the
// router's MAC address reaches the hub, whose port admits five.
func wireRedundant(t *testing.T, n *node, s *site) {
	t.Helper()
	s.onIf = s.onPhys
	nstest.AddNamespace(t, s.onprem)
	for i, leg := range []string{s.onPhys, s.onPhysB} {
		nstest.Sh(t, "ip", "-n", n.ns, "link", "add", leg, "type", "veth", "peer", "name", fmt.Sprintf("eth%d", i), "netns", s.onprem)
	}
	nstest.Standby(t, s.onprem, "eth1")
	nstest.IPBatch(t, s.onprem, []string{"link add rtr address 02:00:00:0a:00:02 type bridge stp_state 0",
		"link set eth0 addrgenmode none", "link set eth1 addrgenmode none",
		"link set eth0 master rtr up", "link set eth1 master rtr up",
		"addr add 10.0.0.2/30 dev rtr", "addr add " + s.onLoop + "/32 dev lo", "link set rtr up"})
	s.onBird = nstest.StartPeerBird(t, s.onprem, n.runDir, nstest.PeerConf{Local: "10.0.0.2", Hub: "10.0.0.1", ASN: onpremASN, HubASN: hubASN,
		Prefixes: []string{"10.10.0.0/16"}, Loopback: s.onLoop})
	wireCloud(t, n.ns, n.runDir, s)
}
