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
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Placement of customer ports on physical ports (operator inventory). A
// customer hub runs on one hub node of its region, chosen when its first port
// is placed; all legs of its ports are on that node. Two kinds of port have
// a primary and a secondary leg, on different physical ports of that node:
// a redundant on-premises port (one BGP session over both legs, which the
// node bridges) and every cloud port (the provider's redundant pair: each
// link is a leg of its own with its own /30 and BGP session, on the VLAN
// sub-interface <physical port>.<VLAN>). Each leg is admitted on its own
// physical port: the port's speed is committed on both.
//
// Cloud ports placed before they had two legs keep their primary leg; the
// placement view lists their missing secondary, and placing the port again
// places only that leg (MissingLegs, Place).

// legCount is how many legs port p has: two for a redundant on-premises
// port and for every cloud port, one for a single on-premises port.
func legCount(p portRow) int {
	if p.redundant || p.kind != "onprem" {
		return 2
	}
	return 1
}

// legRoles are the legs of a placement, in order.
var legRoles = []string{"primary", "secondary"}

// physicalKind is the physical port kind a customer port kind needs.
func physicalKind(kind string) string {
	switch {
	case kind == "onprem":
		return "onprem"
	case strings.HasPrefix(kind, "a-"):
		return "cloud-aws"
	}
	return "cloud-azure"
}

// PhysRef names a physical port.
type PhysRef struct {
	Node string `json:"node"`
	Port string `json:"port"`
}

// PlacedLeg is one leg of a placement with the numbers that admitted it.
type PlacedLeg struct {
	Leg           string `json:"leg"` // primary | secondary
	Node          string `json:"node"`
	Port          string `json:"physical_port"`
	CapacityMbps  int64  `json:"capacity_mbps"`
	CommittedMbps int64  `json:"committed_mbps"` // before this port
	RequestedMbps int64  `json:"requested_mbps"`
	HeadroomAfter int64  `json:"headroom_after_mbps"`
	Proposed      bool   `json:"proposed"`
	Reason        string `json:"reason,omitempty"`
}

// Placement is where a customer port runs.
type Placement struct {
	PortCode string      `json:"port_code"`
	HubID    string      `json:"hub_id"`
	Legs     []PlacedLeg `json:"legs"`
	// MissingLegs names the legs of a placed port that are not placed: a
	// cloud port placed before cloud ports had two legs lacks its
	// secondary, whose BGP session then runs nowhere until it is placed.
	MissingLegs []string `json:"missing_legs,omitempty"`
}

// PlaceInput places a port: without legs the proposal is taken; with them
// the operator overrides it, stating a reason.
type PlaceInput struct {
	Primary   *PhysRef `json:"primary,omitempty"`
	Secondary *PhysRef `json:"secondary,omitempty"`
	Reason    string   `json:"reason,omitempty"`
}

type portRow struct {
	cust                          catalog.CustomerID
	id, code, hubID, kind, region string
	speed                         int64
	commit                        int64 // speed committed by a placement (pending increases included)
	redundant                     bool
	status                        string
}

func (s *core) portRow(ctx context.Context, q store.Querier, cust catalog.CustomerID, code string) (portRow, error) {
	p := portRow{cust: cust}
	err := store.Scan(q.QueryRow(ctx, `SELECT p.id, p.port_code, p.hub_id, p.kind, r.code, p.speed_mbps, p.redundant, p.status
		FROM ports p JOIN hubs h ON h.id = p.hub_id JOIN regions r ON r.id = h.region_id WHERE p.customer_id = ? AND p.port_code = ?`, cust, code),
		&p.id, &p.code, &p.hubID, &p.kind, &p.region, &p.speed, &p.redundant, &p.status)
	if err != nil {
		return p, notFound("port", err)
	}
	// What placing the port commits: its speed under every pending change
	// (a change may have been ordered before the port was placed).
	rows, err := q.Query(ctx, `SELECT effective_date, to_mbps FROM bandwidth_changes WHERE port_id = ? AND status = 'pending'
		ORDER BY effective_date, requested_at`, p.id)
	if err != nil {
		return p, err
	}
	defer rows.Close()
	l := leg{baseMbps: p.speed}
	for rows.Next() {
		var c speedChange
		if err := rows.Scan(&c.date, &c.mbps); err != nil {
			return p, err
		}
		l.changes = append(l.changes, c)
	}
	p.commit = l.committed(s.today())
	return p, rows.Err()
}

