package notice

import (
	"context"
	"github.com/tsunagi-net/tsunagi/internal/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

func customerIDs(cs []AffectedCustomer) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.CustomerID)
	}
	return out
}

func TestResolve(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		for _, tc := range []struct {
			name  string
			scope Scope
			want  []string
			why   Reason // one of the first customer's reasons
		}{
			{"node", Scope{Nodes: []string{"tyo-1"}}, []string{"cus_a"},
				Reason{Kind: ReasonPortNode, Port: "PORT-A", Node: "tyo-1", PhysicalPort: "xe-0"}},
			{"node's hub", Scope{Nodes: []string{"tyo-1"}}, []string{"cus_a"}, Reason{Kind: ReasonHubNode, Hub: "hub_a", Node: "tyo-1"}},
			{"region", Scope{Regions: []string{"osa"}}, []string{"cus_b"}, Reason{Kind: ReasonHubRegion, Hub: "hub_b", Region: "osa"}},
			{"physical port", Scope{PhysicalPorts: []PhysicalPort{{"osa-1", "xe-0"}}}, []string{"cus_b"},
				Reason{Kind: ReasonPortPhysical, Port: "PORT-B", Node: "osa-1", PhysicalPort: "xe-0"}},
			{"idle physical port", Scope{PhysicalPorts: []PhysicalPort{{"tyo-1", "xe-1"}}}, nil, Reason{}},
			{"hub", Scope{Hubs: []string{"hub_b"}}, []string{"cus_b"}, Reason{Kind: ReasonHub, Hub: "hub_b"}},
			{"customer", Scope{Customers: []string{"cus_a"}}, []string{"cus_a"}, Reason{Kind: ReasonCustomer}},
			{"both nodes", Scope{Nodes: []string{"tyo-1", "osa-1"}}, []string{"cus_a", "cus_b"}, Reason{Kind: ReasonHubNode, Hub: "hub_a", Node: "tyo-1"}},
		} {
			got, err := Resolve(e.ctx, db, tc.scope)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if !slices.Equal(customerIDs(got), tc.want) {
				t.Errorf("%s: reached %v, want %v", tc.name, customerIDs(got), tc.want)
			}
			if tc.why.Kind != "" && !slices.Contains(got[0].Reasons, tc.why) {
				t.Errorf("%s: reasons %v lack %q", tc.name, got[0].Reasons, tc.why)
			}
		}
		_, err := Resolve(e.ctx, db, Scope{Nodes: []string{"tyo-9"}, Regions: []string{"mars"},
			PhysicalPorts: []PhysicalPort{{"tyo-1", "xe-7"}}, Hubs: []string{"hub_z"}, Customers: []string{"cus_z"}})
		f, ok := fault.As(err)
		if !ok || f.Kind != fault.Invalid || f.Field != "scope" {
			t.Fatalf("unknown names: %v", err)
		}
		for _, name := range []string{"node tyo-9", "region mars", "physical port tyo-1/xe-7", "hub hub_z", "customer cus_z"} {
			if !strings.Contains(f.Message, name) {
				t.Errorf("the refusal %q does not name %s", f.Message, name)
			}
		}
		// An ended port and hub, and a customer no longer served, are
		// reached by nothing.
		e.exec(`UPDATE ports SET status = 'cancelled', ended_at = ? WHERE id = 'prt_cus_b'`, clock.Store(clock.Now()))
		if got, err := Resolve(e.ctx, db, Scope{PhysicalPorts: []PhysicalPort{{"osa-1", "xe-0"}}}); err != nil || len(got) != 0 {
			t.Errorf("an ended port: %v %v", got, err)
		}
		e.exec(`UPDATE hubs SET ended_at = ? WHERE id = 'hub_b'`, clock.Store(clock.Now()))
		if got, err := Resolve(e.ctx, db, Scope{Nodes: []string{"osa-1"}, Regions: []string{"osa"}, Hubs: []string{"hub_b"}}); err != nil || len(got) != 0 {
			t.Errorf("an ended hub: %v %v", got, err)
		}
		e.exec(`UPDATE customers SET status = 'terminated', ended_at = ? WHERE id = 'cus_a'`, clock.Store(clock.Now()))
		if got, err := Resolve(e.ctx, db, Scope{Nodes: []string{"tyo-1"}, Customers: []string{"cus_a"}}); err != nil || len(got) != 0 {
			t.Errorf("an ended customer: %v %v", got, err)
		}
	})
}

