package notice

import (
	"context"
	"encoding/xml"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

func TestCustomerActionsAreIdentitys(t *testing.T) {
	if string(custActRead) != string(identity.ActNoticesRead) || string(custActSettings) != string(identity.ActNoticesSettings) ||
		string(custActChannels) != string(identity.ActNoticesChannels) {
		t.Fatalf("notice checks %s/%s, identity's table names %s/%s", custActRead, custActSettings,
			identity.ActNoticesRead, identity.ActNoticesSettings)
	}
}

func wantKind(t *testing.T, what string, err error, k fault.Kind) {
	t.Helper()
	if !fault.Is(err, k) {
		t.Fatalf("%s: got %v, want %s", what, err, k)
	}
}

func noticeIDs(ns []CustomerNotice) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.ID)
	}
	return out
}

// TestCustomerNotices: a customer lists and reads exactly the published
// notices that reached it — current first — with the timeline of the
// customer-visible steps; never drafts, never another customer's, never
// the scope.
func TestCustomerNotices(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := New(db, audit.New(db), Config{})
		ctx := custCtx()
		a, b := seedCustomer(t, db, "A"), seedCustomer(t, db, "B")
		now := clock.Now()
		future, past := now.Add(48*time.Hour), now.Add(-time.Hour)
		maint := seedNotice(t, db, seedNote{Kind: Announcement, Category: "maintenance", Status: StatusPublished,
			Title: "Maintenance <b>tky-1</b>", Body: "body", Ends: &future, Published: now.Add(-2 * time.Hour),
			Reached: []string{a}, Updates: []string{"edit", "approve", "publish", "update"}})
		ended := seedNotice(t, db, seedNote{Kind: Announcement, Category: "migration", Status: StatusPublished,
			Title: "Done", Body: "b", Ends: &past, Published: now.Add(-72 * time.Hour), Reached: []string{a, b}, Updates: []string{"publish"}})
		breach := seedNotice(t, db, seedNote{Kind: Incident, Category: "security", Severity: "major", Status: StatusMonitoring,
			Title: "Breach", Body: "b", Security: true, DataAffected: "login IDs", Published: now.Add(-3 * time.Hour),
			Reached: []string{a}, Updates: []string{"publish", "status"}})
		resolved := seedNotice(t, db, seedNote{Kind: Incident, Category: "outage", Severity: "minor", Status: StatusResolved,
			Title: "Outage", Body: "b", Published: now.Add(-24 * time.Hour), Reached: []string{b}, Updates: []string{"publish", "status"}})
		draft := seedNotice(t, db, seedNote{Kind: Announcement, Category: "other", Status: StatusDraft, Title: "Draft", Body: "b",
			Published: now, Reached: []string{a}})

		got, err := s.ForCustomer(ctx, tenanttest.Customer(a), CustomerQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{maint, breach, ended}; !slices.Equal(noticeIDs(got), want) {
			t.Fatalf("A's notices %v, want %v (current newest first, then past)", noticeIDs(got), want)
		}
		if !got[0].Current || !got[1].Current || got[2].Current {
			t.Errorf("current flags %v %v %v", got[0].Current, got[1].Current, got[2].Current)
		}
		if got[1].DataAffected != "login IDs" || !got[1].Security || got[1].Severity != "major" {
			t.Errorf("security statement lost: %+v", got[1])
		}
		if !slices.Equal(got[0].Reasons, []Reason{{Kind: ReasonHubNode, Hub: "hub_x", Node: "tky-1"}}) || got[0].Timeline != nil {
			t.Errorf("list row %+v", got[0])
		}
		for _, f := range []struct {
			filter string
			want   []string
		}{{FilterCurrent, []string{maint, breach}}, {FilterPast, []string{ended}}} {
			got, err := s.ForCustomer(ctx, tenanttest.Customer(a), CustomerQuery{Filter: f.filter})
			if err != nil || !slices.Equal(noticeIDs(got), f.want) {
				t.Errorf("filter %s: %v %v, want %v", f.filter, noticeIDs(got), err, f.want)
			}
		}
		_, err = s.ForCustomer(ctx, tenanttest.Customer(a), CustomerQuery{Filter: "all"})
		wantKind(t, "filter all", err, fault.Invalid)
		got, err = s.ForCustomer(ctx, tenanttest.Customer(b), CustomerQuery{})
		if err != nil || !slices.Equal(noticeIDs(got), []string{resolved, ended}) {
			t.Fatalf("B's notices %v %v", noticeIDs(got), err)
		}

		n, err := s.CustomerNotice(ctx, tenanttest.Customer(a), maint)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, e := range n.Timeline {
			kinds = append(kinds, e.Kind)
		}
		if !slices.Equal(kinds, []string{"publish", "update"}) {
			t.Errorf("timeline %v, want the customer-visible steps only", kinds)
		}
		if n.Title("en") != "Maintenance <b>tky-1</b> [en]" || n.Body("ja") != "body [ja]" {
			t.Errorf("texts %q %q", n.Title("en"), n.Body("ja"))
		}
		for _, x := range []struct {
			who  tenant.Scope
			id   string
			what string
		}{{tenanttest.Customer(b), maint, "another customer's"}, {tenanttest.Customer(a), draft, "a draft"},
			{tenanttest.Customer(a), "ntc_nothing", "an unknown"}} {
			_, err := s.CustomerNotice(ctx, x.who, x.id)
			wantKind(t, x.what+" notice", err, fault.NotFound)
		}
		_, err = s.ForCustomer(ctx, tenanttest.As(a, "user"), CustomerQuery{})
		wantKind(t, "without notices.read", err, fault.Forbidden)
		_, err = s.ForCustomer(ctx, tenant.Scope{}, CustomerQuery{})
		wantKind(t, "zero scope", err, fault.Internal)
	})
}