func (s *core) hubNode(ctx context.Context, q store.Querier, hub string) (string, error) {
	var node string
	err := store.Scan(q.QueryRow(ctx, `SELECT node_id FROM hub_placements WHERE hub_id = ?`, hub), &node)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	return node, err
}

// propose picks, for each leg still to place, the compatible physical port
// with the most headroom that fits the port's speed: on the hub's node when
// it has one, else on any node of the hub's region, and never a physical
// port another leg of the port already holds (placed: the legs placed
// before, in order).
func (s *core) propose(ctx context.Context, q store.Querier, p portRow, placed []*physPort) ([]*physPort, error) {
	inv, err := s.inventory(ctx, q)
	if err != nil {
		return nil, err
	}
	node, err := s.hubNode(ctx, q, p.hubID)
	if err != nil {
		return nil, err
	}
	today := s.today()
	want := physicalKind(p.kind)
	var phys []string
	for _, pp := range inv {
		if pp.Region == p.region && pp.Kind == want {
			phys = append(phys, pp.ID)
		}
	}
	vlan, busy, err := busyVLAN(ctx, q, p.cust, p, phys)
	if err != nil {
		return nil, err
	}
	var cands []*physPort
	var refused []string
	vlanRefused, capRefused, drained := false, false, false
	for _, pp := range inv {
		if pp.Region != p.region || pp.Kind != want || (node != "" && pp.NodeID != node) {
			continue
		}
		if slices.ContainsFunc(placed, func(o *physPort) bool { return o.ID == pp.ID }) {
			continue // holds another leg of the port
		}
		if pp.NodeState != nodeActive {
			// A draining node takes no new placement (fleet.Drain).
			refused = append(refused, fmt.Sprintf("%s/%s is on a %s node", pp.Node, pp.Name, pp.NodeState))
			drained = true
			continue
		}
		if busy[pp.ID] {
			// The port's VLAN is taken there: its sub-interface would
			// collide with another port's.
			refused = append(refused, fmt.Sprintf("%s/%s already carries VLAN %d", pp.Node, pp.Name, vlan))
			vlanRefused = true
		} else if left := pp.capacity() - pp.committed(today, p.id); left >= p.commit {
			cands = append(cands, pp)
		} else {
			refused = append(refused, fmt.Sprintf("%s/%s has %d of %d Mb/s left", pp.Node, pp.Name, left, pp.capacity()))
			capRefused = true
		}
	}
	headroom := func(pp *physPort) int64 { return pp.capacity() - pp.committed(today, p.id) }
	slices.SortStableFunc(cands, func(a, b *physPort) int {
		if d := headroom(b) - headroom(a); d != 0 {
			if d > 0 {
				return 1
			}
			return -1
		}
		return strings.Compare(a.Node+"/"+a.Name, b.Node+"/"+b.Name)
	})
	legs := legCount(p) - len(placed)
	if node == "" && len(cands) > 0 {
		// The hub goes to the best node that has room for every leg; every
		// leg follows it.
		perNode := map[string]int{}
		for _, pp := range cands {
			perNode[pp.NodeID]++
		}
		first := cands[0].NodeID
		for _, pp := range cands {
			if perNode[pp.NodeID] >= legs {
				first = pp.NodeID
				break
			}
		}
		cands = slices.DeleteFunc(cands, func(pp *physPort) bool { return pp.NodeID != first })
	}
	if len(cands) < legs {
		where := "region " + p.region
		if node != "" {
			where = "the hub's node"
		}
		detail := "none is installed"
		if len(refused) > 0 {
			detail = strings.Join(refused, "; ")
		}
		switch {
		case vlanRefused:
			return nil, fault.New(fault.Conflict, "no %d physical %s port(s) in %s with %d Mb/s left and VLAN %d free (%s)",
				legs, want, where, p.commit, vlan, detail)
		case drained && !capRefused:
			return nil, fault.New(fault.Conflict, "no %d physical %s port(s) in %s on a node that takes new placements (%s)",
				legs, want, where, detail)
		case len(refused) > 0:
			return nil, fault.New(fault.Conflict, "capacity exceeded: no %d physical %s port(s) in %s with %d Mb/s left (%s)",
				legs, want, where, p.commit, detail)
		}
		// Room enough, too few ports: each leg needs a physical port of
		// its own.
		return nil, fault.New(fault.Conflict, "no %d physical %s port(s) in %s: %d found; "+
			"a %s port's %d legs are on different physical ports of one node", legs, want, where, len(cands), p.kind, legCount(p))
	}
	return cands[:legs], nil
}