func TestDraftValidation(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t)
	e := newEnv(t, db)
	valid := maintenance(30)
	for _, tc := range []struct {
		name, field string
		edit        func(d *Draft)
	}{
		{"kind", "kind", func(d *Draft) { d.Kind = "rumour" }},
		{"category", "category", func(d *Draft) { d.Category = "outage" }},
		{"severity on an announcement", "severity", func(d *Draft) { d.Severity = "major" }},
		{"title with LF", "title_ja", func(d *Draft) { d.TitleJA = "保守\nBcc: x@example.jp" }},
		{"title with CR", "title_en", func(d *Draft) { d.TitleEN = "Maintenance\r" }},
		{"empty title", "title_en", func(d *Draft) { d.TitleEN = " " }},
		{"long title", "title_ja", func(d *Draft) { d.TitleJA = strings.Repeat("あ", 201) }},
		{"empty body", "body_en", func(d *Draft) { d.BodyEN = "" }},
		{"long body", "body_ja", func(d *Draft) { d.BodyJA = strings.Repeat("x", 20001) }},
		{"no start", "starts_at", func(d *Draft) { d.StartsAt, d.EndsAt = nil, nil }},
		{"end before start", "ends_at", func(d *Draft) { t := d.StartsAt.Add(-time.Hour); d.EndsAt = &t }},
		{"security announcement", "security", func(d *Draft) { d.Security = true }},
		{"empty scope", "scope", func(d *Draft) { d.Scope = Scope{Nodes: []string{" "}} }},
		{"unknown node", "scope", func(d *Draft) { d.Scope = Scope{Nodes: []string{"tyo-9"}} }},
		// Category security is a security incident, statement required.
		{"security category without the statement", "data_affected", func(d *Draft) {
			*d = outage(d.Scope)
			d.Category = "security"
		}},
		// Planned work filed as an incident would skip the notice period.
		{"incident starting tomorrow", "starts_at", func(d *Draft) {
			start := clock.Now().Add(24 * time.Hour)
			*d = outage(d.Scope)
			d.StartsAt = &start
		}},
		{"statement with a control character", "data_affected", func(d *Draft) {
			*d = outage(d.Scope)
			d.Security, d.DataAffected = true, "flow records\x1b[2J"
		}},
	} {
		d := valid
		tc.edit(&d)
		_, err := e.svc.Create(e.ctx, d)
		if f, ok := fault.As(err); !ok || f.Kind != fault.Invalid || f.Field != tc.field {
			t.Errorf("%s: %v, want invalid %s", tc.name, err, tc.field)
		}
	}
	sec := outage(Scope{Nodes: []string{"tyo-1"}})
	sec.Security = true
	if _, err := e.svc.Create(e.ctx, sec); !fault.Is(err, fault.Invalid) {
		t.Errorf("a security incident without the data affected: %v", err)
	}
	if n := e.count(`SELECT COUNT(*) FROM notices`); n != 0 {
		t.Fatalf("refused drafts stored %d notices", n)
	}
	// A speed change always touches forwarding; HTML is kept as typed.
	d := valid
	d.Category = "speed-change"
	d.BodyEN = `<script>alert(1)</script>`
	n, err := e.svc.Create(e.ctx, d)
	if err != nil || !n.AffectsForwarding || n.BodyEN != d.BodyEN || n.Status != StatusDraft || n.Revision != 1 {
		t.Fatalf("create: %+v %v", n, err)
	}
	if got := e.audits("notice.create"); len(got) != 1 || got[0].Target != "notice:"+n.ID {
		t.Fatalf("audit: %+v", got)
	}
}