// TestNoticeContacts: add (validated, deduplicated by address in any case,
// at most MaxContacts), list, remove; audited with the address sealed;
// another customer's contact is not found.
func TestNoticeContacts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		log := audit.New(db)
		s := New(db, log, Config{})
		ctx := custCtx()
		a, b := seedCustomer(t, db, "A"), seedCustomer(t, db, "B")
		c, err := s.AddContact(ctx, tenanttest.Customer(a), ContactInput{Email: " noc@example.jp ", Name: "NOC <team>", Language: "en"})
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []struct {
			in    ContactInput
			field string
		}{
			{ContactInput{Email: "Noc@Example.jp", Name: "x", Language: "ja"}, ""},
			{ContactInput{Email: "not an address", Name: "x", Language: "ja"}, "email"},
			{ContactInput{Email: "Name <x@example.jp>", Name: "x", Language: "ja"}, "email"},
			{ContactInput{Email: "x@example.jp", Name: "", Language: "ja"}, "name"},
			{ContactInput{Email: "x@example.jp", Name: "a\nb", Language: "ja"}, "name"},
			{ContactInput{Email: "x@example.jp", Name: strings.Repeat("あ", 101), Language: "ja"}, "name"},
			{ContactInput{Email: "x@example.jp", Name: "x", Language: "fr"}, "language"},
		} {
			_, err := s.AddContact(ctx, tenanttest.Customer(a), bad.in)
			f, ok := fault.As(err)
			if !ok || f.Field != bad.field || (bad.field == "" && f.Kind != fault.Conflict) {
				t.Errorf("%+v: %v, want a refusal on %q", bad.in, err, bad.field)
			}
		}
		list, err := s.Contacts(ctx, tenanttest.Customer(a))
		if err != nil || len(list) != 1 || list[0] != c || c.Email != "noc@example.jp" {
			t.Fatalf("contacts %+v %v", list, err)
		}
		if list, _ := s.Contacts(ctx, tenanttest.Customer(b)); len(list) != 0 {
			t.Fatalf("B sees %+v", list)
		}
		wantKind(t, "B removes A's", s.RemoveContact(ctx, tenanttest.Customer(b), c.ID), fault.NotFound)
		_, err = s.AddContact(ctx, tenanttest.As(a, "admin", "notices.read"), ContactInput{Email: "y@example.jp", Name: "y", Language: "ja"})
		wantKind(t, "admin adds", err, fault.Forbidden)
		for i := 1; i < MaxContacts; i++ {
			if _, err := s.AddContact(ctx, tenanttest.Customer(a), ContactInput{Email: fmt.Sprintf("c%d@example.jp", i), Name: "c", Language: "ja"}); err != nil {
				t.Fatal(err)
			}
		}
		_, err = s.AddContact(ctx, tenanttest.Customer(a), ContactInput{Email: "one-more@example.jp", Name: "c", Language: "ja"})
		wantKind(t, "contact 21", err, fault.Conflict)
		if err := s.RemoveContact(ctx, tenanttest.Customer(a), c.ID); err != nil {
			t.Fatal(err)
		}
		wantKind(t, "removed twice", s.RemoveContact(ctx, tenanttest.Customer(a), c.ID), fault.NotFound)
		entries, err := log.List(context.Background(), audit.AllChains())
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range entries {
			if e.Target == "notice_contact:"+c.ID {
				actions = append(actions, e.Action)
				if !slices.Contains(e.SealedFields, "detail.email") {
					t.Errorf("%s: the address is not sealed (%v)", e.Action, e.SealedFields)
				}
			}
		}
		if !slices.Equal(actions, []string{"notice.contact.add", "notice.contact.remove"}) &&
			!slices.Equal(actions, []string{"notice.contact.remove", "notice.contact.add"}) {
			t.Errorf("audit %v", actions)
		}
	})
}

