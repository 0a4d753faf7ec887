package schedule

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

func TestDailyIsJSTMidnight(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ now, want string }{
		{"2026-11-27T14:59:59Z", "2026-11-27T15:00:00Z"}, // 23:59:59 JST on the 27th
		{"2026-11-27T15:00:00Z", "2026-11-28T15:00:00Z"}, // midnight itself: the next one
		{"2026-12-31T20:00:00Z", "2027-01-01T15:00:00Z"}, // 05:00 JST on 1 January
	} {
		now, _ := time.Parse(time.RFC3339, tc.now)
		if got := Daily(now).Format(time.RFC3339); got != tc.want {
			t.Errorf("Daily(%s) = %s, want %s", tc.now, got, tc.want)
		}
	}
}

// itemJob is a job over a test table whose rows are due items with a done
// marker; fail makes an item's step fail until cleared.
type itemJob struct {
	db   *store.DB
	mu   sync.Mutex
	fail map[string]bool
}

func newItemJob(t *testing.T, db *store.DB, items ...string) *itemJob {
	t.Helper()
	ctx := context.Background()
	if _, err := db.Exec(ctx, `CREATE TABLE test_items (id TEXT PRIMARY KEY, done_at TEXT, hits BIGINT NOT NULL DEFAULT 0)`); err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if _, err := db.Exec(ctx, `INSERT INTO test_items (id) VALUES (?)`, it); err != nil {
			t.Fatal(err)
		}
	}
	return &itemJob{db: db, fail: map[string]bool{}}
}

func (j *itemJob) job() Job {
	return Job{Name: "test.items",
		Due: func(ctx context.Context, _ time.Time) ([]string, error) {
			rows, err := j.db.Query(ctx, `SELECT id FROM test_items WHERE done_at IS NULL ORDER BY id`)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			var out []string
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					return nil, err
				}
				out = append(out, id)
			}
			return out, rows.Err()
		},
		Do: func(ctx context.Context, now time.Time, id string) (bool, error) {
			j.mu.Lock()
			f := j.fail[id]
			j.mu.Unlock()
			if f {
				return false, errors.New("the item refused")
			}
			done := false
			err := j.db.InTx(ctx, func(tx *store.Tx) error {
				res, err := tx.Exec(ctx, `UPDATE test_items SET done_at = ?, hits = hits + 1 WHERE id = ? AND done_at IS NULL`, clock.Store(now), id)
				if err != nil {
					return err
				}
				n, _ := res.RowsAffected()
				done = n == 1
				return nil
			})
			return done, err
		},
	}
}

// TestLeaseOneRunPerDueTime: several schedulers (controllers) call RunDue at
// once on one database; the job runs once per due time, and not again until
// the next JST midnight.
func TestLeaseOneRunPerDueTime(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		j := newItemJob(t, db, "a", "b", "c")
		now := time.Date(2026, 11, 27, 15, 0, 1, 0, time.UTC)
		var ss []*Scheduler
		for _, name := range []string{"ctl-1", "ctl-2", "ctl-3"} {
			s, err := New(db, audit.New(db), name, j.job())
			if err != nil {
				t.Fatal(err)
			}
			s.Now = func() time.Time { return now }
			ss = append(ss, s)
		}
		// The first run to list its items holds there until the other
		// controllers have come and gone: with the lease they find the job
		// taken; without it they would list the items too.
		job := j.job()
		entered, release := make(chan struct{}, len(ss)), make(chan struct{})
		due := job.Due
		for _, s := range ss {
			s.jobs[0].Due = func(ctx context.Context, now time.Time) ([]string, error) {
				entered <- struct{}{}
				<-release
				return due(ctx, now)
			}
		}
		var wg sync.WaitGroup
		returned := make(chan struct{}, len(ss))
		for _, s := range ss {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { returned <- struct{}{} }()
				if _, err := s.RunDue(context.Background()); err != nil {
					t.Error(err)
				}
			}()
		}
		select {
		case <-entered:
		case <-time.After(10 * time.Second):
			close(release)
			wg.Wait()
			t.Fatal("no controller ran the job")
		}
		for range len(ss) - 1 {
			select {
			case <-returned:
			case <-time.After(10 * time.Second):
				t.Error("a second controller is running the job at the same time")
			}
		}
		close(release)
		wg.Wait()
		if n := 1 + len(entered); n != 1 {
			t.Fatalf("%d controllers listed the due items; want 1", n)
		}
		runs, err := Runs(context.Background(), db, Query{})
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 1 || runs[0].Outcome != OK || runs[0].Due != 3 || runs[0].Done != 3 {
			t.Fatalf("runs = %+v; want one ok run that did 3 items", runs)
		}
		var hits int
		if err := db.QueryRow(context.Background(), `SELECT SUM(hits) FROM test_items`).Scan(&hits); err != nil || hits != 3 {
			t.Fatalf("hits = %d, %v", hits, err)
		}
		var next string
		if err := db.QueryRow(context.Background(), `SELECT next_run_at FROM job_leases WHERE job = 'test.items'`).Scan(&next); err != nil {
			t.Fatal(err)
		}
		if next != "2026-11-28T15:00:00.000000Z" {
			t.Fatalf("next run at %s, want the next JST midnight", next)
		}
	})
}

