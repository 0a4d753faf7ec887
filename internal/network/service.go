package network

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// The hub service model is three parts over one store, each with its own
// callers, so that a change has one obvious room:
//
//   - Workflow: the customer's reviewed-change workflow — edit lock, draft,
//     review, apply, versions, rollback — and the customer's views of what
//     runs (NAT addresses, BGP and layer-2 guard holds, bandwidth history,
//     a hub's node). Callers: the customer listener, panel handlers.
//   - Operations: the operator's placement, capacity, NAT pools, underlay,
//     bandwidth changes, the work-impact report, and ports and hubs that
//     end (ending_ops.go). Callers: the management listener, the daily
//     jobs (speed sync, port.end).
//   - Compiler: the desired-state compiler that turns every customer's saved
//     configuration on a node into the node's document, and the nodes'
//     reports back (route limits, port shutdowns). Callers: the agent API,
//     the staff's desired-state read.
//
// Every exported method that touches one customer's objects takes the
// caller's scope — the customer's tenant.Scope in Workflow, the operator's
// tenant.Operator in Operations — checks the action against the scope's role
// first, and filters every query by its customer; another customer's objects
// are simply not found. Only unexported helpers take a bare CustomerID; the
// Compiler reads across customers by design and finds each one from a
// node's own ports.

// core is what the parts share: the store, the audit log, the settings and
// the clock, and the unexported helpers that read one customer's facts.
type core struct {
	db       *store.DB
	audit    *audit.Log
	settings Settings
	// now is the clock; tests move it to expire edit locks.
	now func() time.Time
	// monitors lists the hubs' running reachability monitors for the
	// desired state (Compiler.UseMonitors); nil: none.
	monitors MonitorSource
}

// Workflow is the customer's reviewed-change workflow and the customer's
// views of its running service.
type Workflow struct{ *core }

// Operations is the operator's side: placement, capacity, NAT pools,
// underlay, bandwidth changes and work impact.
type Operations struct{ *core }

// Compiler builds nodes' desired-state documents across customers and takes
// the nodes' reports.
type Compiler struct {
	*core
	cacheMu sync.Mutex           // guards cache
	cache   map[string]cachedDoc // node name → last desired-state document
}

// Service is the three parts over one store, as New builds them; callers
// keep only the parts they use.
type Service struct {
	*core
	Workflow   *Workflow
	Operations *Operations
	Compiler   *Compiler
}

// New returns the hub service model kept in db, recording changes in log.
func New(db *store.DB, log *audit.Log, s Settings) *Service {
	if s.RouteLimit == 0 {
		s.RouteLimit = DefaultSettings.RouteLimit
	}
	if s.DefaultASN == 0 {
		s.DefaultASN = DefaultSettings.DefaultASN
	}
	if !s.DefaultPool.IsValid() {
		s.DefaultPool = DefaultSettings.DefaultPool
	}
	if s.LockIdle == 0 {
		s.LockIdle = DefaultSettings.LockIdle
	}
	if s.CapacityThreshold == 0 {
		s.CapacityThreshold = DefaultSettings.CapacityThreshold
	}
	if s.ForecastDays == 0 {
		s.ForecastDays = DefaultSettings.ForecastDays
	}
	if !s.BackboneOverlay.IsValid() {
		s.BackboneOverlay = DefaultSettings.BackboneOverlay
	}
	c := &core{db: db, audit: log, settings: s, now: clock.Now}
	return &Service{core: c, Workflow: &Workflow{c}, Operations: &Operations{c}, Compiler: &Compiler{core: c}}
}

// Settings returns the deployment's settings in effect.
func (s *core) Settings() Settings { return s.settings }

// today is the JST calendar date of the service clock.
func (s *core) today() string { return clock.Date(s.now()) }

