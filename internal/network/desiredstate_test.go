package network

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// EnvUpdateGolden refreshes golden files when set to 1.
const EnvUpdateGolden = "TSUNAGI_UPDATE_GOLDEN"

// fixtureNode is the fixture customer's main hub on node tyo-1.
func fixtureNode() NodeInput {
	f := fixtureFacts()
	ports := map[string]PortFact{}
	for _, p := range f.Ports {
		if p.Active {
			ports[p.Code] = p
		}
	}
	return NodeInput{Node: "tyo-1", Region: "tokyo", RouteLimit: 2000, Overlay: DefaultSettings.BackboneOverlay, Hubs: []HubInput{{
		Hub: f.Hubs[0], CustomerID: "cus_a", Version: 7, Config: fixtureConfig(), VNI: 10_001, AllHubs: f.Hubs, Ports: ports,
		Underlays: map[catalog.HubID]string{"hub_main": "192.0.2.11", "hub_sub": "192.0.2.12"},
		Legs: map[string][]LegInput{
			pOnPrem:   {{"secondary", "eth2"}, {"primary", "eth1"}},
			pAPrivate: {{"primary", "eth3"}}, pAPublic: {{"primary", "eth3"}}, pMPrivate: {{"primary", "eth4"}},
			pMPublic: {{"primary", "eth4"}}, // on the sub hub: must not appear here
		},
		NAT: NATAddresses{NAPT: map[string][]string{pAPublic: {"203.0.113.32/32"}, pMPublic: {"198.51.100.2/31", "198.51.100.16/28"}},
			Static: map[string]string{"10.10.0.5": "203.0.113.64"}},
		Sessions: map[string]SessionInfo{pAPrivate: {Stopped: true, ReenableSeq: 2}},
	}}}
}

func TestDesiredStateGolden(t *testing.T) {
	st := BuildDesiredState(fixtureNode())
	got, err := desired.Encode(&st)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "desired", "tyo-1.golden.json")
	if os.Getenv(EnvUpdateGolden) == "1" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with %s=1 to create it)", err, EnvUpdateGolden)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("desired state differs from %s (run with %s=1 to refresh):\n%s", path, EnvUpdateGolden, got)
	}
	// The agent's decoder accepts it and sees the same generation.
	back, err := desired.Decode(got)
	if err != nil {
		t.Fatal(err)
	}
	if back.Generation != st.Generation || len(back.Hubs) != 1 || len(back.Hubs[0].Ports) != 4 {
		t.Fatalf("decoded = %+v", back)
	}
	// A changed byte of content breaks the generation.
	tampered := bytes.Replace(got, []byte(`"vlan": 101`), []byte(`"vlan": 102`), 1)
	if _, err := desired.Decode(tampered); err == nil || !strings.Contains(err.Error(), "generation") {
		t.Fatalf("tampered document: %v", err)
	}
}

// TestDesiredStateDeterministic: any order of the same input gives the same
// bytes.
func TestDesiredStateDeterministic(t *testing.T) {
	base := BuildDesiredState(fixtureNode())
	want, _ := desired.Encode(&base)
	for i := range 50 {
		in := fixtureNode()
		other := in.Hubs[0]
		other.Hub = HubFact{ID: "hub_aaa", Region: "tokyo", Priority: "main"}
		other.CustomerID = "cus_b"
		in.Hubs = append(in.Hubs, other)
		r := rand.New(rand.NewPCG(uint64(i), 1))
		r.Shuffle(len(in.Hubs), func(a, b int) { in.Hubs[a], in.Hubs[b] = in.Hubs[b], in.Hubs[a] })
		for _, h := range in.Hubs {
			r.Shuffle(len(h.AllHubs), func(a, b int) { h.AllHubs[a], h.AllHubs[b] = h.AllHubs[b], h.AllHubs[a] })
			for _, l := range h.Legs {
				r.Shuffle(len(l), func(a, b int) { l[a], l[b] = l[b], l[a] })
			}
		}
		st := BuildDesiredState(in)
		got, _ := desired.Encode(&st)
		st2 := BuildDesiredState(in)
		again, _ := desired.Encode(&st2)
		if !bytes.Equal(got, again) {
			t.Fatal("same input, different bytes")
		}
		// Without the second hub the document is the base one.
		var doc desired.State
		_ = json.Unmarshal(got, &doc)
		if len(doc.Hubs) != 2 || doc.Hubs[0].HubID != "hub_aaa" {
			t.Fatalf("hubs not sorted: %v", doc.Hubs[0].HubID)
		}
		doc.Hubs = doc.Hubs[1:]
		b, _ := desired.Encode(&doc)
		if !bytes.Equal(b, want) {
			t.Fatalf("shuffled input changed the document")
		}
	}
}

