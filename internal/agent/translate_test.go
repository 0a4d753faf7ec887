package agent

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
)

// TestTranslateTheControllersDocument feeds the service model's golden
// desired state (what the controller really emits) through the translation
// and checks that the data plane would accept every hub.
func TestTranslateTheControllersDocument(t *testing.T) {
	b, err := os.ReadFile("../network/testdata/desired/tyo-1.golden.json")
	if err != nil {
		t.Skipf("service model golden document not available: %v", err)
	}
	s, err := desired.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	hubs, problems := Translate(s)
	if len(hubs) != len(s.Hubs) {
		t.Fatalf("%d hubs from %d", len(hubs), len(s.Hubs))
	}
	for _, h := range hubs {
		if err := h.Validate(); err != nil {
			t.Errorf("hub %s refused by the data plane: %v", h.ID, err)
		}
		if len(h.Ports) == 0 {
			t.Errorf("hub %s has no ports", h.ID)
		}
	}
	// Every guarded port of the document is guarded in the data plane (an
	// on-premises port is one data-plane port).
	var guards, guarded int
	for _, h := range s.Hubs {
		for _, p := range h.Ports {
			if p.L2Guard != nil {
				guards++
			}
		}
	}
	for _, h := range hubs {
		for _, p := range h.Ports {
			if p.L2Guard != nil {
				guarded++
			}
		}
	}
	if guards == 0 || guarded != guards {
		t.Errorf("%d guarded ports in the document, %d in the data plane", guards, guarded)
	}
	for _, p := range problems {
		if !strings.Contains(p, "backbone") && !strings.Contains(p, "leg") && !strings.Contains(p, "NAPT grades") {
			t.Errorf("unexpected problem: %s", p)
		}
	}
	t.Logf("%d hubs, problems: %q", len(hubs), problems)
}

func TestTranslateEdgeCases(t *testing.T) {
	s := desired.State{Schema: desired.Schema, Node: "n1", Region: "tokyo", RouteLimit: 1500, Hubs: []desired.Hub{{
		HubID: "hub_x", Namespace: "hub-x", ASN: 64600, InternalNetwork: "100.64.0.0/24", MonitoringNetwork: "100.64.1.0/28",
		Ports: []desired.Port{{
			PortCode: "shc00000009", Kind: "a-public", SpeedMbps: 1000, BGPEnabled: true,
			Legs: []desired.Leg{{Role: "primary", Interface: "eth3", VLAN: 120}, {Role: "secondary", Interface: "eth4", VLAN: 120}},
			Sessions: []desired.Session{
				{Name: "primary", LocalAddress: "169.254.10.1", PeerAddress: "169.254.10.2", PrefixLength: 30, PeerASN: 64512, ImportLimit: 1500},
				{Name: "secondary", LocalAddress: "169.254.10.5", PeerAddress: "169.254.10.6", PrefixLength: 30, PeerASN: 64512, ImportLimit: 1500},
			},
			RoutePolicy: desired.RoutePolicy{Type: "UserDefined", Prefixes: []string{"10.1.0.0/16", "10.2.0.0/16"}},
			Firewall: &desired.Firewall{Mode: "stateful", DefaultAction: "drop", Rules: []desired.Rule{
				{Index: 0, Action: "accept", Sources: []string{"10.1.0.0/16"}, Destinations: []string{"0.0.0.0/0"},
					Services: []desired.Service{{Protocol: "tcp", Ports: "443,8000-8080"}, {Protocol: "icmp"}}},
				{Index: 1, Action: "drop", Sources: []string{"not-a-prefix"}},
			}},
			NAPT: []desired.NAPT{{Sessions: 30000, PublicPrefix: "203.0.113.8/32"}, {Sessions: 60000, PublicPrefix: "203.0.113.10/31"}},
		}},
		StaticNAT: []desired.StaticNAT{{Public: "203.0.113.20", Inside: "10.1.0.5", PortCode: "shc00000009"}},
		Backbone: desired.Backbone{VNI: 10001, LocalPreference: 300, OverlayAddress: "169.254.255.249/29", LocalUnderlay: "192.0.2.1",
			Peers: []desired.BackbonePeer{
				{HubID: "hub_y", Region: "osaka", Priority: "sub", LocalPreference: 200, OverlayAddress: "169.254.255.250/29", Underlay: "192.0.2.2"},
				{HubID: "hub_z", Region: "nagoya", Priority: "backup", LocalPreference: 100, OverlayAddress: "169.254.255.251/29", Underlay: ""},
			}},
	}}}
	hubs, problems := Translate(s)
	h := hubs[0]
	if h.ID != "x" || h.ImportLimit != 1500 || h.RouterID.String() != "100.64.0.1" {
		t.Errorf("hub = %+v", h)
	}
	if len(h.Ports) != 2 || h.Ports[0].Interface != "eth3.120" || h.Ports[1].Name != "p00000009_s" {
		t.Fatalf("ports = %+v", h.Ports)
	}
	fw := h.Ports[0].Firewall
	if !fw.Stateful || len(fw.Rules) != 2 || fw.Rules[0].Protocol != "tcp" || !slices.Equal(fw.Rules[0].Ports, []string{"443", "8000-8080"}) || fw.Rules[1].Protocol != "icmp" {
		t.Errorf("firewall = %+v", fw)
	}
	if h.Ports[0].NAPT == nil || h.Ports[0].NAPT.Public.String() != "203.0.113.8/32" || len(h.Ports[0].StaticNAT) != 1 {
		t.Errorf("NAT = %+v %+v", h.Ports[0].NAPT, h.Ports[0].StaticNAT)
	}
	if b := h.Backbone; b == nil || b.Device != BackboneDevice || b.VNI != 10001 || b.LocalPreference != 300 || b.Address.String() != "169.254.255.249/29" ||
		len(b.Peers) != 1 || b.Peers[0].DR != "sub" || b.Peers[0].Neighbor.String() != "169.254.255.250" || b.Peers[0].RemoteUnderlay.String() != "192.0.2.2" {
		t.Errorf("backbone = %+v", h.Backbone)
	}
	want := []string{"firewall rule 1", "2 NAPT grades", "backbone peer hub_z (backup) not built"}
	for _, w := range want {
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, w) }) {
			t.Errorf("problem %q not reported in %q", w, problems)
		}
	}
	if err := h.Validate(); err != nil {
		t.Errorf("data plane refuses the translation: %v", err)
	}
}

