package evidence

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// Retention is how long each class of record is kept before the job
// records.expire removes it (ISO/IEC 27017 12.4.1, 18.1.3).
type Retention struct {
	Audit           time.Duration // audit entries, per chain, behind a signed checkpoint
	Mail            time.Duration // the mail outbox's sent and failed mails
	NotificationLog time.Duration // notice_deliveries: which notice mail went to whom
	JobRuns         time.Duration // job_runs: the scheduled jobs' run records
	Usage           time.Duration // usage_bins and usage_counters: traffic per port (internal/usage)
	Flows           time.Duration // flow_records and flow_hours: the customers' connections (package flows)
	// Monitor is how long a reachability monitor's state changes
	// (monitor_events) and 5-minute RTT/loss bins (monitor_bins) are kept.
	Monitor time.Duration
	// WebhookDeliveries: the event webhooks' delivery log, finished
	// deliveries only (a pending one is still being tried).
	WebhookDeliveries time.Duration
}

// Day is the unit retention is set in (the --retain-…-days flags).
const Day = 24 * time.Hour

// DefaultRetention keeps every class a year, but usage records 62 days
// (two months of graphs; the capacity report reads 30) and flow records a
// month (DefaultFlowRetention), monitor history 90 days and the webhook delivery log a month: it is for finding what a receiver missed lately.
var DefaultRetention = Retention{Audit: 365 * Day, Mail: 365 * Day, NotificationLog: 365 * Day, JobRuns: 365 * Day,
	Usage: MinUsageRetention, Flows: DefaultFlowRetention, Monitor: MinMonitorRetention,
	WebhookDeliveries: 30 * Day}

// Flow records are who talked to whom — communications metadata of the
// customers' own users — so they are kept shorter than the other classes:
// a month by default, at least a week (an incident reported within a week
// can still be traced) and at most a year (beyond that they serve no
// investigation a customer can still act on, and the table grows with
// every connection).
const (
	DefaultFlowRetention = 30 * Day
	MinFlowRetention     = 7 * Day
	MaxFlowRetention     = 365 * Day
)

// The bounds Check holds a Retention to. The audit log is kept at least 90
// days so that a customer's quarterly review still finds its quarter; the
// other classes at least 30 days, a month's incidents; none beyond 10
// years, so that a typing slip cannot keep records for ever.
const (
	MinAuditRetention  = 90 * Day
	MinRecordRetention = 30 * Day
	MaxRetention       = 3650 * Day
	// MinUsageRetention keeps usage records at least two full months, so
	// that a customer compares one month with the one before.
	MinUsageRetention = 62 * Day
	// MinMonitorRetention: a monitor's history covers the quarter the
	// customer reviews, as the service specification promises (90 days).
	MinMonitorRetention = 90 * Day
)

// retentionClass is one class of record as Check and the job see it.
type retentionClass struct {
	flag string // the serve flag that sets it
	what string
	keep time.Duration
	min  time.Duration
	max  time.Duration
}

func (r Retention) classes() []retentionClass {
	return []retentionClass{
		{"--retain-audit-days", "the audit log", r.Audit, MinAuditRetention, MaxRetention},
		{"--retain-mail-days", "mail", r.Mail, MinRecordRetention, MaxRetention},
		{"--retain-notification-log-days", "the notification log", r.NotificationLog, MinRecordRetention, MaxRetention},
		{"--retain-job-runs-days", "job run records", r.JobRuns, MinRecordRetention, MaxRetention},
		{"--retain-flows-days", "flow records", r.Flows, MinFlowRetention, MaxFlowRetention},
		{"--retain-usage-days", "usage records", r.Usage, MinUsageRetention, MaxRetention},
		{"--retain-monitor-days", "reachability monitor history", r.Monitor, MinMonitorRetention, MaxRetention},
		{"--retain-webhook-deliveries-days", "the webhook delivery log", r.WebhookDeliveries, MinRecordRetention, MaxRetention},
	}
}

// Check refuses a period outside its class's bounds, naming the flag that
// sets it; every class out of bounds is named.
func (r Retention) Check() error {
	var errs []error
	for _, c := range r.classes() {
		if c.keep < c.min || c.keep > c.max || c.keep%Day != 0 {
			errs = append(errs, fmt.Errorf("%s: %s is kept %d to %d days, in whole days, not %s",
				c.flag, c.what, c.min/Day, c.max/Day, days(c.keep)))
		}
	}
	return errors.Join(errs...)
}

