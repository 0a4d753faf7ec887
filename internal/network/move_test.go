package network

import (
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/disposal"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// moveEnv is the fixture with more room in tokyo: tyo-1 gains eth7
// (10 Gb/s) and eth8 (1 Gb/s, too small for a 10G port), tyo-2 has two
// on-premises and two AWS ports of 10 Gb/s, tyo-3 two on-premises ports of
// 1 Gb/s (and two AWS ports of 10 Gb/s). Customer a's redundant on-premises port is on tyo-1/eth1 and
// eth2, its AWS private port on tyo-1/eth3 and eth5, its configuration
// applied (the AWS port has a VLAN).
func moveEnv(t *testing.T, db *store.DB) (*env, customer, customer) {
	e := newEnv(t, db)
	for _, p := range []catalog.PhysicalPort{{Name: "eth7", SpeedMbps: 10_000, Kind: "onprem"}, {Name: "eth8", SpeedMbps: 1_000, Kind: "onprem"}} {
		e.must(e.cat.AddPhysicalPort(e.ctx, "tyo-1", p))
	}
	e.must(e.cat.CreateNode(e.ctx, catalog.NodeInput{Region: "tokyo", Name: "tyo-2", Ports: []catalog.PhysicalPort{
		{Name: "eth1", SpeedMbps: 10_000, Kind: "onprem"}, {Name: "eth2", SpeedMbps: 10_000, Kind: "onprem"},
		{Name: "eth3", SpeedMbps: 10_000, Kind: "cloud-aws"}, {Name: "eth5", SpeedMbps: 10_000, Kind: "cloud-aws"}}}))
	e.must(e.cat.CreateNode(e.ctx, catalog.NodeInput{Region: "tokyo", Name: "tyo-3", Ports: []catalog.PhysicalPort{
		{Name: "eth1", SpeedMbps: 1_000, Kind: "onprem"}, {Name: "eth2", SpeedMbps: 1_000, Kind: "onprem"},
		{Name: "eth3", SpeedMbps: 10_000, Kind: "cloud-aws"}, {Name: "eth5", SpeedMbps: 10_000, Kind: "cloud-aws"}}}))
	a, b := e.addCustomer("a"), e.addCustomer("b")
	ref := func(node, port string) *PhysRef { return &PhysRef{Node: node, Port: port} }
	e.must(e.svc.Operations.Place(e.ctx, a.op, a.codes[pOnPrem], PlaceInput{Primary: ref("tyo-1", "eth1"), Secondary: ref("tyo-1", "eth2"), Reason: "test"}))
	e.must(e.svc.Operations.Place(e.ctx, a.op, a.codes[pAPrivate], PlaceInput{Primary: ref("tyo-1", "eth3"), Secondary: ref("tyo-1", "eth5"), Reason: "test"}))
	if _, err := e.applyVLANs(a, nil); err != nil {
		t.Fatal(err)
	}
	return e, a, b
}

// legsOf renders the customer's placements as "code leg node/port" lines.
func (e *env) legsOf(c customer) string {
	e.t.Helper()
	pls, err := e.svc.Operations.Placements(e.ctx, c.op)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, p := range pls {
		for _, l := range p.Legs {
			out = append(out, p.PortCode+" "+l.Leg+" "+l.Node+"/"+l.Port)
		}
	}
	return strings.Join(out, "\n")
}

// committedOn is what admission counts on node/port today.
func (e *env) committedOn(node, port string) int64 {
	e.t.Helper()
	inv, err := e.svc.inventory(e.ctx, e.db)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, pp := range inv {
		if pp.Node == node && pp.Name == port {
			return pp.committed(e.svc.today(), "")
		}
	}
	e.t.Fatalf("no physical port %s/%s", node, port)
	return 0
}

// rawDoc is a node's desired state as served, with its generation.
func (e *env) rawDoc(node string) (string, string) {
	e.t.Helper()
	doc, gen, err := e.svc.Compiler.DesiredStateDoc(e.ctx, node)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(doc), gen
}

// customerSees returns the actions of the customer's own audit log, with
// the actor kind: what its audit page shows.
func (e *env) customerSees(c customer) map[string]string {
	e.t.Helper()
	q, err := audit.Own(c.sc)
	if err != nil {
		e.t.Fatal(err)
	}
	entries, err := e.log.List(e.ctx, q)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, en := range entries {
		out[en.Action] = en.ActorKind
	}
	return out
}

// TestMovePort moves one leg of a port to another physical port of its
// node: previewed first (nothing changes), refused with a clear fault and
// nothing moved when the target lacks capacity, is on another node or
// holds the other leg, another customer's port is not found; carried out,
// the capacity moves from the source to the target, the node's desired
// state changes, and the move is in the operator's audit and the
// customer's, as an entry made by the system.
func TestMovePort(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, a, b := moveEnv(t, db)
		ops, code := e.svc.Operations, a.codes[pOnPrem]
		before := e.legsOf(a)
		doc1, gen1 := e.rawDoc("tyo-1")
		in := PortMoveInput{Primary: &PhysRef{Node: "tyo-1", Port: "eth7"}, Reason: "optic replacement"}

		if _, err := ops.PreviewPortMove(e.ctx, b.op, code, in); !fault.Is(err, fault.NotFound) {
			t.Errorf("another customer's port: %v", err)
		}
		if _, err := ops.MovePort(e.ctx, b.op, code, in); !fault.Is(err, fault.NotFound) {
			t.Errorf("another customer's port moved: %v", err)
		}
		plan, err := ops.PreviewPortMove(e.ctx, a.op, code, in)
		if err != nil {
			t.Fatal(err)
		}
		if plan.Moved || len(plan.Legs) != 1 || plan.Legs[0].From.Port != "eth1" || plan.Legs[0].To.Port != "eth7" ||
			plan.Legs[0].HeadroomAfter != 0 || len(plan.Sessions) != 1 || plan.Sessions[0] != (MoveSession{PortCode: code, Name: "single"}) {
			t.Fatalf("preview = %+v", plan)
		}
		if e.legsOf(a) != before {
			t.Fatal("a preview moved the port")
		}

		bad := []struct {
			name string
			in   PortMoveInput
			msg  string
		}{
			{"no capacity", PortMoveInput{Primary: &PhysRef{Node: "tyo-1", Port: "eth8"}, Reason: "x"}, "capacity exceeded on tyo-1/eth8"},
			{"other node", PortMoveInput{Primary: &PhysRef{Node: "tyo-2", Port: "eth1"}, Reason: "x"}, "move the hub to change nodes"},
			{"onto the other leg", PortMoveInput{Primary: &PhysRef{Node: "tyo-1", Port: "eth2"}, Reason: "x"}, "different physical port"},
			{"same place", PortMoveInput{Primary: &PhysRef{Node: "tyo-1", Port: "eth1"}, Reason: "x"}, "already on"},
			{"wrong kind", PortMoveInput{Primary: &PhysRef{Node: "tyo-1", Port: "eth4"}, Reason: "x"}, "needs onprem"},
			{"no reason", PortMoveInput{Primary: &PhysRef{Node: "tyo-1", Port: "eth7"}}, "reason must be given"},
			{"no leg", PortMoveInput{Reason: "x"}, "name the physical port"},
		}
		for _, tc := range bad {
			_, err := ops.MovePort(e.ctx, a.op, code, tc.in)
			if f, ok := fault.As(err); !ok || f.Kind != fault.Invalid || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("%s: %v, want Invalid %q", tc.name, err, tc.msg)
			}
			// The field named is one the caller set.
			if f, _ := fault.As(err); tc.in.Secondary == nil && f != nil && f.Field == "secondary" {
				t.Errorf("%s: the refusal names field secondary, which the caller did not set", tc.name)
			}
		}
		if e.legsOf(a) != before || len(e.auditDetails(a.id, "port.move")) != 0 {
			t.Fatal("a refused move changed something")
		}

		plan, err = ops.MovePort(e.ctx, a.op, code, in)
		if err != nil || !plan.Moved {
			t.Fatalf("move = %+v, %v", plan, err)
		}
		if want := strings.Replace(before, code+" primary tyo-1/eth1", code+" primary tyo-1/eth7", 1); e.legsOf(a) != want {
			t.Errorf("placements after the move:\n%s\nwant:\n%s", e.legsOf(a), want)
		}
		if c1, c7 := e.committedOn("tyo-1", "eth1"), e.committedOn("tyo-1", "eth7"); c1 != 0 || c7 != 10_000 {
			t.Errorf("committed after the move: eth1 %d, eth7 %d", c1, c7)
		}
		doc2, gen2 := e.rawDoc("tyo-1")
		if gen2 == gen1 || strings.Contains(doc1, `"eth7"`) || !strings.Contains(doc2, `"eth7"`) {
			t.Errorf("tyo-1's desired state did not follow the move (generation %s → %s)", gen1, gen2)
		}
		if d := e.auditDetails(a.id, "port.move"); len(d) != 1 {
			t.Errorf("operator's audit entries: %v", d)
		}
		d := e.auditDetails(a.id, "maintenance.planned_migration")
		if len(d) != 1 || !strings.Contains(d[0]["move"].(string), "tyo-1/eth1 → tyo-1/eth7") {
			t.Errorf("customer's audit entry: %v", d)
		}
		if sees := e.customerSees(a); sees["maintenance.planned_migration"] != audit.System.Kind {
			t.Errorf("the customer's audit log shows %v", sees)
		}
		if sees := e.customerSees(b); sees["maintenance.planned_migration"] != "" {
			t.Errorf("another customer sees the move: %v", sees)
		}
	})
}

