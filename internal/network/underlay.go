package network

import (
	"context"
	"errors"
	"fmt"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// Underlay is a hub node's tunnel endpoint on the backbone (operator data).
type Underlay struct {
	Node    string `json:"node"`
	Address string `json:"address"`
}

// UnderlayInput sets a node's tunnel endpoint.
type UnderlayInput struct {
	Address string `json:"address"`
}

// SetUnderlay records the address at which the other nodes reach this
// node's VXLAN tunnels (operator inventory). Every hub on other nodes whose
// customer also has a hub here gets it in its desired state.
func (s *Operations) SetUnderlay(ctx context.Context, node string, in UnderlayInput) (Underlay, error) {
	a, err := ParseAddr(in.Address)
	if err != nil {
		return Underlay{}, fault.Field("address", "%s", err)
	}
	if inAny(a, bogons) || linkLocal.Contains(a) {
		return Underlay{}, fault.Field("address", "%s cannot be a tunnel endpoint", a)
	}
	out := Underlay{Node: node, Address: a.String()}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var id string
		if err := store.Scan(tx.QueryRow(ctx, `SELECT id FROM hub_nodes WHERE name = ?`, node), &id); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fault.New(fault.NotFound, "no hub node %q", node)
			}
			return err
		}
		var other string
		err := store.Scan(tx.QueryRow(ctx, `SELECT n.name FROM node_underlay u JOIN hub_nodes n ON n.id = u.node_id
			WHERE u.address = ? AND u.node_id <> ?`, out.Address, id), &other)
		switch {
		case err == nil:
			return fault.Field("address", "%s is already the tunnel endpoint of %s", out.Address, other)
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM node_underlay WHERE node_id = ?`, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO node_underlay (node_id, address, updated_at) VALUES (?, ?, ?)`,
			id, out.Address, clock.Store(s.now())); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "node.underlay.set", Target: "node:" + id,
			Detail: map[string]any{"node": node, "address": out.Address}})
	})
	if err != nil {
		return Underlay{}, fmt.Errorf("set underlay: %w", err)
	}
	return out, nil
}

// Underlay returns the node's tunnel endpoint. A node whose endpoint no
// operator has set yet answers NotFound, as an unknown node does: until it
// is set, the node's hubs build no backbone.
func (s *Operations) Underlay(ctx context.Context, node string) (Underlay, error) {
	var addr string
	err := store.Scan(s.db.QueryRow(ctx, `SELECT u.address FROM node_underlay u JOIN hub_nodes n ON n.id = u.node_id
		WHERE n.name = ?`, node), &addr)
	if errors.Is(err, store.ErrNotFound) {
		return Underlay{}, fault.New(fault.NotFound, "no underlay address is set for this node")
	}
	if err != nil {
		return Underlay{}, fmt.Errorf("underlay: %w", err)
	}
	return Underlay{Node: node, Address: addr}, nil
}
