package agent

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	lgc "github.com/tsunagi-net/tsunagi/internal/network/lookingglass"
)

// fakeBird answers for one protocol of one hub.
type fakeBird struct {
	proto    string
	session  dataplane.SessionDetail
	imported []dataplane.RouteDetail
	refused  []dataplane.RouteDetail
	exported []dataplane.RouteDetail
	fail     error
}

func (b *fakeBird) check(proto string) error {
	if b.fail != nil {
		return b.fail
	}
	if proto != b.proto {
		return errors.New("no protocol " + proto)
	}
	return nil
}

func (b *fakeBird) Session(_ context.Context, proto string) (dataplane.SessionDetail, error) {
	return b.session, b.check(proto)
}
func (b *fakeBird) ImportedRoutes(_ context.Context, proto string) ([]dataplane.RouteDetail, error) {
	return b.imported, b.check(proto)
}
func (b *fakeBird) RefusedRoutes(_ context.Context, proto string) ([]dataplane.RouteDetail, error) {
	return b.refused, b.check(proto)
}
func (b *fakeBird) ExportedRoutes(_ context.Context, proto string) ([]dataplane.RouteDetail, error) {
	return b.exported, b.check(proto)
}

func lgState() desired.State {
	return desired.State{Schema: desired.Schema, Node: "n1", Region: "tokyo", Hubs: []desired.Hub{{
		HubID: "hub_x", CustomerID: "cus_a", Namespace: "hub-x", ASN: 64600, InternalNetwork: "10.200.0.0/24", MonitoringNetwork: "10.200.1.0/28",
		Ports: []desired.Port{{
			PortCode: "shc00000007", Kind: "onprem", SpeedMbps: 1000, BGPEnabled: true,
			Legs:        []desired.Leg{{Role: "primary", Interface: "eth1", VLAN: 101}},
			Sessions:    []desired.Session{{Name: "single", LocalAddress: "169.254.30.1", PeerAddress: "169.254.30.2", PrefixLength: 30, PeerASN: 65001}},
			RoutePolicy: desired.RoutePolicy{Type: "All"},
		}},
	}}}
}

func TestLookingGlassAnswersFromTheHubsBird(t *testing.T) {
	since := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	bird := &fakeBird{proto: "port_p00000007_s",
		session: dataplane.SessionDetail{ProtocolStatus: dataplane.ProtocolStatus{Name: "port_p00000007_s", State: "up", Info: "Established", Since: since},
			HoldTime: 90, KeepaliveTime: 30, Source: netip.MustParseAddr("169.254.30.1")},
		imported: []dataplane.RouteDetail{{Net: netip.MustParsePrefix("172.16.5.0/24"), NextHop: netip.MustParseAddr("169.254.30.2"), ASPath: []int64{65001}}},
		refused: []dataplane.RouteDetail{{Net: netip.MustParsePrefix("198.18.0.0/16"), NextHop: netip.MustParseAddr("169.254.30.2"), ASPath: []int64{65001}},
			{Net: netip.MustParsePrefix("10.200.0.0/25"), NextHop: netip.MustParseAddr("169.254.30.2"), ASPath: []int64{65001}}},
		exported: []dataplane.RouteDetail{{Net: netip.MustParsePrefix("10.200.0.0/24")}},
	}
	var asked string
	g := &LookingGlass{State: func() (desired.State, bool, error) { return lgState(), true, nil },
		Bird: func(hubID string) LookingGlassBird { asked = hubID; return bird }}
	a := g.Answer(context.Background(), lgc.Query{Schema: lgc.Schema, ID: "lgq_1", HubID: "hub_x", CustomerID: "cus_a", PortCode: "shc00000007", Session: "single"})
	if asked != "x" {
		t.Errorf("read the BIRD of hub %q, want x (the namespace hub-x)", asked)
	}
	if a.Error != "" || a.State != "up" || a.Info != "Established" || a.HoldTime != 90 || a.KeepaliveTime != 30 || a.Since == nil || !a.Since.Equal(since) {
		t.Fatalf("session: %+v", a)
	}
	want := []lgc.ReceivedRoute{
		{Prefix: "172.16.5.0/24", NextHop: "169.254.30.2", ASPath: []int64{65001}, Accepted: true},
		{Prefix: "198.18.0.0/16", NextHop: "169.254.30.2", ASPath: []int64{65001}, Reason: "bogon"},
		{Prefix: "10.200.0.0/25", NextHop: "169.254.30.2", ASPath: []int64{65001}, Reason: "hub's own network"},
	}
	if len(a.Received) != len(want) {
		t.Fatalf("received %+v", a.Received)
	}
	for i := range want {
		if a.Received[i].Prefix != want[i].Prefix || a.Received[i].Accepted != want[i].Accepted || a.Received[i].Reason != want[i].Reason {
			t.Errorf("received %d: %+v, want %+v", i, a.Received[i], want[i])
		}
	}
	if len(a.Advertised) != 1 || a.Advertised[0].NextHop != "169.254.30.1" {
		t.Errorf("advertised %+v", a.Advertised)
	}
	if _, err := lgc.EncodeAnswer(a); err != nil {
		t.Fatalf("the answer breaks the contract: %v", err)
	}
}

// TestLookingGlassSaysWhyNot: a query the node cannot answer is answered
// with the reason in words for the customer, never the node's internals.
func TestLookingGlassSaysWhyNot(t *testing.T) {
	bird := &fakeBird{proto: "port_p00000007_s", fail: errors.New("dial unix /run/tsunagi/hub-x/bird.ctl: connection refused")}
	g := &LookingGlass{State: func() (desired.State, bool, error) { return lgState(), true, nil },
		Bird: func(string) LookingGlassBird { return bird }}
	for name, c := range map[string]struct {
		q    lgc.Query
		want string
	}{
		"other customer's hub": {lgc.Query{ID: "lgq_1", HubID: "hub_x", CustomerID: "cus_b", PortCode: "shc00000007", Session: "single"}, "the hub does not run on this node"},
		"no such session":      {lgc.Query{ID: "lgq_2", HubID: "hub_x", CustomerID: "cus_a", PortCode: "shc00000007", Session: "primary"}, "the port has no such session on this node"},
		"BIRD down":            {lgc.Query{ID: "lgq_3", HubID: "hub_x", CustomerID: "cus_a", PortCode: "shc00000007", Session: "single"}, "the hub's BGP daemon did not answer"},
	} {
		if a := g.Answer(context.Background(), c.q); a.Error != c.want || a.ID != c.q.ID {
			t.Errorf("%s: error %q, want %q", name, a.Error, c.want)
		}
	}
}
