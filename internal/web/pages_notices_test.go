package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/notice"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
	"github.com/tsunagi-net/tsunagi/internal/web/panel"
)

// TestNoticePages: the customer's notice pages in both languages — the
// list (current, then past), a notice with its security statement and
// timeline, the start page's banner — with markup in a title shown as
// text; another customer's notice is 404. The settings page adds and
// removes a contact, creates (secret shown once) and revokes a feed token;
// a refused form shows its error and changes nothing; an admin, without
// notices.settings, gets 403. The notification log on both sides.
func TestNoticePages(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	a, _ := flowCustomer(e, "Notice Pages K.K.", "np")
	b, _ := flowCustomer(e, "Other Notices K.K.", "no")
	e.account(a, "np-admin", identity.RoleAdmin, flowPW)
	later := clock.Now().Add(72 * time.Hour)
	current := e.seedCustNotice(custNote{kind: notice.Announcement, category: "maintenance", status: notice.StatusPublished,
		title: "<i>Planned</i> work", body: "line one\nline two", ends: &later, reached: []catalog.CustomerID{a}})
	ended := clock.Now().Add(-time.Hour)
	past := e.seedCustNotice(custNote{kind: notice.Announcement, category: "speed-change", status: notice.StatusPublished,
		title: "Old change", body: "b", ends: &ended, reached: []catalog.CustomerID{a}})
	breach := e.seedCustNotice(custNote{kind: notice.Incident, category: "security", severity: "major", status: notice.StatusResolved,
		title: "Breach", body: "b", security: true, reached: []catalog.CustomerID{a}})
	theirs := e.seedCustNotice(custNote{kind: notice.Incident, category: "outage", severity: "minor", status: notice.StatusMonitoring,
		title: "Other outage", body: "b", reached: []catalog.CustomerID{b}})
	e.seedCustDelivery(current, a, "np-ops@example.co.jp", "sent")
	e.seedCustDelivery(theirs, b, "no-ops@example.co.jp", "failed")

	c := e.pageClient(e.customer)
	c.login("np-ops", flowPW)
	for _, tc := range []struct{ lang, current, past, security, timeline, settings, banner, log, why string }{
		{"ja", "現在のお知らせ", "過去のお知らせ", "影響を受けたデータ", "経緯", "お知らせの連絡先", "すべてのお知らせ", "通知の送信記録", "ハブ hub_x（ノード tyo-1 上）"},
		{"en", "Current", "Past", "Data affected", "Timeline", "Notice contacts", "All notices", "Notification log", "hub hub_x on node tyo-1"},
	} {
		c.setLang(tc.lang)
		p := c.expectPage(200, "/notices", tc.current, tc.past, `id="notices-current"`, `id="notices-past"`,
			"&lt;i&gt;Planned&lt;/i&gt; work ["+tc.lang+"]", "/notices/"+past, "/notices/"+breach)
		if strings.Index(p.body, current) > strings.Index(p.body, past) || strings.Contains(p.body, theirs) {
			t.Errorf("%s: list order or another customer's notice:\n%s", tc.lang, p.body)
		}
		c.expectPage(200, "/notices/"+breach, tc.security, "login IDs &lt;and&gt; addresses", tc.timeline, `id="notice-timeline"`,
			"publish step ["+tc.lang+"]", tc.why)
		c.expectPage(200, "/notices/"+current, "line one\nline two ["+tc.lang+"]")
		c.expectPage(404, "/notices/"+theirs)
		home := c.expectPage(200, "/", `id="notice-banner"`, tc.banner, "/notices/"+current)
		if strings.Contains(home.body, "/notices/"+past) || strings.Contains(home.body, "/notices/"+breach) {
			t.Errorf("%s: the banner shows a past notice", tc.lang)
		}
		c.expectPage(200, "/notice-settings", tc.settings, `id="notice-contact-form"`, `id="notice-feed-form"`, `id="notice-log-link"`)
		c.expectPage(200, "/notices/log-own", tc.log, "np-ops@example.co.jp", `id="notice-log"`)
	}
	other := e.pageClient(e.customer)
	other.login("no-ops", flowPW)
	if p := other.expectPage(200, "/"); strings.Contains(p.body, `id="notice-banner"`) && strings.Contains(p.body, current) {
		t.Error("B's banner shows A's notice")
	}
	if p := other.expectPage(200, "/notices/log-own", "no-ops@example.co.jp"); strings.Contains(p.body, "np-ops@example.co.jp") {
		t.Error("B's log shows A's mail")
	}

	// Contacts: a refused form shows its error in place and adds nothing.
	p := c.post("/notice-settings/contacts", url.Values{"contact_email": {"not an address"}, "contact_name": {"NOC"}, "contact_language": {"en"}})
	expectPage(t, "refused contact", p, http.StatusBadRequest, `id="e-contact_email"`, `value="NOC"`)
	if list, _ := e.srv.deps.Notices.Contacts(context.Background(), tenanttest.Customer(a)); len(list) != 0 {
		t.Fatalf("a refused form added %+v", list)
	}
	expectRedirect(t, "add contact", c.post("/notice-settings/contacts",
		url.Values{"contact_email": {"noc@np.example"}, "contact_name": {"<b>NOC</b>"}, "contact_language": {"ja"}}), "/notice-settings")
	c.expectPage(200, "/notice-settings", "noc@np.example", "&lt;b&gt;NOC&lt;/b&gt;", "Contact added.")
	p = c.post("/notice-settings/contacts", url.Values{"contact_email": {"NOC@np.example"}, "contact_name": {"again"}, "contact_language": {"ja"}})
	expectPage(t, "duplicate contact", p, http.StatusConflict, "is already a notice contact")
	list, _ := e.srv.deps.Notices.Contacts(context.Background(), tenanttest.Customer(a))
	if len(list) != 1 {
		t.Fatalf("contacts %+v", list)
	}
	if p := other.post("/notice-settings/contacts/"+list[0].ID+"/delete", nil); p.code != http.StatusNotFound {
		t.Fatalf("B removes A's contact: %d", p.code)
	}
	expectRedirect(t, "remove contact", c.post("/notice-settings/contacts/"+list[0].ID+"/delete", nil), "/notice-settings")

	// Feed tokens: the secret once; revoke.
	p = c.post("/notice-settings/feed-tokens", url.Values{"feed_label": {""}, "feed_language": {"en"}})
	expectPage(t, "refused token", p, http.StatusBadRequest, `id="e-feed_label"`)
	p = c.post("/notice-settings/feed-tokens", url.Values{"feed_label": {"Team reader"}, "feed_language": {"en"}})
	expectPage(t, "token", p, http.StatusOK, `id="notice-feed-secret"`, "tsf_", "/feed/notices.atom?token=tsf_")
	if strings.Contains(c.expectPage(200, "/notice-settings", "Team reader").body, "tsf_") {
		t.Error("the settings page shows a token's secret")
	}
	tokens, _ := e.srv.deps.Notices.FeedTokens(context.Background(), tenanttest.Customer(a))
	if len(tokens) != 1 {
		t.Fatalf("tokens %+v", tokens)
	}
	if p := other.post("/notice-settings/feed-tokens/"+tokens[0].ID+"/revoke", nil); p.code != http.StatusNotFound {
		t.Fatalf("B revokes A's token: %d", p.code)
	}
	expectRedirect(t, "revoke", c.post("/notice-settings/feed-tokens/"+tokens[0].ID+"/revoke", nil), "/notice-settings")
	c.expectPage(200, "/notice-settings", "Revoked (")

	// An admin reads notices but not the settings.
	adm := e.pageClient(e.customer)
	adm.login("np-admin", flowPW)
	adm.expectPage(200, "/notices/"+current)
	if p := adm.expectPage(200, "/notices"); strings.Contains(p.body, `href="/notice-settings"`) {
		t.Error("an admin is offered the settings")
	}
	for _, path := range []string{"/notice-settings", "/notices/log-own"} {
		adm.expectPage(403, path)
	}
	if p := adm.post("/notice-settings/contacts", url.Values{"contact_email": {"x@np.example"}, "contact_name": {"x"},
		"contact_language": {"ja"}}); p.code != http.StatusForbidden {
		t.Fatalf("admin adds a contact: %d", p.code)
	}

	// The operator's whole log.
	e.account("", "np-op", identity.RoleOperator, flowPW)
	op := e.pageClient(e.mgmt)
	op.login("np-op", flowPW)
	for _, tc := range []struct{ lang, title string }{{"ja", "通知の送信記録（全顧客）"}, {"en", "Notification log (all customers)"}} {
		op.setLang(tc.lang)
		op.expectPage(200, "/notices/log", tc.title, "np-ops@example.co.jp", "no-ops@example.co.jp", string(b))
		if p := op.expectPage(200, "/notices/log?status=failed"); strings.Contains(p.body, "np-ops@example.co.jp") {
			t.Error("the status filter shows a sent mail")
		}
	}
	expectPage(t, "bad status", op.get("/notices/log?status=lost"), http.StatusBadRequest, `id="e-status"`)
	e.account("", "np-so", identity.RoleSecurityOfficer, flowPW)
	so := e.pageClient(e.mgmt)
	so.login("np-so", flowPW)
	so.expectPage(403, "/notices/log")
}

// TestNoticeCategoryWords: every category of either kind has its words on
// the customer's pages and the console (a category missing its key would
// fail the notice's page with a 500).
func TestNoticeCategoryWords(t *testing.T) {
	pages, err := panel.New()
	if err != nil {
		t.Fatal(err)
	}
	cat := pages.Catalogue()
	for _, kind := range []string{notice.Announcement, notice.Incident} {
		cats := notice.Categories(kind)
		if len(cats) == 0 {
			t.Fatalf("no categories of %s", kind)
		}
		for _, c := range cats {
			for _, prefix := range []string{"notice.category.", "opnotice.category."} {
				if key := prefix + strings.ReplaceAll(c, "-", "_"); !cat.Has(key) {
					t.Errorf("%s category %s: no catalogue key %s", kind, c, key)
				}
			}
		}
	}
}
