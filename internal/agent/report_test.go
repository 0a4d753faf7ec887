package agent

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
)

// cloudHub is a hub with a cloud port of two sessions, each with the
// port's firewall of two customer rules (rule 1 of two services), and a
// backbone peer.
func cloudHub() desired.State {
	fw := &desired.Firewall{Mode: "stateful", DefaultAction: "drop", Rules: []desired.Rule{
		{Index: 0, Action: "accept", Sources: []string{"10.1.0.0/16"}, Destinations: []string{"0.0.0.0/0"}},
		{Index: 1, Action: "drop", Sources: []string{"0.0.0.0/0"}, Destinations: []string{"0.0.0.0/0"},
			Services: []desired.Service{{Protocol: "tcp", Ports: "22"}, {Protocol: "udp", Ports: "53"}}},
	}}
	return desired.State{Schema: desired.Schema, Node: "n1", Region: "tokyo", RouteLimit: 1500, Hubs: []desired.Hub{{
		HubID: "hub_x", CustomerID: "cus_x", Namespace: "hub-x", ConfigVersion: 4, ASN: 64600,
		InternalNetwork: "100.64.0.0/24", MonitoringNetwork: "100.64.1.0/28",
		Backbone: desired.Backbone{VNI: 5001, OverlayAddress: "169.254.255.249/29", LocalUnderlay: "192.0.2.1",
			Peers: []desired.BackbonePeer{{HubID: "hub_y", Priority: "sub", OverlayAddress: "169.254.255.250/29", Underlay: "192.0.2.2"}}},
		Ports: []desired.Port{{
			PortCode: "shc00000009", Kind: "a-private", SpeedMbps: 1000, BGPEnabled: true, ReenableSeq: 2,
			Legs: []desired.Leg{{Role: "primary", Interface: "eth3", VLAN: 10}, {Role: "secondary", Interface: "eth4", VLAN: 10}},
			Sessions: []desired.Session{
				{Name: "primary", LocalAddress: "10.0.0.1", PeerAddress: "10.0.0.2", PrefixLength: 30, PeerASN: 64512, ImportLimit: 1500},
				{Name: "secondary", LocalAddress: "10.0.0.5", PeerAddress: "10.0.0.6", PrefixLength: 30, PeerASN: 64512, ImportLimit: 1500},
			},
			RoutePolicy: desired.RoutePolicy{Type: "DefaultRoute"},
			Firewall:    fw,
		}},
	}}}
}

