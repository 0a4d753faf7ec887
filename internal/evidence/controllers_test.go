package evidence_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/evidence"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestTwoControllersAppendToOneChain: two controllers on one PostgreSQL
// append to one customer's chain at once, each from several goroutines,
// alone (Record, group-committed) and inside business transactions that
// write to the platform chain too (RecordTx): the customer's chain is one
// chain, numbered without a gap, holding exactly the events appended, and
// every chain verifies.
func TestTwoControllersAppendToOneChain(t *testing.T) {
	t.Parallel()
	a, b := storetest.Controllers(t)
	ctx := context.Background()
	const workers, each = 4, 25
	var wg sync.WaitGroup
	for c, db := range []*store.DB{a, b} {
		log := audit.New(db)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					ev := audit.Event{Action: "test.write", Target: fmt.Sprintf("thing:%d-%d-%d", c, w, i), CustomerID: "cus_a"}
					var err error
					if w%2 == 0 {
						err = log.Record(ctx, ev)
					} else {
						err = db.InTx(ctx, func(tx *store.Tx) error {
							// A business write beside the records.
							if _, err := tx.Exec(ctx, `INSERT INTO job_leases (job, next_run_at) VALUES (?, '')`, ev.Target); err != nil {
								return err
							}
							if err := log.RecordTx(ctx, tx, ev); err != nil {
								return err
							}
							return log.RecordTx(ctx, tx, audit.Event{Action: "test.write", Target: ev.Target})
						})
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	const want = 2 * workers * each
	var n, lo, hi, targets int64
	if err := store.Scan(a.QueryRow(ctx, `SELECT COUNT(*), MIN(seq), MAX(seq), COUNT(DISTINCT target) FROM audit_events WHERE chain = 'cus_a'`),
		&n, &lo, &hi, &targets); err != nil {
		t.Fatal(err)
	}
	if n != want || lo != 1 || hi != want || targets != want {
		t.Errorf("chain cus_a: %d entries numbered %d…%d, %d distinct; want %d numbered 1…%d", n, lo, hi, targets, want, want)
	}
	if h, err := audit.HeadOf(ctx, b, "cus_a"); err != nil || h.Seq != want {
		t.Errorf("head = %+v, %v; want %d", h, err, want)
	}
	svc, log := service(b)
	vs, err := svc.VerifyLive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if !v.Intact {
			t.Errorf("verdict %+v", v)
		}
	}
	if total, err := log.Verify(ctx); err != nil || total != want+want/2 {
		t.Errorf("the log's Verify: %d, %v; want %d", total, err, want+want/2)
	}
}

// signedCounts counts the signed heads per chain and sequence number.
func signedCounts(t *testing.T, db *store.DB) map[string]int {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT chain, seq, COUNT(*) FROM audit_signed_heads GROUP BY chain, seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var chain string
		var seq int64
		var n int
		if err := rows.Scan(&chain, &seq, &n); err != nil {
			t.Fatal(err)
		}
		out[fmt.Sprintf("%s@%d", chain, seq)] = n
	}
	return out
}

// TestSignHeadsOnTwoControllers runs the job audit.sign_heads on two
// controllers sharing one PostgreSQL, both through their schedulers (one
// takes the lease) and by calling Do for every chain from both at once
// (as two runs overlapping after a lost lease would): each head position
// is signed once, a chain that did not change is not signed again, and a
// chain that grew gets its head signed in the next run.
func TestSignHeadsOnTwoControllers(t *testing.T) {
	t.Parallel()
	a, b := storetest.Controllers(t)
	ctx := audit.WithActor(context.Background(), audit.System)
	now := clock.Now()
	var svcs []*evidence.Service
	var scheds []*schedule.Scheduler
	for i, db := range []*store.DB{a, b} {
		log := audit.New(db)
		keys := signing.New(db, log)
		if err := keys.Ensure(ctx); err != nil { // as serve does at start
			t.Fatal(err)
		}
		svc := evidence.New(db, log, keys)
		s, err := schedule.New(db, log, fmt.Sprintf("controller-%d", i), svc.SignJob())
		if err != nil {
			t.Fatal(err)
		}
		s.Now = func() time.Time { return now }
		svcs, scheds = append(svcs, svc), append(scheds, s)
	}
	record := func(custs ...string) {
		t.Helper()
		log := audit.New(a)
		for _, c := range custs {
			if err := log.Record(ctx, audit.Event{Action: "test.write", Target: "x", CustomerID: c}); err != nil {
				t.Fatal(err)
			}
		}
	}
	runBoth := func() {
		t.Helper()
		var wg sync.WaitGroup
		for _, s := range scheds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.RunDue(ctx); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		now = now.Add(evidence.SignEvery)
	}
	heads := func() map[string]int64 {
		t.Helper()
		hs, err := audit.New(a).Heads(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int64{}
		for _, h := range hs {
			out[h.Chain] = h.Seq
		}
		return out
	}
	once := func(when string) map[string]int {
		t.Helper()
		got := signedCounts(t, a)
		for k, n := range got {
			if n != 1 {
				t.Errorf("%s: head %s signed %d times", when, k, n)
			}
		}
		return got
	}

	record("cus_a", "cus_a", "cus_b", "")
	before := heads()
	runBoth()
	first := once("first run")
	for _, c := range []string{"cus_a", "cus_b", audit.Platform} {
		if first[fmt.Sprintf("%s@%d", c, before[c])] != 1 {
			t.Errorf("first run: chain %s not signed at its head %d: %v", c, before[c], first)
		}
	}

	// The run's own record (job.run) grew the platform chain, which does
	// not make it due (else it would be signed at every run, for ever);
	// cus_b grows now and is signed by the next run, cus_a is not.
	record("cus_b")
	before = heads()
	runBoth()
	second := once("second run")
	if len(second) != len(first)+1 || second[fmt.Sprintf("cus_b@%d", before["cus_b"])] != 1 {
		t.Errorf("second run signed %v after %v; want cus_b only at %v", second, first, before)
	}
	if due, err := svcs[0].SignJob().Due(ctx, now); err != nil || len(due) != 0 {
		t.Errorf("due after runs that only recorded themselves = %v, %v; want none", due, err)
	}

	// Two controllers acting on the same due chains at once (no lease
	// between them): still one signature per head position.
	record("cus_a", "cus_c")
	due, err := svcs[0].SignJob().Due(ctx, now)
	if err != nil || len(due) < 2 {
		t.Fatalf("due = %v, %v", due, err)
	}
	var wg sync.WaitGroup
	done := make([]int, 2)
	for i, svc := range svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			job := svc.SignJob()
			for _, c := range due {
				did, err := job.Do(ctx, now, c)
				if err != nil {
					t.Error(err)
				}
				if did {
					done[i]++
				}
			}
		}()
	}
	wg.Wait()
	third := once("both controllers at once")
	if done[0]+done[1] != len(due) || len(third) != len(second)+len(due) {
		t.Errorf("both at once: %v signed %d+%d of %v; signed heads %d after %d", due, done[0], done[1], due, len(third), len(second))
	}
}
