package web

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/notice"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// The customer's side of notices reads the tables the operator's side
// writes; these tests lay the rows down with SQL as a publish leaves them.

// custNote is a published notice as these tests seed it.
type custNote struct {
	kind, category, severity, status string
	title, body                      string // the same in both languages, tagged [ja]/[en]
	ends                             *time.Time
	security                         bool
	reached                          []catalog.CustomerID
}

func (e *idEnv) seedCustNotice(n custNote) string {
	e.t.Helper()
	ctx := context.Background()
	id := ids.New("ntc")
	now := clock.Now()
	var ends any
	if n.ends != nil {
		ends = clock.Store(*n.ends)
	}
	data := ""
	if n.security {
		data = "login IDs <and> addresses"
	}
	_, err := e.db.Exec(ctx, `INSERT INTO notices (id, kind, category, severity, status, title_ja, title_en, body_ja, body_en,
		ends_at, scope, affects_forwarding, security, data_affected, created_by, created_at, published_at, updated_at, revision)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{"regions":["secret-region"]}', TRUE, ?, ?, 'acc_op', ?, ?, ?, 2)`,
		id, n.kind, n.category, n.severity, n.status, n.title+" [ja]", n.title+" [en]", n.body+" [ja]", n.body+" [en]",
		ends, n.security, data, clock.Store(now), clock.Store(now), clock.Store(now))
	e.must("notice", err)
	for i, k := range []string{"create", "publish"} {
		_, err := e.db.Exec(ctx, `INSERT INTO notice_updates (notice_id, seq, kind, status, title_ja, title_en, body_ja, body_en, at, by_account)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'acc_op')`, id, i+1, k, n.status, n.title+" [ja]", n.title+" [en]",
			k+" step [ja]", k+" step [en]", clock.Store(now))
		e.must("notice update", err)
	}
	for _, c := range n.reached {
		_, err := e.db.Exec(ctx, `INSERT INTO notice_customers (notice_id, customer_id, since_seq, reasons) VALUES (?, ?, 2, ?)`,
			id, string(c), `[{"kind":"hub-node","hub":"hub_x","node":"tyo-1"}]`)
		e.must("notice customer", err)
	}
	return id
}

// seedCustDelivery records the publish mail of notice id to recipient of
// cust, with the outbox state status.
func (e *idEnv) seedCustDelivery(id string, cust catalog.CustomerID, recipient, status string) string {
	e.t.Helper()
	ctx := context.Background()
	mailID, dID, now := ids.New("mail"), ids.New("ndel"), clock.Store(clock.Now())
	_, err := e.db.Exec(ctx, `INSERT INTO mail_outbox (id, customer_id, cause, recipient, language, subject, body, status, attempts,
		next_attempt_at, last_error, created_at) VALUES (?, ?, 'notice.publish', ?, 'en', 's', '', ?, 1, ?, '', ?)`,
		mailID, string(cust), recipient, status, now, now)
	e.must("mail", err)
	_, err = e.db.Exec(ctx, `INSERT INTO notice_deliveries (id, notice_id, seq, customer_id, recipient, language, mail_id, created_at)
		VALUES (?, ?, 2, ?, ?, 'en', ?, ?)`, dID, id, string(cust), recipient, mailID, now)
	e.must("delivery", err)
	return dID
}

// The notices' part of the cross-customer sweep: a notice reaches A, with
// its mail in the log, and A has a notice contact and a feed token.
func init() {
	sweepFixtures = append(sweepFixtures, func(t *testing.T, f *sweepFixture) {
		t.Helper()
		e, cust := f.A.e, catalog.CustomerID(f.ids["customer"][0])
		id := e.seedCustNotice(custNote{kind: notice.Incident, category: "outage", severity: "major", status: notice.StatusInvestigating,
			title: "Sweep incident", body: "b", reached: []catalog.CustomerID{cust}})
		e.seedCustDelivery(id, cust, "sweep-noc@example.co.jp", "pending")
		f.Add("notice", id)
		f.Candidate("id", id) // the console's pages name a notice {id}
		f.private = append(f.private, "Sweep incident", "sweep-noc@example.co.jp")
		var c notice.Contact
		f.A.expect(http.StatusCreated, "POST", "/api/v1/notice-contacts",
			map[string]string{"email": "sweep-contact@example.co.jp", "name": "Sweep NOC", "language": "en"}).json(t, &c)
		f.Add("contact", c.ID)
		f.private = append(f.private, "sweep-contact@example.co.jp")
		var tk feedTokenCreated
		f.A.expect(http.StatusCreated, "POST", "/api/v1/feed-tokens", map[string]string{"label": "Sweep reader", "language": "ja"}).json(t, &tk)
		f.Add("feed_token", tk.ID)
		f.private = append(f.private, tk.Secret)
	})
}