func TestPublishAndFollowUps(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		n, err := e.svc.Create(e.ctx, maintenance(30))
		if err != nil {
			t.Fatal(err)
		}
		edited := maintenance(31)
		edited.TitleEN = "Maintenance of tyo-1 (router)"
		if n, err = e.svc.Edit(e.ctx, n.ID, edited); err != nil || n.TitleEN != edited.TitleEN || n.Revision != 2 {
			t.Fatalf("edit: %+v %v", n, err)
		}
		p, err := e.svc.Preview(e.ctx, n.ID)
		if err != nil {
			t.Fatal(err)
		}
		// alice (once, though also a contact), aline, carol; not the
		// disabled account nor the one without a password.
		if !slices.Equal(customerIDs(p.Customers), []string{"cus_a"}) || p.Recipients != 3 || p.NeedsApproval || p.MinNoticeDays != 7 {
			t.Fatalf("preview: %+v", p)
		}
		if _, err := e.svc.Publish(e.ctx, n.ID, []string{"cus_a", "cus_b"}); !isCoded(err, "scope_changed") {
			t.Fatalf("publish with a stale list: %v", err)
		}
		if _, err := e.svc.Publish(e.ctx, n.ID, nil); !isCoded(err, "scope_changed") {
			t.Fatalf("publish with no list: %v", err)
		}
		if e.count(`SELECT COUNT(*) FROM mail_outbox`) != 0 || e.count(`SELECT COUNT(*) FROM notice_customers`) != 0 {
			t.Fatal("a refused publish wrote")
		}
		if n, err = e.svc.Publish(e.ctx, n.ID, []string{"cus_a"}); err != nil || n.Status != StatusPublished || n.PublishedAt == nil {
			t.Fatalf("publish: %+v %v", n, err)
		}
		if e.count(`SELECT COUNT(*) FROM notice_deliveries WHERE notice_id = ? AND customer_id = 'cus_a'`, n.ID) != 3 ||
			e.count(`SELECT COUNT(*) FROM mail_outbox WHERE customer_id = 'cus_a' AND cause = 'notice.publish'`) != 3 ||
			e.count(`SELECT COUNT(*) FROM mail_outbox WHERE customer_id <> 'cus_a'`) != 0 {
			t.Fatal("publish: not exactly three mails to cus_a")
		}
		if a := e.audits("notice.publish"); len(a) != 1 || a[0].Detail["customers"] != float64(1) || a[0].Detail["recipients"] != float64(3) {
			t.Fatalf("publish audit: %+v", a)
		}
		// The customer reached has it in its own chain.
		if a := e.audits("notice.sent"); len(a) != 1 || a[0].Chain != "cus_a" || a[0].Target != "notice:"+n.ID ||
			a[0].Detail["step"] != "publish" || a[0].Detail["recipients"] != float64(3) {
			t.Fatalf("sent audit: %+v", a)
		}
		if _, err := e.svc.Publish(e.ctx, n.ID, []string{"cus_a"}); !fault.Is(err, fault.Conflict) {
			t.Fatalf("publish twice: %v", err)
		}
		if _, err := e.svc.Edit(e.ctx, n.ID, edited); !fault.Is(err, fault.Conflict) {
			t.Fatalf("edit after publishing: %v", err)
		}
		// A hub of cus_b placed on tyo-1 since: the update reaches it too.
		e.exec(`UPDATE hub_placements SET node_id = 'nod_t' WHERE hub_id = 'hub_b'`)
		u := UpdateInput{BodyJA: "時間を変更します。", BodyEN: "The time moves."}
		if _, err := e.svc.Post(e.ctx, n.ID, UpdateInput{Status: StatusResolved, BodyJA: "x", BodyEN: "x"}); !fault.Is(err, fault.Invalid) {
			t.Fatalf("an announcement's status: %v", err)
		}
		if n, err = e.svc.Post(e.ctx, n.ID, u); err != nil {
			t.Fatal(err)
		}
		d, err := e.svc.Get(e.ctx, n.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(customerIDs(d.Customers), []string{"cus_a", "cus_b"}) || len(d.Updates) != 4 || d.Updates[3].Kind != "update" {
			t.Fatalf("after the update: %+v", d)
		}
		if e.count(`SELECT since_seq FROM notice_customers WHERE customer_id = 'cus_b'`) != 4 ||
			e.count(`SELECT COUNT(*) FROM notice_deliveries WHERE seq = 4`) != 4 {
			t.Fatal("the update: cus_b not added at seq 4, or not mailed to everyone")
		}
		if a := e.audits("notice.sent"); len(a) != 3 || a[1].Detail["step"] != "update" || a[2].Detail["step"] != "update" ||
			a[1].Chain == a[2].Chain {
			t.Fatalf("sent audit after the update: %+v", a)
		}
		// cus_b's first mail of the notice tells it whole, then the update;
		// cus_a's is a follow-up.
		ob := mail.NewOutbox(db)
		for cust, want := range map[string]bool{"cus_a": false, "cus_b": true} {
			ids, err := store.Strings(context.Background(), db, `SELECT mail_id FROM notice_deliveries WHERE seq = 4 AND customer_id = ?`, cust)
			if err != nil || len(ids) == 0 {
				t.Fatalf("%s: %v %v", cust, ids, err)
			}
			for _, id := range ids {
				m, body, err := ob.Get(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				whole := (strings.Contains(body, "ルータを交換します。") || strings.Contains(body, "We replace a router.")) &&
					(strings.Contains(body, "時間を変更します。") || strings.Contains(body, "The time moves."))
				followUp := strings.Contains(m.Subject, "(update)") || strings.Contains(m.Subject, "（更新）")
				if whole != want || followUp == want {
					t.Errorf("%s's mail at the update (first of the notice: %v): %q\n%s", cust, want, m.Subject, body)
				}
			}
		}
		// cus_b ends meanwhile: it hears no more.
		e.exec(`UPDATE customers SET status = 'terminated', ended_at = ? WHERE id = 'cus_b'`, clock.Store(clock.Now()))
		if n, err = e.svc.Cancel(e.ctx, n.ID, UpdateInput{BodyJA: "中止します。", BodyEN: "Called off."}); err != nil || n.Status != StatusCancelled {
			t.Fatalf("cancel: %+v %v", n, err)
		}
		if e.count(`SELECT COUNT(*) FROM mail_outbox WHERE cause = 'notice.cancel'`) != 3 ||
			e.count(`SELECT COUNT(*) FROM mail_outbox WHERE cause = 'notice.cancel' AND customer_id = 'cus_b'`) != 0 {
			t.Fatal("the cancellation was not mailed to exactly the customers still served")
		}
		if _, err := e.svc.Post(e.ctx, n.ID, u); !fault.Is(err, fault.Conflict) {
			t.Fatalf("update after cancelling: %v", err)
		}
		// A draft's cancellation mails nobody.
		n2, err := e.svc.Create(e.ctx, maintenance(40))
		if err != nil {
			t.Fatal(err)
		}
		before := e.count(`SELECT COUNT(*) FROM mail_outbox`)
		if n2, err = e.svc.Cancel(e.ctx, n2.ID, UpdateInput{}); err != nil || n2.Status != StatusCancelled || e.count(`SELECT COUNT(*) FROM mail_outbox`) != before {
			t.Fatalf("cancel a draft: %+v %v", n2, err)
		}
		list, err := e.svc.List(e.ctx, Query{Kind: Announcement, Limit: 1})
		if err != nil || len(list) != 1 || list[0].ID != n2.ID {
			t.Fatalf("list: %+v %v", list, err)
		}
		if list, err = e.svc.List(e.ctx, Query{After: n2.ID}); err != nil || len(list) != 1 || list[0].ID != n.ID {
			t.Fatalf("list, second page: %+v %v", list, err)
		}
	})
}

