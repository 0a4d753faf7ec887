package evidence_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/evidence"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestExpireTwoControllers: two controllers on one PostgreSQL run
// records.expire at once — through their schedulers and by calling the
// job's item step directly, which bypasses the lease as a controller whose
// lease expired mid-run would. Each chain's old prefix, and each other
// class's old rows, are removed once: one recorded removal per chain, of
// all its old entries, and one checkpoint at its last old entry whose
// signature verifies; one recorded removal of the old mail and one of the
// old job runs; the chains still verify.
func TestExpireTwoControllers(t *testing.T) {
	t.Parallel()
	db1, db2 := storetest.Controllers(t) // two controllers, one database, one secret key
	e1, e2 := newRetainEnv(t, db1), newRetainEnv(t, db2)
	custs := []string{"cus_a", "cus_b", "cus_c", ""}
	for i, c := range custs {
		[]*retainEnv{e1, e2}[i%2].record(t, c, 4)
	}
	last := map[string]audit.Entry{}
	for _, c := range custs {
		es := e1.entries(t, audit.ChainOf(c))
		last[audit.ChainOf(c)] = es[len(es)-1]
	}
	// Old rows of two other classes, also to be removed once.
	old := clock.Store(clock.Now().Add(-time.Hour))
	for i := range 3 {
		if _, err := db1.Exec(e1.ctx, `INSERT INTO job_runs (id, job, controller, started_at, finished_at, outcome)
			VALUES (?, 'x', 'ctl', ?, ?, 'ok')`, fmt.Sprintf("run_old%d", i), old, old); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		if _, err := db1.Exec(e1.ctx, `INSERT INTO mail_outbox (id, cause, recipient, language, subject, body, status, attempts,
			next_attempt_at, last_error, created_at, sent_at) VALUES (?, 'test', 'a@example.jp', 'ja', 's', '', 'sent', 1, ?, '', ?, ?)`,
			fmt.Sprintf("mail_old%d", i), old, old, old); err != nil {
			t.Fatal(err)
		}
	}
	pause()
	cut := clock.Now()
	pause()
	e1.record(t, "cus_a", 2)
	e2.record(t, "cus_b", 1)
	now := cut.Add(evidence.DefaultRetention.Audit)

	jobs := []schedule.Job{e1.svc.ExpireJob(evidence.DefaultRetention), e2.svc.ExpireJob(evidence.DefaultRetention)}
	var schedulers []*schedule.Scheduler
	for i, db := range []*store.DB{db1, db2} {
		s, err := schedule.New(db, audit.New(db), []string{"ctl-1", "ctl-2"}[i], jobs[i])
		if err != nil {
			t.Fatal(err)
		}
		s.Now = func() time.Time { return now }
		schedulers = append(schedulers, s)
	}
	due, err := jobs[0].Due(e1.ctx, now)
	if err != nil || len(due) != len(custs)+2 {
		t.Fatalf("due = %v, %v; want the %d chains, the mail and the job runs", due, err, len(custs))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for round := range 3 {
		for i, s := range schedulers {
			wg.Go(func() {
				if _, err := s.RunDue(e1.ctx); err != nil {
					fail(err)
				}
			})
			wg.Go(func() {
				ctx := audit.WithActor(context.Background(), audit.System)
				for k := range due {
					if _, err := jobs[i].Do(ctx, now, due[(k+round+i)%len(due)]); err != nil {
						fail(err)
					}
				}
			})
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errs)
	}

	removals := map[string][]float64{} // per chain, or per class besides the audit log
	for _, d := range e1.expiries(t) {
		key := d["class"].(string)
		if key == "audit" {
			key = d["chain"].(string)
		}
		removals[key] = append(removals[key], d["removed"].(float64))
	}
	for class, n := range map[string]float64{"job_runs": 3, "mail": 2} {
		if got := removals[class]; !slices.Equal(got, []float64{n}) {
			t.Errorf("%s: removals recorded %v, want one of %v", class, got, n)
		}
	}
	for chain, l := range last {
		if got := removals[chain]; !slices.Equal(got, []float64{float64(l.Seq)}) {
			t.Errorf("%s: removals recorded %v, want one of %d entries", chain, got, l.Seq)
		}
		e2.checkCheckpoint(t, chain, l)
		for _, x := range e1.entries(t, chain) {
			if x.Seq <= l.Seq {
				t.Errorf("%s keeps old entry %d", chain, x.Seq)
			}
		}
	}
	var n int
	if err := store.Scan(db1.QueryRow(e1.ctx, `SELECT COUNT(*) FROM audit_checkpoints`), &n); err != nil || n != len(custs) {
		t.Errorf("%d checkpoints, %v; want one per chain", n, err)
	}
	if _, err := e2.log.Verify(e2.ctx); err != nil {
		t.Fatalf("the chains do not verify: %v", err)
	}
}

// TestExpireStopsAtFirstNewerEntry: an entry takes its time when it is
// recorded and its sequence number when its transaction commits, so a
// chain's times are not quite in order. Expiry cuts only up to the first
// entry newer than the cut-off, never an entry after it however old.
// (PostgreSQL: two transactions are open at once.)
func TestExpireStopsAtFirstNewerEntry(t *testing.T) {
	t.Parallel()
	db := storetest.Postgres(t)
	e := newRetainEnv(t, db)
	e.record(t, "cus_a", 2)
	recorded, release := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- db.InTx(e.ctx, func(tx *store.Tx) error {
			if err := e.log.RecordTx(e.ctx, tx, audit.Event{Action: "port.update", Target: "port:slow", CustomerID: "cus_a"}); err != nil {
				return err
			}
			close(recorded)
			<-release
			return nil
		})
	}()
	<-recorded
	pause()
	cut := clock.Now()
	pause()
	e.record(t, "cus_a", 1) // entry 3, newer than the cut-off
	close(release)          // entry 4, older
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	es := e.entries(t, "cus_a")
	if len(es) != 4 || es[3].Target != "port:slow" || !es[3].At.Before(cut) {
		t.Fatalf("the slow transaction's entry is not entry 4 with an old time: %+v", es)
	}
	e.expire(t, evidence.DefaultRetention, cut.Add(evidence.DefaultRetention.Audit))
	if got := seqs(e.entries(t, "cus_a")); !slices.Equal(got, []int64{3, 4}) {
		t.Errorf("cus_a keeps %v, want [3 4]", got)
	}
	e.checkCheckpoint(t, "cus_a", es[1])
	if _, err := e.log.Verify(e.ctx); err != nil {
		t.Fatal(err)
	}
}
