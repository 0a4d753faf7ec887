package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/webhook"
)

// The route quota. A port session whose peer sends more prefixes than the
// route limit is stopped (hold.go); before that, at QuotaWarnPercent of the
// limit, the customer is warned once: an event in its audit log, a mail to
// its operations administrators, a webhook event, and the figures on the
// panel. The warning is given once per crossing: it is re-armed only when
// the session's count falls below QuotaRearmPercent, so a count that
// hovers around 90 % does not warn at every report. The figures are BIRD's
// imported count for the session as the node reports it (observed.Session
// .Imported), never one the controller keeps itself.

// Thresholds, in percent of the route limit.
const (
	QuotaWarnPercent  = 90
	QuotaRearmPercent = 80
)

// AuditRouteQuotaWarning is the action of a warning. Not a change of any
// desired state: a quiet family (audit.Wakes).
const AuditRouteQuotaWarning = "route_quota.warning"

// RouteQuota is the report ingester of the route quota (a fleet.Ingester).
type RouteQuota struct{ c *core }

// RouteQuota returns the service's route-quota ingester.
func (s *Service) RouteQuota() *RouteQuota { return &RouteQuota{s.core} }

// SessionQuota is one port session's prefixes against its limit.
type SessionQuota struct {
	Session string `json:"session"`
	// Accepted is BIRD's imported count as the node last reported it.
	Accepted int64 `json:"accepted"`
	Limit    int64 `json:"limit"`
	Percent  int64 `json:"percent"`
	// WarnedAt is when the count crossed QuotaWarnPercent, while the
	// warning stands (until the count falls below QuotaRearmPercent).
	WarnedAt *time.Time `json:"warned_at,omitempty"`
}

// PortQuota is a port's route quota.
type PortQuota struct {
	PortCode string `json:"port_code"`
	// CountedAt is when the node observed the counts; nil before any
	// report.
	CountedAt *time.Time     `json:"counted_at,omitempty"`
	Sessions  []SessionQuota `json:"sessions"`
}

func percent(n, limit int64) int64 {
	if limit <= 0 {
		return 0
	}
	return n * 100 / limit
}