func TestDesiredStateFromStore(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a, b := e.addCustomer("a"), e.addCustomer("b")
		for _, c := range []customer{a, b} {
			for code := range c.codes {
				if _, err := e.svc.Operations.Place(e.ctx, c.op, c.codes[code], PlaceInput{}); err != nil {
					if c.id == b.id && code == pOnPrem {
						continue // the two 10G on-prem ports of tyo-1 are a's
					}
					t.Fatalf("%s: %v", code, err)
				}
			}
		}
		// Placed but nothing applied yet: no hub in the document.
		_, st, err := e.svc.Compiler.DesiredState(e.ctx, "tyo-1")
		if err != nil || len(st.Hubs) != 0 {
			t.Fatalf("before apply: %+v, %v", st, err)
		}
		for _, c := range []customer{a, b} {
			if _, err := e.svc.Workflow.StartEditing(c.ctx, c.sc); err != nil {
				t.Fatal(err)
			}
			cfg := c.config()
			if c.id == b.id {
				cfg.Ports = cfg.Ports[1:] // b's on-prem port is not placed; leave it unconfigured
			}
			if _, err := e.svc.Workflow.SaveDraft(c.ctx, c.sc, cfg); err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.Workflow.Apply(c.ctx, c.sc); err != nil {
				t.Fatal(err)
			}
		}
		for node, addr := range map[string]string{"tyo-1": "192.0.2.11", "osa-1": "192.0.2.12"} {
			if _, err := e.svc.Operations.SetUnderlay(e.ctx, node, UnderlayInput{Address: addr}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.svc.Operations.SetUnderlay(e.ctx, "osa-1", UnderlayInput{Address: "192.0.2.11"}); !fault.Is(err, fault.Invalid) {
			t.Fatalf("a second node on the same endpoint: %v", err)
		}
		if _, err := e.svc.Operations.SetUnderlay(e.ctx, "osa-1", UnderlayInput{Address: "127.0.0.1"}); !fault.Is(err, fault.Invalid) {
			t.Fatalf("loopback endpoint: %v", err)
		}
		doc, st, err := e.svc.Compiler.DesiredState(e.ctx, "tyo-1")
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range st.Hubs {
			b := h.Backbone
			if b.LocalUnderlay != "192.0.2.11" || b.OverlayAddress != "169.254.255.249/29" || b.Peers[0].Underlay != "192.0.2.12" ||
				b.Peers[0].OverlayAddress != "169.254.255.250/29" {
				t.Fatalf("backbone = %+v", b)
			}
		}
		if len(st.Hubs) != 2 {
			t.Fatalf("tyo-1 hubs = %d", len(st.Hubs))
		}
		for _, h := range st.Hubs {
			if h.Priority != "main" || len(h.Backbone.Peers) != 1 || h.Backbone.Peers[0].Priority != "sub" {
				t.Fatalf("hub = %+v", h)
			}
			for _, p := range h.Ports {
				if p.PortCode == a.codes[pMPublic] || p.PortCode == b.codes[pMPublic] {
					t.Fatal("a sub-hub port is in the main hub's node document")
				}
			}
			if len(h.StaticNAT) != 1 {
				t.Fatalf("static NAT = %+v", h.StaticNAT)
			}
		}
		if st.Hubs[0].Backbone.VNI == st.Hubs[1].Backbone.VNI {
			t.Fatal("two customers share a VNI")
		}
		// osa-1 holds the sub hubs only, with the same static NAT table.
		_, osa, err := e.svc.Compiler.DesiredState(e.ctx, "osa-1")
		if err != nil || len(osa.Hubs) != 2 {
			t.Fatalf("osa-1: %+v, %v", osa, err)
		}
		for _, h := range osa.Hubs {
			if h.Priority != "sub" || len(h.Ports) != 2 || len(h.StaticNAT) != 1 {
				t.Fatalf("osa hub = %+v", h)
			}
		}
		again, _, _ := e.svc.Compiler.DesiredState(e.ctx, "tyo-1")
		if !bytes.Equal(doc, again) {
			t.Fatal("desired state not reproducible")
		}
		if _, err := desired.Decode(doc); err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(doc, []byte("s3cret")) {
			t.Fatal("the agent's document lacks the BGP password it needs")
		}
		staffReads(t, e, db, st, a.id, b.id)
	})
}