func isCoded(err error, code string) bool {
	f, ok := fault.As(err)
	return ok && f.Kind == fault.Conflict && f.Code == code
}

func TestShortNoticeNeedsApproval(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		n, err := e.svc.Create(e.ctx, maintenance(2))
		if err != nil {
			t.Fatal(err)
		}
		if p, err := e.svc.Preview(e.ctx, n.ID); err != nil || !p.NeedsApproval {
			t.Fatalf("preview: %+v %v", p, err)
		}
		if _, err := e.svc.Publish(e.ctx, n.ID, []string{"cus_a"}); !isCoded(err, "approval_required") {
			t.Fatalf("publish without approval: %v", err)
		}
		if a, err := e.svc.Approvals(e.ctx); err != nil || len(a.Pending) != 1 || a.Pending[0].ID != n.ID {
			t.Fatalf("approvals: %+v %v", a, err)
		}
		if _, err := e.svc.Approve(e.ctx, n.ID, "ok"); !fault.Is(err, fault.Invalid) {
			t.Fatalf("a short reason: %v", err)
		}
		officer := e.ctx
		if n, err = e.svc.Approve(officer, n.ID, "urgent fix of a failing line card"); err != nil || n.ApprovedAt == nil || n.ApprovedBy != "acc_op" {
			t.Fatalf("approve: %+v %v", n, err)
		}
		if a := e.audits("notice.approve"); len(a) != 1 || a[0].Reason != "urgent fix of a failing line card" {
			t.Fatalf("approve audit: %+v", a)
		}
		// An edit drops the approval: the officer approved other words.
		if n, err = e.svc.Edit(e.ctx, n.ID, maintenance(3)); err != nil || n.ApprovedAt != nil {
			t.Fatalf("edit: %+v %v", n, err)
		}
		if _, err := e.svc.Publish(e.ctx, n.ID, []string{"cus_a"}); !isCoded(err, "approval_required") {
			t.Fatalf("publish after the edit: %v", err)
		}
		if _, err := e.svc.Approve(officer, n.ID, "urgent fix of a failing line card"); err != nil {
			t.Fatal(err)
		}
		if n, err = e.svc.Publish(e.ctx, n.ID, []string{"cus_a"}); err != nil || n.Status != StatusPublished {
			t.Fatalf("publish approved: %+v %v", n, err)
		}
		// Far enough ahead, no approval is needed (nor accepted).
		far, err := e.svc.Create(e.ctx, maintenance(30))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Approve(officer, far.ID, "no need for it at all"); !fault.Is(err, fault.Conflict) {
			t.Fatalf("approve what needs none: %v", err)
		}
	})
}