// TestCustomerNoticesAPI: each customer reads exactly the notices that
// reached it; contacts, feed tokens and the notification log are its own
// (another customer's are 404 or absent); the feed opens with its token
// only and carries markup as text; the operator reads the whole log.
// Requests and answers are checked against the OpenAPI documents.
func TestCustomerNoticesAPI(t *testing.T) {
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	a, ac := flowCustomer(e, "Notice A K.K.", "na")
	b, bc := flowCustomer(e, "Notice B K.K.", "nb")
	e.account(a, "na-user", identity.RoleUser, flowPW)
	user := e.client(e.customer)
	user.login("na-user", flowPW)
	ended := clock.Now().Add(-time.Hour)
	mine := e.seedCustNotice(custNote{kind: notice.Incident, category: "outage", severity: "critical", status: notice.StatusInvestigating,
		title: `<script>alert(1)</script> outage`, body: "<b>bold</b> & more", reached: []catalog.CustomerID{a}, security: true})
	past := e.seedCustNotice(custNote{kind: notice.Announcement, category: "maintenance", status: notice.StatusPublished,
		title: "Done maintenance", body: "b", ends: &ended, reached: []catalog.CustomerID{a, b}})
	theirs := e.seedCustNotice(custNote{kind: notice.Announcement, category: "migration", status: notice.StatusPublished,
		title: "B only", body: "b", reached: []catalog.CustomerID{b}})

	var l list[notice.CustomerNotice]
	ac.expect(http.StatusOK, "GET", "/api/v1/notices", nil).json(t, &l)
	if len(l.Items) != 2 || l.Items[0].ID != mine || l.Items[1].ID != past || l.Items[0].DataAffected == "" {
		t.Fatalf("A's notices %+v", l.Items)
	}
	if strings.Contains(string(ac.do("GET", "/api/v1/notices", nil).body), "secret-region") {
		t.Fatal("the scope reached the customer")
	}
	user.expect(http.StatusOK, "GET", "/api/v1/notices?filter=past", nil).json(t, &l)
	if len(l.Items) != 1 || l.Items[0].ID != past {
		t.Fatalf("past %+v", l.Items)
	}
	ac.expectInvalid(http.StatusBadRequest, "GET", "/api/v1/notices?filter=all", nil)
	var n notice.CustomerNotice
	ac.expect(http.StatusOK, "GET", "/api/v1/notices/"+mine, nil).json(t, &n)
	if len(n.Timeline) != 1 || n.Timeline[0].Kind != "publish" || n.Reasons[0] != (notice.Reason{Kind: notice.ReasonHubNode, Hub: "hub_x", Node: "tyo-1"}) {
		t.Fatalf("notice %+v", n)
	}
	ac.expect(http.StatusNotFound, "GET", "/api/v1/notices/"+theirs, nil)
	bc.expect(http.StatusNotFound, "GET", "/api/v1/notices/"+mine, nil)
	bc.expect(http.StatusOK, "GET", "/api/v1/notices/"+past, nil)

	// Contacts: the ops-admin's; a user may not; B sees none of A's.
	var c notice.Contact
	ac.expect(http.StatusCreated, "POST", "/api/v1/notice-contacts",
		map[string]string{"email": "noc@a.example", "name": "NOC", "language": "en"}).json(t, &c)
	ac.expectInvalid(http.StatusBadRequest, "POST", "/api/v1/notice-contacts", map[string]string{"email": "noc", "name": "NOC", "language": "en"})
	ac.expect(http.StatusConflict, "POST", "/api/v1/notice-contacts", map[string]string{"email": "NOC@a.example", "name": "NOC", "language": "ja"})
	user.expect(http.StatusForbidden, "GET", "/api/v1/notice-contacts", nil)
	var cl list[notice.Contact]
	bc.expect(http.StatusOK, "GET", "/api/v1/notice-contacts", nil).json(t, &cl)
	if len(cl.Items) != 0 {
		t.Fatalf("B sees %+v", cl.Items)
	}
	bc.expect(http.StatusNotFound, "DELETE", "/api/v1/notice-contacts/"+c.ID, nil)
	ac.expect(http.StatusOK, "GET", "/api/v1/notice-contacts", nil).json(t, &cl)
	if len(cl.Items) != 1 || cl.Items[0].Email != "noc@a.example" {
		t.Fatalf("A's contacts %+v", cl.Items)
	}
	if !e.auditHas("notice.contact.add", "ok") {
		t.Error("no audit of the contact")
	}

	// Feed tokens and the feed.
	var tk feedTokenCreated
	ac.expect(http.StatusCreated, "POST", "/api/v1/feed-tokens", map[string]string{"label": "Reader", "language": "en"}).json(t, &tk)
	if !strings.HasPrefix(tk.Secret, "tsf_") || !strings.Contains(tk.FeedURL, "/feed/notices.atom?token="+tk.Secret) {
		t.Fatalf("token %+v", tk)
	}
	var tl list[notice.FeedToken]
	bc.expect(http.StatusOK, "GET", "/api/v1/feed-tokens", nil).json(t, &tl)
	if len(tl.Items) != 0 {
		t.Fatalf("B sees %+v", tl.Items)
	}
	bc.expect(http.StatusNotFound, "DELETE", "/api/v1/feed-tokens/"+tk.ID, nil)
	reader := e.client(e.customer)
	reader.token = tk.Secret
	r := reader.expect(http.StatusOK, "GET", "/feed/notices.atom", nil)
	if ct := r.hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/atom+xml") {
		t.Fatalf("content type %q", ct)
	}
	var feed struct {
		Lang    string `xml:"lang,attr"`
		Entries []struct {
			ID      string `xml:"id"`
			Title   string `xml:"title"`
			Content string `xml:"content"`
			Link    struct {
				Href string `xml:"href,attr"`
			} `xml:"link"`
		} `xml:"entry"`
	}
	if err := xml.Unmarshal(r.body, &feed); err != nil {
		t.Fatalf("feed: %v\n%s", err, r.body)
	}
	if len(feed.Entries) != 2 || feed.Entries[0].Title != `<script>alert(1)</script> outage [en]` ||
		!strings.Contains(feed.Entries[0].Content, "publish step [en]") ||
		!strings.Contains(feed.Entries[0].Content, "Data affected: login IDs <and> addresses") || !strings.HasSuffix(feed.Entries[0].Link.Href, "/notices/"+mine) {
		t.Fatalf("entries %+v", feed.Entries)
	}
	if strings.Contains(string(r.body), "<script>") || strings.Contains(string(r.body), "<b>") || strings.Contains(string(r.body), theirs) {
		t.Fatalf("feed body:\n%s", r.body)
	}
	anon := e.client(e.customer)
	anon.expect(http.StatusOK, "GET", "/feed/notices.atom?token="+url.QueryEscape(tk.Secret), nil)
	for _, bad := range []string{"", "?token=tsf_nothing", "?token=" + url.QueryEscape(tk.Secret+"x")} {
		r := anon.expect(http.StatusUnauthorized, "GET", "/feed/notices.atom"+bad, nil)
		if strings.Contains(string(r.body), "Notice A") || strings.Contains(string(r.body), mine) {
			t.Fatalf("401 tells %s", r.body)
		}
	}
	ac.expect(http.StatusOK, "GET", "/api/v1/feed-tokens", nil).json(t, &tl)
	if len(tl.Items) != 1 || tl.Items[0].LastUsedAt == nil {
		t.Fatalf("tokens %+v", tl.Items)
	}
	ac.expect(http.StatusNoContent, "DELETE", "/api/v1/feed-tokens/"+tk.ID, nil)
	reader.expect(http.StatusUnauthorized, "GET", "/feed/notices.atom", nil)

	// The notification log: each customer its own rows; the operator all.
	da := e.seedCustDelivery(mine, a, "noc@a.example", "sent")
	db := e.seedCustDelivery(theirs, b, "noc@b.example", "failed")
	var dl list[notice.Delivery]
	ac.expect(http.StatusOK, "GET", "/api/v1/notice-deliveries", nil).json(t, &dl)
	if len(dl.Items) != 1 || dl.Items[0].ID != da || dl.Items[0].Status != "sent" {
		t.Fatalf("A's log %+v", dl.Items)
	}
	ac.expect(http.StatusOK, "GET", "/api/v1/notice-deliveries?notice="+theirs, nil).json(t, &dl)
	if len(dl.Items) != 0 {
		t.Fatalf("A reads B's rows by notice: %+v", dl.Items)
	}
	ac.expectInvalid(http.StatusBadRequest, "GET", "/api/v1/notice-deliveries?customer="+string(b), nil)
	user.expect(http.StatusForbidden, "GET", "/api/v1/notice-deliveries", nil)
	e.account("", "n-op", identity.RoleOperator, flowPW)
	op := e.client(e.mgmt)
	op.login("n-op", flowPW)
	op.expect(http.StatusOK, "GET", "/api/v1/notice-deliveries", nil).json(t, &dl)
	if len(dl.Items) != 2 {
		t.Fatalf("whole log %+v", dl.Items)
	}
	op.expect(http.StatusOK, "GET", "/api/v1/notice-deliveries?status=failed&customer="+string(b), nil).json(t, &dl)
	if len(dl.Items) != 1 || dl.Items[0].ID != db {
		t.Fatalf("filtered %+v", dl.Items)
	}
	op.expect(http.StatusOK, "GET", "/api/v1/notice-deliveries?limit=1", nil).json(t, &dl)
	if len(dl.Items) != 1 || dl.Next == nil {
		t.Fatalf("page %+v", dl)
	}
	e.account("", "n-so", identity.RoleSecurityOfficer, flowPW)
	so := e.client(e.mgmt)
	so.login("n-so", flowPW)
	so.expect(http.StatusForbidden, "GET", "/api/v1/notice-deliveries", nil)

	// An ended contract ends the feed.
	ac.expect(http.StatusCreated, "POST", "/api/v1/feed-tokens", map[string]string{"label": "Reader 2", "language": "ja"}).json(t, &tk)
	anon.expect(http.StatusOK, "GET", "/feed/notices.atom?token="+tk.Secret, nil)
	_, err := e.db.Exec(context.Background(), `UPDATE customers SET ended_at = ? WHERE id = ?`, clock.Store(clock.Now()), string(a))
	e.must("end", err)
	anon.expect(http.StatusUnauthorized, "GET", "/feed/notices.atom?token="+tk.Secret, nil)
}