// TestDesiredStateDocCache: the agent's cached document follows every change
// that moves the audit head and equals a fresh computation.
func TestDesiredStateDocCache(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a := e.addCustomer("a")
		if _, err := e.svc.Operations.Place(e.ctx, a.op, a.codes[pAPrivate], PlaceInput{}); err != nil {
			t.Fatal(err)
		}
		doc0, gen0, err := e.svc.Compiler.DesiredStateDoc(e.ctx, "tyo-1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Workflow.StartEditing(a.ctx, a.sc); err != nil {
			t.Fatal(err)
		}
		cfg := a.config()
		cfg.Ports = []PortConfig{*port(&cfg, a.codes[pAPrivate])}
		if _, err := e.svc.Workflow.SaveDraft(a.ctx, a.sc, cfg); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Workflow.Apply(a.ctx, a.sc); err != nil {
			t.Fatal(err)
		}
		doc1, gen1, err := e.svc.Compiler.DesiredStateDoc(e.ctx, "tyo-1")
		if err != nil {
			t.Fatal(err)
		}
		fresh, _, _ := e.svc.Compiler.DesiredState(e.ctx, "tyo-1")
		if gen1 == gen0 || bytes.Equal(doc0, doc1) || !bytes.Equal(doc1, fresh) {
			t.Fatal("cached document did not follow the apply")
		}
		e.reportHold(observed.Hold{Kind: observed.HoldRouteLimit, PortCode: a.codes[pAPrivate], Reason: "limit", Prefixes: 2000, Limit: 2000})
		doc2, _, _ := e.svc.Compiler.DesiredStateDoc(e.ctx, "tyo-1")
		if !bytes.Contains(doc2, []byte(`"bgp_enabled": false`)) {
			t.Fatal("cached document did not follow the session stop")
		}
	})
}

// A hub the customer has ordered but that is not placed on any node runs
// nowhere, so no other hub lists it as a backbone peer; a placed hub whose
// node has no underlay address yet is listed, without one.
func TestBackbonePeersArePlacedHubs(t *testing.T) {
	in := fixtureNode()
	delete(in.Hubs[0].Underlays, "hub_sub")
	if peers := BuildDesiredState(in).Hubs[0].Backbone.Peers; len(peers) != 0 {
		t.Errorf("unplaced sub hub listed as a peer: %+v", peers)
	}
	in.Hubs[0].Underlays["hub_sub"] = ""
	peers := BuildDesiredState(in).Hubs[0].Backbone.Peers
	if len(peers) != 1 || peers[0].HubID != "hub_sub" || peers[0].Underlay != "" {
		t.Errorf("placed sub hub without an underlay: peers %+v", peers)
	}
}