func TestSecurityIncident(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		// The category alone makes it a security incident.
		d := outage(Scope{Customers: []string{"cus_b"}})
		d.Category, d.DataAffected = "security", "flow records of 1 to 3 December"
		n, err := e.svc.Create(e.ctx, d)
		if err != nil || !n.Security {
			t.Fatalf("a security-category incident: %+v %v", n, err)
		}
		if _, err := e.svc.Preview(e.ctx, n.ID); err != nil {
			t.Fatal(err)
		}
		if n, err = e.svc.Publish(e.ctx, n.ID, []string{"cus_b"}); err != nil || n.Status != StatusInvestigating {
			t.Fatalf("publish: %+v %v", n, err)
		}
		if a := e.audits("notice.security"); len(a) != 1 || a[0].Detail["data_affected"] != d.DataAffected {
			t.Fatalf("security audit: %+v", a)
		}
		if a, err := e.svc.Approvals(e.ctx); err != nil || len(a.Security) != 1 {
			t.Fatalf("the officer's list: %+v %v", a, err)
		}
		if _, err := e.svc.Post(e.ctx, n.ID, UpdateInput{Status: "fixed", BodyJA: "x", BodyEN: "x"}); !fault.Is(err, fault.Invalid) {
			t.Fatalf("unknown status: %v", err)
		}
		if n, err = e.svc.Post(e.ctx, n.ID, UpdateInput{Status: StatusResolved, BodyJA: "解決しました。", BodyEN: "Resolved."}); err != nil || n.Status != StatusResolved {
			t.Fatalf("resolve: %+v %v", n, err)
		}
		if _, err := e.svc.Post(e.ctx, n.ID, UpdateInput{BodyJA: "x", BodyEN: "x"}); !fault.Is(err, fault.Conflict) {
			t.Fatalf("update after resolving: %v", err)
		}
		if _, err := e.svc.Cancel(e.ctx, n.ID, UpdateInput{BodyJA: "x", BodyEN: "x"}); !fault.Is(err, fault.Conflict) {
			t.Fatalf("cancel after resolving: %v", err)
		}
		// A scope that reaches nobody is refused at preview.
		idle, err := e.svc.Create(e.ctx, outage(Scope{PhysicalPorts: []PhysicalPort{{"tyo-1", "xe-1"}}}))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Preview(e.ctx, idle.ID); !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "reaches no customer") {
			t.Fatalf("preview of nobody: %v", err)
		}
	})
}

