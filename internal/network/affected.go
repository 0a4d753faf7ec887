package network

import (
	"context"
	"fmt"
	"slices"

	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// What operator work affects (ISO/IEC 27017 12.1.2): before maintenance on
// a hub node or one of its physical ports, the operator learns which
// customers, hubs and ports it touches and whether each port keeps a leg
// elsewhere (redundancy lost) or goes down (outage), so that the change
// notice reaches exactly the affected customers.

// AffectedReport lists what work on a node (or one physical port) affects.
type AffectedReport struct {
	Node         string             `json:"node"`
	PhysicalPort string             `json:"physical_port,omitempty"`
	Customers    []AffectedCustomer `json:"customers"`
}

// AffectedCustomer is one customer touched by the work.
type AffectedCustomer struct {
	CustomerID string         `json:"customer_id"`
	Hubs       []string       `json:"hubs"` // hubs running on the node (node-wide work only)
	Ports      []AffectedPort `json:"ports"`
}

// AffectedPort is one customer port touched by the work.
type AffectedPort struct {
	PortCode string   `json:"port_code"`
	Legs     []string `json:"legs"`   // the legs on the affected element
	Impact   string   `json:"impact"` // outage | redundancy-lost
}

// Affected reports the customers, hubs and ports that work on node — or on
// its physical port physPort when given — affects.
func (s *Operations) Affected(ctx context.Context, node, physPort string) (AffectedReport, error) {
	rep := AffectedReport{Node: node, PhysicalPort: physPort, Customers: []AffectedCustomer{}}
	var nodeID string
	if err := store.Scan(s.db.QueryRow(ctx, `SELECT id FROM hub_nodes WHERE name = ?`, node), &nodeID); err != nil {
		return rep, notFound("hub node", err)
	}
	if physPort != "" {
		var n int
		if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM physical_ports WHERE node_id = ? AND name = ?`, nodeID, physPort).Scan(&n); err != nil {
			return rep, err
		}
		if n == 0 {
			return rep, fault.New(fault.NotFound, "no physical port %s on %s", physPort, node)
		}
	}
	// Every leg of each port with a leg on the node: a port with a leg
	// elsewhere loses redundancy rather than going down.
	all, err := legs(ctx, s.db, `p.id IN (SELECT pl2.port_id FROM port_placements pl2
		JOIN physical_ports pp2 ON pp2.id = pl2.physical_port_id WHERE pp2.node_id = ?)`, nodeID)
	if err != nil {
		return rep, fmt.Errorf("affected: %w", err)
	}
	type legAt struct{ leg, node, port string }
	byPort := map[string][]legAt{}
	owner := map[string]string{}
	var order []string
	for _, l := range all {
		if _, seen := byPort[l.PortCode]; !seen {
			order = append(order, l.PortCode)
		}
		byPort[l.PortCode] = append(byPort[l.PortCode], legAt{l.Leg, l.Node, l.PhysicalPort})
		owner[l.PortCode] = l.CustomerID
	}
	hit := func(l legAt) bool { return l.node == node && (physPort == "" || l.port == physPort) }
	idx := map[string]int{}
	for _, code := range order {
		var on []string
		spare := false
		for _, l := range byPort[code] {
			if hit(l) {
				on = append(on, l.leg)
			} else {
				spare = true
			}
		}
		if len(on) == 0 {
			continue
		}
		impact := "outage"
		if spare {
			impact = "redundancy-lost"
		}
		cust := owner[code]
		i, ok := idx[cust]
		if !ok {
			rep.Customers = append(rep.Customers, AffectedCustomer{CustomerID: cust, Hubs: []string{}, Ports: []AffectedPort{}})
			i = len(rep.Customers) - 1
			idx[cust] = i
		}
		rep.Customers[i].Ports = append(rep.Customers[i].Ports, AffectedPort{PortCode: code, Legs: on, Impact: impact})
	}
	if physPort == "" {
		hubs, err := s.db.Query(ctx, `SELECT customer_id, hub_id FROM hub_placements WHERE node_id = ? ORDER BY customer_id, hub_id`, nodeID)
		if err != nil {
			return rep, fmt.Errorf("affected: %w", err)
		}
		defer hubs.Close()
		for hubs.Next() {
			var cust, hub string
			if err := hubs.Scan(&cust, &hub); err != nil {
				return rep, err
			}
			i, ok := idx[cust]
			if !ok {
				rep.Customers = append(rep.Customers, AffectedCustomer{CustomerID: cust, Hubs: []string{}, Ports: []AffectedPort{}})
				i = len(rep.Customers) - 1
				idx[cust] = i
			}
			rep.Customers[i].Hubs = append(rep.Customers[i].Hubs, hub)
		}
		if err := hubs.Err(); err != nil {
			return rep, err
		}
	}
	slices.SortFunc(rep.Customers, func(a, b AffectedCustomer) int { return compareStr(a.CustomerID, b.CustomerID) })
	return rep, nil
}
