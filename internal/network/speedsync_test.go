package network

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// TestSpeedChangesTwoControllers: two controllers — two database handles,
// two service models, two schedulers — on one PostgreSQL race on the same
// due speed changes, through their schedulers and by calling the job's item
// step directly (which bypasses the lease, as a controller whose lease
// expired mid-run would). Each change is acted on exactly once: one audit
// entry each, and the run records add up; the catalog and the node's
// desired state show the new speed from the date on, the old one before.
func TestSpeedChangesTwoControllers(t *testing.T) {
	t.Parallel()
	db1, db2 := storetest.Controllers(t) // two controllers, one database, one secret key
	e := newEnv(t, db1)                  // 2026-11-26 12:00 JST
	var clockMu sync.Mutex
	now := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return e.now }
	setNow := func(t time.Time) { clockMu.Lock(); defer clockMu.Unlock(); e.now = t }
	e.svc.now = now
	svc2 := New(db2, audit.New(db2), DefaultSettings)
	svc2.now = now

	const customers = 3
	var custs []customer
	for i := range customers {
		c := e.addCustomer(fmt.Sprintf("c%d", i))
		custs = append(custs, c)
		if _, err := e.svc.Operations.Place(e.ctx, c.op, c.codes[pAPrivate], PlaceInput{}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Operations.RequestBandwidthChange(e.ctx, c.op, c.codes[pAPrivate], BandwidthInput{SpeedMbps: 2_000, EffectiveDate: "2026-11-28"}); err != nil {
			t.Fatal(err)
		}
	}
	a := custs[0]
	// A later change of a's port that must not take effect on the 28th.
	if _, err := e.svc.Operations.RequestBandwidthChange(e.ctx, a.op, a.codes[pAPrivate], BandwidthInput{SpeedMbps: 5_000, EffectiveDate: "2026-11-30"}); err != nil {
		t.Fatal(err)
	}
	// a's port is configured, so it is in tyo-1's desired state.
	if _, err := e.svc.Workflow.StartEditing(a.ctx, a.sc); err != nil {
		t.Fatal(err)
	}
	cfg := a.config()
	cfg.Ports = []PortConfig{*port(&cfg, a.codes[pAPrivate])}
	if _, err := e.svc.Workflow.SaveDraft(a.ctx, a.sc, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Workflow.Apply(a.ctx, a.sc); err != nil {
		t.Fatal(err)
	}

	sch := func(db *store.DB, svc *Service, name string) *schedule.Scheduler {
		s, err := schedule.New(db, audit.New(db), name, svc.Operations.SpeedJob())
		if err != nil {
			t.Fatal(err)
		}
		s.Now = now
		return s
	}
	schedulers := []*schedule.Scheduler{sch(db1, e.svc, "ctl-1"), sch(db2, svc2, "ctl-2")}
	speed := func(c customer) int64 {
		t.Helper()
		p, err := e.cat.GetPort(e.ctx, tenanttest.Customer(c.id), c.codes[pAPrivate])
		if err != nil {
			t.Fatal(err)
		}
		return p.SpeedMbps
	}
	docSpeed := func() int64 {
		t.Helper()
		b, _, err := svc2.Compiler.DesiredStateDoc(e.ctx, "tyo-1")
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Hubs []struct {
				Ports []struct {
					PortCode  string `json:"port_code"`
					SpeedMbps int64  `json:"speed_mbps"`
				} `json:"ports"`
			} `json:"hubs"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		for _, h := range doc.Hubs {
			for _, p := range h.Ports {
				if p.PortCode == a.codes[pAPrivate] {
					return p.SpeedMbps
				}
			}
		}
		t.Fatalf("port %s not in the desired state: %s", a.codes[pAPrivate], b)
		return 0
	}

	// Before the date: the first runs (a new job is due at once) find
	// nothing to do.
	for _, s := range schedulers {
		if _, err := s.RunDue(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := speed(a); got != 1_000 {
		t.Fatalf("catalog speed before the date = %d", got)
	}
	if got := docSpeed(); got != 1_000 {
		t.Fatalf("desired-state speed before the date = %d", got)
	}

	// 2026-11-28 00:00:05 JST. The desired state follows the date by
	// itself, before any job has run.
	setNow(time.Date(2026, 11, 27, 15, 0, 5, 0, time.UTC))
	if got := docSpeed(); got != 2_000 {
		t.Fatalf("desired-state speed on the date, before the job = %d", got)
	}
	due, err := e.svc.Operations.dueSpeedChanges(e.ctx, now())
	if err != nil || len(due) != customers {
		t.Fatalf("due = %v, %v; want %d", due, err, customers)
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
				for k := range due {
					id := due[(k+round+i)%len(due)]
					ok, err := ops.applySpeedChange(ctx, now(), id)
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

	// Exactly once per change: one audit entry each.
	per := map[string]int{}
	rows, err := db1.Query(e.ctx, `SELECT detail FROM audit_events WHERE action = 'port.bandwidth.effective'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var raw string
		var d struct{ Change string }
		if err := rows.Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(raw), &d); err != nil {
			t.Fatal(err)
		}
		per[d.Change]++
	}
	rows.Close()
	for _, id := range due {
		if per[id] != 1 {
			t.Errorf("change %s has %d audit entries, want 1", id, per[id])
		}
	}
	if len(per) != customers {
		t.Errorf("audit entries for %d changes, want %d: %v", len(per), customers, per)
	}
	for _, c := range custs {
		if got := speed(c); got != 2_000 {
			t.Errorf("catalog speed of %s on the date = %d", c.codes[pAPrivate], got)
		}
	}
	if got := docSpeed(); got != 2_000 {
		t.Errorf("desired-state speed on the date = %d", got)
	}

	// The run records: one run per due time across both controllers (the
	// lease), each finished ok; the items the runs did are those the direct
	// calls did not.
	runs, err := schedule.Runs(e.ctx, db2, schedule.Query{Job: SpeedJobName})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 {
		t.Fatalf("runs = %+v; want 2 (the first start, the 28th)", runs)
	}
	var byRuns int64
	for _, r := range runs {
		if r.Outcome != schedule.OK || r.FinishedAt == nil || r.Failed != 0 {
			t.Errorf("run = %+v", r)
		}
		byRuns += r.Done
	}
	if byRuns+int64(direct) != customers {
		t.Errorf("runs did %d and direct calls %d changes; want %d in all", byRuns, direct, customers)
	}
	var jobAudits int
	if err := db1.QueryRow(e.ctx, `SELECT COUNT(*) FROM audit_events WHERE action = 'job.run' AND target = ?`, "job:"+SpeedJobName).Scan(&jobAudits); err != nil {
		t.Fatal(err)
	}
	if jobAudits != len(runs) {
		t.Errorf("%d job.run audit entries for %d runs", jobAudits, len(runs))
	}

	// The next due time is the next JST midnight; the change of the 30th
	// waits for it.
	setNow(time.Date(2026, 11, 29, 15, 0, 1, 0, time.UTC))
	for _, s := range schedulers {
		if _, err := s.RunDue(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := speed(a); got != 5_000 {
		t.Errorf("catalog speed on the 30th = %d", got)
	}
	if runs, _ := schedule.Runs(e.ctx, db1, schedule.Query{Job: SpeedJobName}); len(runs) != 3 || runs[0].Done != 1 {
		t.Errorf("runs after the 30th = %+v", runs)
	}
}

// TestSpeedChangeLateNeverUndoes: a change applied late (the job missed its
// date) sets the catalog to the speed in effect today, not to its own
// target, so a newer change that took effect on the day it was requested is
// kept.
func TestSpeedChangeLateNeverUndoes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a := e.addCustomer("a")
		code := a.codes[pAPrivate]
		if _, err := e.svc.Operations.RequestBandwidthChange(e.ctx, a.op, code, BandwidthInput{SpeedMbps: 2_000, EffectiveDate: "2026-11-28"}); err != nil {
			t.Fatal(err)
		}
		// On the 28th, before the job runs, a change effective the same day.
		e.now = e.now.AddDate(0, 0, 2)
		if _, err := e.svc.Operations.RequestBandwidthChange(e.ctx, a.op, code, BandwidthInput{SpeedMbps: 5_000, EffectiveDate: "2026-11-28"}); err != nil {
			t.Fatal(err)
		}
		if n, err := e.svc.Operations.SyncSpeeds(e.ctx); err != nil || n != 1 {
			t.Fatalf("sync = %d, %v", n, err)
		}
		p, err := e.cat.GetPort(e.ctx, tenanttest.Customer(a.id), code)
		if err != nil || p.SpeedMbps != 5_000 {
			t.Fatalf("catalog speed = %d, %v; want 5000", p.SpeedMbps, err)
		}
		b, _, _ := e.svc.Compiler.DesiredStateDoc(e.ctx, "tyo-1")
		if bytes.Contains(b, []byte(`"speed_mbps": 2000`)) {
			t.Fatal("desired state holds the older speed")
		}
	})
}