func TestOpenAutoDraft(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		open := func() (Notice, bool) {
			var n Notice
			var created bool
			err := db.InTx(e.ctx, func(tx *store.Tx) error {
				var err error
				n, created, err = e.svc.OpenAutoDraft(e.ctx, tx, SourceNodeSilent, "node-silent:tyo-1:1", outage(Scope{Nodes: []string{"tyo-1"}}))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return n, created
		}
		first, created := open()
		if !created || first.Source != SourceNodeSilent || first.Status != StatusDraft {
			t.Fatalf("first: %+v %v", first, created)
		}
		again, created := open()
		if created || again.ID != first.ID {
			t.Fatalf("second: %+v %v", again, created)
		}
	})
}

func TestMinNoticeDays(t *testing.T) {
	for _, tc := range []struct {
		days int
		ok   bool
	}{{0, false}, {1, true}, {7, true}, {90, true}, {91, false}, {-3, false}} {
		d, err := MinNoticeDays(tc.days)
		if (err == nil) != tc.ok || (tc.ok && d != time.Duration(tc.days)*24*time.Hour) {
			t.Errorf("MinNoticeDays(%d) = %v, %v", tc.days, d, err)
		}
	}
}

// TestPublishOnce: two operators publishing the same draft at once (two
// controllers on PostgreSQL, two connections on SQLite) tell each
// recipient once.
func TestPublishOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		n, err := e.svc.Create(e.ctx, maintenance(30))
		if err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 2)
		for range 2 {
			go func() {
				_, err := e.svc.Publish(e.ctx, n.ID, []string{"cus_a"})
				errs <- err
			}()
		}
		ok := 0
		for range 2 {
			err := <-errs
			switch {
			case err == nil:
				ok++
			case fault.Is(err, fault.Conflict), fault.Is(err, fault.Unavailable):
			default:
				t.Errorf("the other publish: %v", err)
			}
		}
		if ok != 1 || e.count(`SELECT COUNT(*) FROM notice_deliveries`) != 3 || len(e.audits("notice.publish")) != 1 {
			t.Fatalf("%d publishes succeeded, %d mails", ok, e.count(`SELECT COUNT(*) FROM notice_deliveries`))
		}
	})
}

