package network

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/text"
)

// Planned migration: the operator moves a placed port's legs to other
// physical ports of its hub's node, or a whole hub with every placed leg of
// its ports to another node of its region. Each is planned first (Preview*:
// what moves where, the capacity and VLAN check on each target, which BGP
// sessions re-establish) and then carried out by the same planner inside
// one transaction (Move*), which takes the capacity and VLANs on the targets
// and releases them on the sources by moving the placement rows: the
// capacity report, the VLAN checks and the desired-state compiler all read
// those rows, so both nodes' desired states change with the commit. A plan
// that no longer holds when it is carried out is refused and nothing moves.
//
// The customer is told: the move is written to its audit log as an entry
// made by the system naming what moved, the reason and the sessions that
// re-establish, besides the operator's own entry.

// Node lifecycle states (hub_nodes.state; fleet owns the transitions). Only
// an active node takes new placements, hub moves included.
const (
	nodeActive = "active"
)

// PortMoveInput moves the given legs of a port to other physical ports of
// its hub's node; a leg not given stays where it is.
type PortMoveInput struct {
	Primary   *PhysRef `json:"primary,omitempty"`
	Secondary *PhysRef `json:"secondary,omitempty"`
	Reason    string   `json:"reason"`
}

// HubMoveInput moves a hub, with every placed leg of its ports, to another
// node of its region; the legs' physical ports there are proposed as for a
// new placement (the most headroom that fits, the VLAN free).
type HubMoveInput struct {
	Node   string `json:"node"`
	Reason string `json:"reason"`
}

// LegMove is one leg of a move: where it runs and where it will run, with
// the numbers that admit it there.
type LegMove struct {
	PortCode      string  `json:"port_code"`
	Leg           string  `json:"leg"`
	From          PhysRef `json:"from"`
	To            PhysRef `json:"to"`
	VLAN          int     `json:"vlan,omitempty"`
	CapacityMbps  int64   `json:"capacity_mbps"`
	CommittedMbps int64   `json:"committed_mbps"` // on the target, before this leg
	RequestedMbps int64   `json:"requested_mbps"`
	HeadroomAfter int64   `json:"headroom_after_mbps"`
}

// MoveSession is a BGP session that re-establishes when the move is carried
// out: a port's (Name single, primary or secondary) or, for a hub move, a
// backbone session to another hub of the customer (PortCode empty, Name the
// peer hub's priority).
type MoveSession struct {
	PortCode string `json:"port_code,omitempty"`
	Name     string `json:"name"`
}

// MovePlan is what a move changes, shown to the operator before it is
// carried out and recorded in the audit log after.
type MovePlan struct {
	Kind     string        `json:"kind"` // port | hub
	HubID    string        `json:"hub_id"`
	PortCode string        `json:"port_code,omitempty"`
	FromNode string        `json:"from_node"`
	ToNode   string        `json:"to_node"`
	Legs     []LegMove     `json:"legs"`
	Sessions []MoveSession `json:"sessions"`
	Reason   string        `json:"reason"`
	// Moved is true in the answer of a move carried out, false in a preview.
	Moved bool `json:"moved"`
}

// checkReason checks the reason of an operator's action on a port or hub
// (a move, an override, a dated end): text.Reason.
func checkReason(reason string) error {
	if msg := text.Reason(reason); msg != "" {
		return fault.Field("reason", "reason %s", msg)
	}
	return nil
}

// sessionsOf names the BGP sessions of port p whose legs legs move: a
// cloud port has a session per leg; an on-premises port one session over
// its legs, which re-establishes when either moves.
func sessionsOf(p portRow, legs []string) []MoveSession {
	if p.kind != "onprem" {
		var out []MoveSession
		for _, l := range legs {
			out = append(out, MoveSession{PortCode: p.code, Name: l})
		}
		return out
	}
	return []MoveSession{{PortCode: p.code, Name: "single"}}
}

// PreviewPortMove plans a port move without changing anything.
func (s *Operations) PreviewPortMove(ctx context.Context, op tenant.Operator, code string, in PortMoveInput) (MovePlan, error) {
	cust, err := op.Authorize(identity.ActCapacityRead)
	if err != nil {
		return MovePlan{}, err
	}
	return s.planPortMove(ctx, s.db, cust, code, in)
}