// ProposePlacement returns where the system would place the port: every
// leg of a port not placed yet, or the legs still missing of one placed
// before it had all its legs (a cloud port's secondary).
func (s *Operations) ProposePlacement(ctx context.Context, op tenant.Operator, code string) (Placement, error) {
	cust, err := op.Authorize(identity.ActCapacityRead)
	if err != nil {
		return Placement{}, err
	}
	p, err := s.portRow(ctx, s.db, cust, code)
	if err != nil {
		return Placement{}, err
	}
	inv, err := s.inventory(ctx, s.db)
	if err != nil {
		return Placement{}, err
	}
	placed := placedLegs(p, inv)
	if len(placed) >= legCount(p) {
		return Placement{}, fault.New(fault.Conflict, "port %s is already placed", code)
	}
	pps, err := s.propose(ctx, s.db, p, placed)
	if err != nil {
		return Placement{}, err
	}
	return placementOf(p, pps, len(placed), s.today(), true, ""), nil
}

// placedLegs are the physical ports holding port p's legs, primary first.
func placedLegs(p portRow, inv []*physPort) []*physPort {
	var out []*physPort
	for _, role := range legRoles {
		for _, pp := range inv {
			if slices.ContainsFunc(pp.legs, func(l leg) bool { return l.portID == p.id && l.leg == role }) {
				out = append(out, pp)
			}
		}
	}
	return out
}

// placementOf describes the legs pps of port p, the first of them being
// leg number first (0: primary).
func placementOf(p portRow, pps []*physPort, first int, today string, proposed bool, reason string) Placement {
	out := Placement{PortCode: p.code, HubID: p.hubID}
	for i, pp := range pps {
		c := pp.committed(today, p.id)
		out.Legs = append(out.Legs, PlacedLeg{Leg: legRoles[first+i], Node: pp.Node, Port: pp.Name,
			CapacityMbps: pp.capacity(), CommittedMbps: c, RequestedMbps: p.commit, HeadroomAfter: pp.capacity() - c - p.commit,
			Proposed: proposed, Reason: reason})
	}
	return out
}

// lockPhysical serialises admission decisions on the given physical ports:
// a no-op UPDATE takes the row lock on PostgreSQL (SQLite transactions are
// already serialised by BEGIN IMMEDIATE), so two placements or bandwidth
// changes cannot both pass the check against the same free capacity.
// fleet's Drain and Retire take the same locks on a node's ports, in the
// same order, before they read what is placed there.
func lockPhysical(ctx context.Context, tx *store.Tx, ids ...string) error {
	slices.Sort(ids)
	for _, id := range ids {
		if _, err := tx.Exec(ctx, `UPDATE physical_ports SET oversubscription = oversubscription WHERE id = ?`, id); err != nil {
			return err
		}
	}
	return nil
}