// days shows d in days, as the flags take it.
func days(d time.Duration) string {
	if d%Day == 0 {
		return fmt.Sprintf("%d", d/Day)
	}
	return fmt.Sprintf("%.2f", d.Hours()/24)
}

// ExpireJobName is the daily job that removes the records past their
// retention period.
const ExpireJobName = "records.expire"

// ExpireAction is the audit action of each removal, in the platform chain.
const ExpireAction = "records.expire"

// expireBatch bounds the audit entries one transaction removes, so that a
// first run over years of entries holds a chain's lock for one batch at a
// time, never for the whole prefix. A variable only for the test of
// batches (retention_batch_test.go).
var expireBatch = 10000

// The job's items besides the audit chains ("audit:" + chain ID).
const (
	auditItem = "audit:"
	// The notification log goes before the mail: a notice mail stays while
	// a log row names it (expiring below), and goes in the same run as
	// its row.
	notificationLogItem = "notification-log"
	mailItem            = "mail"
	jobRunsItem         = "job-runs"
	usageItem           = "usage"
	usageCountersItem   = "usage-counters"
	flowsItem           = "flows"
	flowHoursItem       = "flow-hours"
	monitorEventsItem   = "monitor-events"
	monitorBinsItem     = "monitor-bins"
	webhookItem         = "webhook-deliveries"
)

// expiring are the classes removed by a plain DELETE of the rows their
// condition (where) selects at the cut-off, which every ? stands for; in
// the job's order.
var expiring = []struct {
	item, class, table, where string
	keep                      func(Retention) time.Duration
}{
	{notificationLogItem, "notification_log", "notice_deliveries", `created_at < ?`,
		func(r Retention) time.Duration { return r.NotificationLog }},
	// Pending and sending mail is never removed, however old; a failed
	// mail's last attempt was due at next_attempt_at. A mail the
	// notification log names keeps the delivery status the log shows, so
	// it stays as long as its log row.
	{mailItem, "mail", "mail_outbox", `status IN ('sent', 'failed') AND COALESCE(sent_at, next_attempt_at) < ?
		AND NOT EXISTS (SELECT 1 FROM notice_deliveries d WHERE d.mail_id = mail_outbox.id)`,
		func(r Retention) time.Duration { return r.Mail }},
	// A run still going is never removed (this job's own among them).
	{jobRunsItem, "job_runs", "job_runs", `started_at < ? AND outcome <> 'running' AND finished_at < ?`,
		func(r Retention) time.Duration { return r.JobRuns }},
	// Usage: the 5-minute bins by their start, and the last counters of a
	// link no node has reported for as long (a new report then starts
	// from a fresh baseline).
	{usageItem, "usage", "usage_bins", `bin_start < ?`,
		func(r Retention) time.Duration { return r.Usage }},
	{usageCountersItem, "usage_counters", "usage_counters", `observed_at < ?`,
		func(r Retention) time.Duration { return r.Usage }},
	// Flow records by the connection's end; the hourly counts shown next
	// to them go with them.
	{flowsItem, "flows", "flow_records", `end_at < ?`,
		func(r Retention) time.Duration { return r.Flows }},
	{flowHoursItem, "flow_hours", "flow_hours", `hour < ?`,
		func(r Retention) time.Duration { return r.Flows }},
	// A reachability monitor's state changes and RTT/loss bins.
	{monitorEventsItem, "monitor_events", "monitor_events", `at < ?`, func(r Retention) time.Duration { return r.Monitor }},
	{monitorBinsItem, "monitor_bins", "monitor_bins", `bin_start < ?`, func(r Retention) time.Duration { return r.Monitor }},
	// A pending delivery is never removed; a finished one counts from
	// when it was delivered or failed.
	{webhookItem, "webhook_deliveries", "webhook_deliveries", `status IN ('delivered', 'failed') AND finished_at < ?`,
		func(r Retention) time.Duration { return r.WebhookDeliveries }},
}