// A redundant on-premises port is one session over both legs: the data
// plane gets one port whose interface is a bridge over the two legs, and no
// problem is reported. A port the controller holds shut, or whose session it
// holds stopped, is held so.
func TestTranslateRedundantOnPrem(t *testing.T) {
	s := desired.State{Schema: desired.Schema, Node: "n1", Region: "tokyo", Hubs: []desired.Hub{{
		HubID: "hub_x", Namespace: "hub-x", ASN: 64600, InternalNetwork: "100.64.0.0/24", MonitoringNetwork: "100.64.1.0/28",
		Ports: []desired.Port{{
			PortCode: "shc00000007", Kind: "onprem", SpeedMbps: 1000, BGPEnabled: false, Shut: "bpdu",
			Legs: []desired.Leg{{Role: "primary", Interface: "eth1", VLAN: 101}, {Role: "secondary", Interface: "eth2", VLAN: 101}},
			Sessions: []desired.Session{
				{Name: "single", LocalAddress: "169.254.30.1", PeerAddress: "169.254.30.2", PrefixLength: 30, PeerASN: 65001},
			},
			RoutePolicy: desired.RoutePolicy{Type: "All"},
		}},
	}}}
	hubs, problems := Translate(s)
	if len(problems) > 0 {
		t.Errorf("problems %q", problems)
	}
	if len(hubs) != 1 || len(hubs[0].Ports) != 1 {
		t.Fatalf("hubs = %+v", hubs)
	}
	p := hubs[0].Ports[0]
	if p.Interface != "br00000007" || !slices.Equal(p.Legs, []string{"eth1.101", "eth2.101"}) || p.Address.String() != "169.254.30.1/30" ||
		p.HeldShut != "bpdu" || !p.BGPDisabled ||
		!slices.Equal(p.VLANs, []dataplane.VLANLink{{Name: "eth1.101", Parent: "eth1", ID: 101}, {Name: "eth2.101", Parent: "eth2", ID: 101}}) {
		t.Errorf("port = %+v", p)
	}
	if err := hubs[0].Validate(); err != nil {
		t.Errorf("data plane refuses the translation: %v", err)
	}
}

