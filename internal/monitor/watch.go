package monitor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// WatchJobName is the job that watches monitors every minute.
const WatchJobName = "monitor.watch"

// Items of the watch job, each "<kind>:<monitor ID>".
const (
	itemSilent  = "silent"  // its node is out of contact, or sends no probes of it: unknown
	itemQuota   = "quota"   // over quota while up or down: unknown
	itemSummary = "summary" // its damping window ended with changes waiting: the summary mail
	itemRemind  = "remind"  // stopped over 7 days: the one reminder mail
)

// WatchJob is monitor.watch: every minute it makes unknown the monitors
// whose node is out of contact (its last report older than 3 intervals
// and 30 s), whose node reports but without their probes (the last probe
// as old: a wedged prober, a node on an older generation) or that went
// over quota, sends the summary mail of each
// damping window that ended, and the reminder of each monitor stopped
// over 7 days. Each item's conditional UPDATE is its done marker, so a
// second controller does nothing twice.
func (s *Service) WatchJob() schedule.Job {
	return schedule.Job{Name: WatchJobName, Due: s.due, Do: s.do,
		Next: func(now time.Time) time.Time { return now.Add(time.Minute) }, Quiet: true}
}

// silentAfter is how long after its node's last report, or its own last
// probe, a monitor's state no longer says anything.
func silentAfter(interval int) time.Duration {
	return 3*time.Duration(interval)*time.Second + 30*time.Second
}

// silent returns why a running monitor with interval says nothing at now,
// or "" when it still does: reasonSilent when its node was last heard at
// reported ("" never, or not placed) too long ago; reasonNoProbes when the
// node is heard but the monitor's last probe (lastProbe, "" none; then
// since, when its state began) is as old. The node's reports alone would
// leave up or down standing for ever behind a prober that stopped.
func silent(reported, lastProbe, since string, interval int, now time.Time) string {
	old := func(at string) bool {
		t, err := clock.Parse(at)
		return err != nil || now.Sub(t) > silentAfter(interval)
	}
	if reported == "" || old(reported) {
		return reasonSilent
	}
	if lastProbe == "" {
		lastProbe = since
	}
	if old(lastProbe) {
		return reasonNoProbes
	}
	return ""
}

const reportedOf = `COALESCE((SELECT st.reported_at FROM hub_placements hp JOIN node_status st ON st.node_id = hp.node_id
	WHERE hp.hub_id = m.hub_id), '')`

// silentCols are silent's inputs besides now, for a monitors row m.
const silentCols = `m.interval_seconds, ` + reportedOf + `, COALESCE(m.last_probe_at, ''), m.state_since`

func (s *Service) due(ctx context.Context, now time.Time) ([]string, error) {
	var items []string
	rows, err := s.db.Query(ctx, `SELECT m.id, `+silentCols+` FROM monitors m
		WHERE m.state IN ('up', 'down') ORDER BY m.id`)
	if err != nil {
		return nil, fmt.Errorf("monitor watch: %w", err)
	}
	for rows.Next() {
		var id, reported, last, since string
		var interval int
		if err := rows.Scan(&id, &interval, &reported, &last, &since); err != nil {
			rows.Close()
			return nil, fmt.Errorf("monitor watch: %w", err)
		}
		if silent(reported, last, since, interval, now) != "" {
			items = append(items, itemSilent+":"+id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, store.Wrap(err)
	}
	custs, err := store.Strings(ctx, s.db, `SELECT DISTINCT customer_id FROM monitors WHERE state IN ('up', 'down') ORDER BY customer_id`)
	if err != nil {
		return nil, fmt.Errorf("monitor watch: %w", err)
	}
	for _, c := range custs {
		over, err := overQuota(ctx, s.db, tenant.CustomerID(c))
		if err != nil {
			return nil, err
		}
		live, err := store.Strings(ctx, s.db, `SELECT id FROM monitors WHERE customer_id = ? AND state IN ('up', 'down') ORDER BY id`, c)
		if err != nil {
			return nil, fmt.Errorf("monitor watch: %w", err)
		}
		for _, id := range live {
			if over[id] {
				items = append(items, itemQuota+":"+id)
			}
		}
	}
	for _, q := range []struct{ kind, query string }{
		{itemSummary, `SELECT id FROM monitors WHERE mail_due_at <= ? ORDER BY id`},
		{itemRemind, `SELECT id FROM monitors WHERE state = 'stopped' AND reminded_at IS NULL AND stopped_at < ? ORDER BY id`},
	} {
		at := now
		if q.kind == itemRemind {
			at = now.Add(-StoppedLong)
		}
		got, err := store.Strings(ctx, s.db, q.query, clock.Store(at))
		if err != nil {
			return nil, fmt.Errorf("monitor watch: %w", err)
		}
		for _, id := range got {
			items = append(items, q.kind+":"+id)
		}
	}
	return items, nil
}

func (s *Service) do(ctx context.Context, now time.Time, item string) (bool, error) {
	kind, id, _ := strings.Cut(item, ":")
	done := false
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var state, cust, reported, last, since string
		var interval int
		err := store.Scan(tx.QueryRow(ctx, `SELECT m.state, m.customer_id, `+silentCols+` FROM monitors m WHERE m.id = ?`, id),
			&state, &cust, &interval, &reported, &last, &since)
		if errors.Is(err, store.ErrNotFound) {
			return nil // removed since
		}
		if err != nil {
			return err
		}
		switch kind {
		case itemSilent:
			why := silent(reported, last, since, interval, now)
			if why == "" {
				return nil
			}
			done, err = s.resetTx(ctx, tx, id, state, now, why, true)
		case itemQuota:
			over, err := overQuota(ctx, tx, tenant.CustomerID(cust))
			if err != nil || !over[id] {
				return err
			}
			done, err = s.resetTx(ctx, tx, id, state, now, reasonQuota, true)
			return err
		case itemSummary:
			done, err = s.summary(ctx, tx, tenant.CustomerID(cust), id, state, now)
		case itemRemind:
			done, err = s.remind(ctx, tx, tenant.CustomerID(cust), id, now)
		default:
			return fmt.Errorf("monitor watch: unknown item %q", item)
		}
		return err
	})
	return done, err
}

