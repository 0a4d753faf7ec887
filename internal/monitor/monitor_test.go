package monitor

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

func TestInputRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		for _, tc := range []struct {
			field string
			edit  func(*Input)
		}{
			{"name", func(in *Input) { in.Name = "" }},
			{"name", func(in *Input) { in.Name = strings.Repeat("x", 101) }},
			{"target", func(in *Input) { in.Target = "2001:db8::1" }},
			{"target", func(in *Input) { in.Target = "127.0.0.1" }},
			{"target", func(in *Input) { in.Target = "0.1.2.3" }},
			{"target", func(in *Input) { in.Target = "239.1.1.1" }},
			{"target", func(in *Input) { in.Target = "255.255.255.255" }},
			{"probe", func(in *Input) { in.Probe = "udp" }},
			{"tcp_port", func(in *Input) { in.Probe = "tcp" }},
			{"tcp_port", func(in *Input) { in.TCPPort = 22 }},
			{"interval_seconds", func(in *Input) { in.IntervalSeconds = 5 }},
			{"interval_seconds", func(in *Input) { in.IntervalSeconds = 301 }},
			{"fail_after", func(in *Input) { in.FailAfter = 11 }},
			{"port_code", func(in *Input) { in.PortCode = "shc00000002" }}, // cus_b's port
		} {
			in := icmp("web")
			tc.edit(&in)
			_, err := e.svc.Create(e.ctx, scA, in)
			if f, ok := fault.As(err); !ok || f.Field != tc.field {
				t.Errorf("%+v: %v, want a fault on %s", in, err, tc.field)
			}
		}
		if n := e.count(`SELECT COUNT(*) FROM monitors`); n != 0 {
			t.Errorf("%d monitors after refusals", n)
		}
		in := Input{Name: "db", PortCode: "shc00000001", Target: "198.51.100.7", Probe: "tcp", TCPPort: 5432}
		m := e.create(scA, in)
		if m.IntervalSeconds != DefaultInterval || m.FailAfter != DefaultFailAfter || m.State != Unknown {
			t.Errorf("defaults: %+v", m)
		}
	})
}

