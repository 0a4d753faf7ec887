package e2e_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/agent"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/lookingglass"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	lgc "github.com/tsunagi-net/tsunagi/internal/network/lookingglass"
	"github.com/tsunagi-net/tsunagi/internal/nstest"
)

// TestLookingGlassEndToEnd reads a customer's on-premises session through
// the customer API: the controller queues the query, the node's real agent
// takes it and reads the hub's real BIRD, which holds a BGP session with
// the customer's router (a BIRD of its own in a namespace). The router
// then announces a new prefix and a bogon: the looking glass shows the new
// prefix received within the bound of its poll, the bogon refused with its
// reason, and the routes the hub advertises.
func TestLookingGlassEndToEnd(t *testing.T) {
	h := newHarness(t)
	s := newSite(h.prefix, "a")
	tyo := h.addNode(t, "tokyo", "tyo-1", []catalog.PhysicalPort{
		{Name: s.onPhys, SpeedMbps: 10_000, Kind: "onprem"},
		{Name: s.cloudPhysA, SpeedMbps: 10_000, Kind: "cloud-aws"}, {Name: s.cloudPhysB, SpeedMbps: 10_000, Kind: "cloud-aws"}})
	configure(t, h.ctx, h.cat, h.netSvc, s)
	wire(t, tyo.ns, tyo.runDir, s)
	client, state := h.enrol(t, tyo)
	m := dataplane.NewManager(dataplane.Options{RunDir: tyo.runDir, NodeNamespace: tyo.ns})
	t.Cleanup(func() { removeHubs(m, tyo.runDir) })
	runAgent(t, newLoop(client, m, tyo.runDir, state))
	ctx, cancel := context.WithCancel(context.Background())
	lg := &agent.LookingGlass{Client: client, Wait: 5 * time.Second,
		Log:   slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Bird:  func(hub string) agent.LookingGlassBird { return m.BirdClient(hub) },
		State: func() (desired.State, bool, error) { return agent.LoadLastState(state) }}
	done := make(chan struct{})
	go func() { defer close(done); lg.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	h.converged(t, tyo, "of the configuration")
	for _, proto := range []string{onpremSession(s), cloudSession(s)} {
		nstest.WaitFor(t, proto+" to be established", 90*time.Second, func() (bool, string) {
			p := protocol(t, m, s.dataplaneID, proto)
			return p.Established(), fmt.Sprintf("%+v", p)
		})
	}

	api := h.customerAPI(t)
	token := h.customerToken(t, s.cust)
	read := func() (lookingglass.View, int) {
		var v lookingglass.View
		code := getJSON(t, api, token, "/api/v1/ports/"+s.onPort+"/looking-glass?session=single", &v)
		return v, code
	}
	v, code := read()
	if code != 200 || v.Answer.State != "up" || v.Answer.Info != "Established" || v.Answer.HoldTime == 0 || v.Answer.Error != "" {
		t.Fatalf("looking glass: %d %+v", code, v.Answer)
	}
	if r, ok := received(v.Answer, "10.10.0.0/16"); !ok || !r.Accepted || !slices.Equal(r.ASPath, []int64{onpremASN}) || r.NextHop != "10.0.0.2" {
		t.Errorf("the router's prefix as received: %+v (%v)", r, ok)
	}
	// The hub advertises its own networks and the cloud port's routes.
	if !slices.ContainsFunc(v.Answer.Advertised, func(a lgc.AdvertisedRoute) bool { return a.Prefix == "172.31.0.0/16" && a.NextHop == "10.0.0.1" }) {
		t.Errorf("advertised %+v lacks the cloud's 172.31.0.0/16 with the hub as next hop", v.Answer.Advertised)
	}

	// The router announces a new prefix and a bogon.
	s.onBird.Reconfigure(t, nstest.PeerConf{Local: "10.0.0.2", Hub: "10.0.0.1", ASN: onpremASN, HubASN: hubASN,
		Prefixes: []string{"10.10.0.0/16", "10.20.0.0/16", "198.18.0.0/15"}, Loopback: s.onLoop})
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, code = read()
		_, fresh := received(v.Answer, "10.20.0.0/16")
		_, bogon := received(v.Answer, "198.18.0.0/15")
		if code == 200 && fresh && bogon {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new prefixes did not show within 5 s: %d %+v", code, v.Answer.Received)
		}
		time.Sleep(time.Second) // a read a second keeps within the customer's limit
	}
	if r, _ := received(v.Answer, "10.20.0.0/16"); !r.Accepted {
		t.Errorf("the new prefix: %+v", r)
	}
	if r, _ := received(v.Answer, "198.18.0.0/15"); r.Accepted || r.Reason != "bogon" {
		t.Errorf("the bogon: %+v, want refused as a bogon", r)
	}

	// A port that is not the customer's is not found, and no node is asked.
	if code := getJSON(t, api, token, "/api/v1/ports/shc00000000/looking-glass", &v); code != 404 {
		t.Errorf("an unknown port: %d", code)
	}
}

func received(a lgc.Answer, prefix string) (lgc.ReceivedRoute, bool) {
	i := slices.IndexFunc(a.Received, func(r lgc.ReceivedRoute) bool { return r.Prefix == prefix })
	if i < 0 {
		return lgc.ReceivedRoute{}, false
	}
	return a.Received[i], true
}