// Ingest checks each port session of an accepted report against the route
// limit. The report's hubs are placed on node under their customers
// (fleet.Report checked it); each port is checked again against the node
// before a warning is recorded.
func (q *RouteQuota) Ingest(ctx context.Context, node string, r observed.Report) error {
	limit := int64(q.c.settings.RouteLimit)
	var errs []error
	for _, h := range r.Hubs {
		cust := catalog.CustomerID(h.CustomerID)
		warned, err := q.warned(ctx, cust)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, p := range h.Ports {
			for _, s := range p.Sessions {
				n := int64(s.Imported)
				key := p.PortCode + " " + s.Name
				switch {
				case warned[key] && n*100 < limit*QuotaRearmPercent:
					errs = append(errs, q.rearm(ctx, cust, p.PortCode, s.Name))
				case !warned[key] && n*100 >= limit*QuotaWarnPercent:
					errs = append(errs, q.warn(ctx, node, cust, p.PortCode, s.Name, n, limit, r.ObservedAt))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// warned lists the customer's sessions under a standing warning, keyed
// "<port code> <session>": one indexed read per hub and report.
func (q *RouteQuota) warned(ctx context.Context, cust catalog.CustomerID) (map[string]bool, error) {
	keys, err := store.Strings(ctx, q.c.db, `SELECT p.port_code || ' ' || rq.session FROM route_quota rq JOIN ports p ON p.id = rq.port_id
		WHERE rq.customer_id = ?`, cust)
	out := map[string]bool{}
	for _, k := range keys {
		out[k] = true
	}
	return out, err
}

func (q *RouteQuota) rearm(ctx context.Context, cust catalog.CustomerID, code, session string) error {
	_, err := q.c.db.Exec(ctx, `DELETE FROM route_quota WHERE customer_id = ? AND session = ?
		AND port_id IN (SELECT id FROM ports WHERE customer_id = ? AND port_code = ?)`, cust, session, cust, code)
	return err
}

// quotaMail is what the route-quota mail templates read.
type quotaMail struct {
	Port, Session            string
	Prefixes, Limit, Percent int64
}

func (q *RouteQuota) warn(ctx context.Context, node string, cust catalog.CustomerID, code, session string, n, limit int64, at time.Time) error {
	owner, err := q.c.nodePortCustomer(ctx, node, code, "")
	if err != nil || owner != cust {
		return fmt.Errorf("route quota: port %s is not on node %s under customer %s", code, node, cust)
	}
	now := q.c.now()
	if at.IsZero() || at.After(now) {
		at = now
	}
	pct := percent(n, limit)
	err = q.c.db.InTx(ctx, func(tx *store.Tx) error {
		p, err := q.c.portRow(ctx, tx, cust, code)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO route_quota (port_id, customer_id, session, warned_at, imported, route_limit) VALUES (?, ?, ?, ?, ?, ?)`,
			p.id, cust, session, clock.Store(at), n, limit); err != nil {
			return err
		}
		if err := q.c.audit.RecordTx(ctx, tx, audit.Event{Action: AuditRouteQuotaWarning, Target: "port:" + code, CustomerID: string(cust),
			Result: audit.OK, Detail: map[string]any{"node": node, "session": session, "prefixes": n, "limit": limit, "percent": pct}}); err != nil {
			return err
		}
		if err := q.c.mailOpsAdmins(ctx, tx, cust, AuditRouteQuotaWarning, "route-quota",
			quotaMail{Port: code, Session: session, Prefixes: n, Limit: limit, Percent: pct}); err != nil {
			return err
		}
		return webhook.Emit(ctx, tx, webhook.Event{Customer: tenant.CustomerID(cust), Type: webhook.TypeRouteQuotaWarning,
			Subject: "ports/" + code + "/sessions/" + session, Time: at,
			Data: map[string]any{"port_code": code, "session": session, "accepted": n, "limit": limit, "percent": pct}})
	})
	if errors.Is(err, store.ErrConflict) {
		// Another controller took the same report (or the node's next one)
		// and warned: its record, event and mail stand.
		return nil
	}
	return err
}

// GetRouteQuota returns the port's sessions against the route limit.
func (s *Workflow) GetRouteQuota(ctx context.Context, sc tenant.Scope, code string) (PortQuota, error) {
	cust, err := sc.Authorize(identity.ActNetworkRead)
	if err != nil {
		return PortQuota{}, err
	}
	p, err := s.portRow(ctx, s.db, cust, code)
	if err != nil {
		return PortQuota{}, err
	}
	out := PortQuota{PortCode: p.code, Sessions: []SessionQuota{}}
	limit := int64(s.settings.RouteLimit)
	warned := map[string]time.Time{}
	rows, err := s.db.Query(ctx, `SELECT session, warned_at FROM route_quota WHERE customer_id = ? AND port_id = ?`, cust, p.id)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	for rows.Next() {
		var sess, at string
		if err := rows.Scan(&sess, &at); err != nil {
			return out, err
		}
		if t, err := clock.Parse(at); err == nil {
			warned[sess] = t
		}
	}
	if err := rows.Err(); err != nil {
		return out, err
	}
	counts, err := s.sessionCounts(ctx, cust, p.code)
	if err != nil {
		return out, err
	}
	for _, c := range counts.sessions {
		sq := SessionQuota{Session: c.Name, Accepted: int64(c.Imported), Limit: limit, Percent: percent(int64(c.Imported), limit)}
		if t, ok := warned[c.Name]; ok {
			sq.WarnedAt = &t
		}
		out.Sessions = append(out.Sessions, sq)
	}
	if !counts.at.IsZero() {
		at := counts.at
		out.CountedAt = &at
	}
	return out, nil
}

// reportedSessions are a port's sessions as the nodes last reported them.
type reportedSessions struct {
	sessions []observed.Session
	at       time.Time
}

// sessionCounts reads the port's sessions from what the nodes last
// reported of its hub (hub_observations, as portRouteCounts): per session,
// the newest report's figures (a hub being moved is reported by two nodes).
func (s *core) sessionCounts(ctx context.Context, cust catalog.CustomerID, code string) (reportedSessions, error) {
	rows, err := s.db.Query(ctx, `SELECT o.body, o.reported_at FROM hub_observations o
		JOIN ports p ON p.hub_id = o.hub_id AND p.customer_id = o.customer_id
		WHERE o.customer_id = ? AND p.port_code = ? ORDER BY o.reported_at`, cust, code)
	if err != nil {
		return reportedSessions{}, err
	}
	defer rows.Close()
	var out reportedSessions
	index := map[string]int{}
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
			if p.PortCode != code {
				continue
			}
			for _, ss := range p.Sessions {
				if i, ok := index[ss.Name]; ok {
					out.sessions[i] = ss // a newer report
					continue
				}
				index[ss.Name] = len(out.sessions)
				out.sessions = append(out.sessions, ss)
			}
			if t, err := clock.Parse(at); err == nil && t.After(out.at) {
				out.at = t
			}
		}
	}
	return out, rows.Err()
}