// MovePort carries out a port move (see PreviewPortMove).
func (s *Operations) MovePort(ctx context.Context, op tenant.Operator, code string, in PortMoveInput) (MovePlan, error) {
	cust, err := op.Authorize(identity.ActInventoryManage)
	if err != nil {
		return MovePlan{}, err
	}
	var plan MovePlan
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		p, err := s.portRow(ctx, tx, cust, code)
		if err != nil {
			return err
		}
		if err := s.lockRegion(ctx, tx, p.region); err != nil {
			return err
		}
		if plan, err = s.planPortMove(ctx, tx, cust, code, in); err != nil {
			return err
		}
		return s.carryOut(ctx, tx, cust, p.hubID, "", &plan)
	})
	if err != nil {
		return MovePlan{}, fmt.Errorf("move port: %w", err)
	}
	return plan, nil
}

func (s *core) planPortMove(ctx context.Context, q store.Querier, cust catalog.CustomerID, code string, in PortMoveInput) (MovePlan, error) {
	p, err := s.portRow(ctx, q, cust, code)
	if err != nil {
		return MovePlan{}, err
	}
	if p.status != "active" {
		return MovePlan{}, fault.New(fault.Conflict, "port %s is cancelled", code)
	}
	if err := checkReason(in.Reason); err != nil {
		return MovePlan{}, err
	}
	if in.Primary == nil && in.Secondary == nil {
		return MovePlan{}, fault.Field("primary", "name the physical port a leg moves to (primary, secondary or both)")
	}
	if in.Secondary != nil && legCount(p) < 2 {
		return MovePlan{}, fault.Field("secondary", "only a redundant on-premises port or a cloud port has a secondary leg")
	}
	inv, err := s.inventory(ctx, q)
	if err != nil {
		return MovePlan{}, err
	}
	placed := placedLegs(p, inv)
	if len(placed) == 0 {
		return MovePlan{}, fault.New(fault.Conflict, "port %s is not placed: place it instead", code)
	}
	var phys []string
	for _, pp := range inv {
		phys = append(phys, pp.ID)
	}
	vlan, busy, err := busyVLAN(ctx, q, cust, p, phys)
	if err != nil {
		return MovePlan{}, err
	}
	// Where each leg will be: its target, or where it is.
	after := slices.Clone(placed)
	today := s.today()
	plan := MovePlan{Kind: "port", HubID: p.hubID, PortCode: code, FromNode: placed[0].Node, ToNode: placed[0].Node,
		Legs: []LegMove{}, Reason: in.Reason}
	var moved []string
	for i, ref := range []*PhysRef{in.Primary, in.Secondary} {
		if ref == nil {
			continue
		}
		field := legRoles[i]
		if i >= len(placed) {
			return MovePlan{}, fault.Field(field, "the %s leg of port %s is not placed: place it instead", field, code)
		}
		idx := slices.IndexFunc(inv, func(pp *physPort) bool { return pp.Node == ref.Node && pp.Name == ref.Port })
		if idx < 0 {
			return MovePlan{}, fault.Field(field, "no physical port %s/%s", ref.Node, ref.Port)
		}
		pp := inv[idx]
		switch {
		case pp.NodeID != placed[i].NodeID:
			return MovePlan{}, fault.Field(field, "%s is another node: a port moves within its hub's node %s; move the hub to change nodes",
				pp.Node, placed[i].Node)
		case pp.Kind != physicalKind(p.kind):
			return MovePlan{}, fault.Field(field, "%s/%s is a %s port; a %s port needs %s", pp.Node, pp.Name, pp.Kind, p.kind, physicalKind(p.kind))
		case pp.ID == placed[i].ID:
			return MovePlan{}, fault.Field(field, "the %s leg of port %s is already on %s/%s", field, code, pp.Node, pp.Name)
		case busy[pp.ID]:
			return MovePlan{}, fault.Field(field, "VLAN %d of port %s is already in use on %s/%s", vlan, code, pp.Node, pp.Name)
		}
		if err := admit(pp, today, p.id, p.commit); err != nil {
			return MovePlan{}, fault.Field(field, "%s", err)
		}
		after[i] = pp
		moved = append(moved, field)
		c := pp.committed(today, p.id)
		plan.Legs = append(plan.Legs, LegMove{PortCode: code, Leg: field, VLAN: vlan,
			From: PhysRef{Node: placed[i].Node, Port: placed[i].Name}, To: PhysRef{Node: pp.Node, Port: pp.Name},
			CapacityMbps: pp.capacity(), CommittedMbps: c, RequestedMbps: p.commit, HeadroomAfter: pp.capacity() - c - p.commit})
	}
	if len(after) == 2 && after[0].ID == after[1].ID {
		// Named by the field the caller set: the leg that moved onto the
		// other's physical port.
		if in.Secondary == nil {
			return MovePlan{}, fault.Field("primary", "the primary leg needs a different physical port from the secondary")
		}
		return MovePlan{}, fault.Field("secondary", "the secondary leg needs a different physical port from the primary")
	}
	plan.Sessions = sessionsOf(p, moved)
	return plan, nil
}

