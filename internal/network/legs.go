package network

import (
	"context"
	"fmt"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/store"
)

// Where customers' ports sit: one query for the legs of the ports still in
// service, shared by the impact of operator work (Affected) and by the
// scope of a notice (notice.Resolve), so that both name the same ports.

// Leg is one leg of a customer port on a physical port of a hub node.
type Leg struct {
	CustomerID, PortCode, Leg, Node, PhysicalPort string
}

// NodePort names one physical port of a hub node.
type NodePort struct{ Node, Port string }

// legs returns the legs of active, not ended ports that match cond (a
// condition over port_placements pl, ports p, physical_ports pp and
// hub_nodes n), ordered by customer, port and leg.
func legs(ctx context.Context, q store.Querier, cond string, args ...any) ([]Leg, error) {
	rows, err := q.Query(ctx, `SELECT p.customer_id, p.port_code, pl.leg, n.name, pp.name
		FROM port_placements pl JOIN ports p ON p.id = pl.port_id JOIN physical_ports pp ON pp.id = pl.physical_port_id
		JOIN hub_nodes n ON n.id = pp.node_id
		WHERE p.status = 'active' AND p.ended_at IS NULL AND (`+cond+`) ORDER BY p.customer_id, p.port_code, pl.leg`, args...)
	if err != nil {
		return nil, fmt.Errorf("legs: %w", err)
	}
	defer rows.Close()
	var out []Leg
	for rows.Next() {
		var l Leg
		if err := rows.Scan(&l.CustomerID, &l.PortCode, &l.Leg, &l.Node, &l.PhysicalPort); err != nil {
			return nil, fmt.Errorf("legs: %w", err)
		}
		out = append(out, l)
	}
	return out, store.Wrap(rows.Err())
}

// LegsOn returns the legs that lie on one of nodes (any of its physical
// ports) or on one of ports. Across customers: it serves the operator's
// notices, which find the customers concerned.
func LegsOn(ctx context.Context, q store.Querier, nodes []string, ports []NodePort) ([]Leg, error) {
	var conds []string
	var args []any
	if len(nodes) > 0 {
		conds = append(conds, `n.name IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(nodes)), ", ")+`)`)
		for _, n := range nodes {
			args = append(args, n)
		}
	}
	for _, p := range ports {
		conds = append(conds, `(n.name = ? AND pp.name = ?)`)
		args = append(args, p.Node, p.Port)
	}
	if len(conds) == 0 {
		return nil, nil
	}
	return legs(ctx, q, strings.Join(conds, " OR "), args...)
}
