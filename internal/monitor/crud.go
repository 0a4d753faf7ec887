package monitor

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/network/custexport"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/text"
)

const monitorCols = `m.id, m.name, p.port_code, m.hub_id, m.target, m.probe, m.tcp_port, m.interval_seconds, m.fail_after,
	m.state, m.state_since, m.last_error, m.stopped_at, m.stop_reason, m.created_at, m.updated_at`

const monitorFrom = ` FROM monitors m JOIN ports p ON p.id = m.port_id`

func scanMonitor(scan func(...any) error, now time.Time) (Monitor, error) {
	var m Monitor
	var since, created, updated string
	var stopped *string
	if err := scan(&m.ID, &m.Name, &m.PortCode, &m.HubID, &m.Target, &m.Probe, &m.TCPPort, &m.IntervalSeconds, &m.FailAfter,
		&m.State, &since, &m.LastError, &stopped, &m.StopReason, &created, &updated); err != nil {
		return m, err
	}
	var errs [4]error
	m.StateSince, errs[0] = clock.Parse(since)
	m.CreatedAt, errs[1] = clock.Parse(created)
	m.UpdatedAt, errs[2] = clock.Parse(updated)
	if stopped != nil {
		t, err := clock.Parse(*stopped)
		m.StoppedAt, errs[3] = &t, err
		m.StoppedLong = now.Sub(t) > StoppedLong
	}
	return m, errors.Join(errs[:]...)
}

// List returns sc's customer's monitors, oldest first, each with whether
// it is over quota and its port's BGP state.
func (s *Service) List(ctx context.Context, sc tenant.Scope) ([]Monitor, error) {
	cust, err := sc.Authorize(actRead, actManage)
	if err != nil {
		return nil, err
	}
	return s.list(ctx, s.db, cust, "")
}