func TestQuota(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		if _, err := e.svc.Create(e.ctx, scB, Input{Name: "x", PortCode: "shc00000002", Target: "192.0.2.1", Probe: "icmp"}); !fault.Is(err, fault.Conflict) {
			t.Errorf("a customer without the option added a monitor: %v", err)
		}
		m1 := e.create(scA, icmp("one"))
		e.advance(time.Second)
		m2 := e.create(scA, icmp("two"))
		if _, err := e.svc.Create(e.ctx, scA, icmp("three")); !fault.Is(err, fault.Conflict) {
			t.Errorf("a third monitor on an option of 2: %v", err)
		}
		desired := func() []string {
			t.Helper()
			var got []string
			err := db.InTx(e.ctx, func(tx *store.Tx) error {
				mons, err := e.svc.Desired(e.ctx, tx, []catalog.HubID{"hub_a", "hub_b"})
				for _, m := range mons["hub_a"] {
					got = append(got, m.ID)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		if got := desired(); len(got) != 2 {
			t.Errorf("desired %v, want both", got)
		}
		// The option shrinks to 1: the newest is over quota, absent from
		// the desired state, and takes no probes.
		if _, err := db.Exec(e.ctx, `UPDATE contract_options SET quantity = 1 WHERE id = 'opt_a'`); err != nil {
			t.Fatal(err)
		}
		if got := desired(); len(got) != 1 || got[0] != m1.ID {
			t.Errorf("desired %v, want only %s", got, m1.ID)
		}
		ms, err := e.svc.List(e.ctx, scA)
		if err != nil || len(ms) != 2 || ms[0].OverQuota || !ms[1].OverQuota {
			t.Fatalf("list %+v %v: want the second over quota", ms, err)
		}
		if err := e.svc.Ingest(e.ctx, "tyo-1", report("hub_a", "cus_a", probes(m2.ID, t0, true, true))); err != nil {
			t.Fatal(err)
		}
		if n := e.count(`SELECT COUNT(*) FROM monitor_bins WHERE monitor_id = ?`, m2.ID); n != 0 {
			t.Errorf("an over-quota monitor took probes")
		}
		// Stopped monitors are absent from the desired state too.
		if _, err := e.svc.Stop(e.ctx, scA, m1.ID, ""); err != nil {
			t.Fatal(err)
		}
		if got := desired(); len(got) != 0 {
			t.Errorf("desired %v after the stop, want none", got)
		}
	})
}

func TestIngestAndSeries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		m := e.create(scA, icmp("web"))
		rep := report("hub_a", "cus_a", probes(m.ID, t0.Add(time.Minute), true, true, false, false))
		for range 2 { // the same report twice
			if err := e.svc.Ingest(e.ctx, "tyo-1", rep); err != nil {
				t.Fatal(err)
			}
		}
		if st := e.state(m.ID); st != Down {
			t.Errorf("state %s, want down", st)
		}
		evs, err := e.svc.Events(e.ctx, scA, m.ID, Span{From: t0, To: t0.Add(time.Hour)})
		if err != nil || len(evs) != 2 || evs[0].To != Down || evs[0].Reason != "timeout" || evs[1].To != Up {
			t.Fatalf("events %+v %v", evs, err)
		}
		bs, err := e.svc.Series(e.ctx, scA, m.ID, Span{From: t0, To: t0.Add(time.Hour)})
		if err != nil || len(bs) != 1 || bs[0].Sent != 4 || bs[0].Answered != 2 || bs[0].LossPercent != 50 || *bs[0].RTTMaxMicros != 2000 {
			t.Fatalf("series %+v %v", bs, err)
		}
		var csv strings.Builder
		if err := WriteCSV(&csv, bs); err != nil || !strings.Contains(csv.String(), "2026-12-01T12:00:00+09:00,4,2,50.0,1000,1500,2000") {
			t.Errorf("csv %q %v", csv.String(), err)
		}
		// Another customer's hub naming cus_a's monitor is ignored.
		other := report("hub_b", "cus_b", probes(m.ID, t0.Add(time.Hour), true, true, true))
		if err := e.svc.Ingest(e.ctx, "osa-1", other); err != nil {
			t.Fatal(err)
		}
		if st := e.state(m.ID); st != Down {
			t.Errorf("another hub's report moved the monitor to %s", st)
		}
	})
}

func TestCrossCustomer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		m := e.create(scA, icmp("web"))
		name := "mine"
		calls := map[string]error{}
		_, calls["get"] = e.svc.Get(e.ctx, scB, m.ID)
		_, calls["update"] = e.svc.Update(e.ctx, scB, m.ID, Patch{Name: &name})
		_, calls["stop"] = e.svc.Stop(e.ctx, scB, m.ID, "")
		_, calls["resume"] = e.svc.Resume(e.ctx, scB, m.ID, "")
		_, calls["events"] = e.svc.Events(e.ctx, scB, m.ID, Span{})
		_, calls["series"] = e.svc.Series(e.ctx, scB, m.ID, Span{})
		calls["delete"] = e.svc.Delete(e.ctx, scB, m.ID)
		for k, err := range calls {
			if !fault.Is(err, fault.NotFound) {
				t.Errorf("%s of another customer's monitor: %v, want not found", k, err)
			}
		}
		if ms, err := e.svc.List(e.ctx, scB); err != nil || len(ms) != 0 {
			t.Errorf("B lists %+v %v", ms, err)
		}
		if st := e.state(m.ID); st != Unknown {
			t.Errorf("state %s", st)
		}
		// A reader cannot change.
		reader := tenanttest.As("cus_a", "user", actRead)
		if _, err := e.svc.Stop(e.ctx, reader, m.ID, ""); !fault.Is(err, fault.Forbidden) {
			t.Errorf("a reader stopped a monitor: %v", err)
		}
	})
}

func TestStopRaisesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		m := e.create(scA, icmp("web"))
		if _, err := e.svc.Stop(e.ctx, scA, m.ID, "maintenance"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Stop(e.ctx, scA, m.ID, ""); !fault.Is(err, fault.Conflict) {
			t.Errorf("stopped twice: %v", err)
		}
		if err := e.svc.Ingest(e.ctx, "tyo-1", report("hub_a", "cus_a", probes(m.ID, t0, true, true, false, false))); err != nil {
			t.Fatal(err)
		}
		e.reported("nod_t", t0.Add(-time.Hour)) // and the node is silent
		runWatch(t, e, e.svc)
		if st := e.state(m.ID); st != Stopped {
			t.Errorf("state %s", st)
		}
		if n := e.count(`SELECT COUNT(*) FROM mail_outbox`); n != 0 {
			t.Errorf("%d mails while stopped", n)
		}
		if n := e.count(`SELECT COUNT(*) FROM monitor_events WHERE reason <> 'stopped'`); n != 0 {
			t.Errorf("%d changes while stopped", n)
		}
		if n := e.count(`SELECT COUNT(*) FROM audit_events WHERE action = 'monitor.stop' AND customer_id = 'cus_a'`); n != 1 {
			t.Errorf("%d stop audit entries", n)
		}
		got, err := e.svc.Resume(e.ctx, scA, m.ID, "")
		if err != nil || got.State != Unknown {
			t.Fatalf("resume: %+v %v", got, err)
		}
		e.reported("nod_t", t0)
		if err := e.svc.Ingest(e.ctx, "tyo-1", report("hub_a", "cus_a", probes(m.ID, t0.Add(time.Minute), true, true))); err != nil {
			t.Fatal(err)
		}
		if st := e.state(m.ID); st != Up {
			t.Errorf("state %s after resuming, want up", st)
		}
	})
}

func runWatch(t *testing.T, e *env, svcs ...*Service) {
	t.Helper()
	var wg sync.WaitGroup
	for i, s := range svcs {
		sch, err := schedule.New(s.db, s.audit, "ctl-"+string(rune('1'+i)), s.WatchJob())
		if err != nil {
			t.Fatal(err)
		}
		sch.Now = e.clock
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := sch.RunDue(e.ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}

func TestDamping(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		m := e.create(scA, Input{Name: "flappy", PortCode: "shc00000001", Target: "192.0.2.10", Probe: "icmp", IntervalSeconds: 10, FailAfter: 1})
		e.reported("nod_t", t0)
		at := t0
		// One probe to start, then 5 changes in 10 minutes: down, up, down,
		// up, down, one every 2 minutes.
		ingest := func(ok bool) {
			t.Helper()
			at = at.Add(10 * time.Second)
			if err := e.svc.Ingest(e.ctx, "tyo-1", report("hub_a", "cus_a", probes(m.ID, at, ok))); err != nil {
				t.Fatal(err)
			}
		}
		ingest(true)
		for i := range 5 {
			ingest(i%2 == 1)
			e.advance(2 * time.Minute)
			e.reported("nod_t", e.clock())
			at = e.clock()
		}
		mails := func(cause string) int {
			return e.count(`SELECT COUNT(*) FROM mail_outbox WHERE cause = ? AND customer_id = 'cus_a'`, cause)
		}
		if n := mails(causeChange); n != recipientsA {
			t.Errorf("%d change mails, want one per recipient (%d)", n, recipientsA)
		}
		if n := e.count(`SELECT COUNT(*) FROM monitor_events WHERE monitor_id = ?`, m.ID); n != 5 {
			t.Errorf("%d recorded changes, want 5", n)
		}
		// A fresh failure, no change: the probes still arrive, so the watch
		// does not make the monitor unknown ("no probes").
		at = e.clock().Add(-10 * time.Second)
		ingest(false)
		// The window ended at the 10th minute: the summary, once, by two controllers.
		runWatch(t, e, e.svc, e.service(db))
		if n := mails(causeSummary); n != recipientsA {
			t.Errorf("%d summary mails, want one per recipient (%d)", n, recipientsA)
		}
		var body string
		if err := store.Scan(db.QueryRow(e.ctx, `SELECT subject FROM mail_outbox WHERE cause = ? AND language = 'en' ORDER BY id LIMIT 1`, causeSummary), &body); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(body, "4 changes, now down") {
			t.Errorf("summary subject %q", body)
		}
		runWatch(t, e, e.svc)
		if n := mails(causeSummary); n != recipientsA {
			t.Errorf("%d summary mails after another run", n)
		}
	})
}