// TestFeed: a feed token is shown once and kept as a hash; it opens its
// customer's feed in its language until revoked or the customer's
// contract ends; anything else is the same 401. The Atom document parses
// and carries markup as text.
func TestFeed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := New(db, audit.New(db), Config{})
		ctx := custCtx()
		a, b := seedCustomer(t, db, "A"), seedCustomer(t, db, "B")
		mine := seedNotice(t, db, seedNote{Kind: Incident, Category: "outage", Severity: "critical", Status: StatusInvestigating,
			Title: `<script>alert("x")</script>`, Body: "<img src=x onerror=alert(1)> & more", Published: clock.Now().Add(-time.Hour),
			Reached: []string{a}, Updates: []string{"publish", "status"}})
		theirs := seedNotice(t, db, seedNote{Kind: Incident, Category: "outage", Severity: "minor", Status: StatusInvestigating,
			Title: "B only", Body: "b", Published: clock.Now(), Reached: []string{b}, Updates: []string{"publish"}})

		tok, secret, err := s.CreateFeedToken(ctx, tenanttest.Customer(a), FeedTokenInput{Label: " Slack ", Language: "en"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(secret, "tsf_") || tok.Label != "Slack" {
			t.Fatalf("token %+v %q", tok, secret)
		}
		var stored int
		if err := store.Scan(db.QueryRow(context.Background(), `SELECT COUNT(*) FROM notice_feed_tokens WHERE token_hash = ? OR token_hash = ?`,
			secret, feedHash(secret)), &stored); err != nil || stored != 1 {
			t.Fatalf("stored %d %v", stored, err)
		}
		if h := feedHash(secret); h == secret || len(h) != 64 {
			t.Fatalf("hash %q", h)
		}
		for _, bad := range []FeedTokenInput{{Label: "", Language: "ja"}, {Label: "x\ty", Language: "ja"}, {Label: "x", Language: "de"}} {
			_, _, err := s.CreateFeedToken(ctx, tenanttest.Customer(a), bad)
			wantKind(t, fmt.Sprintf("%+v", bad), err, fault.Invalid)
		}

		f, err := s.FeedFor(context.Background(), secret, admitAll)
		if err != nil {
			t.Fatal(err)
		}
		if f.Language != "en" || !slices.Equal(noticeIDs(f.Notices), []string{mine}) {
			t.Fatalf("feed %s %v, want only %s (not %s)", f.Language, noticeIDs(f.Notices), mine, theirs)
		}
		doc, err := f.Atom(func(p string) string { return "https://panel.example" + p })
		if err != nil {
			t.Fatal(err)
		}
		var parsed struct {
			ID      string `xml:"id"`
			Entries []struct {
				ID      string `xml:"id"`
				Title   string `xml:"title"`
				Content string `xml:"content"`
			} `xml:"entry"`
		}
		if err := xml.Unmarshal(doc, &parsed); err != nil {
			t.Fatalf("atom does not parse: %v\n%s", err, doc)
		}
		if len(parsed.Entries) != 1 || parsed.Entries[0].Title != `<script>alert("x")</script> [en]` ||
			parsed.Entries[0].ID != "tag:tsunagi,2026:notice:"+mine {
			t.Fatalf("entries %+v", parsed.Entries)
		}
		// The entry says what the panel says: every step's text, the
		// latest first, with its status — not only the text first
		// published.
		content := parsed.Entries[0].Content
		if i, j := strings.Index(content, "status body en"), strings.Index(content, "publish body en"); i < 0 || j < i ||
			!strings.Contains(content, "Status change (investigating)") || !strings.Contains(content, " JST ") {
			t.Fatalf("entry content %q: want every step, the latest first, times in JST", content)
		}
		if strings.Contains(string(doc), "<script>") || strings.Contains(string(doc), "<img") {
			t.Fatalf("markup reached the document as markup:\n%s", doc)
		}
		list, err := s.FeedTokens(ctx, tenanttest.Customer(a))
		if err != nil || len(list) != 1 || list[0].LastUsedAt == nil {
			t.Fatalf("tokens %+v %v (last use not recorded)", list, err)
		}
		if list, _ := s.FeedTokens(ctx, tenanttest.Customer(b)); len(list) != 0 {
			t.Fatalf("B sees %+v", list)
		}

		for _, wrong := range []string{"", "tsf_", secret + "x", "tsu_" + strings.TrimPrefix(secret, "tsf_"), feedHash(secret)} {
			_, err := s.FeedFor(context.Background(), wrong, admitAll)
			wantKind(t, "token "+wrong, err, fault.Unauthorized)
		}
		wantKind(t, "B revokes A's", s.RevokeFeedToken(ctx, tenanttest.Customer(b), tok.ID), fault.NotFound)
		if err := s.RevokeFeedToken(ctx, tenanttest.Customer(a), tok.ID); err != nil {
			t.Fatal(err)
		}
		_, err = s.FeedFor(context.Background(), secret, admitAll)
		wantKind(t, "revoked", err, fault.Unauthorized)

		_, live, err := s.CreateFeedToken(ctx, tenanttest.Customer(a), FeedTokenInput{Label: "reader", Language: "ja"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.FeedFor(context.Background(), live, admitAll); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(context.Background(), `UPDATE customers SET ended_at = ? WHERE id = ?`, clock.Store(clock.Now()), a); err != nil {
			t.Fatal(err)
		}
		_, err = s.FeedFor(context.Background(), live, admitAll)
		wantKind(t, "ended customer", err, fault.Unauthorized)
	})
}

// TestNotificationLog: the customer reads its own rows with the outbox
// status; the operator's reader sees everyone's, filtered and paged.
func TestNotificationLog(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := New(db, audit.New(db), Config{})
		ctx := custCtx()
		a, b := seedCustomer(t, db, "A"), seedCustomer(t, db, "B")
		at := clock.Now().Add(-time.Hour)
		n1 := seedNotice(t, db, seedNote{Kind: Announcement, Category: "maintenance", Status: StatusPublished, Title: "M", Body: "b",
			Published: at, Reached: []string{a, b}, Updates: []string{"publish"}})
		d1 := seedDelivery(t, db, n1, a, "ops@a.example", "sent", at)
		d2 := seedDelivery(t, db, n1, a, "nobody@a.example", "failed", at.Add(time.Second))
		d3 := seedDelivery(t, db, n1, b, "ops@b.example", "pending", at.Add(2*time.Second))

		got, next, err := s.Deliveries(ctx, tenanttest.Customer(a), LogQuery{})
		if err != nil || next != "" || len(got) != 2 || got[0].ID != d2 || got[1].ID != d1 {
			t.Fatalf("A's log %+v %q %v", got, next, err)
		}
		if got[0].Status != "failed" || got[0].LastError != "550 no such user" || got[1].SentAt == nil || got[1].Cause != "notice.publish" ||
			got[1].Title("en") != "M [en]" {
			t.Errorf("rows %+v", got)
		}
		got, _, err = s.Deliveries(ctx, tenanttest.Customer(b), LogQuery{})
		if err != nil || len(got) != 1 || got[0].ID != d3 {
			t.Fatalf("B's log %+v %v", got, err)
		}
		_, _, err = s.Deliveries(ctx, tenanttest.Customer(b), LogQuery{Customer: a})
		wantKind(t, "B names A", err, fault.Invalid)
		_, _, err = s.Deliveries(ctx, tenanttest.As(a, "admin", "notices.read"), LogQuery{})
		wantKind(t, "admin reads", err, fault.Forbidden)
		// A customer's read without its customer is a bug, not the whole log.
		_, _, err = s.readLog(ctx, LogQuery{}, false)
		wantKind(t, "customer's read without a customer", err, fault.Internal)

		all, next, err := s.AllDeliveries(ctx, LogQuery{Limit: 2})
		if err != nil || len(all) != 2 || all[0].ID != d3 || next != d2 {
			t.Fatalf("page 1 %+v %q %v", all, next, err)
		}
		all, next, err = s.AllDeliveries(ctx, LogQuery{Limit: 2, After: next})
		if err != nil || len(all) != 1 || all[0].ID != d1 || next != "" {
			t.Fatalf("page 2 %+v %q %v", all, next, err)
		}
		for _, f := range []struct {
			q    LogQuery
			want []string
		}{
			{LogQuery{Status: "failed"}, []string{d2}},
			{LogQuery{Customer: b}, []string{d3}},
			{LogQuery{Notice: n1, Status: "sent"}, []string{d1}},
			{LogQuery{Notice: "ntc_other"}, nil},
		} {
			got, _, err := s.AllDeliveries(ctx, f.q)
			var gotIDs []string
			for _, d := range got {
				gotIDs = append(gotIDs, d.ID)
			}
			if err != nil || !slices.Equal(gotIDs, f.want) {
				t.Errorf("%+v: %v %v, want %v", f.q, gotIDs, err, f.want)
			}
		}
		_, _, err = s.AllDeliveries(ctx, LogQuery{Status: "lost"})
		wantKind(t, "status lost", err, fault.Invalid)
		_, _, err = s.AllDeliveries(ctx, LogQuery{Limit: MaxLogPage + 1})
		wantKind(t, "limit", err, fault.Invalid)
	})
}

// admitAll lets every feed read go on (the allow-list is the web layer's).
func admitAll(context.Context, tenant.CustomerID, string) error { return nil }