// ExpireJob removes, daily, the records older than r says: per audit chain
// the prefix of entries older than the cut-off, replaced by a signed
// checkpoint (expireChain), and the old rows of the other classes. An item
// is an audit chain or a class; the done marker of a chain is its
// checkpoint (a second controller finds no entry older than the cut-off
// above it), that of a class the rows' absence.
func (s *Service) ExpireJob(r Retention) schedule.Job {
	return schedule.Job{Name: ExpireJobName,
		Due: func(ctx context.Context, now time.Time) ([]string, error) { return s.dueExpiry(ctx, now, r) },
		Do: func(ctx context.Context, now time.Time, item string) (bool, error) {
			return s.expire(ctx, now, item, r)
		}}
}

// dueExpiry lists the audit chains whose first entry after their
// checkpoint is older than the cut-off (one that is not cannot be cut at
// all: the chain is cut only up to its first newer entry), then each other
// class with a row due.
func (s *Service) dueExpiry(ctx context.Context, now time.Time, r Retention) ([]string, error) {
	chains, err := store.Strings(ctx, s.db, `SELECT h.chain FROM audit_chains h JOIN audit_events e ON e.chain = h.chain
		AND e.seq = COALESCE((SELECT c.seq FROM audit_checkpoints c WHERE c.chain = h.chain), 0) + 1
		WHERE e.at < ? ORDER BY h.chain`, clock.Store(now.Add(-r.Audit)))
	if err != nil {
		return nil, fmt.Errorf("records: due chains: %w", err)
	}
	var items []string
	for _, c := range chains {
		items = append(items, auditItem+c)
	}
	for _, x := range expiring {
		cut := clock.Store(now.Add(-x.keep(r)))
		var one int
		err := store.Scan(s.db.QueryRow(ctx, `SELECT 1 FROM `+x.table+` WHERE `+x.where+` LIMIT 1`, cuts(x.where, cut)...), &one)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, fmt.Errorf("records: due %s: %w", x.class, err)
		default:
			items = append(items, x.item)
		}
	}
	return items, nil
}

// cuts is the cut-off once for every placeholder of where.
func cuts(where, cut string) []any {
	args := make([]any, strings.Count(where, "?"))
	for i := range args {
		args[i] = cut
	}
	return args
}

// expire removes item's records due at now.
func (s *Service) expire(ctx context.Context, now time.Time, item string, r Retention) (bool, error) {
	if chain, ok := strings.CutPrefix(item, auditItem); ok {
		return s.expireChain(ctx, now, chain, r.Audit)
	}
	for _, x := range expiring {
		if x.item != item {
			continue
		}
		keep := x.keep(r)
		removed := false
		err := s.db.InTx(ctx, func(tx *store.Tx) error {
			res, err := tx.Exec(ctx, `DELETE FROM `+x.table+` WHERE `+x.where, cuts(x.where, clock.Store(now.Add(-keep)))...)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil || n == 0 {
				return err
			}
			removed = true
			return s.log.RecordTx(ctx, tx, audit.Event{Action: ExpireAction, Target: "records:" + x.class,
				Detail: map[string]any{"class": x.class, "removed": n, "retention_days": int64(keep / Day)}})
		})
		if err != nil {
			return false, fmt.Errorf("records: expire %s: %w", x.class, err)
		}
		return removed, nil
	}
	return false, fmt.Errorf("records: expire: unknown item %q", item)
}

// expireChain cuts chain's entries older than now-keep, a batch per
// transaction, until none is left to cut.
func (s *Service) expireChain(ctx context.Context, now time.Time, chain string, keep time.Duration) (bool, error) {
	cut := now.Add(-keep)
	done := false
	for {
		n, err := s.expireChainBatch(ctx, now, chain, cut, keep)
		if err != nil {
			return done, fmt.Errorf("records: expire audit chain %s: %w", chain, err)
		}
		if n == 0 {
			return done, nil
		}
		done = true
		if n < int64(expireBatch) {
			return true, nil
		}
	}
}