// list reads cust's monitors, or only id when id is not "".
func (s *Service) list(ctx context.Context, q store.Querier, cust tenant.CustomerID, id string) ([]Monitor, error) {
	query := `SELECT ` + monitorCols + monitorFrom + ` WHERE m.customer_id = ?`
	args := []any{string(cust)}
	if id != "" {
		query += ` AND m.id = ?`
		args = append(args, id)
	}
	rows, err := q.Query(ctx, query+` ORDER BY m.created_at, m.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("monitors: %w", err)
	}
	now := s.now()
	out := []Monitor{}
	for rows.Next() {
		m, err := scanMonitor(rows.Scan, now)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("monitors: %w", err)
		}
		out = append(out, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, store.Wrap(err)
	}
	over, err := overQuota(ctx, q, cust)
	if err != nil {
		return nil, err
	}
	bgp, err := bgpStates(ctx, q, cust)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].OverQuota = over[out[i].ID]
		out[i].BGP = bgp[out[i].PortCode]
	}
	return out, nil
}

// Get returns sc's customer's monitor id; another customer's is NotFound.
func (s *Service) Get(ctx context.Context, sc tenant.Scope, id string) (Monitor, error) {
	cust, err := sc.Authorize(actRead, actManage)
	if err != nil {
		return Monitor{}, err
	}
	return s.get(ctx, s.db, cust, id)
}

func (s *Service) get(ctx context.Context, q store.Querier, cust tenant.CustomerID, id string) (Monitor, error) {
	ms, err := s.list(ctx, q, cust, id)
	if err != nil {
		return Monitor{}, err
	}
	if len(ms) == 0 {
		return Monitor{}, fault.New(fault.NotFound, "no such monitor")
	}
	return ms[0], nil
}

func monitorDetail(in Input) map[string]any {
	return map[string]any{"port": in.PortCode, "target": in.Target, "probe": in.Probe, "tcp_port": in.TCPPort,
		"interval_seconds": in.IntervalSeconds, "fail_after": in.FailAfter, "name": in.Name}
}

// Create adds a monitor to sc's customer, refused beyond the allowance of
// its reachability-monitor option. It starts unknown.
func (s *Service) Create(ctx context.Context, sc tenant.Scope, in Input) (Monitor, error) {
	cust, err := sc.Authorize(actManage)
	if err != nil {
		return Monitor{}, err
	}
	p, err := portOf(ctx, s.db, cust, in.PortCode)
	if err != nil {
		return Monitor{}, err
	}
	own, err := s.ownNetworks(ctx, sc, p.hub)
	if err != nil {
		return Monitor{}, err
	}
	if err := in.check(own); err != nil {
		return Monitor{}, err
	}
	id := ids.New("mon")
	now := s.now()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		quota, err := allowed(ctx, tx, cust)
		if err != nil {
			return err
		}
		var n int
		if err := store.Scan(tx.QueryRow(ctx, `SELECT COUNT(*) FROM monitors WHERE customer_id = ?`, string(cust)), &n); err != nil {
			return err
		}
		if quota == 0 {
			return fault.New(fault.Conflict, "no contract of this customer has the %s option", Option)
		}
		if n >= quota {
			return fault.New(fault.Conflict, "the %s option allows %d monitors, and %d exist", Option, quota, n)
		}
		at := clock.Store(now)
		if _, err := tx.Exec(ctx, `INSERT INTO monitors (id, customer_id, port_id, hub_id, name, target, probe, tcp_port,
			interval_seconds, fail_after, state, state_since, fails, probed, last_error, stop_reason, created_at, created_by, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, '', '', ?, ?, ?)`, id, string(cust), p.id, p.hub, in.Name, in.Target,
			in.Probe, in.TCPPort, in.IntervalSeconds, in.FailAfter, Unknown, at, at, audit.ActorFrom(ctx).ID, at); err != nil {
			return fmt.Errorf("add monitor: %w", err)
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "monitor.create", Target: "monitor:" + id,
			CustomerID: string(cust), Detail: monitorDetail(in)})
	})
	if err != nil {
		return Monitor{}, err
	}
	return s.get(ctx, s.db, cust, id)
}

// Update changes a monitor's fields. A change of port, target or probe
// makes what was measured no longer about it: the state goes back to
// unknown, recorded as a change.
func (s *Service) Update(ctx context.Context, sc tenant.Scope, id string, pa Patch) (Monitor, error) {
	cust, err := sc.Authorize(actManage)
	if err != nil {
		return Monitor{}, err
	}
	cur, err := s.get(ctx, s.db, cust, id)
	if err != nil {
		return Monitor{}, err
	}
	in := Input{Name: cur.Name, PortCode: cur.PortCode, Target: cur.Target, Probe: cur.Probe, TCPPort: cur.TCPPort,
		IntervalSeconds: cur.IntervalSeconds, FailAfter: cur.FailAfter}
	set(&in.Name, pa.Name)
	set(&in.PortCode, pa.PortCode)
	set(&in.Target, pa.Target)
	set(&in.Probe, pa.Probe)
	set(&in.TCPPort, pa.TCPPort)
	set(&in.IntervalSeconds, pa.IntervalSeconds)
	set(&in.FailAfter, pa.FailAfter)
	if in.Probe == "icmp" && pa.TCPPort == nil {
		in.TCPPort = 0
	}
	p, err := portOf(ctx, s.db, cust, in.PortCode)
	if err != nil {
		return Monitor{}, err
	}
	own, err := s.ownNetworks(ctx, sc, p.hub)
	if err != nil {
		return Monitor{}, err
	}
	if err := in.check(own); err != nil {
		return Monitor{}, err
	}
	reset := in.PortCode != cur.PortCode || in.Target != cur.Target || in.Probe != cur.Probe || in.TCPPort != cur.TCPPort
	now := s.now()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE monitors SET port_id = ?, hub_id = ?, name = ?, target = ?, probe = ?, tcp_port = ?,
			interval_seconds = ?, fail_after = ?, updated_at = ? WHERE id = ? AND customer_id = ?`, p.id, p.hub, in.Name, in.Target,
			in.Probe, in.TCPPort, in.IntervalSeconds, in.FailAfter, clock.Store(now), id, string(cust))
		if err != nil {
			return fmt.Errorf("change monitor: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, fault.New(fault.NotFound, "no such monitor"))
		}
		if reset {
			if _, err := s.resetTx(ctx, tx, id, cur.State, now, "changed", false); err != nil {
				return err
			}
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "monitor.update", Target: "monitor:" + id,
			CustomerID: string(cust), Detail: monitorDetail(in)})
	})
	if err != nil {
		return Monitor{}, err
	}
	return s.get(ctx, s.db, cust, id)
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// Delete removes a monitor with its history and bins.
func (s *Service) Delete(ctx context.Context, sc tenant.Scope, id string) error {
	cust, err := sc.Authorize(actManage)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM monitors WHERE id = ? AND customer_id = ?`, id, string(cust))
		if err != nil {
			return fmt.Errorf("remove monitor: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, fault.New(fault.NotFound, "no such monitor"))
		}
		for _, q := range []string{`DELETE FROM monitor_events WHERE monitor_id = ? AND customer_id = ?`,
			`DELETE FROM monitor_bins WHERE monitor_id = ? AND customer_id = ?`} {
			if _, err := tx.Exec(ctx, q, id, string(cust)); err != nil {
				return fmt.Errorf("remove monitor: %w", err)
			}
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "monitor.delete", Target: "monitor:" + id, CustomerID: string(cust)})
	})
}

// Stop stops probing a monitor: it leaves the desired state and raises
// nothing until resumed. The reason (optional) goes in the audit entry.
func (s *Service) Stop(ctx context.Context, sc tenant.Scope, id, reason string) (Monitor, error) {
	return s.stopResume(ctx, sc, id, reason, true)
}

// Resume probes a stopped monitor again, from unknown.
func (s *Service) Resume(ctx context.Context, sc tenant.Scope, id, reason string) (Monitor, error) {
	return s.stopResume(ctx, sc, id, reason, false)
}

const maxReason = 500

func (s *Service) stopResume(ctx context.Context, sc tenant.Scope, id, reason string, stop bool) (Monitor, error) {
	cust, err := sc.Authorize(actManage)
	if err != nil {
		return Monitor{}, err
	}
	// The reason goes into the audit log and its exports as one line: a
	// line break, an escape sequence or a bidi override there would forge
	// or hide a record.
	if utf8.RuneCountInString(reason) > maxReason || text.SingleLine(reason) != "" {
		return Monitor{}, fault.Field("reason", "reason must be one line of text of at most %d characters", maxReason)
	}
	now := s.now()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var state string
		if err := store.Scan(tx.QueryRow(ctx, `SELECT state FROM monitors WHERE id = ? AND customer_id = ?`, id, string(cust)), &state); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fault.New(fault.NotFound, "no such monitor")
			}
			return err
		}
		action, at := "monitor.resume", clock.Store(now)
		var res interface{ RowsAffected() (int64, error) }
		var err error
		if stop {
			action = "monitor.stop"
			res, err = tx.Exec(ctx, `UPDATE monitors SET state = ?, state_since = ?, fails = 0, probed = 0, stopped_at = ?, stopped_by = ?,
				stop_reason = ?, reminded_at = NULL, mail_due_at = NULL, updated_at = ? WHERE id = ? AND state <> ?`,
				Stopped, at, at, audit.ActorFrom(ctx).ID, reason, at, id, Stopped)
		} else {
			res, err = tx.Exec(ctx, `UPDATE monitors SET state = ?, state_since = ?, fails = 0, probed = 0, stopped_at = NULL,
				stopped_by = NULL, stop_reason = '', reminded_at = NULL, updated_at = ? WHERE id = ? AND state = ?`,
				Unknown, at, at, id, Stopped)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", action, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return err
			}
			if stop {
				return fault.New(fault.Conflict, "the monitor is already stopped")
			}
			return fault.New(fault.Conflict, "the monitor is not stopped")
		}
		to, why := Stopped, "stopped"
		if !stop {
			to, why = Unknown, "resumed"
		}
		if stop {
			// Changes waiting for a summary are not mailed after all: the
			// customer stopped the monitor, and a resumed one starts afresh.
			if _, err := tx.Exec(ctx, `UPDATE monitor_events SET mailed = ? WHERE monitor_id = ? AND mailed = ?`, true, id, false); err != nil {
				return err
			}
		}
		if err := insertEvent(ctx, tx, id, cust, state, to, now, why, true); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: action, Target: "monitor:" + id, CustomerID: string(cust), Reason: reason})
	})
	if err != nil {
		return Monitor{}, err
	}
	return s.get(ctx, s.db, cust, id)
}

// insertEvent records a state change; mailed false leaves it for the
// monitor's summary mail.
func insertEvent(ctx context.Context, tx *store.Tx, id string, cust tenant.CustomerID, from, to string, at time.Time, reason string, mailed bool) error {
	if len(reason) > 1000 {
		reason = reason[:1000]
	}
	_, err := tx.Exec(ctx, `INSERT INTO monitor_events (id, monitor_id, customer_id, from_state, to_state, at, reason, mailed)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, ids.New("mev"), id, string(cust), from, to, clock.Store(at), reason, mailed)
	if err != nil {
		return fmt.Errorf("monitor event: %w", err)
	}
	return nil
}

// Export lists sc's customer's monitors as its export document carries
// them (its saved data; nothing measured).
func (s *Service) Export(ctx context.Context, sc tenant.Scope) ([]custexport.Monitor, error) {
	ms, err := s.List(ctx, sc)
	if err != nil {
		return nil, err
	}
	var out []custexport.Monitor
	for _, m := range ms {
		out = append(out, custexport.Monitor{ID: m.ID, Name: m.Name, PortCode: m.PortCode, Target: m.Target, Probe: m.Probe,
			TCPPort: m.TCPPort, IntervalSeconds: m.IntervalSeconds, FailAfter: m.FailAfter, Stopped: m.State == Stopped})
	}
	return out, nil
}