// TestMoveHub moves a hub with all its legs to another node of its region:
// a target without room is refused naming the numbers and nothing moves,
// a draining target is refused, another customer's hub is not found; the
// move takes capacity on the target and frees it on the source, and both
// nodes' desired states change.
func TestMoveHub(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, a, b := moveEnv(t, db)
		ops, hub := e.svc.Operations, a.hubs["hub_main"]
		before := e.legsOf(a)

		_, err := ops.MoveHub(e.ctx, a.op, hub, HubMoveInput{Node: "tyo-3", Reason: "x"})
		wantFault(t, err, fault.Conflict, "capacity exceeded: node tyo-3")
		if !strings.Contains(err.Error(), "has 1000 of 1000 Mb/s left") {
			t.Errorf("the refusal lacks the numbers: %v", err)
		}
		if _, err := e.db.Exec(e.ctx, `UPDATE hub_nodes SET state = 'draining' WHERE name = 'tyo-2'`); err != nil {
			t.Fatal(err)
		}
		_, err = ops.MoveHub(e.ctx, a.op, hub, HubMoveInput{Node: "tyo-2", Reason: "x"})
		wantFault(t, err, fault.Invalid, "draining")
		if _, err := e.db.Exec(e.ctx, `UPDATE hub_nodes SET state = 'active' WHERE name = 'tyo-2'`); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []HubMoveInput{{Node: "tyo-1", Reason: "x"}, {Node: "osa-1", Reason: "x"}, {Node: "tyo-9", Reason: "x"}, {Node: "tyo-2"}} {
			if _, err := ops.MoveHub(e.ctx, a.op, hub, bad); !fault.Is(err, fault.Invalid) {
				t.Errorf("move to %+v: %v", bad, err)
			}
		}
		if _, err := ops.PreviewHubMove(e.ctx, b.op, hub, HubMoveInput{Node: "tyo-2", Reason: "x"}); !fault.Is(err, fault.NotFound) {
			t.Errorf("another customer's hub: %v", err)
		}
		if e.legsOf(a) != before {
			t.Fatal("a refused move changed something")
		}

		doc1, gen1 := e.rawDoc("tyo-1")
		_, gen2 := e.rawDoc("tyo-2")
		plan, err := ops.PreviewHubMove(e.ctx, a.op, hub, HubMoveInput{Node: "tyo-2", Reason: "node refresh"})
		if err != nil {
			t.Fatal(err)
		}
		if plan.FromNode != "tyo-1" || plan.ToNode != "tyo-2" || len(plan.Legs) != 4 || len(plan.Sessions) != 3 {
			t.Fatalf("preview = %+v", plan)
		}
		if _, err := ops.MoveHub(e.ctx, a.op, hub, HubMoveInput{Node: "tyo-2", Reason: "node refresh"}); err != nil {
			t.Fatal(err)
		}
		if node, err := e.svc.Workflow.HubNode(e.ctx, a.sc, hub); err != nil || node != "tyo-2" {
			t.Errorf("the hub's node after the move: %q, %v", node, err)
		}
		for _, l := range strings.Split(e.legsOf(a), "\n") {
			if !strings.Contains(l, " tyo-2/") {
				t.Errorf("a leg stayed behind: %s", l)
			}
		}
		if c := e.committedOn("tyo-1", "eth1") + e.committedOn("tyo-1", "eth3"); c != 0 {
			t.Errorf("tyo-1 still commits %d Mb/s", c)
		}
		if c := e.committedOn("tyo-2", "eth1"); c != 10_000 {
			t.Errorf("tyo-2/eth1 commits %d Mb/s", c)
		}
		doc1b, gen1b := e.rawDoc("tyo-1")
		doc2b, gen2b := e.rawDoc("tyo-2")
		if gen1b == gen1 || gen2b == gen2 || !strings.Contains(doc1, string(hub)) || strings.Contains(doc1b, string(hub)) || !strings.Contains(doc2b, string(hub)) {
			t.Errorf("the nodes' desired states did not follow the hub")
		}
		if d := e.auditDetails(a.id, "hub.move"); len(d) != 1 {
			t.Errorf("audit: %v", d)
		}
	})
}