// PreviewHubMove plans a hub move without changing anything.
func (s *Operations) PreviewHubMove(ctx context.Context, op tenant.Operator, hub catalog.HubID, in HubMoveInput) (MovePlan, error) {
	cust, err := op.Authorize(identity.ActCapacityRead)
	if err != nil {
		return MovePlan{}, err
	}
	return s.planHubMove(ctx, s.db, cust, hub, in)
}

// MoveHub carries out a hub move (see PreviewHubMove): the hub's placement
// and every placed leg of its ports go to the target node at once.
func (s *Operations) MoveHub(ctx context.Context, op tenant.Operator, hub catalog.HubID, in HubMoveInput) (MovePlan, error) {
	cust, err := op.Authorize(identity.ActInventoryManage)
	if err != nil {
		return MovePlan{}, err
	}
	var plan MovePlan
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		region, err := hubRegion(ctx, tx, cust, hub)
		if err != nil {
			return err
		}
		if err := s.lockRegion(ctx, tx, region); err != nil {
			return err
		}
		if plan, err = s.planHubMove(ctx, tx, cust, hub, in); err != nil {
			return err
		}
		var nodeID string
		if err := store.Scan(tx.QueryRow(ctx, `SELECT id FROM hub_nodes WHERE name = ?`, plan.ToNode), &nodeID); err != nil {
			return err
		}
		return s.carryOut(ctx, tx, cust, string(hub), nodeID, &plan)
	})
	if err != nil {
		return MovePlan{}, fmt.Errorf("move hub: %w", err)
	}
	return plan, nil
}

func hubRegion(ctx context.Context, q store.Querier, cust catalog.CustomerID, hub catalog.HubID) (string, error) {
	var region string
	var ended *string
	err := store.Scan(q.QueryRow(ctx, `SELECT r.code, h.ended_at FROM hubs h JOIN regions r ON r.id = h.region_id WHERE h.customer_id = ? AND h.id = ?`,
		cust, hub), &region, &ended)
	if err == nil && ended != nil {
		// Its placement went with it: say so, not that it awaits one.
		return "", fault.New(fault.Conflict, "hub %s has been removed: it is on no node and cannot move", hub)
	}
	return region, notFound("hub", err)
}

