package monitor

import (
	"context"
	"errors"
	"fmt"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Ingest takes the probes of a node's accepted report (fleet.Ingester). A
// monitor the report names that is not the hub's under the hub's
// customer is ignored and logged; a stopped or over-quota one takes
// nothing. Each monitor is taken in its own transaction, so that one
// failure loses only that monitor's probes until the report is sent again.
func (s *Service) Ingest(ctx context.Context, node string, r observed.Report) error {
	var errs []error
	for _, h := range r.Hubs {
		if len(h.Monitors) == 0 {
			continue
		}
		cust := tenant.CustomerID(h.CustomerID)
		running, err := s.hubMonitors(ctx, h.HubID, cust)
		if err != nil {
			errs = append(errs, fmt.Errorf("monitors of hub %s: %w", h.HubID, err))
			continue
		}
		for _, mr := range h.Monitors {
			ok, found := running[mr.ID]
			if !found {
				s.log.WarnContext(ctx, "node report: probes of a monitor that is not one of the hub's are ignored",
					"node", node, "hub", h.HubID, "monitor", mr.ID)
				continue
			}
			if !ok || len(mr.Probes) == 0 {
				continue
			}
			if err := s.takeProbes(ctx, cust, h.HubID, mr.ID, mr.Probes); err != nil {
				errs = append(errs, fmt.Errorf("monitor %s: %w", mr.ID, err))
			}
		}
	}
	return errors.Join(errs...)
}

// hubMonitors maps each monitor of hub under cust to whether it takes
// probes: not stopped (a node may report a few probes of a monitor
// stopped since its document) and within the quota.
func (s *Service) hubMonitors(ctx context.Context, hub string, cust tenant.CustomerID) (map[string]bool, error) {
	rows, err := s.db.Query(ctx, `SELECT id, state FROM monitors WHERE hub_id = ? AND customer_id = ?`, hub, string(cust))
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for rows.Next() {
		var id, state string
		if err := rows.Scan(&id, &state); err != nil {
			rows.Close()
			return nil, err
		}
		out[id] = state != Stopped
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, store.Wrap(err)
	}
	over, err := overQuota(ctx, s.db, cust)
	if err != nil {
		return nil, err
	}
	for id := range out {
		out[id] = out[id] && !over[id]
	}
	return out, nil
}

// takeProbes applies probes to one monitor. The UPDATE is conditional on
// the newest probe taken so far: a second controller given the same
// report (or the same controller given it twice) finds it moved and
// takes nothing, so each probe counts once. It is conditional on the
// state read as well (state, state_since, probed): under READ COMMITTED a
// stop, an update's reset or the watch job's reset may commit between the
// read and the UPDATE without touching last_probe_at, and the probes must
// not then write up or down over it (a stopped monitor raises nothing; a
// reset one starts afresh from the next report).
func (s *Service) takeProbes(ctx context.Context, cust tenant.CustomerID, hub, id string, probes []observed.Probe) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		var m machine
		var since, last string
		var failAfter int
		err := store.Scan(tx.QueryRow(ctx, `SELECT state, state_since, fails, probed, COALESCE(last_probe_at, ''), last_error, fail_after
			FROM monitors WHERE id = ? AND customer_id = ? AND hub_id = ? AND state <> ?`, id, string(cust), hub, Stopped),
			&m.State, &since, &m.Fails, &m.Probed, &last, &m.LastError, &failAfter)
		if errors.Is(err, store.ErrNotFound) {
			return nil // stopped or removed since the report was read
		}
		if err != nil {
			return err
		}
		m.Since, _ = clock.Parse(since)
		if last != "" {
			if m.Last, err = clock.Parse(last); err != nil {
				return err
			}
		}
		next, changes, taken := m.take(probes, failAfter)
		if len(taken) == 0 {
			return nil
		}
		if s.beforeTake != nil {
			s.beforeTake()
		}
		res, err := tx.Exec(ctx, `UPDATE monitors SET state = ?, state_since = ?, fails = ?, probed = ?, last_probe_at = ?, last_error = ?
			WHERE id = ? AND COALESCE(last_probe_at, '') = ? AND state = ? AND state_since = ? AND probed = ?`,
			next.State, clock.Store(next.Since), next.Fails, next.Probed, clock.Store(next.Last), next.LastError,
			id, last, m.State, since, m.Probed)
		if err != nil {
			return fmt.Errorf("take probes: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // another controller took them first, or the monitor was stopped or reset since the read
		}
		for _, b := range bins(taken) {
			if _, err := tx.Exec(ctx, `INSERT INTO monitor_bins (monitor_id, customer_id, bin_start, sent, answered, rtt_min_us, rtt_sum_us, rtt_max_us)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (monitor_id, bin_start) DO UPDATE SET sent = monitor_bins.sent + excluded.sent,
					answered = monitor_bins.answered + excluded.answered,
					rtt_min_us = CASE WHEN monitor_bins.answered = 0 THEN excluded.rtt_min_us WHEN excluded.answered = 0 THEN monitor_bins.rtt_min_us
						WHEN excluded.rtt_min_us < monitor_bins.rtt_min_us THEN excluded.rtt_min_us ELSE monitor_bins.rtt_min_us END,
					rtt_sum_us = monitor_bins.rtt_sum_us + excluded.rtt_sum_us,
					rtt_max_us = CASE WHEN excluded.rtt_max_us > monitor_bins.rtt_max_us THEN excluded.rtt_max_us ELSE monitor_bins.rtt_max_us END`,
				id, string(cust), clock.Store(b.Start), b.Sent, b.Answered, b.RTTMin, b.RTTSum, b.RTTMax); err != nil {
				return fmt.Errorf("monitor bins: %w", err)
			}
		}
		for _, c := range changes {
			if err := s.changed(ctx, tx, cust, id, c); err != nil {
				return err
			}
		}
		return nil
	})
}