// TestDrainedNodeTakesNoPlacement: a draining node is skipped by placement
// proposals and refused in an operator's override.
func TestDrainedNodeTakesNoPlacement(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, _, b := moveEnv(t, db)
		ops := e.svc.Operations
		if _, err := e.db.Exec(e.ctx, `UPDATE hub_nodes SET state = 'draining' WHERE name = 'tyo-1'`); err != nil {
			t.Fatal(err)
		}
		pl, err := ops.ProposePlacement(e.ctx, b.op, b.codes[pOnPrem])
		if err != nil || pl.Legs[0].Node != "tyo-2" {
			t.Fatalf("proposal with tyo-1 draining = %+v, %v", pl, err)
		}
		_, err = ops.Place(e.ctx, b.op, b.codes[pOnPrem], PlaceInput{Primary: &PhysRef{Node: "tyo-1", Port: "eth7"},
			Secondary: &PhysRef{Node: "tyo-1", Port: "eth1"}, Reason: "x"})
		wantFault(t, err, fault.Invalid, "tyo-1 is draining")
		if _, err := e.db.Exec(e.ctx, `UPDATE hub_nodes SET state = 'draining' WHERE name = 'tyo-2'`); err != nil {
			t.Fatal(err)
		}
		_, err = ops.ProposePlacement(e.ctx, b.op, b.codes[pOnPrem])
		wantFault(t, err, fault.Conflict, "capacity exceeded")
		if !strings.Contains(err.Error(), "tyo-2/eth1 is on a draining node") {
			t.Errorf("the refusal does not say why tyo-2 is skipped: %v", err)
		}
		if _, err := e.db.Exec(e.ctx, `UPDATE hub_nodes SET state = 'draining' WHERE name = 'tyo-3'`); err != nil {
			t.Fatal(err)
		}
		_, err = ops.ProposePlacement(e.ctx, b.op, b.codes[pOnPrem])
		wantFault(t, err, fault.Conflict, "on a node that takes new placements")
	})
}