func (s *core) planHubMove(ctx context.Context, q store.Querier, cust catalog.CustomerID, hub catalog.HubID, in HubMoveInput) (MovePlan, error) {
	region, err := hubRegion(ctx, q, cust, hub)
	if err != nil {
		return MovePlan{}, err
	}
	if err := checkReason(in.Reason); err != nil {
		return MovePlan{}, err
	}
	from, err := s.hubNode(ctx, q, string(hub))
	if err != nil {
		return MovePlan{}, err
	}
	if from == "" {
		return MovePlan{}, fault.New(fault.Conflict, "hub %s is not placed on a node yet: its first port's placement chooses one", hub)
	}
	var toID, toRegion, toState string
	err = store.Scan(q.QueryRow(ctx, `SELECT n.id, r.code, n.state FROM hub_nodes n JOIN regions r ON r.id = n.region_id WHERE n.name = ?`,
		in.Node), &toID, &toRegion, &toState)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return MovePlan{}, fault.Field("node", "no node %q", in.Node)
	case err != nil:
		return MovePlan{}, err
	case toRegion != region:
		return MovePlan{}, fault.Field("node", "%s is in region %s; the hub is in %s", in.Node, toRegion, region)
	case toID == from:
		return MovePlan{}, fault.Field("node", "the hub already runs on %s", in.Node)
	case toState != nodeActive:
		return MovePlan{}, fault.Field("node", "node %s is %s: it takes no new placement", in.Node, toState)
	}
	inv, err := s.inventory(ctx, q)
	if err != nil {
		return MovePlan{}, err
	}
	plan := MovePlan{Kind: "hub", HubID: string(hub), ToNode: in.Node, Legs: []LegMove{}, Sessions: []MoveSession{}, Reason: in.Reason}
	if err := store.Scan(q.QueryRow(ctx, `SELECT name FROM hub_nodes WHERE id = ?`, from), &plan.FromNode); err != nil {
		return MovePlan{}, err
	}
	codes, err := hubPortCodes(ctx, q, cust, hub)
	if err != nil {
		return MovePlan{}, err
	}
	today := s.today()
	var targets []*physPort
	for _, pp := range inv {
		if pp.NodeID == toID {
			targets = append(targets, pp)
		}
	}
	ids := make([]string, len(targets))
	for i, pp := range targets {
		ids[i] = pp.ID
	}
	planned := map[string]map[int]bool{} // target → VLANs this plan puts there
	for _, code := range codes {
		p, err := s.portRow(ctx, q, cust, code)
		if err != nil {
			return MovePlan{}, err
		}
		placed := placedLegs(p, inv)
		if len(placed) == 0 {
			continue // placed later, on the hub's node of then
		}
		vlan, busy, err := busyVLAN(ctx, q, cust, p, ids)
		if err != nil {
			return MovePlan{}, err
		}
		var taken []*physPort
		var legs []string
		for i, src := range placed {
			var best *physPort
			var refused []string
			for _, pp := range targets {
				switch {
				case pp.Kind != physicalKind(p.kind) || slices.Contains(taken, pp):
				case busy[pp.ID] || (vlan > 0 && planned[pp.ID][vlan]):
					refused = append(refused, fmt.Sprintf("%s/%s already carries VLAN %d", pp.Node, pp.Name, vlan))
				case pp.capacity()-pp.committed(today, p.id) < p.commit:
					refused = append(refused, fmt.Sprintf("%s/%s has %d of %d Mb/s left", pp.Node, pp.Name,
						pp.capacity()-pp.committed(today, p.id), pp.capacity()))
				case best == nil || pp.capacity()-pp.committed(today, p.id) > best.capacity()-best.committed(today, p.id):
					best = pp
				}
			}
			if best == nil {
				detail := "none is installed"
				if len(refused) > 0 {
					detail = strings.Join(refused, "; ")
				}
				return MovePlan{}, fault.New(fault.Conflict, "capacity exceeded: node %s has no physical %s port for the %s leg of port %s (%d Mb/s, VLAN %d): %s",
					in.Node, physicalKind(p.kind), legRoles[i], code, p.commit, vlan, detail)
			}
			c := best.committed(today, p.id)
			plan.Legs = append(plan.Legs, LegMove{PortCode: code, Leg: legRoles[i], VLAN: vlan,
				From: PhysRef{Node: src.Node, Port: src.Name}, To: PhysRef{Node: best.Node, Port: best.Name},
				CapacityMbps: best.capacity(), CommittedMbps: c, RequestedMbps: p.commit, HeadroomAfter: best.capacity() - c - p.commit})
			// What this plan puts on the target counts for the next legs
			// of other ports.
			best.legs = append(best.legs, leg{portID: p.id, portCode: code, baseMbps: p.commit, start: today})
			if vlan > 0 {
				if planned[best.ID] == nil {
					planned[best.ID] = map[int]bool{}
				}
				planned[best.ID][vlan] = true
			}
			taken = append(taken, best)
			legs = append(legs, legRoles[i])
		}
		plan.Sessions = append(plan.Sessions, sessionsOf(p, legs)...)
	}
	peers, err := backbonePeers(ctx, q, cust, hub)
	if err != nil {
		return MovePlan{}, err
	}
	for _, pr := range peers {
		plan.Sessions = append(plan.Sessions, MoveSession{Name: pr})
	}
	return plan, nil
}

