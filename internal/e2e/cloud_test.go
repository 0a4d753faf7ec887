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

// TestCloudPortBothLinksEndToEnd drives a cloud port's redundant pair
// through the controller and a real agent: the operator's placement puts
// the primary and the secondary link on two physical ports of the node,
// the node's desired state carries each link as a leg with its session,
// and the hub runs both — two interfaces, two /30s, two BGP sessions with
// the AWS router, whose routes it learns over each. Traffic takes the
// primary link; its cable is cut during a ping every 10 ms and traffic
// continues over the secondary, whose session is not reset.
func TestCloudPortBothLinksEndToEnd(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx
	t.Logf("names and run directories start with %s", h.prefix)
	s := newSite(h.prefix, "c")
	tyo := h.addNode(t, "tokyo", "tyo-1", []catalog.PhysicalPort{
		{Name: s.onPhys, SpeedMbps: 10_000, Kind: "onprem"},
		{Name: s.cloudPhysA, SpeedMbps: 10_000, Kind: "cloud-aws"},
		{Name: s.cloudPhysB, SpeedMbps: 10_000, Kind: "cloud-aws"}})
	configure(t, ctx, h.cat, h.netSvc, s)

	// The controller's side: one link per physical port, each leg with
	// the port's VLAN, and a session per link.
	pls, err := h.netSvc.Operations.Placements(ctx, tenanttest.Operator(s.cust))
	if err != nil {
		t.Fatal(err)
	}
	var legs []string
	for _, pl := range pls {
		for _, l := range pl.Legs {
			if pl.PortCode == s.cloudPort {
				legs = append(legs, l.Leg+"@"+l.Node+"/"+l.Port)
			}
		}
	}
	if want := "primary@tyo-1/pwc secondary@tyo-1/pxc"; strings.Join(legs, " ") != want {
		t.Fatalf("the cloud port is placed on %q, want %q", legs, want)
	}
	p := desiredPort(t, h, tyo, s.cloudPort)
	if len(p.Legs) != 2 || p.Legs[0] != (desired.Leg{Role: "primary", Interface: "pwc", VLAN: vlan}) || p.Legs[1] != (desired.Leg{Role: "secondary", Interface: "pxc", VLAN: vlan}) ||
		len(p.Sessions) != 2 || p.Sessions[0].Name != "primary" || p.Sessions[1].Name != "secondary" || p.Sessions[1].LocalAddress != "169.254.100.5" {
		t.Fatalf("the node's desired state of the cloud port: %+v", p)
	}

	wire(t, tyo.ns, tyo.runDir, s)
	m := h.startAgent(t, tyo)
	h.converged(t, tyo, "of the cloud port's configuration")

	// Both links: a BGP session each, the AWS prefix learned over each,
	// and the node reports nothing it did not build.
	primary, secondary := cloudSession(s), cloudSecondarySession(s)
	established(t, m, s.dataplaneID, primary)
	was := established(t, m, s.dataplaneID, secondary)
	hub := m.BirdClient(s.dataplaneID)
	for _, sess := range []string{primary, secondary} {
		waitRoute(t, "the hub", hub, "172.31.0.0/16", sess)
	}
	for _, sess := range []string{"hub", "hub2"} {
		waitRoute(t, s.cloud, dataplane.BirdClient{Socket: s.cloudBird.Sock}, "0.0.0.0/0", sess)
	}
	if st, err := h.fl.NodeStatus(ctx, tyo.name); err != nil || st.Error != "" || len(st.Hubs) != 1 || len(st.Hubs[0].Problems) != 0 || st.Hubs[0].Error != "" {
		t.Errorf("the node reports a gap: %+v (%v)", st, err)
	}
	// The customer sees both sessions established and both links with
	// carrier.
	api, token := h.customerAPI(t), h.customerToken(t, s.cust)
	cloudView(t, api, token, s, "both links up", func(v portView) bool {
		return v.session("primary").Info == "Established" && v.session("secondary").Info == "Established" &&
			v.connection("primary").Carrier && v.connection("secondary").Carrier
	})
	hubNS := dataplane.NamespacePrefix + s.dataplaneID
	for _, a := range []struct{ ns, dev string }{{hubNS, s.clIf}, {hubNS, s.clIf2}} {
		if out := nstest.Sh(t, "ip", "-n", a.ns, "-br", "addr", "show", "dev", a.dev); !strings.Contains(out, "UP") {
			t.Errorf("the hub's %s: %s", a.dev, out)
		}
	}
	if out := nstest.Sh(t, "ip", "-n", hubNS, "-br", "addr", "show", "dev", s.clIf2); !strings.Contains(out, "169.254.100.5/30") {
		t.Errorf("the hub's secondary link has no address of its own: %s", out)
	}
	// Traffic takes the primary link while it is up (BIRD prefers the
	// lower neighbour address on both sides).
	waitVia(t, hubNS, "172.31.0.1", s.clIf)
	waitVia(t, s.cloud, s.onLoop, "eth0")
	if err := nstest.Ping(s.onprem, s.onLoop, s.cloudLoop, 30*time.Second); err != nil {
		t.Fatalf("on-premises → AWS over the primary link: %v", err)
	}

	// The second the secondary came up in passes, so that a reset would
	// show as a later "since".
	nstest.WaitFor(t, "the second the secondary session came up in to pass", 5*time.Second, func() (bool, string) {
		return time.Since(was.Since) >= time.Second, was.Since.String()
	})
	// The primary link's cable is cut at the provider during a ping every
	// 10 ms: the hub's side loses carrier and BIRD drops the directly
	// connected session at once; routes move to the secondary link.
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
		nstest.Sh(t, "ip", "-n", s.cloud, "link", "set", "eth0", "down")
		time.Sleep(3 * time.Second)
	}()
	r := <-pinged
	t.Logf("failover to the secondary link: %d of %d pings lost at 10 ms", r.lost, r.sent)
	if r.err != nil || r.sent < 300 || r.lost*10 > r.sent {
		t.Errorf("ping across the failover: sent %d, lost %d, %v", r.sent, r.lost, r.err)
	}
	waitVia(t, hubNS, "172.31.0.1", s.clIf2)
	waitVia(t, s.cloud, s.onLoop, "eth1")
	if err := nstest.Ping(s.onprem, s.onLoop, s.cloudLoop, 5*time.Second); err != nil {
		t.Errorf("on-premises → AWS over the secondary link: %v", err)
	}
	if now := protocol(t, m, s.dataplaneID, primary); now.Established() {
		t.Errorf("the primary session is still up with its link down: %+v", now)
	}
	if now := protocol(t, m, s.dataplaneID, secondary); !now.Established() || !now.Since.Equal(was.Since) {
		t.Errorf("the failover reset the secondary session: %+v → %+v", was, now)
	}
	// The customer sees the primary link without carrier and its session
	// down, the secondary's as it was.
	after := cloudView(t, api, token, s, "the primary link down", func(v portView) bool {
		return !v.connection("primary").Carrier && v.session("primary").Info != "Established" && v.connection("secondary").Carrier
	})
	if now := after.session("secondary"); now.Info != "Established" || !now.Since.Equal(was.Since) {
		t.Errorf("the customer sees the secondary session %+v, established since %s before the failover", now, was.Since)
	}
	nstest.WaitFor(t, "the hub's best route to the AWS prefix to be the secondary's", 30*time.Second, func() (bool, string) {
		rs, err := hub.Routes(context.Background())
		for _, rt := range rs {
			if rt.Net.String() == "172.31.0.0/16" && rt.Primary {
				return rt.Protocol == secondary, rt.Protocol
			}
		}
		return false, fmt.Sprintf("%v %v", rs, err)
	})
}