// summary sends the one mail of the changes that waited in monitor id's
// damping window, and starts the next window with it.
func (s *Service) summary(ctx context.Context, tx *store.Tx, cust tenant.CustomerID, id, state string, now time.Time) (bool, error) {
	res, err := tx.Exec(ctx, `UPDATE monitors SET mail_due_at = NULL, mailed_at = ? WHERE id = ? AND mail_due_at <= ?`,
		clock.Store(now), id, clock.Store(now))
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	type line struct{ At, From, To, Reason string }
	type ev struct {
		at, from, to, reason string
	}
	rows, err := tx.Query(ctx, `SELECT at, from_state, to_state, reason FROM monitor_events WHERE monitor_id = ? AND mailed = ? ORDER BY at, id`, id, false)
	if err != nil {
		return false, err
	}
	var evs []ev
	for rows.Next() {
		var e ev
		if err := rows.Scan(&e.at, &e.from, &e.to, &e.reason); err != nil {
			rows.Close()
			return false, err
		}
		evs = append(evs, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(evs) == 0 {
		return true, store.Wrap(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE monitor_events SET mailed = ? WHERE monitor_id = ? AND mailed = ?`, true, id, false); err != nil {
		return false, err
	}
	a, err := aboutTx(ctx, tx, id)
	if err != nil {
		return false, err
	}
	return true, s.mailAll(ctx, tx, cust, "monitor-summary", causeSummary, func(lang string) any {
		var lines []line
		for _, e := range evs {
			t, _ := clock.Parse(e.at)
			lines = append(lines, line{At: clock.Read(t), From: word(lang, e.from), To: word(lang, e.to), Reason: e.reason})
		}
		return map[string]any{"Name": a.Name, "ID": id, "Port": a.Port, "Target": a.Target, "Changes": lines,
			"State": word(lang, state), "Link": s.link("/monitors/" + id)}
	})
}

// remind sends the one reminder of a monitor stopped over 7 days to the
// customer's operations administrators.
func (s *Service) remind(ctx context.Context, tx *store.Tx, cust tenant.CustomerID, id string, now time.Time) (bool, error) {
	var stoppedAt string
	err := store.Scan(tx.QueryRow(ctx, `SELECT stopped_at FROM monitors WHERE id = ? AND state = ? AND reminded_at IS NULL AND stopped_at < ?`,
		id, Stopped, clock.Store(now.Add(-StoppedLong))), &stoppedAt)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	res, err := tx.Exec(ctx, `UPDATE monitors SET reminded_at = ? WHERE id = ? AND reminded_at IS NULL`, clock.Store(now), id)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	a, err := aboutTx(ctx, tx, id)
	if err != nil {
		return false, err
	}
	t, _ := clock.Parse(stoppedAt)
	return true, s.mailOpsAdmins(ctx, tx, cust, "monitor-stopped", causeReminder, func(string) any {
		return map[string]any{"Name": a.Name, "ID": id, "Port": a.Port, "Target": a.Target, "StoppedAt": clock.Read(t),
			"Link": s.link("/monitors")}
	})
}