// TestDecommissionedNodeTakesNoPlacement: a node whose agent reported its
// wipe is skipped by placement proposals and refused as an override or a
// hub move's target, without the operator draining it.
func TestDecommissionedNodeTakesNoPlacement(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, a, b := moveEnv(t, db)
		ops := e.svc.Operations
		f, err := fleet.New(e.ctx, db, e.log)
		if err != nil {
			t.Fatal(err)
		}
		n := fleet.Node{Name: "tyo-2"}
		if err := store.Scan(db.QueryRow(e.ctx, `SELECT id FROM hub_nodes WHERE name = 'tyo-2'`), &n.ID); err != nil {
			t.Fatal(err)
		}
		r := disposal.Report{Schema: disposal.Schema, AgentVersion: "1.0", WipedAt: e.now, FilesRemoved: []string{"state/node.key"}}
		if err := f.RecordDecommission(e.ctx, n, r); err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.Exec(e.ctx, `UPDATE hub_nodes SET state = 'draining' WHERE name = 'tyo-1'`); err != nil {
			t.Fatal(err)
		}
		_, err = ops.ProposePlacement(e.ctx, b.op, b.codes[pOnPrem])
		wantFault(t, err, fault.Conflict, "tyo-2/eth1 is on a draining node")
		_, err = ops.Place(e.ctx, b.op, b.codes[pOnPrem], PlaceInput{Primary: &PhysRef{Node: "tyo-2", Port: "eth1"},
			Secondary: &PhysRef{Node: "tyo-2", Port: "eth2"}, Reason: "x"})
		wantFault(t, err, fault.Invalid, "tyo-2 is draining")
		_, err = ops.MoveHub(e.ctx, a.op, a.hubs["hub_main"], HubMoveInput{Node: "tyo-2", Reason: "x"})
		wantFault(t, err, fault.Invalid, "draining")
	})
}

