package notice

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// Resolving a scope (ISO/IEC 27017 12.1.2): the notice must reach exactly
// the customers whose service sits on what the operator names, no fewer
// (a customer left uninformed) and no more (another customer's inventory
// is none of theirs). Only customers still served count — not ended, not
// purged — and only hubs and ports that have not ended.

// Resolve returns the customers sc reaches, ordered by ID, each with the
// reasons it is reached. A name that does not exist is an invalid scope
// (the operator mistyped it, and a silent miss would leave customers
// uninformed); a scope of known names may still reach nobody, which the
// caller judges (Preview and Publish refuse it).
func Resolve(ctx context.Context, q store.Querier, sc Scope) ([]AffectedCustomer, error) {
	if err := checkNames(ctx, q, sc); err != nil {
		return nil, err
	}
	return resolve(ctx, q, sc)
}

// resolve is Resolve without checking the names: for the follow-ups of a
// published notice, whose scope may name what was purged since.
func resolve(ctx context.Context, q store.Querier, sc Scope) ([]AffectedCustomer, error) {
	r := resolution{idx: map[string]int{}}
	if len(sc.Regions) > 0 {
		err := r.collect(ctx, q, ReasonHubRegion, `SELECT h.customer_id, h.id, g.code
			FROM hubs h JOIN regions g ON g.id = h.region_id
			WHERE h.ended_at IS NULL AND g.code IN (`+marks(len(sc.Regions))+`)`, anys(sc.Regions)...)
		if err != nil {
			return nil, err
		}
	}
	if len(sc.Nodes) > 0 {
		err := r.collect(ctx, q, ReasonHubNode, `SELECT h.customer_id, h.id, n.name
			FROM hub_placements hp JOIN hubs h ON h.id = hp.hub_id JOIN hub_nodes n ON n.id = hp.node_id
			WHERE h.ended_at IS NULL AND n.name IN (`+marks(len(sc.Nodes))+`)`, anys(sc.Nodes)...)
		if err != nil {
			return nil, err
		}
	}
	if len(sc.Nodes) > 0 || len(sc.PhysicalPorts) > 0 {
		legs, err := network.LegsOn(ctx, q, sc.Nodes, physical(sc.PhysicalPorts))
		if err != nil {
			return nil, fmt.Errorf("resolve: %w", err)
		}
		for _, l := range legs {
			rs := Reason{Kind: ReasonPortNode, Port: l.PortCode, Node: l.Node, PhysicalPort: l.PhysicalPort}
			if slices.Contains(sc.Nodes, l.Node) {
				r.add(l.CustomerID, rs)
			}
			if slices.Contains(sc.PhysicalPorts, PhysicalPort{Node: l.Node, Port: l.PhysicalPort}) {
				rs.Kind = ReasonPortPhysical
				r.add(l.CustomerID, rs)
			}
		}
	}
	if len(sc.Hubs) > 0 {
		err := r.collect(ctx, q, ReasonHub, `SELECT customer_id, id, '' FROM hubs
			WHERE ended_at IS NULL AND id IN (`+marks(len(sc.Hubs))+`)`, anys(sc.Hubs)...)
		if err != nil {
			return nil, err
		}
	}
	for _, c := range sc.Customers {
		r.add(c, Reason{Kind: ReasonCustomer})
	}
	if len(r.out) == 0 {
		return []AffectedCustomer{}, nil
	}
	// Keep only the customers still served, with their names.
	ids := make([]string, len(r.out))
	for i, c := range r.out {
		ids[i] = c.CustomerID
	}
	names, err := served(ctx, q, ids)
	if err != nil {
		return nil, err
	}
	out := []AffectedCustomer{}
	for _, c := range r.out {
		if name, ok := names[c.CustomerID]; ok {
			c.Name = name
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b AffectedCustomer) int { return strings.Compare(a.CustomerID, b.CustomerID) })
	return out, nil
}

// served returns the names of those of custs still served: not ended,
// not purged. A customer ended since a notice reached it hears no more.
func served(ctx context.Context, q store.Querier, custs []string) (map[string]string, error) {
	names := map[string]string{}
	if len(custs) == 0 {
		return names, nil
	}
	rows, err := q.Query(ctx, `SELECT id, name FROM customers WHERE ended_at IS NULL AND purged_at IS NULL
		AND id IN (`+marks(len(custs))+`)`, anys(custs)...)
	if err != nil {
		return nil, fmt.Errorf("resolve: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, fmt.Errorf("resolve: %w", err)
		}
		names[id] = name
	}
	return names, store.Wrap(rows.Err())
}

// resolution gathers customers and their reasons, each reason once.
type resolution struct {
	out []AffectedCustomer
	idx map[string]int
}