// staffReads: staff read a node's desired state only with a reason; without
// a grant no customer's saved data is in the answer, only placement; with a
// grant for customer a, a's sections are whole (passwords masked) and b's
// still cut down, and a's audit log records the access with the grant's
// reason.
func staffReads(t *testing.T, e *env, db *store.DB, st desired.State, a, b catalog.CustomerID) {
	t.Helper()
	const why = "incident INC-9: sessions flapping"
	if _, _, err := e.svc.Compiler.DesiredStateForStaff(e.ctx, "tyo-1", " ", nil); !fault.Is(err, fault.Invalid) {
		t.Fatalf("staff read without a reason: %v", err)
	}
	if _, _, err := e.svc.Compiler.DesiredStateForStaff(e.ctx, "tyo-1", "why\nforged audit line", nil); !fault.Is(err, fault.Invalid) {
		t.Fatalf("staff read with a two-line reason: %v", err)
	}
	savedKeys := []string{`"asn"`, `"internal_network"`, `"monitoring_network"`, `"peer_address"`, `"peer_asn"`, `"md5"`,
		`"route_policy"`, `"firewall"`, `"napt"`, `"static_nat"`, `"l2_guard"`, "s3cret"}
	saved := func(doc []byte, cust catalog.CustomerID) []string {
		var out []string
		for _, h := range st.Hubs {
			if h.CustomerID == string(cust) && bytes.Contains(doc, []byte(h.InternalNetwork)) {
				out = append(out, h.InternalNetwork)
			}
		}
		return out
	}
	doc, v, err := e.svc.Compiler.DesiredStateForStaff(e.ctx, "tyo-1", why, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range savedKeys {
		if bytes.Contains(doc, []byte(k)) {
			t.Errorf("without a grant the staff view holds %s:\n%s", k, doc)
		}
	}
	if leaked := append(saved(doc, a), saved(doc, b)...); len(leaked) > 0 {
		t.Errorf("without a grant the staff view holds internal networks %v", leaked)
	}
	if len(v.Hubs) != 2 || v.AgentGeneration != st.Generation {
		t.Fatalf("staff view = %+v", v)
	}
	for _, h := range v.Hubs {
		if h.Access != AccessPlacement || h.Config != nil || len(h.Ports) == 0 || len(h.Ports[0].Legs) == 0 || h.Backbone.VNI == 0 {
			t.Errorf("placement view of %s = %+v", h.HubID, h)
		}
	}
	grants := map[catalog.CustomerID]StaffGrant{a: {ID: "bgl_test", Reason: "customer A asked us to look at BGP"}}
	doc, v, err = e.svc.Compiler.DesiredStateForStaff(e.ctx, "tyo-1", why, grants)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range v.Hubs {
		switch {
		case h.CustomerID == string(a) && (h.Access != AccessBreakGlass || h.Config == nil || h.Config.InternalNetwork == "" ||
			len(h.Config.Ports) == 0):
			t.Errorf("granted customer's hub = %+v", h)
		case h.CustomerID == string(b) && (h.Access != AccessPlacement || h.Config != nil):
			t.Errorf("other customer's hub under a's grant = %+v", h)
		}
	}
	if bytes.Contains(doc, []byte("s3cret")) || !bytes.Contains(doc, []byte(SecretMask)) {
		t.Errorf("granted view leaks or lacks the masked password")
	}
	if len(saved(doc, a)) == 0 {
		t.Errorf("granted view lacks a's internal network")
	}
	for _, h := range v.Hubs {
		if h.CustomerID != string(b) {
			continue
		}
		hb, _ := json.Marshal(h)
		for _, k := range savedKeys {
			if bytes.Contains(hb, []byte(k)) {
				t.Errorf("b's section under a's grant holds %s: %s", k, hb)
			}
		}
	}
	// Read through the log: the stated reason of a customer's event is
	// stored sealed (audit/seal.go).
	count := func(action string, cust catalog.CustomerID, reason string) int {
		entries, err := audit.New(db).List(e.ctx, audit.OfChain(string(cust)).Page(0, 1000))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, en := range entries {
			if en.Action == action && en.Reason == reason {
				n++
			}
		}
		return n
	}
	if n := count("breakglass.access", a, "customer A asked us to look at BGP"); n != 1 {
		t.Errorf("a's log has %d break-glass accesses, want 1", n)
	}
	if n := count("breakglass.access", b, "customer A asked us to look at BGP"); n != 0 {
		t.Errorf("b's log has %d break-glass accesses, want 0", n)
	}
	var reads int
	if err := db.QueryRow(e.ctx, `SELECT COUNT(*) FROM audit_events WHERE action = 'desired_state.read' AND reason = ?`, why).Scan(&reads); err != nil || reads != 2 {
		t.Errorf("%d staff reads recorded (%v), want 2", reads, err)
	}
}
