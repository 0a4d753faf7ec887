package agent

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
)

// Holds are reported by the desired state's own keys of the port (its
// code and session, which Translate carries on the data-plane port), with
// what the data plane recorded or BIRD reported: a port name that merely
// looks like one of the agent's says nothing.
func TestHoldsByDesiredKeys(t *testing.T) {
	s := desired.State{Schema: desired.Schema, Node: "n1", Region: "tokyo", RouteLimit: 1500, Hubs: []desired.Hub{{
		HubID: "hub_x", Namespace: "hub-x", ASN: 64600, InternalNetwork: "10.255.0.0/24", MonitoringNetwork: "10.255.1.0/24",
		Ports: []desired.Port{{PortCode: "shc00000007", Kind: "onprem", SpeedMbps: 1000, BGPEnabled: true, ReenableSeq: 3,
			Legs:        []desired.Leg{{Role: "primary", Interface: "eth1"}},
			Sessions:    []desired.Session{{Name: "single", LocalAddress: "169.254.0.1", PeerAddress: "169.254.0.2", PrefixLength: 30, PeerASN: 65001}},
			RoutePolicy: desired.RoutePolicy{Type: "All"}}},
	}}}
	hubs, problems := translateFlat(s)
	if len(problems) != 0 || len(hubs) != 1 || len(hubs[0].Ports) != 1 {
		t.Fatalf("translate: %+v %q", hubs, problems)
	}
	h := hubs[0]
	p := h.Ports[0]
	if p.PortCode != "shc00000007" || p.Session != "single" {
		t.Fatalf("port keys %q %q, want shc00000007 single", p.PortCode, p.Session)
	}
	since := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	st := dataplane.Status{
		Shut: []dataplane.PortShut{{Port: p.Name, Reason: dataplane.ShutBPDU, Detail: "1 BPDU(s) received on eth1", Since: since, ReenableSeq: 3},
			{Port: "p00000008_s", Reason: dataplane.ShutFlap}},
		Sessions: []dataplane.SessionStatus{
			{ProtocolStatus: dataplane.ProtocolStatus{Name: dataplane.SessionName(p.Name), Proto: "BGP", State: "down", Since: since,
				Info: "Automatic shutdown: Route limit exceeded"}, Routes: dataplane.RouteCounts{LimitHit: 1500}},
			{ProtocolStatus: dataplane.ProtocolStatus{Name: "port_p00000008_s", Proto: "BGP", State: "down",
				Info: "Automatic shutdown: Route limit exceeded"}},
		},
	}
	g := guardHolds(h, st)
	wantG := []observed.Hold{{Kind: observed.HoldL2Guard, PortCode: "shc00000007", Reason: "bpdu", Detail: "1 BPDU(s) received on eth1",
		Since: since, ReenableSeq: 3}}
	if !slices.Equal(g, wantG) {
		t.Errorf("guard holds %+v, want %+v", g, wantG)
	}
	l := limitsSeen("hub_x", h, st)
	wantL := []limitSeen{{HubID: "hub_x", Hold: observed.Hold{Kind: observed.HoldRouteLimit, PortCode: "shc00000007", Session: "single",
		Reason: "limit", Detail: "Automatic shutdown: Route limit exceeded", Since: since, Prefixes: 1500, Limit: 1500}}}
	if !slices.Equal(l, wantL) {
		t.Errorf("route limits %+v, want %+v", l, wantL)
	}
	// With no limit of its own nor the hub's, the limit reported is the one
	// BIRD enforces: the service's default.
	h.ImportLimit = 0
	if l := limitsSeen("hub_x", h, st); len(l) != 1 || l[0].Hold.Limit != dataplane.DefaultImportLimit {
		t.Errorf("route limits without a configured limit %+v, want the default %d", l, dataplane.DefaultImportLimit)
	}
}

