package network

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// The customer's view of a port's BGP session: whether the route limit
// holds it stopped (hold.go) and the prefixes it holds. The prefix figures
// have one source, the route counts the node last observed for the port's
// sessions (RouteCounts): the same BIRD counts the node reports for the
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
	rc, err := s.routeCounts().PortRouteCounts(ctx, cust, p.code)
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

// RouteCounts is where a customer's view reads a port's route counts: the
// node's latest observation. Within PortRouteCounts the customer is the
// caller's, already authorised.
type RouteCounts interface {
	PortRouteCounts(ctx context.Context, cust catalog.CustomerID, portCode string) (PortRoutes, error)
}

// SetRouteCounts makes src the source of the route counts in the
// customer's views (say, the stored per-hub node reports). Without it
// they are read from what NodeReportsRouteCounts kept. Call before use.
func (s *core) SetRouteCounts(src RouteCounts) { s.routeSrc = src }

func (s *core) routeCounts() RouteCounts {
	if s.routeSrc != nil {
		return s.routeSrc
	}
	return storedRouteCounts{s}
}

// storedRouteCounts reads port_route_counts.
type storedRouteCounts struct{ s *core }

func (r storedRouteCounts) PortRouteCounts(ctx context.Context, cust catalog.CustomerID, code string) (PortRoutes, error) {
	rows, err := r.s.db.Query(ctx, `SELECT c.imported, c.filtered, c.observed_at FROM port_route_counts c JOIN ports p ON p.id = c.port_id
		WHERE c.customer_id = ? AND p.port_code = ?`, cust, code)
	if err != nil {
		return PortRoutes{}, err
	}
	defer rows.Close()
	var out PortRoutes
	for rows.Next() {
		var imp, filt int64
		var at string
		if err := rows.Scan(&imp, &filt, &at); err != nil {
			return out, err
		}
		out.Imported += imp
		out.Filtered += filt
		if t, err := clock.Parse(at); err == nil && t.After(out.At) {
			out.At = t
		}
	}
	return out, rows.Err()
}

// NodeReportsRouteCounts keeps the route counts a node observed for the
// ports it reports (every session of each; a session missing from the
// report is forgotten). A node may report only ports placed on it; another
// port is refused (NotFound) and the others are still kept.
func (s *Compiler) NodeReportsRouteCounts(ctx context.Context, node string, at time.Time, ports []observed.Port) error {
	if at.IsZero() {
		at = s.now()
	}
	var errs []error
	for _, p := range ports {
		cust, err := s.nodePortCustomer(ctx, node, p.PortCode, "")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = s.db.InTx(ctx, func(tx *store.Tx) error {
			pr, err := s.portRow(ctx, tx, cust, p.PortCode)
			if err != nil {
				return err
			}
			// Only this node's sessions: a redundant port's other session
			// may be on another node, which reports it itself.
			if _, err := tx.Exec(ctx, `DELETE FROM port_route_counts WHERE port_id = ? AND node = ?`, pr.id, node); err != nil {
				return err
			}
			for _, ss := range p.Sessions {
				if ss.Name == "" || ss.Imported < 0 || ss.Filtered < 0 {
					return fault.Field("bgp_sessions", "a session has a name and counts that are not negative")
				}
				if _, err := tx.Exec(ctx, `DELETE FROM port_route_counts WHERE port_id = ? AND session = ?`, pr.id, ss.Name); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `INSERT INTO port_route_counts (port_id, customer_id, session, imported, filtered, node, observed_at)
					VALUES (?, ?, ?, ?, ?, ?, ?)`, pr.id, cust, ss.Name, ss.Imported, ss.Filtered, node, clock.Store(at)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("route counts %s: %w", p.PortCode, err))
		}
	}
	return errors.Join(errs...)
}