// TestFailedRunIsVisibleAndRetried: an item that fails makes the run failed
// with its error recorded and audited; the other items are done; the job is
// due again after the retry interval (not before), and the retry finishes
// the item.
func TestFailedRunIsVisibleAndRetried(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		j := newItemJob(t, db, "a", "b")
		j.fail["a"] = true
		now := time.Date(2026, 11, 27, 15, 0, 1, 0, time.UTC)
		s, err := New(db, audit.New(db), "ctl-1", j.job())
		if err != nil {
			t.Fatal(err)
		}
		s.Now = func() time.Time { return now }
		if _, err := s.RunDue(ctx); err == nil || !strings.Contains(err.Error(), "the item refused") {
			t.Fatalf("RunDue = %v; want the item's failure", err)
		}
		runs, _ := Runs(ctx, db, Query{Job: "test.items"})
		if len(runs) != 1 || runs[0].Outcome != Failed || runs[0].Done != 1 || runs[0].Failed != 1 || !strings.Contains(runs[0].Error, "a: the item refused") {
			t.Fatalf("runs = %+v", runs)
		}
		var result string
		if err := db.QueryRow(ctx, `SELECT result FROM audit_events WHERE action = 'job.run'`).Scan(&result); err != nil || result != audit.Failed {
			t.Fatalf("audit result = %q, %v", result, err)
		}
		// Not due again before the retry interval.
		now = now.Add(s.Retry - time.Second)
		if runs, err := s.RunDue(ctx); err != nil || len(runs) != 0 {
			t.Fatalf("early retry = %+v, %v", runs, err)
		}
		j.mu.Lock()
		j.fail["a"] = false
		j.mu.Unlock()
		now = now.Add(time.Second)
		runs, err = s.RunDue(ctx)
		if err != nil || len(runs) != 1 || runs[0].Outcome != OK || runs[0].Done != 1 || runs[0].Due != 1 {
			t.Fatalf("retry = %+v, %v", runs, err)
		}
	})
}

// TestAbandonedRunIsClosed: a controller that died mid-run leaves its run
// "running" and its lease; once the lease has expired another controller
// takes the job, and the abandoned run is shown failed.
func TestAbandonedRunIsClosed(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		j := newItemJob(t, db, "a")
		now := time.Date(2026, 11, 27, 15, 0, 1, 0, time.UTC)
		s, err := New(db, audit.New(db), "ctl-2", j.job())
		if err != nil {
			t.Fatal(err)
		}
		s.Now = func() time.Time { return now }
		if _, err := db.Exec(ctx, `INSERT INTO job_leases (job, holder, lease_until, next_run_at) VALUES ('test.items', 'ctl-1', ?, ?)`,
			clock.Store(now.Add(time.Minute)), clock.Store(now.Add(-time.Hour))); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, `INSERT INTO job_runs (id, job, controller, started_at, outcome) VALUES ('run_dead', 'test.items', 'ctl-1', ?, 'running')`,
			clock.Store(now.Add(-time.Hour))); err != nil {
			t.Fatal(err)
		}
		if runs, err := s.RunDue(ctx); err != nil || len(runs) != 0 {
			t.Fatalf("run under another's live lease = %+v, %v", runs, err)
		}
		now = now.Add(2 * time.Minute)
		if runs, err := s.RunDue(ctx); err != nil || len(runs) != 1 || runs[0].Done != 1 {
			t.Fatalf("run after the lease expired = %+v, %v", runs, err)
		}
		runs, _ := Runs(ctx, db, Query{Job: "test.items"})
		if len(runs) != 2 || runs[1].ID != "run_dead" || runs[1].Outcome != Failed || !strings.Contains(runs[1].Error, "abandoned") {
			t.Fatalf("runs = %+v", runs)
		}
	})
}