func (r *resolution) add(cust string, reason Reason) {
	i, ok := r.idx[cust]
	if !ok {
		r.out = append(r.out, AffectedCustomer{CustomerID: cust, Reasons: []Reason{}})
		i = len(r.out) - 1
		r.idx[cust] = i
	}
	if !slices.Contains(r.out[i].Reasons, reason) {
		r.out[i].Reasons = append(r.out[i].Reasons, reason)
	}
}

// collect adds the (customer, hub, node or region) rows of query as
// reasons of kind.
func (r *resolution) collect(ctx context.Context, q store.Querier, kind, query string, args ...any) error {
	rows, err := q.Query(ctx, query+` ORDER BY 1, 2, 3`, args...)
	if err != nil {
		return fmt.Errorf("resolve: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var cust, hub, where string
		if err := rows.Scan(&cust, &hub, &where); err != nil {
			return fmt.Errorf("resolve: %w", err)
		}
		rs := Reason{Kind: kind, Hub: hub}
		switch kind {
		case ReasonHubNode:
			rs.Node = where
		case ReasonHubRegion:
			rs.Region = where
		}
		r.add(cust, rs)
	}
	return rows.Err()
}

// checkNames refuses a scope naming anything that does not exist, naming
// every unknown name at once so that one correction suffices.
func checkNames(ctx context.Context, q store.Querier, sc Scope) error {
	var unknown []string
	check := func(kind, query string, names []string) error {
		if len(names) == 0 {
			return nil
		}
		known, err := store.Strings(ctx, q, query+` IN (`+marks(len(names))+`)`, anys(names)...)
		if err != nil {
			return fmt.Errorf("scope: %w", err)
		}
		for _, n := range names {
			if !slices.Contains(known, n) {
				unknown = append(unknown, kind+" "+n)
			}
		}
		return nil
	}
	if err := check("region", `SELECT code FROM regions WHERE code`, sc.Regions); err != nil {
		return err
	}
	nodes := slices.Clone(sc.Nodes)
	for _, p := range sc.PhysicalPorts {
		nodes = append(nodes, p.Node)
	}
	if err := check("node", `SELECT name FROM hub_nodes WHERE name`, uniq(nodes)); err != nil {
		return err
	}
	for _, p := range sc.PhysicalPorts {
		if p.Port == "" {
			unknown = append(unknown, "physical port (none named) on "+p.Node)
			continue
		}
		var n int
		if err := q.QueryRow(ctx, `SELECT COUNT(*) FROM physical_ports pp JOIN hub_nodes n ON n.id = pp.node_id
			WHERE n.name = ? AND pp.name = ?`, p.Node, p.Port).Scan(&n); err != nil {
			return fmt.Errorf("scope: %w", store.Wrap(err))
		}
		if n == 0 && slices.Contains(unknown, "node "+p.Node) {
			continue // the node itself is already named unknown
		}
		if n == 0 {
			unknown = append(unknown, "physical port "+p.Node+"/"+p.Port)
		}
	}
	if err := check("hub", `SELECT id FROM hubs WHERE id`, sc.Hubs); err != nil {
		return err
	}
	if err := check("customer", `SELECT id FROM customers WHERE id`, sc.Customers); err != nil {
		return err
	}
	if len(unknown) > 0 {
		return fault.Field("scope", "the scope names what does not exist: %s", strings.Join(unknown, ", "))
	}
	return nil
}

// emptyScope reports whether sc names nothing at all.
func emptyScope(sc Scope) bool {
	return len(sc.Regions)+len(sc.Nodes)+len(sc.PhysicalPorts)+len(sc.Hubs)+len(sc.Customers) == 0
}

// normScope trims the names and drops duplicates and empty ones, and
// gives every list a value (the stored JSON never holds null).
func normScope(sc Scope) Scope {
	clean := func(in []string) []string {
		out := []string{}
		for _, s := range in {
			if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
		return out
	}
	pp := []PhysicalPort{}
	for _, p := range sc.PhysicalPorts {
		p = PhysicalPort{Node: strings.TrimSpace(p.Node), Port: strings.TrimSpace(p.Port)}
		if p.Node != "" && !slices.Contains(pp, p) {
			pp = append(pp, p)
		}
	}
	return Scope{Regions: clean(sc.Regions), Nodes: clean(sc.Nodes), PhysicalPorts: pp,
		Hubs: clean(sc.Hubs), Customers: clean(sc.Customers)}
}

func physical(pp []PhysicalPort) []network.NodePort {
	out := make([]network.NodePort, len(pp))
	for i, p := range pp {
		out[i] = network.NodePort{Node: p.Node, Port: p.Port}
	}
	return out
}

// marks returns n comma-separated placeholders.
func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func uniq(ss []string) []string {
	out := []string{}
	for _, s := range ss {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
