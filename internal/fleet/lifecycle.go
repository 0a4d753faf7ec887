package fleet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/disposal"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/text"
)

// A node's lifecycle: active → draining (the operator's drain: no new
// placement goes there — the placement proposals and hub moves of package
// network skip it — while what runs there stays until it is moved) →
// retired (the operator's retire, only once nothing is placed there: its
// certificates are revoked, its physical ports released, its agent refused
// for good). Independently, the node's agent may report that it wiped the
// node (`tsunagi agent decommission`): the report is recorded, the node's
// certificates are revoked, an active node becomes draining (nothing new
// lands on a wiped node) and the node is refused from then on; the
// operator retires it once its placements are gone, which is also how a
// node whose agent could not reach the controller is retired, with no
// disposal report.

// Node states (hub_nodes.state).
const (
	NodeActive   = "active"
	NodeDraining = "draining"
	NodeRetired  = "retired"
)

// Occupant is one thing placed on a node: a hub (PortCode empty) or one
// leg of a customer port on one of the node's physical ports.
type Occupant struct {
	CustomerID   string `json:"customer_id"`
	HubID        string `json:"hub_id"`
	PortCode     string `json:"port_code,omitempty"`
	Leg          string `json:"leg,omitempty"`
	PhysicalPort string `json:"physical_port,omitempty"`
}

func (o Occupant) String() string {
	if o.PortCode == "" {
		return fmt.Sprintf("hub %s of customer %s", o.HubID, o.CustomerID)
	}
	return fmt.Sprintf("port %s (%s leg) on %s", o.PortCode, o.Leg, o.PhysicalPort)
}

// Lifecycle is a node's lifecycle state and what is still placed on it.
type Lifecycle struct {
	Node             string           `json:"node"`
	State            string           `json:"state"`
	StateChangedAt   *time.Time       `json:"state_changed_at,omitempty"`
	StateReason      string           `json:"state_reason,omitempty"`
	DecommissionedAt *time.Time       `json:"decommissioned_at,omitempty"`
	Decommission     *disposal.Report `json:"decommission_report,omitempty"`
	Remaining        []Occupant       `json:"remaining"`
}

func checkReason(reason string) error {
	if msg := text.Reason(reason); msg != "" {
		return fault.Field("reason", "reason %s", msg)
	}
	return nil
}

// NodeLifecycle returns the node's lifecycle state and what remains on it.
func (f *Fleet) NodeLifecycle(ctx context.Context, node string) (Lifecycle, error) {
	l, err := lifecycleOf(ctx, f.db, node)
	if err != nil {
		return Lifecycle{}, fmt.Errorf("node lifecycle: %w", err)
	}
	return l, nil
}

func lifecycleOf(ctx context.Context, q store.Querier, node string) (Lifecycle, error) {
	l := Lifecycle{Node: node, Remaining: []Occupant{}}
	var id string
	var changed, decom, report *string
	err := store.Scan(q.QueryRow(ctx, `SELECT id, state, state_changed_at, state_reason, decommissioned_at, decommission_report
		FROM hub_nodes WHERE name = ?`, node), &id, &l.State, &changed, &l.StateReason, &decom, &report)
	if errors.Is(err, store.ErrNotFound) {
		return l, fault.New(fault.NotFound, "node not found")
	}
	if err != nil {
		return l, err
	}
	l.StateChangedAt, l.DecommissionedAt = parseTime(changed), parseTime(decom)
	if report != nil {
		r, err := disposal.Decode([]byte(*report))
		if err != nil {
			return l, fmt.Errorf("stored disposal report: %w", err)
		}
		l.Decommission = &r
	}
	if l.Remaining, err = occupants(ctx, q, id); err != nil {
		return l, err
	}
	return l, nil
}

func parseTime(s *string) *time.Time {
	if s == nil {
		return nil
	}
	t, err := clock.Parse(*s)
	if err != nil {
		return nil
	}
	return &t
}