func TestWatchSilentOnce(t *testing.T) {
	db1, db2 := storetest.Controllers(t)
	e := newEnv(t, db1)
	m := e.create(scA, icmp("web")) // interval 10 s: silent after 60 s
	e.reported("nod_t", t0)
	if err := e.svc.Ingest(e.ctx, "tyo-1", report("hub_a", "cus_a", probes(m.ID, t0, true, true))); err != nil {
		t.Fatal(err)
	}
	e.advance(59 * time.Second)
	runWatch(t, e, e.svc, e.service(db2))
	if st := e.state(m.ID); st != Up {
		t.Fatalf("state %s before the node is silent", st)
	}
	e.advance(time.Minute) // the job is due a minute after its last run
	runWatch(t, e, e.svc, e.service(db2))
	if st := e.state(m.ID); st != Unknown {
		t.Errorf("state %s, want unknown", st)
	}
	if n := e.count(`SELECT COUNT(*) FROM monitor_events WHERE monitor_id = ? AND reason = ?`, m.ID, reasonSilent); n != 1 {
		t.Errorf("%d node-silent changes, want 1", n)
	}
}

func TestIngestOnceByTwoControllers(t *testing.T) {
	db1, db2 := storetest.Controllers(t)
	e := newEnv(t, db1)
	m := e.create(scA, icmp("web"))
	svcs := []*Service{e.svc, e.service(db2)}
	rep := report("hub_a", "cus_a", probes(m.ID, t0, true, true, false, false, true))
	var wg sync.WaitGroup
	for round := range 3 {
		for _, s := range svcs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.Ingest(context.Background(), "tyo-1", rep); err != nil {
					t.Errorf("round %d: %v", round, err)
				}
			}()
		}
		wg.Wait()
	}
	if n := e.count(`SELECT COALESCE(SUM(sent), 0) FROM monitor_bins WHERE monitor_id = ?`, m.ID); n != 5 {
		t.Errorf("%d probes counted, want 5", n)
	}
	if n := e.count(`SELECT COUNT(*) FROM monitor_events WHERE monitor_id = ?`, m.ID); n != 3 {
		t.Errorf("%d changes, want 3 (up, down, up)", n)
	}
}

func TestStoppedReminder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		m := e.create(scA, icmp("web"))
		if _, err := e.svc.Stop(e.ctx, scA, m.ID, ""); err != nil {
			t.Fatal(err)
		}
		e.advance(StoppedLong - time.Minute)
		runWatch(t, e, e.svc)
		if got, _ := e.svc.Get(e.ctx, scA, m.ID); got.StoppedLong {
			t.Error("flagged before 7 days")
		}
		e.advance(2 * time.Minute)
		runWatch(t, e, e.svc, e.service(db))
		runWatch(t, e, e.svc)
		if n := e.count(`SELECT COUNT(*) FROM mail_outbox WHERE cause = ?`, causeReminder); n != 2 {
			t.Errorf("%d reminders, want one per operations administrator (2)", n)
		}
		if got, _ := e.svc.Get(e.ctx, scA, m.ID); !got.StoppedLong {
			t.Error("not flagged after 7 days")
		}
	})
}

