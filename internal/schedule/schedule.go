// Package schedule holds the controller's dated jobs: named jobs whose due
// items (a speed change on its effective date, a contract past its
// termination date) are acted on exactly once, even with several controllers
// on one PostgreSQL, with every run recorded, audited and visible to
// operators.
//
// Two mechanisms, with different jobs:
//
//   - A lease per job (job_leases: holder, until) taken with one conditional
//     UPDATE keeps two controllers from running the same job at the same
//     time, so that a due time gives one run record, not one per controller.
//     A lease expires, so a controller that dies mid-run does not block the
//     job for ever; the lease is renewed after each item.
//   - What makes an item happen exactly once is the item's own done marker,
//     set by Job.Do in the same transaction as the item's effect with a
//     conditional UPDATE (… WHERE done IS NULL): a second controller that
//     reaches the same item — after a lease expired under a stalled holder,
//     or by a direct call — finds it done and skips it. The lease alone
//     would not be enough (it can expire under a live holder); the marker
//     alone would be (the lease only avoids duplicate runs and wasted work).
//
// Days are counted in JST (package clock): a daily job is next due at the
// following JST midnight. A run that fails (listing the due items failed, or
// any item failed) is recorded as failed with its error and the job is due
// again after the retry interval; the items it did not finish stay due.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// Job is one named dated job.
type Job struct {
	// Name identifies the job in the lease table, the run records and the
	// audit log, e.g. "bandwidth.apply".
	Name string
	// Due lists the items due at now, in the order they should be acted on.
	Due func(ctx context.Context, now time.Time) ([]string, error)
	// Do acts on one item. It sets the item's done marker in the same
	// transaction as the item's effect, and reports false (with no error)
	// when the item was already done: by another controller or an earlier
	// run. It is called with the system as the audit actor.
	Do func(ctx context.Context, now time.Time, item string) (bool, error)
	// Next is when the job is due again after a run at now that succeeded;
	// nil means Daily.
	Next func(now time.Time) time.Time
	// Quiet marks a watcher that runs every few minutes: a run of it that
	// found nothing due and ended well leaves no run record and no audit
	// entry (1,440 empty records a day would bury the runs that did
	// something). Its runs that acted on an item or failed are kept as
	// any job's.
	Quiet bool
}

// Daily is the next JST midnight after now.
func Daily(now time.Time) time.Time {
	j := now.In(clock.JST)
	return time.Date(j.Year(), j.Month(), j.Day()+1, 0, 0, 0, 0, clock.JST).UTC()
}

// Outcomes of a run.
const (
	Running = "running"
	OK      = "ok"
	Failed  = "failed"
)

