package network

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// quotaReport is a node report of the port's single session holding n
// prefixes, as the hub's customer.
func (e *env) quotaReport(code string, n int) observed.Report {
	e.t.Helper()
	var hub, cust string
	if err := store.Scan(e.db.QueryRow(e.ctx, `SELECT hub_id, customer_id FROM ports WHERE port_code = ?`, code), &hub, &cust); err != nil {
		e.t.Fatal(err)
	}
	return observed.Report{Schema: observed.Schema, ObservedAt: e.now, Hubs: []observed.Hub{{HubID: hub, CustomerID: cust,
		Ports: []observed.Port{{PortCode: code, Sessions: []observed.Session{{Name: "single", State: "up", Info: "Established", Imported: n}}}}}}}
}

// The warning at 90 % is given once per crossing: not again while the
// count stays above 80 %, again after it fell below 80 % and came back.
func TestRouteQuotaWarnsOncePerCrossing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a := e.addCustomer("a")
		e.addOpsAdmins(a)
		code := a.codes[pOnPrem]
		e.place(a, pOnPrem)
		e.applyOnly(a, code)
		q := e.svc.RouteQuota()
		limit := e.svc.settings.RouteLimit
		warnings := func() int { return len(e.auditDetails(a.id, AuditRouteQuotaWarning)) }
		for _, step := range []struct {
			n, want int
		}{
			{limit*9/10 - 1, 0}, {limit * 9 / 10, 1}, {limit * 95 / 100, 1}, {limit * 85 / 100, 1}, {limit * 9 / 10, 1},
			{limit*8/10 - 1, 1}, {limit * 9 / 10, 2},
		} {
			if err := q.Ingest(e.ctx, "tyo-1", e.quotaReport(code, step.n)); err != nil {
				t.Fatal(err)
			}
			if got := warnings(); got != step.want {
				t.Fatalf("after %d of %d prefixes: %d warnings, want %d", step.n, limit, got, step.want)
			}
		}
		d := e.auditDetails(a.id, AuditRouteQuotaWarning)[0]
		if d["percent"] != float64(90) || d["prefixes"] != float64(limit*9/10) || d["session"] != "single" || d["node"] != "tyo-1" {
			t.Errorf("audit detail %v", d)
		}
		if ev := (audit.Event{Action: AuditRouteQuotaWarning}); audit.Wakes(ev) {
			t.Error("a route-quota warning wakes the nodes' polls; it changes no desired state")
		}
		mails := e.mails(a.id, AuditRouteQuotaWarning)
		if len(mails) != 4 {
			t.Fatalf("%d mails, want one per operations administrator and warning", len(mails))
		}
		for _, m := range mails {
			want := map[string][]string{"en": {"Port " + code, "90% of the limit", "once"}, "ja": {"上限の 90%", "一度だけ"}}[m.lang]
			for _, w := range want {
				if !strings.Contains(m.subject+"\n"+m.body, w) {
					t.Errorf("%s mail lacks %q:\n%s\n%s", m.lang, w, m.subject, m.body)
				}
			}
		}
		e.reportCounts(code, limit*9/10)
		pq, err := e.svc.Workflow.GetRouteQuota(a.ctx, a.sc, code)
		if err != nil {
			t.Fatal(err)
		}
		if len(pq.Sessions) != 1 || pq.Sessions[0].Accepted != int64(limit*9/10) || pq.Sessions[0].Percent != 90 ||
			pq.Sessions[0].WarnedAt == nil || pq.CountedAt == nil {
			t.Fatalf("route quota %+v", pq)
		}
	})
}

// A report may warn only of a port placed on its node, under the hub's
// customer.
func TestRouteQuotaChecksThePort(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a, b := e.addCustomer("a"), e.addCustomer("b")
		code := a.codes[pOnPrem]
		e.place(a, pOnPrem)
		e.applyOnly(a, code)
		q := e.svc.RouteQuota()
		full := e.svc.settings.RouteLimit
		if err := q.Ingest(e.ctx, "osa-1", e.quotaReport(code, full)); err == nil {
			t.Error("another node warned of the port")
		}
		r := e.quotaReport(code, full)
		r.Hubs[0].CustomerID = string(b.id)
		if err := q.Ingest(e.ctx, "tyo-1", r); err == nil {
			t.Error("a report naming another customer warned of the port")
		}
		if n := len(e.auditDetails(a.id, AuditRouteQuotaWarning)) + len(e.auditDetails(b.id, AuditRouteQuotaWarning)); n != 0 {
			t.Fatalf("%d warnings from refused reports", n)
		}
		if _, err := e.svc.Workflow.GetRouteQuota(b.ctx, b.sc, code); err == nil {
			t.Fatal("customer b read a's route quota")
		}
	})
}

// Two controllers taking the same report at once warn once.
func TestRouteQuotaTwoControllersWarnOnce(t *testing.T) {
	one, two := storetest.Controllers(t)
	e := newEnv(t, one)
	a := e.addCustomer("a")
	code := a.codes[pOnPrem]
	e.place(a, pOnPrem)
	e.applyOnly(a, code)
	other := New(two, audit.New(two), DefaultSettings)
	other.now = e.svc.now
	r := e.quotaReport(code, e.svc.settings.RouteLimit)
	var wg sync.WaitGroup
	for _, s := range []*Service{e.svc, other} {
		wg.Go(func() {
			if err := s.RouteQuota().Ingest(context.Background(), "tyo-1", r); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := len(e.auditDetails(a.id, AuditRouteQuotaWarning)); n != 1 {
		t.Fatalf("%d warnings, want 1", n)
	}
}
