package lifecycle

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestPurgeTwoControllers: two controllers on one PostgreSQL run the job
// and, as if a lease had expired under a stalled holder, call Purge on the
// same customers at the same time. Each customer is erased once: one
// start, each step once, one customer.purge entry, one notice per
// administrator, one certificate that verifies.
func TestPurgeTwoControllers(t *testing.T) {
	t.Parallel()
	db1, db2 := storetest.Controllers(t) // two controllers, one database, one secret key
	seedPlatform(t, db1)
	var custs []fixture
	for i := range 3 {
		custs = append(custs, seedCustomer(t, db1, fmt.Sprintf("c%d", i), i+1, terminatedOn))
	}
	day := addDays(t, terminatedOn, 30)
	p1, clk := newPurger(t, db1, 30, day)
	p2, _ := newPurger(t, db2, 30, day)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i, p := range []*Purger{p1, p2} {
		s := scheduler(t, p.db, p, fmt.Sprintf("ctl-%d", i+1), clk.now)
		wg.Go(func() {
			if _, err := s.RunDue(ctx); err != nil {
				errs <- err
			}
		})
		for _, c := range custs {
			wg.Go(func() {
				if err := p.Purge(ctx, c.id); err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	count := func(q string, args ...any) (n int) {
		t.Helper()
		if err := db1.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	keys, err := signing.New(db1, audit.New(db1)).PublicKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range custs {
		for action, want := range map[string]int{"customer.purge.start": 1, "customer.purge.step": len(steps), "customer.purge": 1} {
			if n := count(`SELECT COUNT(*) FROM audit_events WHERE action = ? AND target = ?`, action, "customer:"+string(c.id)); n != want {
				t.Errorf("%s: %d %s entries, want %d", c.id, n, action, want)
			}
		}
		if n := count(`SELECT COUNT(*) FROM mail_outbox WHERE cause = ? AND recipient IN (?, ?)`, noticeCause, c.emails[0], c.emails[1]); n != 2 {
			t.Errorf("%s: %d notices, want 2", c.id, n)
		}
		doc, err := p1.Certificate(ctx, c.id)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyCertificate(keys, doc); err != nil {
			t.Error(err)
		}
		assertErased(t, db1, c)
	}
	if n := count(`SELECT COUNT(*) FROM job_runs WHERE job = ?`, JobName); n != 1 {
		t.Errorf("%d runs of the job at one due time, want 1", n)
	}
}