func TestUpdateAndDelete(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		m := e.create(scA, icmp("web"))
		if err := e.svc.Ingest(e.ctx, "tyo-1", report("hub_a", "cus_a", probes(m.ID, t0, true, true))); err != nil {
			t.Fatal(err)
		}
		fa := 5
		got, err := e.svc.Update(e.ctx, scA, m.ID, Patch{FailAfter: &fa})
		if err != nil || got.FailAfter != 5 || got.State != Up {
			t.Fatalf("update fail_after: %+v %v", got, err)
		}
		target := "192.0.2.99"
		got, err = e.svc.Update(e.ctx, scA, m.ID, Patch{Target: &target})
		if err != nil || got.Target != target || got.State != Unknown {
			t.Fatalf("update target: %+v %v (a new target starts unknown)", got, err)
		}
		if n := e.count(`SELECT COUNT(*) FROM mail_outbox`); n != 1*recipientsA {
			t.Errorf("%d mails: only the change to up is mailed, not the customer's own edit", n)
		}
		if err := e.svc.Delete(e.ctx, scA, m.ID); err != nil {
			t.Fatal(err)
		}
		for _, tbl := range []string{"monitors", "monitor_events", "monitor_bins"} {
			if n := e.count(`SELECT COUNT(*) FROM ` + tbl); n != 0 {
				t.Errorf("%d rows left in %s", n, tbl)
			}
		}
	})
}

// TestWatchOverQuota: when the option shrinks, the newest monitor that
// was up becomes unknown ("over quota"), once with two controllers; the
// older one stays up.
func TestWatchOverQuota(t *testing.T) {
	db1, db2 := storetest.Controllers(t)
	e := newEnv(t, db1)
	m1 := e.create(scA, icmp("one"))
	e.advance(time.Second)
	m2 := e.create(scA, icmp("two"))
	e.reported("nod_t", e.clock())
	rep := report("hub_a", "cus_a", probes(m1.ID, e.clock(), true, true), probes(m2.ID, e.clock(), true, true))
	if err := e.svc.Ingest(e.ctx, "tyo-1", rep); err != nil {
		t.Fatal(err)
	}
	if _, err := db1.Exec(e.ctx, `UPDATE contract_options SET quantity = 1 WHERE id = 'opt_a'`); err != nil {
		t.Fatal(err)
	}
	runWatch(t, e, e.svc, e.service(db2))
	if a, b := e.state(m1.ID), e.state(m2.ID); a != Up || b != Unknown {
		t.Errorf("states %s, %s; want up, unknown", a, b)
	}
	if n := e.count(`SELECT COUNT(*) FROM monitor_events WHERE monitor_id = ? AND reason = ?`, m2.ID, reasonQuota); n != 1 {
		t.Errorf("%d over-quota changes, want 1", n)
	}
}

// TestReasonRefused: a stop or resume reason that is not one line of
// text is refused on its field and recorded nowhere.
func TestReasonRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		m := e.create(scA, icmp("web"))
		for _, r := range []string{"a\nb", "a\rb", "a\tb", "a\x00b", "a\x1b[31mb", "a\u202eb", "a\u2028b", "a\x7fb",
			strings.Repeat("x", maxReason+1)} {
			if _, err := e.svc.Stop(e.ctx, scA, m.ID, r); !isField(err, "reason") {
				t.Errorf("stop with %q: %v, want a fault on reason", r, err)
			}
		}
		if st := e.state(m.ID); st != Unknown {
			t.Fatalf("state %s after refused stops", st)
		}
		if _, err := e.svc.Stop(e.ctx, scA, m.ID, "メンテナンス"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Resume(e.ctx, scA, m.ID, "done\n"); !isField(err, "reason") {
			t.Errorf("resume with a line feed: %v, want a fault on reason", err)
		}
		if n := e.count(`SELECT COUNT(*) FROM audit_events WHERE action IN ('monitor.stop', 'monitor.resume')`); n != 1 {
			t.Errorf("%d stop/resume audit entries, want 1", n)
		}
	})
}

func isField(err error, field string) bool {
	f, ok := fault.As(err)
	return ok && f.Field == field
}

