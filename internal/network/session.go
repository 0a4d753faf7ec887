package network

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// The customer's view of a port's BGP session: whether the route limit
// holds it stopped (hold.go) and the prefixes it holds. The prefix figures
// have one source, the route counts the node last observed for the port's
// sessions (portRouteCounts): the same BIRD counts the node reports for the
// dataplane view, never a figure the controller keeps or resets itself.

// BGPState is a port's session state as the controller knows it.
type BGPState struct {
	PortCode string `json:"port_code"`
	State    string `json:"state"` // enabled | stopped-limit
	// Received is the prefixes the port's sessions hold, as the node last
	// observed them (CountedAt): BIRD's imported count, summed over the
	// port's sessions. 0 when no node has reported the port.
	Received  int64      `json:"received_prefixes"`
	CountedAt *time.Time `json:"counted_at,omitempty"`
	// RouteLimit is the limit in force; while stopped, the one the node
	// enforced, and StoppedPrefixes the count BIRD reported at the stop.
	RouteLimit      int        `json:"route_limit"`
	StoppedPrefixes *int64     `json:"stopped_prefixes,omitempty"`
	TrippedAt       *time.Time `json:"tripped_at,omitempty"`
	ReenableSeq     int64      `json:"reenable_seq"`
}

// GetBGPState returns the port's session state.
func (s *Workflow) GetBGPState(ctx context.Context, sc tenant.Scope, code string) (BGPState, error) {
	cust, err := sc.Authorize(identity.ActNetworkRead)
	if err != nil {
		return BGPState{}, err
	}
	p, err := s.portRow(ctx, s.db, cust, code)
	if err != nil {
		return BGPState{}, err
	}
	ph, err := s.portHolds(ctx, s.db, cust, p.id)
	if err != nil {
		return BGPState{}, err
	}
	return s.bgpState(ctx, cust, p, ph)
}

func (s *core) bgpState(ctx context.Context, cust catalog.CustomerID, p portRow, ph portHolds) (BGPState, error) {
	st := BGPState{PortCode: p.code, State: "enabled", RouteLimit: s.settings.RouteLimit, ReenableSeq: ph.seq}
	if h, held := ph.holds[observed.HoldRouteLimit]; held {
		since := h.Since
		st.State, st.TrippedAt, st.StoppedPrefixes = "stopped-limit", &since, h.Prefixes
		if h.Limit != nil {
			st.RouteLimit = int(*h.Limit)
		}
	}
	rc, err := s.portRouteCounts(ctx, cust, p.code)
	if err != nil {
		return st, err
	}
	st.Received = rc.Imported
	if !rc.At.IsZero() {
		at := rc.At
		st.CountedAt = &at
	}
	return st, nil
}

// Reenable restarts a session stopped by the route limit (the customer,
// after fixing what its peer advertises). Like every re-enable it clears
// all the port's holds.
func (s *Workflow) Reenable(ctx context.Context, sc tenant.Scope, code string) (BGPState, error) {
	p, ph, err := s.reenable(ctx, sc, code, observed.HoldRouteLimit)
	if err != nil {
		return BGPState{}, err
	}
	return s.bgpState(ctx, p.cust, p, ph)
}

// PortRoutes are the route counts of a port's sessions as a node last
// observed them.
type PortRoutes struct {
	Imported, Filtered int64
	At                 time.Time // when the node observed them; zero if never
}

// portRouteCounts reads a port's route counts from what the node last
// reported of the port's hub (hub_observations, stored by the fleet from
// the node's typed report): the figures the hub's dataplane view shows
// too, summed over the port's sessions (and the nodes reporting them).
func (s *core) portRouteCounts(ctx context.Context, cust catalog.CustomerID, code string) (PortRoutes, error) {
	rows, err := s.db.Query(ctx, `SELECT o.body, o.reported_at FROM hub_observations o
		JOIN ports p ON p.hub_id = o.hub_id AND p.customer_id = o.customer_id
		WHERE o.customer_id = ? AND p.port_code = ?`, cust, code)
	if err != nil {
		return PortRoutes{}, err
	}
	defer rows.Close()
	var out PortRoutes
	for rows.Next() {
		var body, at string
		if err := rows.Scan(&body, &at); err != nil {
			return out, err
		}
		var h observed.Hub
		if err := json.Unmarshal([]byte(body), &h); err != nil {
			return out, fmt.Errorf("route counts of port %s: %w", code, err)
		}
		for _, p := range h.Ports {
			if p.PortCode != code || len(p.Sessions) == 0 {
				continue
			}
			for _, ss := range p.Sessions {
				out.Imported += int64(ss.Imported)
				out.Filtered += int64(ss.Filtered)
			}
			if t, err := clock.Parse(at); err == nil && t.After(out.At) {
				out.At = t
			}
		}
	}
	return out, rows.Err()
}
