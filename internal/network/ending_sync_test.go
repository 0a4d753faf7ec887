package network

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestPortEndsTwoControllers: two controllers on one PostgreSQL race on the
// same due ends — dated ends of two customers' ports, and every port and
// hub of a third customer whose contract ended — through their schedulers
// and by calling the job's item step directly (bypassing the lease). Each
// port ends exactly once and each hub is removed exactly once: one audit
// entry each, one system version per configured port, and the runs' counts
// and the direct calls add up to the items.
func TestPortEndsTwoControllers(t *testing.T) {
	t.Parallel()
	db1, db2 := storetest.Controllers(t) // two controllers, one database, one secret key
	e := newEnv(t, db1)
	// The catalog checks a termination date against the real clock: the
	// test's day D is today.
	d := clock.Today()
	day, _ := clock.ParseDate(d)
	var clockMu sync.Mutex
	e.now = day.Add(12 * time.Hour)
	now := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return e.now }
	setNow := func(t time.Time) { clockMu.Lock(); defer clockMu.Unlock(); e.now = t }
	e.svc.now = now
	svc2 := New(db2, audit.New(db2), DefaultSettings)
	svc2.now = now

	var custs []customer
	for i := range 3 {
		c := e.addCustomer(fmt.Sprintf("c%d", i))
		custs = append(custs, c)
		e.place(c, pAPrivate)
		e.applyPorts(c, pAPrivate)
	}
	for _, c := range custs[:2] {
		if _, err := e.svc.Operations.EndPortOn(e.ctx, c.op, c.codes[pAPrivate], PortEndInput{EndDate: d, Reason: "item ends"}); err != nil {
			t.Fatal(err)
		}
	}
	last := custs[2]
	if _, err := e.cat.CancelContract(e.ctx, last.op, last.code, catalog.CancelInput{TerminationDate: d, Reason: "leaving"}); err != nil {
		t.Fatal(err)
	}
	sch := func(db *store.DB, svc *Service, name string) *schedule.Scheduler {
		s, err := schedule.New(db, audit.New(db), name, svc.Operations.EndJob())
		if err != nil {
			t.Fatal(err)
		}
		s.Now = now
		return s
	}
	schedulers := []*schedule.Scheduler{sch(db1, e.svc, "ctl-1"), sch(db2, svc2, "ctl-2")}
	// On D: the first runs find nothing due.
	for _, s := range schedulers {
		if _, err := s.RunDue(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.count(`SELECT COUNT(*) FROM ports WHERE status = 'cancelled'`); n != 0 {
		t.Fatalf("%d ports ended on D", n)
	}

	setNow(day.AddDate(0, 0, 1).Add(5 * time.Second))
	due, err := e.svc.Operations.dueEnds(e.ctx, now())
	if err != nil || len(due) != 2+6+2 {
		t.Fatalf("due = %v, %v; want 2 dated ends, 6 ports, 2 hubs", due, err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	direct := 0
	var errs []error
	for round := range 3 {
		for i, s := range schedulers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.RunDue(e.ctx); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}()
			ops := []*Operations{e.svc.Operations, svc2.Operations}[i]
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx := audit.WithActor(context.Background(), audit.System)
				// Ports before hubs, as the job lists them; the
				// starting point differs per caller.
				for k := range due {
					item := due[k]
					if k < len(due)-2 {
						item = due[(k+round+i)%(len(due)-2)]
					}
					ok, err := ops.doEnd(ctx, now(), item)
					mu.Lock()
					if err != nil {
						errs = append(errs, err)
					}
					if ok {
						direct++
					}
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	per := map[string]int{}
	rows, err := db1.Query(e.ctx, `SELECT action, target FROM audit_events WHERE action IN ('port.end', 'hub.remove')`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var action, target string
		if err := rows.Scan(&action, &target); err != nil {
			t.Fatal(err)
		}
		per[target]++
	}
	rows.Close()
	if len(per) != 2+6+2 {
		t.Errorf("audit entries for %d objects, want 10: %v", len(per), per)
	}
	for target, n := range per {
		if n != 1 {
			t.Errorf("%s ended %d times", target, n)
		}
	}
	for i, c := range custs {
		// One system version after the customer's own: the configured
		// port's end; for the last customer also its two hubs' removal.
		want := 2
		if i == 2 {
			want = 4
		}
		if n := e.count(`SELECT COUNT(*) FROM net_versions WHERE customer_id = ?`, c.id); n != want {
			t.Errorf("customer %d has %d versions, want %d", i, n, want)
		}
	}
	runs, err := schedule.Runs(e.ctx, db2, schedule.Query{Job: PortEndJobName})
	if err != nil {
		t.Fatal(err)
	}
	var byRuns int64
	for _, r := range runs {
		if r.Outcome != schedule.OK || r.Failed != 0 {
			t.Errorf("run = %+v", r)
		}
		byRuns += r.Done
	}
	if byRuns+int64(direct) != int64(len(due)) {
		t.Errorf("runs did %d and direct calls %d items; want %d in all", byRuns, direct, len(due))
	}
}