// An on-premises port's layer-2 guards reach the data plane with the port's
// re-enable sequence (which also re-enables a port the guards shut); a
// guard the data plane would refuse is left out and reported, so that it
// does not refuse the node's whole document.
func TestTranslateL2Guard(t *testing.T) {
	guard := desired.L2Guard{BPDUGuard: true, StormControlPPS: 1000, FlapLimit: 5, FlapWindowSeconds: 60,
		MACLimit: 5, MACAgeingSeconds: 2400, MTU: 1500}
	doc := func(g desired.L2Guard) desired.State {
		return desired.State{Schema: desired.Schema, Node: "n1", Region: "tokyo", Hubs: []desired.Hub{{
			HubID: "hub_x", Namespace: "hub-x", ASN: 64600, InternalNetwork: "100.64.0.0/24", MonitoringNetwork: "100.64.1.0/28",
			Ports: []desired.Port{{
				PortCode: "shc00000007", Kind: "onprem", SpeedMbps: 10000, BGPEnabled: true, ReenableSeq: 3,
				Legs: []desired.Leg{{Role: "primary", Interface: "eth1"}, {Role: "secondary", Interface: "eth2"}},
				Sessions: []desired.Session{
					{Name: "single", LocalAddress: "169.254.30.1", PeerAddress: "169.254.30.2", PrefixLength: 30, PeerASN: 65001},
				},
				RoutePolicy: desired.RoutePolicy{Type: "All"},
				L2Guard:     &g,
			}},
		}}}
	}
	hubs, problems := Translate(doc(guard))
	if len(problems) > 0 {
		t.Errorf("problems %q", problems)
	}
	p := hubs[0].Ports[0]
	want := dataplane.L2Guard{BPDUGuard: true, StormControlPPS: 1000, FlapLimit: 5, FlapWindowSeconds: 60,
		MACLimit: 5, MACAgeingSeconds: 2400, MTU: 1500}
	if p.L2Guard == nil || *p.L2Guard != want || p.ReenableSeq != 3 {
		t.Errorf("port guard %+v, re-enable %d; want %+v, 3", p.L2Guard, p.ReenableSeq, want)
	}
	if err := hubs[0].Validate(); err != nil {
		t.Errorf("data plane refuses the translation: %v", err)
	}

	bad := guard
	bad.MACAgeingSeconds = 0
	hubs, problems = Translate(doc(bad))
	if hubs[0].Ports[0].L2Guard != nil {
		t.Errorf("a guard the data plane refuses was passed on: %+v", hubs[0].Ports[0].L2Guard)
	}
	if len(problems) != 1 || !strings.Contains(problems[0], "shc00000007: layer-2 guards not realised: MAC ageing 0 s") {
		t.Errorf("problems %q, want the guard reported", problems)
	}
	if err := hubs[0].Validate(); err != nil {
		t.Errorf("data plane refuses the hub without its guard: %v", err)
	}
}

// A service object of protocol "any" is every protocol: the data plane
// gets a rule with no protocol match, which it accepts, rather than the
// word "any", which it refuses (and with it the node's whole document).
func TestTranslateServiceAny(t *testing.T) {
	s := desired.State{Schema: desired.Schema, Node: "n1", Region: "tokyo", RouteLimit: 1500, Hubs: []desired.Hub{{
		HubID: "hub_x", Namespace: "hub-x", ASN: 64600, InternalNetwork: "100.64.0.0/24", MonitoringNetwork: "100.64.1.0/28",
		Ports: []desired.Port{{
			PortCode: "shc00000009", Kind: "onprem", SpeedMbps: 1000, BGPEnabled: true,
			Legs: []desired.Leg{{Role: "primary", Interface: "eth3"}},
			Sessions: []desired.Session{
				{Name: "single", LocalAddress: "10.0.0.1", PeerAddress: "10.0.0.2", PrefixLength: 30, PeerASN: 65001, ImportLimit: 1500},
			},
			RoutePolicy: desired.RoutePolicy{Type: "All"},
			Firewall: &desired.Firewall{Mode: "stateful", DefaultAction: "drop", Rules: []desired.Rule{
				{Index: 0, Action: "accept", Sources: []string{"10.1.0.0/16"}, Destinations: []string{"0.0.0.0/0"},
					Services: []desired.Service{{Protocol: "any"}, {Protocol: "tcp", Ports: "443"}}},
			}},
		}},
	}}}
	hubs, problems := Translate(s)
	if len(problems) != 0 {
		t.Errorf("problems: %q", problems)
	}
	fw := hubs[0].Ports[0].Firewall
	if len(fw.Rules) != 2 || fw.Rules[0].Protocol != "" || len(fw.Rules[0].Ports) != 0 || fw.Rules[1].Protocol != "tcp" {
		t.Errorf("firewall = %+v", fw)
	}
	if err := hubs[0].Validate(); err != nil {
		t.Errorf("data plane refuses a rule with service any: %v", err)
	}
}

// A session the contract does not name (single, primary, secondary) has no
// data-plane port name; it is reported, not a crash of the agent.
func TestTranslateUnknownSessionName(t *testing.T) {
	s := desired.State{Schema: desired.Schema, Node: "n1", Region: "tokyo", RouteLimit: 1500, Hubs: []desired.Hub{{
		HubID: "hub_x", Namespace: "hub-x", ASN: 64600, InternalNetwork: "100.64.0.0/24", MonitoringNetwork: "100.64.1.0/28",
		Ports: []desired.Port{{
			PortCode: "shc00000009", Kind: "onprem", SpeedMbps: 1000, BGPEnabled: true,
			Legs:        []desired.Leg{{Role: "", Interface: "eth3"}},
			Sessions:    []desired.Session{{Name: "", LocalAddress: "10.0.0.1", PeerAddress: "10.0.0.2", PrefixLength: 30, PeerASN: 65001, ImportLimit: 1500}},
			RoutePolicy: desired.RoutePolicy{Type: "All"},
		}},
	}}}
	hubs, problems := Translate(s)
	if len(hubs) != 1 || len(hubs[0].Ports) != 0 || !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, `session ""`) }) {
		t.Errorf("hubs %+v, problems %q", hubs, problems)
	}
	if err := hubs[0].Validate(); err != nil {
		t.Errorf("data plane refuses the translation: %v", err)
	}
}