// hubPortCodes lists the ports of the customer's hub that hold a
// placement. Only active ports do: ending a port (endPortTx) deletes its
// placement in the same transaction that cancels it.
func hubPortCodes(ctx context.Context, q store.Querier, cust catalog.CustomerID, hub catalog.HubID) ([]string, error) {
	return store.Strings(ctx, q, `SELECT p.port_code FROM ports p WHERE p.customer_id = ? AND p.hub_id = ?
		AND EXISTS (SELECT 1 FROM port_placements pl WHERE pl.port_id = p.id) ORDER BY p.port_code`, cust, hub)
}

// backbonePeers are the DR priorities of the customer's other placed hubs:
// each backbone session of a moved hub re-establishes from its new node.
func backbonePeers(ctx context.Context, q store.Querier, cust catalog.CustomerID, hub catalog.HubID) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT h.priority FROM hubs h JOIN hub_placements hp ON hp.hub_id = h.id
		WHERE h.customer_id = ? AND h.id <> ? ORDER BY h.priority`, cust, hub)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var pr string
		if err := rows.Scan(&pr); err != nil {
			return nil, err
		}
		out = append(out, pr)
	}
	return out, rows.Err()
}

// lockRegion serialises the move with every placement and bandwidth
// decision on the region's physical ports (lockPhysical).
func (s *core) lockRegion(ctx context.Context, tx *store.Tx, region string) error {
	ids, err := store.Strings(ctx, tx, `SELECT pp.id FROM physical_ports pp JOIN hub_nodes n ON n.id = pp.node_id JOIN regions r ON r.id = n.region_id
		WHERE r.code = ?`, region)
	if err != nil {
		return err
	}
	return lockPhysical(ctx, tx, ids...)
}

// carryOut moves the placement rows as plan says (and the hub's own
// placement to toNode when given), then records the move: the operator's
// entry, and the system's entry the customer reads in its audit log.
func (s *core) carryOut(ctx context.Context, tx *store.Tx, cust catalog.CustomerID, hub, toNode string, plan *MovePlan) error {
	now := clock.Store(s.now())
	proposed := plan.Kind == "hub"
	for _, l := range plan.Legs {
		res, err := tx.Exec(ctx, `UPDATE port_placements SET physical_port_id =
			(SELECT pp.id FROM physical_ports pp JOIN hub_nodes n ON n.id = pp.node_id WHERE n.name = ? AND pp.name = ?),
			proposed = ?, reason = ?, created_at = ?
			WHERE customer_id = ? AND leg = ? AND port_id = (SELECT id FROM ports WHERE customer_id = ? AND port_code = ?)`,
			l.To.Node, l.To.Port, proposed, plan.Reason, now, cust, l.Leg, cust, l.PortCode)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("move: placement of %s %s: %d rows", l.PortCode, l.Leg, n)
		}
	}
	if toNode != "" {
		if _, err := tx.Exec(ctx, `UPDATE hub_placements SET node_id = ? WHERE customer_id = ? AND hub_id = ?`, toNode, cust, hub); err != nil {
			return err
		}
	}
	plan.Moved = true
	target := "hub:" + plan.HubID
	if plan.Kind == "port" {
		target = "port:" + plan.PortCode
	}
	detail := map[string]any{"from_node": plan.FromNode, "to_node": plan.ToNode, "legs": plan.Legs, "sessions": plan.Sessions}
	if err := s.audit.RecordTx(ctx, tx, audit.Event{Action: plan.Kind + ".move", Target: target, CustomerID: string(cust),
		Reason: plan.Reason, Detail: detail}); err != nil {
		return err
	}
	return s.audit.RecordTx(audit.WithActor(ctx, audit.System), tx, audit.Event{Action: "maintenance.planned_migration", Target: target,
		CustomerID: string(cust), Reason: plan.Reason, Detail: map[string]any{"move": moveSummary(*plan), "sessions": plan.Sessions}})
}

// moveSummary is one line naming what moved, for the customer's audit log:
// physical port names, not other customers' objects.
func moveSummary(p MovePlan) string {
	var parts []string
	for _, l := range p.Legs {
		parts = append(parts, fmt.Sprintf("%s %s: %s/%s → %s/%s", l.PortCode, l.Leg, l.From.Node, l.From.Port, l.To.Node, l.To.Port))
	}
	if p.Kind == "hub" {
		return fmt.Sprintf("hub %s: %s → %s; %s", p.HubID, p.FromNode, p.ToNode, strings.Join(parts, "; "))
	}
	return strings.Join(parts, "; ")
}