// The customer's re-enable of a port the route limit stopped is acted on
// exactly once across agent restarts: the stop is still reported after a
// restart (BIRD no longer shows why the session is down), a re-enable
// that arrived while the agent was down is acted on when it comes back,
// and one acted on is not acted on again after another restart. An enable
// that fails is tried again.
func TestReenableSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", holdsFile)
	open := func() *holdStore {
		t.Helper()
		hs, err := openHoldStore(path)
		if err != nil {
			t.Fatal(err)
		}
		return hs
	}
	var enabled []string
	fail := false
	enable := func(p desired.Port) error {
		if fail {
			return errors.New("birdc: connection refused")
		}
		enabled = append(enabled, p.PortCode)
		return nil
	}
	port := func(seq int64, bgp bool) []desired.Port {
		return []desired.Port{{PortCode: "shc00000007", BGPEnabled: bgp, ReenableSeq: seq}, {PortCode: "shc00000008", BGPEnabled: true}}
	}
	stop := limitSeen{HubID: "hub_x", Hold: observed.Hold{Kind: observed.HoldRouteLimit, PortCode: "shc00000007", Session: "single",
		Reason: "limit", Prefixes: 2000, Limit: 2000}}

	hs := open()
	if errs := hs.reenable(port(0, true), enable); len(errs) != 0 {
		t.Fatal(errs)
	}
	// BIRD stops the session; the controller then holds it disabled.
	if err := hs.observeLimits([]limitSeen{stop}); err != nil {
		t.Fatal(err)
	}
	if errs := hs.reenable(port(0, false), enable); len(errs) != 0 || len(enabled) != 0 {
		t.Fatalf("enabled %v, %v before any re-enable", enabled, errs)
	}

	// Restart: BIRD shows the session "Disabled", without the limit; the
	// hold is still reported, at the sequence in force when it began.
	hs = open()
	if err := hs.observeLimits(nil); err != nil {
		t.Fatal(err)
	}
	want := stop.Hold
	if got := hs.limitHolds("hub_x"); len(got) != 1 || got[0] != want {
		t.Fatalf("holds after a restart: %+v, want %+v", got, want)
	}

	// The customer re-enables while the agent is down; it comes back with
	// the new sequence, and BIRD cannot be reached at first.
	hs = open()
	fail = true
	if errs := hs.reenable(port(1, true), enable); len(errs) != 1 || len(hs.limitHolds("hub_x")) != 1 {
		t.Fatalf("a failed enable: %v, holds %+v", errs, hs.limitHolds("hub_x"))
	}
	fail = false
	if errs := hs.reenable(port(1, true), enable); len(errs) != 0 || !slices.Equal(enabled, []string{"shc00000007"}) {
		t.Fatalf("the re-enable after a restart: enabled %v, %v", enabled, errs)
	}
	if got := hs.limitHolds("hub_x"); len(got) != 0 {
		t.Fatalf("holds after the re-enable: %+v", got)
	}
	// BIRD still shows the old stop for a moment: not a new one.
	if err := hs.observeLimits([]limitSeen{stop}); err != nil || len(hs.limitHolds("hub_x")) != 0 {
		t.Fatalf("the old stop recorded again: %+v %v", hs.limitHolds("hub_x"), err)
	}

	// Another restart: the re-enable is not acted on again.
	hs = open()
	for range 2 {
		if errs := hs.reenable(port(1, true), enable); len(errs) != 0 || len(enabled) != 1 {
			t.Fatalf("the re-enable repeated: enabled %v, %v", enabled, errs)
		}
	}
	if err := hs.observeLimits(nil); err != nil { // the session came back
		t.Fatal(err)
	}
	// A new stop is recorded at the new sequence.
	if err := hs.observeLimits([]limitSeen{stop}); err != nil {
		t.Fatal(err)
	}
	hs = open()
	if got := hs.limitHolds("hub_x"); len(got) != 1 || got[0].ReenableSeq != 1 {
		t.Fatalf("a new stop after the re-enable: %+v", got)
	}
	// A port no longer in the document is forgotten.
	if err := hs.forget(port(1, true)[1:]); err != nil {
		t.Fatal(err)
	}
	if got := open().limitHolds("hub_x"); len(got) != 0 {
		t.Fatalf("holds of a port gone: %+v", got)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("record store %v %v, want mode 0600", fi, err)
	}
	if err := os.WriteFile(path, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openHoldStore(path); err == nil {
		t.Error("a file without the schema was taken as hold records")
	}
}

// TestUnreadableHoldStoreMovedAside: a hold store that cannot be read is
// moved aside and reported once; the agent goes on with an empty one
// rather than stop applying every hub.
func TestUnreadableHoldStoreMovedAside(t *testing.T) {
	path := filepath.Join(t.TempDir(), holdsFile)
	if err := os.WriteFile(path, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := &DataplaneApplier{HoldsFile: path}
	hs, err := a.holdStore()
	if hs == nil || err == nil || !strings.Contains(err.Error(), "moved to") {
		t.Fatalf("first open: %v %v", hs, err)
	}
	if b, err := os.ReadFile(path + ".unreadable"); err != nil || string(b) != "not json" {
		t.Fatalf("the unreadable store was not kept aside: %q %v", b, err)
	}
	if again, err := a.holdStore(); again != hs || err != nil {
		t.Fatalf("second open: %v %v", again, err)
	}
}