// An incident found to be a breach after publishing is marked a security
// incident by an update: the statement is required, the update's mail
// carries it, the officer's record is written and the incident shows on
// the officer's list; the mark is never taken back.
func TestIncidentMarkedSecurityLater(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		past := clock.Now().Add(-time.Hour)
		d := outage(Scope{Customers: []string{"cus_b"}})
		d.StartsAt = &past
		n, err := e.svc.Create(e.ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		if n, err = e.svc.Publish(e.ctx, n.ID, []string{"cus_b"}); err != nil || n.Security {
			t.Fatalf("publish: %+v %v", n, err)
		}
		u := UpdateInput{Status: StatusIdentified, BodyJA: "不正アクセスでした。", BodyEN: "It was an intrusion.", Security: true}
		if _, err := e.svc.Post(e.ctx, n.ID, u); !isField(err, "data_affected") {
			t.Fatalf("marked without the statement: %v", err)
		}
		if _, err := e.svc.Post(e.ctx, n.ID, UpdateInput{BodyJA: "x", BodyEN: "x", DataAffected: "contacts"}); !isField(err, "data_affected") {
			t.Fatalf("a statement without the mark: %v", err)
		}
		if _, err := e.svc.Cancel(e.ctx, n.ID, UpdateInput{BodyJA: "x", BodyEN: "x", Security: true, DataAffected: "contacts"}); !isField(err, "security") {
			t.Fatalf("a cancellation marking it: %v", err)
		}
		if e.count(`SELECT COUNT(*) FROM notice_updates WHERE notice_id = ?`, n.ID) != 2 || len(e.audits("notice.security")) != 0 {
			t.Fatal("a refused mark wrote")
		}
		u.DataAffected = "  the customers' contact addresses "
		if n, err = e.svc.Post(e.ctx, n.ID, u); err != nil || !n.Security || n.DataAffected != "the customers' contact addresses" ||
			n.Status != StatusIdentified {
			t.Fatalf("mark: %+v %v", n, err)
		}
		if a := e.audits("notice.security"); len(a) != 1 || a[0].Detail["data_affected"] != n.DataAffected ||
			a[0].Detail["customers"] != float64(1) || a[0].Detail["recipients"] != float64(1) {
			t.Fatalf("security audit: %+v", a)
		}
		if a, err := e.svc.Approvals(e.ctx); err != nil || len(a.Security) != 1 || a.Security[0].ID != n.ID {
			t.Fatalf("the officer's list: %+v %v", a, err)
		}
		if e.count(`SELECT COUNT(*) FROM mail_outbox WHERE customer_id = 'cus_b' AND cause = 'notice.status'`) != 1 {
			t.Fatal("the marking update was not mailed")
		}
		if _, err := e.svc.Post(e.ctx, n.ID, u); !isField(err, "security") {
			t.Fatalf("marked twice: %v", err)
		}
		// An update without the mark keeps it.
		if n, err = e.svc.Post(e.ctx, n.ID, UpdateInput{BodyJA: "続報", BodyEN: "More."}); err != nil || !n.Security {
			t.Fatalf("a later update: %+v %v", n, err)
		}
		// An announcement is never a security incident.
		a, err := e.svc.Create(e.ctx, maintenance(30))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Publish(e.ctx, a.ID, []string{"cus_a"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Post(e.ctx, a.ID, UpdateInput{BodyJA: "x", BodyEN: "x", Security: true, DataAffected: "x"}); !isField(err, "security") {
			t.Fatalf("an announcement marked: %v", err)
		}
	})
}

// After a purge deletes a customer's hub, the notices naming that hub
// still take their follow-ups: the gone name reaches nobody, the other
// customers hear how it ends. Only new scopes are checked for names.
func TestFollowUpsAfterPurge(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		sc := Scope{Hubs: []string{"hub_a", "hub_b"}}
		var ids []string
		for range 3 {
			n, err := e.svc.Create(e.ctx, outage(sc))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.Publish(e.ctx, n.ID, []string{"cus_a", "cus_b"}); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, n.ID)
		}
		// The purge of cus_b: its hub and ports are deleted.
		e.exec(`DELETE FROM port_placements WHERE customer_id = 'cus_b'`)
		e.exec(`DELETE FROM ports WHERE customer_id = 'cus_b'`)
		e.exec(`DELETE FROM hub_placements WHERE customer_id = 'cus_b'`)
		e.exec(`DELETE FROM hubs WHERE customer_id = 'cus_b'`)
		e.exec(`UPDATE customers SET status = 'terminated', ended_at = ?, purged_at = ? WHERE id = 'cus_b'`,
			clock.Store(clock.Now()), clock.Store(clock.Now()))
		words := UpdateInput{BodyJA: "続報", BodyEN: "More."}
		if _, err := e.svc.Post(e.ctx, ids[0], words); err != nil {
			t.Fatalf("update: %v", err)
		}
		words.Status = StatusResolved
		if _, err := e.svc.Post(e.ctx, ids[1], words); err != nil {
			t.Fatalf("resolve: %v", err)
		}
		words.Status = ""
		if _, err := e.svc.Cancel(e.ctx, ids[2], words); err != nil {
			t.Fatalf("cancel: %v", err)
		}
		if e.count(`SELECT COUNT(*) FROM notice_deliveries WHERE seq > 2 AND customer_id = 'cus_a'`) != 9 ||
			e.count(`SELECT COUNT(*) FROM notice_deliveries WHERE seq > 2 AND customer_id = 'cus_b'`) != 0 {
			t.Fatal("the follow-ups did not reach exactly cus_a's three recipients each")
		}
		// A new draft naming the gone hub is still refused.
		if _, err := e.svc.Create(e.ctx, outage(sc)); !isField(err, "scope") {
			t.Fatalf("a new draft naming a purged hub: %v", err)
		}
	})
}

func isField(err error, field string) bool {
	f, ok := fault.As(err)
	return ok && f.Kind == fault.Invalid && f.Field == field
}
