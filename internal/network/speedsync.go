package network

import (
	"context"
	"fmt"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// A dated speed change takes effect in two places. The desired state (and so
// the hub's shaping) computes every port's speed from the changes effective
// by today (speedsAt), so the node's document changes on the date by itself.
// The catalog's port speed — what GET /ports and the contract pages show —
// is a copy that the "bandwidth.apply" job brings in line on the date, once
// per change: the change's applied_at is its done marker, set in the same
// transaction as the catalog update and the change's audit entry.

// SpeedJobName names the speed changes' job in the scheduler.
const SpeedJobName = "bandwidth.apply"

// SpeedJob is the scheduler's job that applies dated speed changes to the
// catalog on their effective date (JST), daily at midnight JST.
func (s *Operations) SpeedJob() schedule.Job {
	return schedule.Job{Name: SpeedJobName, Due: s.dueSpeedChanges, Do: s.applySpeedChange, Next: schedule.Daily}
}

// dueSpeedChanges lists the speed changes effective by now's JST date that
// the catalog does not show yet, oldest first.
func (s *Operations) dueSpeedChanges(ctx context.Context, now time.Time) ([]string, error) {
	rows, err := s.db.Query(ctx, `SELECT id FROM bandwidth_changes WHERE status = 'pending' AND applied_at IS NULL AND effective_date <= ?
		ORDER BY effective_date, requested_at, id`, clock.Date(now))
	if err != nil {
		return nil, fmt.Errorf("due speed changes: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("due speed changes: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// applySpeedChange makes the catalog show speed change id, once: it claims
// the change's done marker with a conditional UPDATE (a concurrent claim on
// PostgreSQL waits for this transaction and then finds the marker set) and,
// in the same transaction, sets the port's catalog speed to the speed in
// effect on now's date — the latest change by then, as the desired state
// computes it, so that applying an older change late never undoes a newer
// one — and records the audit entry. It reports false when the change was
// already applied, cancelled or is not due.
func (s *Operations) applySpeedChange(ctx context.Context, now time.Time, id string) (bool, error) {
	today := clock.Date(now)
	applied := false
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE bandwidth_changes SET applied_at = ?
			WHERE id = ? AND applied_at IS NULL AND status = 'pending' AND effective_date <= ?`, clock.Store(now), id, today)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		var cust catalog.CustomerID
		var portID, code, date string
		var to, before int64
		if err := store.Scan(tx.QueryRow(ctx, `SELECT b.customer_id, b.port_id, p.port_code, b.effective_date, b.to_mbps, p.speed_mbps
			FROM bandwidth_changes b JOIN ports p ON p.id = b.port_id WHERE b.id = ?`, id),
			&cust, &portID, &code, &date, &to, &before); err != nil {
			return err
		}
		speeds, err := s.speedsAt(ctx, tx, cust, today)
		if err != nil {
			return err
		}
		after, ok := speeds[portID]
		if !ok {
			return fmt.Errorf("port %s: no speed in effect on %s", code, today)
		}
		if _, err := tx.Exec(ctx, `UPDATE ports SET speed_mbps = ? WHERE id = ?`, after, portID); err != nil {
			return err
		}
		applied = true
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "port.bandwidth.effective", Target: "port:" + code, CustomerID: string(cust),
			Detail: map[string]any{"change": id, "effective_date": date, "to_mbps": to, "catalog_before_mbps": before, "catalog_after_mbps": after}})
	})
	if err != nil {
		return false, fmt.Errorf("apply speed change %s: %w", id, err)
	}
	return applied, nil
}

// SyncSpeeds applies every due speed change now, outside the scheduler (for
// tools and tests); it returns how many it applied.
func (s *Operations) SyncSpeeds(ctx context.Context) (int, error) {
	now := s.now()
	due, err := s.dueSpeedChanges(ctx, now)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range due {
		ok, err := s.applySpeedChange(ctx, now, id)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}