// TestIngestLosesToAConcurrentStop: a stop committed between takeProbes'
// read and its UPDATE wins; the probes count nothing and raise nothing.
func TestIngestLosesToAConcurrentStop(t *testing.T) {
	db1, db2 := storetest.Controllers(t)
	e := newEnv(t, db1)
	m := e.create(scA, icmp("web"))
	e.reported("nod_t", t0)
	if err := e.svc.Ingest(e.ctx, "tyo-1", report("hub_a", "cus_a", probes(m.ID, t0, true))); err != nil {
		t.Fatal(err)
	}
	other := e.service(db2)
	stopped := false
	e.svc.beforeTake = func() {
		if stopped {
			return
		}
		stopped = true
		if _, err := other.Stop(e.ctx, scA, m.ID, "maintenance"); err != nil {
			t.Errorf("concurrent stop: %v", err)
		}
	}
	if err := e.svc.Ingest(e.ctx, "tyo-1", report("hub_a", "cus_a", probes(m.ID, t0.Add(10*time.Second), true, true))); err != nil {
		t.Fatal(err)
	}
	if !stopped {
		t.Fatal("the hook did not run")
	}
	if st := e.state(m.ID); st != Stopped {
		t.Errorf("state %s, want stopped", st)
	}
	if n := e.count(`SELECT COUNT(*) FROM mail_outbox`); n != 0 {
		t.Errorf("%d mails", n)
	}
	if n := e.count(`SELECT COUNT(*) FROM monitor_events WHERE monitor_id = ? AND reason <> 'stopped'`, m.ID); n != 0 {
		t.Errorf("%d changes besides the stop", n)
	}
	if n := e.count(`SELECT COALESCE(SUM(sent), 0) FROM monitor_bins WHERE monitor_id = ?`, m.ID); n != 1 {
		t.Errorf("%d probes counted, want only the first report's 1", n)
	}
}

// TestWatchNoProbes: a node that keeps reporting but sends no probes of a
// monitor leaves it unknown ("no probes") once its last probe is older
// than 3 intervals and 30 s; a node silent still says "node silent".
func TestWatchNoProbes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		m := e.create(scA, icmp("web")) // interval 10 s: silent after 60 s
		e.reported("nod_t", t0)
		if err := e.svc.Ingest(e.ctx, "tyo-1", report("hub_a", "cus_a", probes(m.ID, t0, true, true))); err != nil {
			t.Fatal(err)
		}
		e.advance(59 * time.Second)
		e.reported("nod_t", e.clock())
		runWatch(t, e, e.svc)
		if st := e.state(m.ID); st != Up {
			t.Fatalf("state %s while probes are recent", st)
		}
		e.advance(time.Minute)
		e.reported("nod_t", e.clock()) // the node reports, without probes
		runWatch(t, e, e.svc)
		if st := e.state(m.ID); st != Unknown {
			t.Errorf("state %s, want unknown", st)
		}
		if n := e.count(`SELECT COUNT(*) FROM monitor_events WHERE monitor_id = ? AND reason = ?`, m.ID, reasonNoProbes); n != 1 {
			t.Errorf("%d no-probes changes, want 1", n)
		}
	})
}

func TestSilent(t *testing.T) {
	now := t0.Add(time.Hour)
	at := func(d time.Duration) string { return clock.Store(now.Add(-d)) }
	for _, c := range []struct {
		reported, last, since string
		want                  string
	}{
		{"", at(time.Second), at(time.Second), reasonSilent},
		{at(61 * time.Second), at(time.Second), at(time.Second), reasonSilent},
		{at(61 * time.Second), at(time.Hour), at(time.Hour), reasonSilent},
		{at(time.Second), at(61 * time.Second), at(time.Hour), reasonNoProbes},
		{at(time.Second), "", at(61 * time.Second), reasonNoProbes},
		{at(time.Second), "", at(59 * time.Second), ""},
		{at(time.Second), at(59 * time.Second), at(time.Hour), ""},
	} {
		if got := silent(c.reported, c.last, c.since, 10, now); got != c.want {
			t.Errorf("silent(%q, %q, %q) = %q, want %q", c.reported, c.last, c.since, got, c.want)
		}
	}
}