// expireChainBatch removes, in one transaction, at most expireBatch entries
// of chain's prefix older than cut and returns how many. Under the lock
// appends take on the chain's head row it reads the entries after the
// checkpoint in order and stops at the first one not older than cut (times
// grow along a chain, audit.appendChain; stopping there also holds for the
// entries of the single chain from before the split, whose times were
// taken before their sequence numbers). The entries it removes must verify from the
// checkpoint (audit.Walker): a checkpoint never signs over a broken prefix,
// which would launder it. Then the checkpoint moves to the last one — signed,
// with its hash, so the next entry still links to something checkable —
// and the entries and the signed heads below it go; the trigger on
// audit_events allows exactly the entries at or below the checkpoint. A
// chain whose every entry is old is cut entirely: its head row stays, so
// its next entry links to the checkpoint's hash.
func (s *Service) expireChainBatch(ctx context.Context, now time.Time, chain string, cut time.Time, keep time.Duration) (int64, error) {
	var removed int64
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		// The removal is recorded in the platform chain, appended at
		// commit. Head rows are locked in chain ID order, the order every
		// append takes them in: the platform's is taken here only when it
		// sorts before chain. Customer IDs (cus_…) sort before it, so
		// platform appends wait for a customer chain's commit, not its
		// whole batch.
		locks := []string{chain}
		if chain > audit.Platform {
			locks = []string{audit.Platform, chain}
		}
		for _, c := range locks {
			if _, err := tx.Exec(ctx, `UPDATE audit_chains SET seq = seq WHERE chain = ?`, c); err != nil {
				return err
			}
		}
		head, err := audit.HeadOf(ctx, tx, chain)
		if err != nil {
			return err
		}
		start, err := audit.CheckpointOf(ctx, tx, chain)
		if err != nil {
			return err
		}
		old, err := oldPrefix(ctx, tx, chain, start.Seq, cut)
		if err != nil || len(old) == 0 {
			return err
		}
		w := &audit.Walker{Chain: chain, Seq: start.Seq, Hash: start.Hash}
		for _, e := range old {
			if err := w.Next(e); err != nil {
				return fmt.Errorf("nothing removed: %w", err)
			}
		}
		last := old[len(old)-1]
		if last.Seq == head.Seq && last.Hash != head.Hash {
			return fmt.Errorf("nothing removed: the head records another hash than entry %d's", last.Seq)
		}
		cp := Checkpoint{Chain: chain, Seq: last.Seq, Hash: last.Hash, EntryAt: last.At.UTC(),
			MadeAt: now.UTC().Truncate(time.Microsecond)}
		if cp.Signature, err = s.keys.SignTx(ctx, tx, cp.Message()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO audit_checkpoints (chain, seq, hash, entry_at, made_at, key_id, sig)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, entry_at = excluded.entry_at,
			made_at = excluded.made_at, key_id = excluded.key_id, sig = excluded.sig`,
			cp.Chain, cp.Seq, cp.Hash, clock.Store(cp.EntryAt), clock.Store(cp.MadeAt), cp.Signature.KeyID, cp.Signature.Sig); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `DELETE FROM audit_events WHERE chain = ? AND seq <= ?`, chain, cp.Seq)
		if err != nil {
			return err
		}
		if removed, err = res.RowsAffected(); err != nil {
			return err
		}
		// A signed head at the checkpoint still names its hash and stays;
		// those below name entries that are gone.
		if _, err := tx.Exec(ctx, `DELETE FROM audit_signed_heads WHERE chain = ? AND seq < ?`, chain, cp.Seq); err != nil {
			return err
		}
		return s.log.RecordTx(ctx, tx, audit.Event{Action: ExpireAction, Target: "audit_chain:" + chain,
			Detail: map[string]any{"class": "audit", "chain": chain, "up_to": cp.Seq, "removed": removed,
				"retention_days": int64(keep / Day)}})
	})
	return removed, err
}

// oldPrefix reads, in their stored form, at most expireBatch entries of
// chain after sequence number after, up to the first one not older than cut.
func oldPrefix(ctx context.Context, tx *store.Tx, chain string, after int64, cut time.Time) ([]audit.Entry, error) {
	rows, err := tx.Query(ctx, `SELECT `+audit.Columns+` FROM audit_events WHERE chain = ? AND seq > ? ORDER BY seq LIMIT ?`,
		chain, after, expireBatch)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []audit.Entry
	for rows.Next() {
		e, err := audit.ScanEntry(rows)
		if err != nil {
			return nil, err
		}
		if !e.At.Before(cut) {
			break
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