// occupants lists the hubs placed on the node and the legs placed on its
// physical ports, whatever their ports' status: a placement is released by
// ending the port or moving it, not by its contract alone.
func occupants(ctx context.Context, q store.Querier, nodeID string) ([]Occupant, error) {
	out := []Occupant{}
	rows, err := q.Query(ctx, `SELECT customer_id, hub_id FROM hub_placements WHERE node_id = ? ORDER BY customer_id, hub_id`, nodeID)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var o Occupant
		if err := rows.Scan(&o.CustomerID, &o.HubID); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = q.Query(ctx, `SELECT pl.customer_id, p.hub_id, p.port_code, pl.leg, pp.name FROM port_placements pl
		JOIN ports p ON p.id = pl.port_id JOIN physical_ports pp ON pp.id = pl.physical_port_id
		WHERE pp.node_id = ? ORDER BY p.port_code, pl.leg`, nodeID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var o Occupant
		if err := rows.Scan(&o.CustomerID, &o.HubID, &o.PortCode, &o.Leg, &o.PhysicalPort); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// lockPorts takes the row locks package network takes before a placement
// or hub move decision (its lockPhysical: a no-op UPDATE per physical port,
// in the same id order, so the two never deadlock). Taken before the
// occupants and the state are read, a concurrent Place or MoveHub either
// lands first and is seen, or decides after the state has changed.
func lockPorts(ctx context.Context, tx *store.Tx, nodeID string) error {
	ids, err := store.Strings(ctx, tx, `SELECT id FROM physical_ports WHERE node_id = ?`, nodeID)
	if err != nil {
		return err
	}
	slices.Sort(ids)
	for _, id := range ids {
		if _, err := tx.Exec(ctx, `UPDATE physical_ports SET oversubscription = oversubscription WHERE id = ?`, id); err != nil {
			return err
		}
	}
	return nil
}

// lockedLifecycle locks the node's physical ports (lockPorts), then reads
// its lifecycle.
func (f *Fleet) lockedLifecycle(ctx context.Context, tx *store.Tx, node string) (string, Lifecycle, error) {
	id, err := f.nodeID(ctx, tx, node)
	if err != nil {
		return "", Lifecycle{}, err
	}
	if err := lockPorts(ctx, tx, id); err != nil {
		return "", Lifecycle{}, err
	}
	l, err := lifecycleOf(ctx, tx, node)
	return id, l, err
}

// Drain stops new placements on the node; what runs there stays until it
// is moved (network.Operations.MoveHub). A draining node is refused (its
// reason stays the one it was drained for), and so is a retired one.
func (f *Fleet) Drain(ctx context.Context, node, reason string) (Lifecycle, error) {
	if err := checkReason(reason); err != nil {
		return Lifecycle{}, err
	}
	var out Lifecycle
	err := f.db.InTx(ctx, func(tx *store.Tx) error {
		_, l, err := f.lockedLifecycle(ctx, tx, node)
		if err != nil {
			return err
		}
		switch l.State {
		case NodeRetired:
			return fault.New(fault.Conflict, "node %s is retired", node)
		case NodeDraining:
			return fault.New(fault.Conflict, "node %s is already draining", node)
		}
		if err := setState(ctx, tx, node, NodeDraining, reason); err != nil {
			return err
		}
		if out, err = lifecycleOf(ctx, tx, node); err != nil {
			return err
		}
		return f.audit.RecordTx(ctx, tx, audit.Event{Action: "node.drain", Target: "node:" + node, Reason: reason,
			Detail: map[string]any{"remaining": len(out.Remaining)}})
	})
	if err != nil {
		return Lifecycle{}, fmt.Errorf("drain: %w", err)
	}
	return out, nil
}

func setState(ctx context.Context, tx *store.Tx, node, state, reason string) error {
	_, err := tx.Exec(ctx, `UPDATE hub_nodes SET state = ?, state_changed_at = ?, state_reason = ? WHERE name = ?`,
		state, clock.Store(clock.Now()), reason, node)
	return err
}

// Retire retires a node on which nothing is placed: its certificates are
// revoked and its unused enrolment tokens withdrawn, its physical ports
// released (out of placement and the capacity report), and its agent is
// refused from then on. While anything is placed there it is refused,
// naming what remains.
func (f *Fleet) Retire(ctx context.Context, node, reason string) (Lifecycle, error) {
	if err := checkReason(reason); err != nil {
		return Lifecycle{}, err
	}
	var out Lifecycle
	err := f.db.InTx(ctx, func(tx *store.Tx) error {
		id, l, err := f.lockedLifecycle(ctx, tx, node)
		if err != nil {
			return err
		}
		if l.State == NodeRetired {
			return fault.New(fault.Conflict, "node %s is already retired", node)
		}
		if len(l.Remaining) > 0 {
			names := make([]string, len(l.Remaining))
			for i, o := range l.Remaining {
				names[i] = o.String()
			}
			return fault.New(fault.Conflict, "node %s still carries %s: move or end them first", node, strings.Join(names, "; "))
		}
		revoked, err := revokeTx(ctx, tx, id)
		if err != nil {
			return err
		}
		now := clock.Store(clock.Now())
		res, err := tx.Exec(ctx, `UPDATE physical_ports SET released_at = ? WHERE node_id = ? AND released_at IS NULL`, now, id)
		if err != nil {
			return err
		}
		released, _ := res.RowsAffected()
		if err := setState(ctx, tx, node, NodeRetired, reason); err != nil {
			return err
		}
		if out, err = lifecycleOf(ctx, tx, node); err != nil {
			return err
		}
		return f.audit.RecordTx(ctx, tx, audit.Event{Action: "node.retire", Target: "node:" + node, Reason: reason,
			Detail: map[string]any{"certificates_revoked": revoked, "physical_ports_released": released}})
	})
	if err != nil {
		return Lifecycle{}, fmt.Errorf("retire: %w", err)
	}
	return out, nil
}

// revokeTx revokes every certificate of the node and withdraws its unused
// enrolment tokens.
func revokeTx(ctx context.Context, tx *store.Tx, nodeID string) (int64, error) {
	res, err := tx.Exec(ctx, `UPDATE node_certs SET revoked_at = ? WHERE node_id = ? AND revoked_at IS NULL`, clock.Store(clock.Now()), nodeID)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	if _, err := tx.Exec(ctx, `DELETE FROM node_enrolment_tokens WHERE node_id = ? AND used_at IS NULL`, nodeID); err != nil {
		return 0, err
	}
	return n, nil
}

// RecordDecommission records the wipe node n's agent reported, revokes the
// node's certificates — the request that carried the report is the last
// one accepted from it — and refuses the node from then on. An active node
// becomes draining in the same transaction, so no placement, override or
// hub move lands on a wiped node (they check the state only). What is
// still placed on it is named in the audit record: the operator moves or
// ends it and retires the node.
func (f *Fleet) RecordDecommission(ctx context.Context, n Node, r disposal.Report) error {
	if err := r.Check(); err != nil {
		return fault.Field("report", "%s", err.Error())
	}
	body, err := disposal.Encode(r)
	if err != nil {
		return fmt.Errorf("decommission: %w", err)
	}
	err = f.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE hub_nodes SET decommissioned_at = ?, decommission_report = ? WHERE id = ? AND decommissioned_at IS NULL`,
			clock.Store(clock.Now()), strings.TrimSpace(string(body)), n.ID)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k != 1 {
			return fault.New(fault.Conflict, "node %s is already decommissioned", n.Name)
		}
		// A draining node keeps the operator's reason.
		if _, err := tx.Exec(ctx, `UPDATE hub_nodes SET state = ?, state_changed_at = ?, state_reason = ? WHERE id = ? AND state = ?`,
			NodeDraining, clock.Store(clock.Now()), "decommissioned by its agent", n.ID, NodeActive); err != nil {
			return err
		}
		revoked, err := revokeTx(ctx, tx, n.ID)
		if err != nil {
			return err
		}
		left, err := occupants(ctx, tx, n.ID)
		if err != nil {
			return err
		}
		return f.audit.RecordTx(audit.WithActor(ctx, nodeActor(ctx, n.Name)), tx, audit.Event{Action: "node.decommission", Target: "node:" + n.Name,
			Detail: map[string]any{"hubs_removed": len(r.HubsRemoved), "files_removed": len(r.FilesRemoved), "failures": r.Failures,
				"complete": r.Complete(), "certificates_revoked": revoked, "still_placed": len(left)}})
	})
	if err != nil {
		return fmt.Errorf("decommission: %w", err)
	}
	return nil
}