// Run is one run of a job.
type Run struct {
	ID         string     `json:"id"`
	Job        string     `json:"job"`
	Controller string     `json:"controller"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Outcome    string     `json:"outcome"` // running | ok | failed
	Due        int64      `json:"due"`     // items due when the run started
	Done       int64      `json:"done"`    // acted on by this run
	Skipped    int64      `json:"skipped"` // found already done
	Failed     int64      `json:"failed"`  // refused with an error; due again at the retry
	Error      string     `json:"error,omitempty"`
}

// Scheduler runs jobs for one controller.
type Scheduler struct {
	db    *store.DB
	audit *audit.Log
	jobs  []Job
	// controller names this controller in leases and run records.
	controller string
	// Now is the clock; tests move it instead of waiting for midnight.
	Now func() time.Time
	// Lease is how long a run may go without renewing its lease before
	// another controller may take the job over.
	Lease time.Duration
	// Retry is how long after a failed run the job is due again.
	Retry time.Duration
}

// New returns a scheduler for jobs, run by the controller named controller
// (unique among the controllers sharing db, e.g. host name and process ID).
func New(db *store.DB, log *audit.Log, controller string, jobs ...Job) (*Scheduler, error) {
	if controller == "" {
		return nil, errors.New("schedule: no controller name")
	}
	seen := map[string]bool{}
	for _, j := range jobs {
		if j.Name == "" || j.Due == nil || j.Do == nil || seen[j.Name] {
			return nil, fmt.Errorf("schedule: job %q needs a unique name, Due and Do", j.Name)
		}
		seen[j.Name] = true
	}
	return &Scheduler{db: db, audit: log, jobs: jobs, controller: controller, Now: clock.Now,
		Lease: 10 * time.Minute, Retry: 5 * time.Minute}, nil
}

// Loop runs every due job now and then every tick until ctx ends; report
// receives each failure (a failed run is also recorded and retried).
func (s *Scheduler) Loop(ctx context.Context, tick time.Duration, report func(error)) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		if _, err := s.RunDue(ctx); err != nil && ctx.Err() == nil {
			report(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunDue runs, once each, the jobs that are due and whose lease this
// controller takes, and returns their runs. A job held by another controller
// or not due yet is left alone. The error joins the failed runs' errors.
func (s *Scheduler) RunDue(ctx context.Context) ([]Run, error) {
	ctx = audit.WithActor(ctx, audit.System)
	var runs []Run
	var errs []error
	for _, j := range s.jobs {
		now := s.Now()
		took, err := s.take(ctx, j.Name, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("job %s: %w", j.Name, err))
			continue
		}
		if !took {
			continue
		}
		r, err := s.run(ctx, j, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("job %s: %w", j.Name, err))
		}
		if r.ID != "" {
			runs = append(runs, r)
		}
	}
	return runs, errors.Join(errs...)
}

// take makes sure the job has its lease row (due at once when new) and takes
// the lease when the job is due and nobody holds it. On PostgreSQL a second
// controller's UPDATE waits for the first's row lock and then finds the
// lease taken; SQLite runs one writer at a time.
func (s *Scheduler) take(ctx context.Context, job string, now time.Time) (bool, error) {
	at := clock.Store(now)
	if _, err := s.db.Exec(ctx, `INSERT INTO job_leases (job, next_run_at) VALUES (?, ?) ON CONFLICT (job) DO NOTHING`, job, at); err != nil {
		return false, fmt.Errorf("lease: %w", err)
	}
	res, err := s.db.Exec(ctx, `UPDATE job_leases SET holder = ?, lease_until = ?
		WHERE job = ? AND next_run_at <= ? AND (lease_until = '' OR lease_until < ?)`,
		s.controller, clock.Store(now.Add(s.Lease)), job, at, at)
	if err != nil {
		return false, fmt.Errorf("lease: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// renew extends the lease this controller holds; it fails when another
// controller has taken the job over (the lease had expired).
func (s *Scheduler) renew(ctx context.Context, job string) error {
	res, err := s.db.Exec(ctx, `UPDATE job_leases SET lease_until = ? WHERE job = ? AND holder = ?`,
		clock.Store(s.Now().Add(s.Lease)), job, s.controller)
	if err != nil {
		return fmt.Errorf("lease: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errors.New("lost the lease to another controller")
	}
	return nil
}

// run runs job j under its lease: records the start, acts on each due item,
// and records the end, the next due time and the audit entry together.
func (s *Scheduler) run(ctx context.Context, j Job, now time.Time) (Run, error) {
	r := Run{ID: ids.New("run"), Job: j.Name, Controller: s.controller, StartedAt: now, Outcome: Running}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		// Runs left "running" by a controller that stopped mid-run: the
		// lease has passed to this one, so they will not end by themselves.
		if _, err := tx.Exec(ctx, `UPDATE job_runs SET outcome = 'failed', finished_at = ?,
			error = 'abandoned: the controller stopped before the run ended' WHERE job = ? AND outcome = 'running'`,
			clock.Store(now), j.Name); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO job_runs (id, job, controller, started_at, outcome) VALUES (?, ?, ?, ?, 'running')`,
			r.ID, r.Job, r.Controller, clock.Store(now))
		return err
	})
	if err != nil {
		return Run{}, fmt.Errorf("record run: %w", err)
	}
	var errs []error
	items, err := j.Due(ctx, now)
	if err != nil {
		errs = append(errs, fmt.Errorf("due items: %w", err))
	}
	r.Due = int64(len(items))
	for _, it := range items {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		done, err := j.Do(ctx, now, it)
		switch {
		case err != nil:
			r.Failed++
			errs = append(errs, fmt.Errorf("%s: %w", it, err))
		case done:
			r.Done++
		default:
			r.Skipped++
		}
		if err := s.renew(ctx, j.Name); err != nil {
			errs = append(errs, err)
			break
		}
	}
	next := now.Add(s.Retry)
	r.Outcome = OK
	if len(errs) > 0 {
		r.Outcome = Failed
		r.Error = oneLine(errors.Join(errs...))
	} else if j.Next != nil {
		next = j.Next(now)
	} else {
		next = Daily(now)
	}
	end := s.Now()
	r.FinishedAt = &end
	// The end is recorded with a context of its own: a run cut short by
	// shutdown still says so.
	ectx := context.WithoutCancel(ctx)
	quiet := j.Quiet && r.Due == 0 && r.Outcome == OK
	err = s.db.InTx(ectx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ectx, `UPDATE job_leases SET holder = '', lease_until = '', next_run_at = ? WHERE job = ? AND holder = ?`,
			clock.Store(next), j.Name, s.controller); err != nil {
			return err
		}
		if quiet {
			_, err := tx.Exec(ectx, `DELETE FROM job_runs WHERE id = ?`, r.ID)
			return err
		}
		if _, err := tx.Exec(ectx, `UPDATE job_runs SET finished_at = ?, outcome = ?, due = ?, done = ?, skipped = ?, failed = ?, error = ?
			WHERE id = ?`, clock.Store(end), r.Outcome, r.Due, r.Done, r.Skipped, r.Failed, r.Error, r.ID); err != nil {
			return err
		}
		ev := audit.Event{Action: "job.run", Target: "job:" + j.Name, Result: audit.OK,
			Detail: map[string]any{"run": r.ID, "controller": r.Controller, "due": r.Due, "done": r.Done, "skipped": r.Skipped,
				"failed": r.Failed, "next_run_at": clock.Show(next)}}
		if r.Outcome == Failed {
			ev.Result = audit.Failed
			ev.Detail["error"] = r.Error
		}
		return s.audit.RecordTx(ectx, tx, ev)
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("record run end: %w", err))
	}
	if quiet && err == nil {
		return Run{}, nil
	}
	return r, errors.Join(errs...)
}