// facts loads what the catalog says the customer bought, with each port's
// contracted speed as of today (bandwidth changes that took effect included).
func (s *core) facts(ctx context.Context, q store.Querier, cust catalog.CustomerID) (Facts, error) {
	f := Facts{CustomerID: cust, Options: map[string]int64{}}
	rows, err := q.Query(ctx, `SELECT h.id, r.code, h.priority, h.ended_at FROM hubs h JOIN regions r ON r.id = h.region_id
		WHERE h.customer_id = ? ORDER BY h.id`, cust)
	if err != nil {
		return f, fmt.Errorf("facts: %w", err)
	}
	for rows.Next() {
		var h HubFact
		var ended *string
		if err := rows.Scan(&h.ID, &h.Region, &h.Priority, &ended); err != nil {
			rows.Close()
			return f, fmt.Errorf("facts: %w", err)
		}
		if ended != nil {
			f.RemovedHubs = append(f.RemovedHubs, h.ID)
			continue
		}
		f.Hubs = append(f.Hubs, h)
	}
	rows.Close()
	speeds, err := s.speedsAt(ctx, q, cust, s.today())
	if err != nil {
		return f, err
	}
	rows, err = q.Query(ctx, `SELECT p.id, p.port_code, p.hub_id, p.kind, p.speed_mbps, p.redundant, p.status
		FROM ports p WHERE p.customer_id = ? ORDER BY p.port_code`, cust)
	if err != nil {
		return f, fmt.Errorf("facts: %w", err)
	}
	for rows.Next() {
		var p PortFact
		var id, status string
		if err := rows.Scan(&id, &p.Code, &p.HubID, &p.Kind, &p.SpeedMbps, &p.Redundant, &status); err != nil {
			rows.Close()
			return f, fmt.Errorf("facts: %w", err)
		}
		if sp, ok := speeds[id]; ok {
			p.SpeedMbps = sp
		}
		p.Active = status == "active"
		f.Ports = append(f.Ports, p)
	}
	rows.Close()
	rows, err = q.Query(ctx, `SELECT o.name, SUM(o.quantity) FROM contract_options o JOIN contracts k ON k.id = o.contract_id
		WHERE o.customer_id = ? AND k.status = 'active' GROUP BY o.name`, cust)
	if err != nil {
		return f, fmt.Errorf("facts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		var qn int64
		if err := rows.Scan(&n, &qn); err != nil {
			return f, fmt.Errorf("facts: %w", err)
		}
		f.Options[n] = qn
	}
	return f, rows.Err()
}

// speedsAt returns, per port ID of customer cust, the contracted speed on
// date as set by the latest pending bandwidth change effective on or before
// it. Ports without such a change are absent. An empty cust is a bug, not
// "every customer": the cross-customer readers call allSpeedsAt.
func (s *core) speedsAt(ctx context.Context, q store.Querier, cust catalog.CustomerID, date string) (map[string]int64, error) {
	if cust == "" {
		return nil, fault.Wrap(fault.Internal, errors.New("speeds: no customer"), "internal error")
	}
	return s.speeds(ctx, q, `SELECT port_id, to_mbps FROM bandwidth_changes WHERE status = 'pending' AND effective_date <= ?
		AND customer_id = ?`, date, cust)
}

// allSpeedsAt is speedsAt across every customer: for the desired-state
// compiler (a node carries many customers' ports) and the daily speed sync.
func (s *core) allSpeedsAt(ctx context.Context, q store.Querier, date string) (map[string]int64, error) {
	return s.speeds(ctx, q, `SELECT port_id, to_mbps FROM bandwidth_changes WHERE status = 'pending' AND effective_date <= ?`, date)
}

func (s *core) speeds(ctx context.Context, q store.Querier, query string, args ...any) (map[string]int64, error) {
	rows, err := q.Query(ctx, query+` ORDER BY effective_date, requested_at`, args...)
	if err != nil {
		return nil, fmt.Errorf("speeds: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var v int64
		if err := rows.Scan(&id, &v); err != nil {
			return nil, fmt.Errorf("speeds: %w", err)
		}
		out[id] = v // later rows win: the latest effective change
	}
	return out, rows.Err()
}

func notFound(what string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fault.Wrap(fault.NotFound, err, "%s not found", what)
	}
	return err
}