// The data plane's status is reported by the desired state's own keys:
// sessions by name, links by connection, the backbone by the peer's
// priority, firewall counters by the customer's rule number (every
// data-plane rule of a customer rule, on both sessions' interfaces,
// summed), a session stopped at its limit as a hold.
func TestObservedHubUsesTheDesiredKeys(t *testing.T) {
	s := cloudHub()
	hubs, problems := Translate(s)
	if len(problems[0]) != 0 {
		t.Fatalf("problems %+v", problems)
	}
	dh := hubs[0]
	since := time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC)
	st := dataplane.Status{
		Sessions: []dataplane.SessionStatus{
			{ProtocolStatus: dataplane.ProtocolStatus{Name: "port_p00000009_p", Proto: "BGP", State: "up", Info: "Established", Since: since},
				Routes: dataplane.RouteCounts{Imported: 3, Exported: 1}},
			{ProtocolStatus: dataplane.ProtocolStatus{Name: "port_p00000009_s", Proto: "BGP", State: "down", Info: "Route limit exceeded", Since: since},
				Routes: dataplane.RouteCounts{Imported: 1501}},
			{ProtocolStatus: dataplane.ProtocolStatus{Name: "bb_sub", Proto: "BGP", State: "up", Info: "Established", Since: since}},
			{ProtocolStatus: dataplane.ProtocolStatus{Name: "port_stranger", Proto: "BGP", State: "up"}},
		},
		Links: []dataplane.LinkCounters{{Name: "eth3.10", Port: "p00000009_p", Carrier: true, RxBytes: 10, IfIndex: 17}, {Name: "eth4.10", Port: "p00000009_s"}},
		Rules: []dataplane.RuleCounter{
			{Comment: dataplane.RuleComment("p00000009_p", 0), Packets: 1, Bytes: 100},
			{Comment: dataplane.RuleComment("p00000009_p", 1), Packets: 2, Bytes: 200}, // rule 1, tcp
			{Comment: dataplane.RuleComment("p00000009_p", 2), Packets: 3, Bytes: 300}, // rule 1, udp
			{Comment: dataplane.RuleComment("p00000009_s", 2), Packets: 4, Bytes: 400}, // rule 1, udp, secondary
			{Comment: dataplane.DefaultDenyComment("p00000009_s"), Packets: 5, Bytes: 500},
			{Comment: "hub input default deny", Packets: 9, Bytes: 900},
		},
	}
	k := keysOf(s.Hubs[0], dh)
	got := observedHub(s.Hubs[0], k, st)
	if len(got.Ports) != 1 {
		t.Fatalf("ports %+v", got.Ports)
	}
	p := got.Ports[0]
	names := func(ss []observed.Session) (out []string) {
		for _, s := range ss {
			out = append(out, s.Name)
		}
		return out
	}
	if n := names(p.Sessions); !slices.Equal(n, []string{"primary", "secondary"}) || p.Sessions[0].Imported != 3 {
		t.Errorf("sessions %+v", p.Sessions)
	}
	if n := names(got.Backbone); !slices.Equal(n, []string{"sub"}) {
		t.Errorf("backbone %+v", got.Backbone)
	}
	if len(p.Links) != 2 || p.Links[0].Connection != "primary" || !p.Links[0].Carrier || p.Links[0].IfIndex != 17 || p.Links[1].Connection != "secondary" {
		t.Errorf("links %+v", p.Links)
	}
	wantRules := []observed.RuleCounter{{Rule: 0, Packets: 1, Bytes: 100}, {Rule: 1, Packets: 9, Bytes: 900}, {Rule: observed.DefaultRule, Packets: 5, Bytes: 500}}
	if !slices.Equal(p.Rules, wantRules) {
		t.Errorf("rule counters %+v, want %+v", p.Rules, wantRules)
	}
	// Holds are not read from one pass's observation: the applier adds
	// them from the shut records and the agent's hold records (holds.go).
	if len(got.Holds) != 0 {
		t.Errorf("holds %+v from one observation", got.Holds)
	}
	// Every part of the desired hub is observed: no gap. Take the
	// secondary session and a rule away, and both are named.
	if g := gaps(dh, k, got); len(g) != 0 {
		t.Errorf("gaps of a complete hub: %+v", g)
	}
	st.Sessions = st.Sessions[:1]
	st.Sessions = append(st.Sessions, dataplane.SessionStatus{ProtocolStatus: dataplane.ProtocolStatus{Name: "bb_sub", State: "up"}})
	st.Rules = st.Rules[1:]
	got = observedHub(s.Hubs[0], k, st)
	g := gaps(dh, k, got)
	want := []observed.Problem{
		{PortCode: "shc00000009", Item: "firewall rule 0", Reason: "not in the hub's ruleset"},
		{PortCode: "shc00000009", Item: "session secondary", Reason: "the hub's BIRD runs no such BGP session"},
	}
	if !slices.Equal(g, want) {
		t.Errorf("gaps %+v, want %+v", g, want)
	}
	// The report built from it passes the controller's checks.
	got.ConfigVersion = 4
	b, err := observed.Encode(observed.Report{Schema: observed.Schema, AgentVersion: "t", ObservedAt: since, Hubs: []observed.Hub{got}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := observed.Decode(b); err != nil {
		t.Errorf("the controller would refuse the report: %v", err)
	}
}

// The version a hub truly runs survives a restart (a new store on the
// same directory), and a hub the node no longer runs is forgotten.
func TestRunningVersionsSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	r := &runningVersions{path: runningPath(dir)}
	if err := r.update(map[string]int64{"hub_a": 3, "hub_b": 7}, map[string]bool{"hub_a": true, "hub_b": true}); err != nil {
		t.Fatal(err)
	}
	// hub_b fails its next pass (not reached) and keeps 7.
	if err := r.update(map[string]int64{"hub_a": 4}, map[string]bool{"hub_a": true, "hub_b": true}); err != nil {
		t.Fatal(err)
	}
	again := &runningVersions{path: runningPath(dir)}
	for hub, want := range map[string]int64{"hub_a": 4, "hub_b": 7, "hub_c": 0} {
		if v, err := again.get(hub); err != nil || v != want {
			t.Errorf("%s after a restart: %d, %v; want %d", hub, v, err, want)
		}
	}
	if err := again.update(nil, map[string]bool{"hub_a": true}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, runningFile))
	var m map[string]int64
	if json.Unmarshal(b, &m) != nil || len(m) != 1 || m["hub_a"] != 4 {
		t.Errorf("kept %s, want hub_a only", b)
	}
}

// Events are what changed since the previous pass: a session's state, a
// hold that began. The first pass reports none; an unchanged pass none.
func TestEventsAreEdges(t *testing.T) {
	a := &DataplaneApplier{}
	at := time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC)
	pass := func(info string, held bool) observed.Hub {
		h := observed.Hub{HubID: "hub_x", Ports: []observed.Port{{PortCode: "shc00000001",
			Sessions: []observed.Session{{Name: "single", Info: info}}}}}
		if held {
			h.Holds = []observed.Hold{{Kind: observed.HoldL2Guard, PortCode: "shc00000001", Reason: "bpdu"}}
		}
		hubs := []observed.Hub{h}
		a.events(hubs, at)
		return hubs[0]
	}
	if e := pass("Active", false).Events; len(e) != 0 {
		t.Fatalf("first pass: %+v", e)
	}
	if e := pass("Established", false).Events; len(e) != 1 || e[0].Kind != observed.EventSession || e[0].From != "Active" || e[0].To != "Established" {
		t.Errorf("session came up: %+v", e)
	}
	if e := pass("Established", true).Events; len(e) != 1 || e[0].Kind != observed.EventHold || e[0].Hold == nil || e[0].Hold.Reason != "bpdu" {
		t.Errorf("hold began: %+v", e)
	}
	if e := pass("Established", true).Events; len(e) != 0 {
		t.Errorf("nothing changed: %+v", e)
	}
}