// Place places a customer port (operator): the proposal, or the operator's
// override when given. Either way admission control holds: the sum of the
// committed speeds on a physical port never exceeds speed × oversubscription,
// and a refusal states the numbers. A port placed before it had all its legs
// (a cloud port with only its primary) is completed: only the missing leg
// is placed, proposed or given as `secondary`.
func (s *Operations) Place(ctx context.Context, op tenant.Operator, code string, in PlaceInput) (Placement, error) {
	cust, err := op.Authorize(identity.ActInventoryManage)
	if err != nil {
		return Placement{}, err
	}
	var out Placement
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		p, err := s.portRow(ctx, tx, cust, code)
		if err != nil {
			return err
		}
		if p.status != "active" {
			return fault.New(fault.Conflict, "port %s is cancelled", code)
		}
		inv, err := s.inventory(ctx, tx)
		if err != nil {
			return err
		}
		// Lock every physical port the port could go on (its region and
		// kind) before deciding, then decide on what is committed now.
		var cands []string
		for _, pp := range inv {
			if pp.Region == p.region && pp.Kind == physicalKind(p.kind) {
				cands = append(cands, pp.ID)
			}
		}
		if err := lockPhysical(ctx, tx, cands...); err != nil {
			return err
		}
		if inv, err = s.inventory(ctx, tx); err != nil {
			return err
		}
		placed := placedLegs(p, inv)
		if len(placed) >= legCount(p) {
			return fault.New(fault.Conflict, "port %s is already placed", code)
		}
		var pps []*physPort
		proposed := in.Primary == nil && in.Secondary == nil
		switch {
		case len(placed) > 0 && in.Primary != nil:
			return fault.Field("primary", "the primary leg of port %s is placed; give only the missing secondary leg", code)
		case len(placed) == 0 && in.Primary == nil && in.Secondary != nil:
			return fault.Field("primary", "give the primary leg when overriding the secondary")
		case proposed:
			if pps, err = s.propose(ctx, tx, p, placed); err != nil {
				return err
			}
		default:
			if err := checkReason(in.Reason); err != nil {
				return err
			}
			if pps, err = s.override(ctx, tx, p, inv, placed, in); err != nil {
				return err
			}
		}
		node, err := s.hubNode(ctx, tx, p.hubID)
		if err != nil {
			return err
		}
		now := clock.Store(s.now())
		if node == "" {
			if _, err := tx.Exec(ctx, `INSERT INTO hub_placements (hub_id, customer_id, node_id, created_at) VALUES (?, ?, ?, ?)`,
				p.hubID, cust, pps[0].NodeID, now); err != nil {
				return err
			}
		}
		out = placementOf(p, pps, len(placed), s.today(), proposed, in.Reason)
		for i, pp := range pps {
			if _, err := tx.Exec(ctx, `INSERT INTO port_placements (id, customer_id, port_id, leg, physical_port_id, proposed, reason, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, ids.New("plc"), cust, p.id, out.Legs[i].Leg, pp.ID, proposed, in.Reason, now); err != nil {
				return err
			}
		}
		detail := map[string]any{"legs": out.Legs, "proposed": proposed, "reason": in.Reason}
		if len(placed) > 0 {
			detail["completes"] = true // the missing leg of a port placed before
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "port.place", Target: "port:" + code, CustomerID: string(cust), Detail: detail})
	})
	if err != nil {
		return Placement{}, fmt.Errorf("place port: %w", err)
	}
	return out, nil
}

// override checks the operator's legs: the primary and, for a port with two
// legs, the secondary; only the secondary when the primary is placed.
func (s *core) override(ctx context.Context, tx *store.Tx, p portRow, inv, placed []*physPort, in PlaceInput) ([]*physPort, error) {
	var refs []*PhysRef
	if len(placed) == 0 {
		refs = append(refs, in.Primary)
	}
	if legCount(p) == 2 {
		refs = append(refs, in.Secondary) // nil is refused in its turn
	} else if in.Secondary != nil {
		return nil, fault.Field("secondary", "only a redundant on-premises port or a cloud port has a secondary leg")
	}
	node, err := s.hubNode(ctx, tx, p.hubID)
	if err != nil {
		return nil, err
	}
	today := s.today()
	var phys []string
	for _, pp := range inv {
		phys = append(phys, pp.ID)
	}
	vlan, busy, err := busyVLAN(ctx, tx, p.cust, p, phys)
	if err != nil {
		return nil, err
	}
	out := slices.Clone(placed)
	for _, ref := range refs {
		i := len(out)
		field := legRoles[i]
		if ref == nil && p.kind == "onprem" {
			return nil, fault.Field(field, "a redundant port needs a secondary leg")
		} else if ref == nil {
			return nil, fault.Field(field, "a cloud port needs a secondary leg on another physical port (its provider's secondary link)")
		}
		idx := slices.IndexFunc(inv, func(pp *physPort) bool { return pp.Node == ref.Node && pp.Name == ref.Port })
		if idx < 0 {
			return nil, fault.Field(field, "no physical port %s/%s", ref.Node, ref.Port)
		}
		pp := inv[idx]
		switch {
		case pp.Region != p.region:
			return nil, fault.Field(field, "%s is in region %s; the hub is in %s", pp.Node, pp.Region, p.region)
		case pp.Kind != physicalKind(p.kind):
			return nil, fault.Field(field, "%s/%s is a %s port; a %s port needs %s", pp.Node, pp.Name, pp.Kind, p.kind, physicalKind(p.kind))
		case node != "" && pp.NodeID != node:
			return nil, fault.Field(field, "the hub runs on another node; all its ports are placed there")
		case pp.NodeState != nodeActive:
			return nil, fault.Field(field, "node %s is %s: it takes no new placement", pp.Node, pp.NodeState)
		case i == 1 && pp.ID == out[0].ID:
			return nil, fault.Field(field, "the secondary leg needs a different physical port from the primary")
		case i == 1 && pp.NodeID != out[0].NodeID:
			return nil, fault.Field(field, "both legs are placed on the hub's node")
		case busy[pp.ID]:
			return nil, fault.Field(field, "VLAN %d of port %s is already in use on %s/%s; place the port on another physical port",
				vlan, p.code, pp.Node, pp.Name)
		}
		if err := admit(pp, today, p.id, p.commit); err != nil {
			return nil, fault.Field(field, "%s", err)
		}
		out = append(out, pp)
	}
	return out[len(placed):], nil
}

// admit is admission control: refuses when adding mbps to what pp has
// committed (ignoring port `except`) would exceed its capacity.
func admit(pp *physPort, today, except string, mbps int64) error {
	c := pp.committed(today, except)
	if c+mbps > pp.capacity() {
		return fmt.Errorf("capacity exceeded on %s/%s: %d Mb/s × %.2f = %d Mb/s; %d Mb/s committed + %d Mb/s requested = %d Mb/s",
			pp.Node, pp.Name, pp.SpeedMbps, pp.Oversubscription, pp.capacity(), c, mbps, c+mbps)
	}
	return nil
}

// Placements lists where the customer's ports run, with the legs a placed
// port still misses.
func (s *Operations) Placements(ctx context.Context, op tenant.Operator) ([]Placement, error) {
	cust, err := op.Authorize(identity.ActCapacityRead)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT p.port_code, p.hub_id, p.kind, p.redundant, pl.leg, n.name, pp.name, pl.proposed, pl.reason
		FROM port_placements pl JOIN ports p ON p.id = pl.port_id JOIN physical_ports pp ON pp.id = pl.physical_port_id
		JOIN hub_nodes n ON n.id = pp.node_id WHERE pl.customer_id = ? ORDER BY p.port_code, pl.leg`, cust)
	if err != nil {
		return nil, fmt.Errorf("placements: %w", err)
	}
	defer rows.Close()
	out := []Placement{}
	var wantLegs []int
	for rows.Next() {
		var code, hub string
		var port portRow
		var l PlacedLeg
		if err := rows.Scan(&code, &hub, &port.kind, &port.redundant, &l.Leg, &l.Node, &l.Port, &l.Proposed, &l.Reason); err != nil {
			return nil, fmt.Errorf("placements: %w", err)
		}
		if len(out) == 0 || out[len(out)-1].PortCode != code {
			out = append(out, Placement{PortCode: code, HubID: hub})
			wantLegs = append(wantLegs, legCount(port))
		}
		out[len(out)-1].Legs = append(out[len(out)-1].Legs, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("placements: %w", err)
	}
	for i := range out {
		for _, role := range legRoles[:wantLegs[i]] {
			if !slices.ContainsFunc(out[i].Legs, func(l PlacedLeg) bool { return l.Leg == role }) {
				out[i].MissingLegs = append(out[i].MissingLegs, role)
			}
		}
	}
	return out, nil
}

// HubNode names the node that carries the customer's hub, or "" while none
// does (no port of the hub is placed yet). Another customer's hub is
// NotFound.
func (s *Workflow) HubNode(ctx context.Context, sc tenant.Scope, hub catalog.HubID) (string, error) {
	cust, err := sc.Authorize(identity.ActNetworkRead)
	if err != nil {
		return "", err
	}
	var name *string
	err = store.Scan(s.db.QueryRow(ctx, `SELECT n.name FROM hubs h
		LEFT JOIN hub_placements hp ON hp.hub_id = h.id LEFT JOIN hub_nodes n ON n.id = hp.node_id
		WHERE h.customer_id = ? AND h.id = ?`, cust, hub), &name)
	if err != nil {
		return "", notFound("hub", err)
	}
	if name == nil {
		return "", nil
	}
	return *name, nil
}