// oneLine keeps a run's error short enough to list: the first 2,000 bytes.
func oneLine(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 2000 {
		s = s[:2000] + " …"
	}
	return s
}

// Query selects runs: of one job (empty: every job), newest first, after
// the previous page.
type Query struct {
	Job   string
	After string // the cursor NextAfter gave for the previous page; empty starts at the newest
	// Outcome keeps only runs with this outcome (running, ok, failed); empty keeps all.
	Outcome string
	Limit   int // 1–500; 0 means 100
}

// Runs lists this controller's database's recorded runs (every
// controller's), newest first; see the package function Runs.
func (s *Scheduler) Runs(ctx context.Context, q Query) ([]Run, error) { return Runs(ctx, s.db, q) }

// Runs lists recorded runs, newest first. Runs are platform records, not a
// customer's data: the caller (the management listener) checks jobs.read.
func Runs(ctx context.Context, db *store.DB, q Query) ([]Run, error) {
	if q.Limit == 0 {
		q.Limit = 100
	}
	if q.Limit < 1 || q.Limit > 500 {
		return nil, fault.Field("limit", "limit must be a number from 1 to 500")
	}
	sqlq := `SELECT id, job, controller, started_at, finished_at, outcome, due, done, skipped, failed, error FROM job_runs WHERE 1 = 1`
	var args []any
	if q.Job != "" {
		sqlq += ` AND job = ?`
		args = append(args, q.Job)
	}
	switch q.Outcome {
	case "":
	case Running, OK, Failed:
		sqlq += ` AND outcome = ?`
		args = append(args, q.Outcome)
	default:
		return nil, fault.Field("outcome", "outcome must be running, ok or failed")
	}
	if q.After != "" {
		at, id, ok := strings.Cut(q.After, "|")
		if _, err := clock.Parse(at); !ok || err != nil || id == "" {
			return nil, fault.Field("after", "after must be the next_after of the previous page")
		}
		sqlq += ` AND (started_at < ? OR (started_at = ? AND id < ?))`
		args = append(args, at, at, id)
	}
	sqlq += ` ORDER BY started_at DESC, id DESC LIMIT ?`
	args = append(args, q.Limit)
	rows, err := db.Query(ctx, sqlq, args...)
	if err != nil {
		return nil, fmt.Errorf("job runs: %w", err)
	}
	defer rows.Close()
	out := []Run{}
	for rows.Next() {
		var r Run
		var started string
		var finished *string
		if err := rows.Scan(&r.ID, &r.Job, &r.Controller, &started, &finished, &r.Outcome, &r.Due, &r.Done, &r.Skipped, &r.Failed, &r.Error); err != nil {
			return nil, fmt.Errorf("job runs: %w", err)
		}
		r.StartedAt, _ = clock.Parse(started)
		if finished != nil {
			t, _ := clock.Parse(*finished)
			r.FinishedAt = &t
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// NextAfter is the cursor for the page after runs (which Runs returned with
// limit), or "" when runs is the last page.
func NextAfter(runs []Run, limit int) string {
	if limit == 0 {
		limit = 100
	}
	if len(runs) < limit {
		return ""
	}
	last := runs[len(runs)-1]
	return clock.Store(last.StartedAt) + "|" + last.ID
}