func TestRunsQuery(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t)
	ctx := context.Background()
	for i, at := range []string{"2026-11-27T15:00:01.000000Z", "2026-11-28T15:00:01.000000Z", "2026-11-29T15:00:01.000000Z"} {
		if _, err := db.Exec(ctx, `INSERT INTO job_runs (id, job, controller, started_at, outcome) VALUES (?, 'j', 'c', ?, 'ok')`,
			[]string{"run_1", "run_2", "run_3"}[i], at); err != nil {
			t.Fatal(err)
		}
	}
	if fl, err := Runs(ctx, db, Query{Outcome: Failed}); err != nil || len(fl) != 0 {
		t.Fatalf("failed runs = %+v, %v", fl, err)
	}
	page, err := Runs(ctx, db, Query{Limit: 2})
	if err != nil || len(page) != 2 || page[0].ID != "run_3" {
		t.Fatalf("page 1 = %+v, %v", page, err)
	}
	next := NextAfter(page, 2)
	page, err = Runs(ctx, db, Query{Limit: 2, After: next})
	if err != nil || len(page) != 1 || page[0].ID != "run_1" || NextAfter(page, 2) != "" {
		t.Fatalf("page 2 = %+v, %v", page, err)
	}
	for _, q := range []Query{{Limit: 501}, {Limit: -1}, {After: "nonsense"}, {After: "garbage|run_1"}, {After: clock.Store(time.Now()) + "|"}, {Outcome: "maybe"}} {
		if _, err := Runs(ctx, db, q); err == nil {
			t.Errorf("Runs(%+v) accepted", q)
		}
	}
}

// TestQuietRunLeavesNoRecord: a quiet watcher's run with nothing due leaves
// no run record and no audit entry, and is due again at its Next; a run
// that acted on an item is recorded as any.
func TestQuietRunLeavesNoRecord(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		j := newItemJob(t, db)
		job := j.job()
		job.Quiet = true
		job.Next = func(now time.Time) time.Time { return now.Add(time.Minute) }
		now := time.Date(2026, 11, 27, 15, 0, 1, 0, time.UTC)
		s, err := New(db, audit.New(db), "ctl-1", job)
		if err != nil {
			t.Fatal(err)
		}
		s.Now = func() time.Time { return now }
		count := func(q string) int {
			var n int
			if err := db.QueryRow(ctx, q).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if runs, err := s.RunDue(ctx); err != nil || len(runs) != 0 {
			t.Fatalf("empty quiet run = %+v, %v", runs, err)
		}
		if n := count(`SELECT COUNT(*) FROM job_runs`); n != 0 {
			t.Fatalf("%d run records of an empty quiet run", n)
		}
		if n := count(`SELECT COUNT(*) FROM audit_events WHERE action = 'job.run'`); n != 0 {
			t.Fatalf("%d audit entries of an empty quiet run", n)
		}
		if _, err := db.Exec(ctx, `INSERT INTO test_items (id, hits) VALUES ('c', 0)`); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Minute)
		runs, err := s.RunDue(ctx)
		if err != nil || len(runs) != 1 || runs[0].Done != 1 {
			t.Fatalf("quiet run with an item = %+v, %v", runs, err)
		}
		if n := count(`SELECT COUNT(*) FROM job_runs`); n != 1 {
			t.Fatalf("%d run records, want the one that acted", n)
		}
	})
}