// TestMoveHubVLAN: a hub move takes its cloud ports' VLANs on the target
// and releases them on the source — a target whose physical port carries
// the VLAN already is refused, and becomes possible once the other port
// has moved away, whose way back is then refused in turn.
func TestMoveHubVLAN(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, a, b := moveEnv(t, db)
		ops := e.svc.Operations
		if _, err := e.applyVLANs(b, map[string]int{pAPrivate: 101}); err != nil { // a's VLAN
			t.Fatal(err)
		}
		e.must(ops.Place(e.ctx, b.op, b.codes[pAPrivate], PlaceInput{Primary: &PhysRef{Node: "tyo-2", Port: "eth3"},
			Secondary: &PhysRef{Node: "tyo-2", Port: "eth5"}, Reason: "test"}))
		before := e.legsOf(a)
		_, err := ops.MoveHub(e.ctx, a.op, a.hubs["hub_main"], HubMoveInput{Node: "tyo-2", Reason: "x"})
		wantFault(t, err, fault.Conflict, "tyo-2/eth3 already carries VLAN 101")
		if e.legsOf(a) != before {
			t.Fatal("a refused move changed something")
		}
		e.must(ops.MoveHub(e.ctx, b.op, b.hubs["hub_main"], HubMoveInput{Node: "tyo-3", Reason: "make room"}))
		e.must(ops.MoveHub(e.ctx, a.op, a.hubs["hub_main"], HubMoveInput{Node: "tyo-2", Reason: "node refresh"}))
		_, err = ops.MoveHub(e.ctx, b.op, b.hubs["hub_main"], HubMoveInput{Node: "tyo-2", Reason: "x"})
		wantFault(t, err, fault.Conflict, "already carries VLAN 101")
	})
}