func cloudSecondarySession(s *site) string {
	return dataplane.SessionName("p" + strings.TrimPrefix(s.cloudPort, "shc") + "_s")
}

// waitVia waits until the namespace's route to dst leaves by dev.
func waitVia(t *testing.T, ns, dst, dev string) {
	t.Helper()
	nstest.WaitFor(t, fmt.Sprintf("%s's route to %s to leave by %s", ns, dst, dev), 30*time.Second, func() (bool, string) {
		out := nstest.Sh(t, "ip", "-n", ns, "route", "get", dst)
		return strings.Contains(out, " dev "+dev+" "), out
	})
}

// session is the port's session of the given name; the zero value when it
// has none.
func (v portView) session(name string) sessionView {
	for _, s := range v.Sessions {
		if s.Name == name {
			return s
		}
	}
	return sessionView{}
}

// connection is the port's link of the given connection; the zero value
// when it has none.
func (v portView) connection(name string) linkView {
	for _, l := range v.Links {
		if l.Connection == name && l.Leg == "" {
			return l
		}
	}
	return linkView{}
}

// cloudView waits until the customer's view of the site's cloud port has
// exactly its two sessions, primary and secondary, and a link for each,
// and ok holds.
func cloudView(t *testing.T, api *httptest.Server, token string, s *site, what string, ok func(portView) bool) portView {
	t.Helper()
	var got portView
	nstest.WaitFor(t, "the customer's view of "+s.cloudPort+" to show "+what, 60*time.Second, func() (bool, string) {
		var st struct {
			Ports []portView `json:"ports"`
		}
		code := getJSON(t, api, token, "/api/v1/hubs/"+string(s.hub)+"/dataplane", &st)
		got = portView{}
		for _, p := range st.Ports {
			if p.PortCode == s.cloudPort {
				got = p
			}
		}
		shape := len(got.Sessions) == 2 && len(got.Links) == 2 && got.session("primary").Name != "" && got.session("secondary").Name != ""
		return code == 200 && shape && ok(got), fmt.Sprintf("%d %+v", code, got)
	})
	return got
}
