package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
)

// TestBrowserNotices: on the console, the operator drafts an announcement
// scoped to the Osaka node, where only Example Trading has a port; the
// preview lists exactly that customer and the publish form carries only its
// ID; after publishing, Example Trading's operations administrator finds it
// on its notices page and in the start page's banner, its markup shown as
// text, and Sample Logistics' does not. The security officer's approval
// page is opened too; axe-core checks every page on the way.
func TestBrowserNotices(t *testing.T) {
	t.Parallel()
	defer timed(t, "TestBrowserNotices")()
	s := startDemo(t)
	tok := s.bootstrap()
	// Example Trading's second hub is in Osaka: a port on it is placed on
	// osa-hub-01, the node the notice names.
	portOnHub(t, s, tok, "Example Trading K.K.", "sub")
	r := s.must("POST", s.mgmtURL("/api/v1/staff"), map[string]any{"login_id": "so.e2e", "display_name": "E2E Officer",
		"email": "so-e2e@example.net", "role": "security-officer", "language": "en"}, bearer(tok))
	if r.status != http.StatusCreated {
		t.Fatalf("invite the security officer: %d %s", r.status, r.body)
	}
	b := newBrowser(t, s)
	mgmt, cust := s.mgmtOrigin(), s.customerOrigin()
	ex := b.person("example-ops", "en")
	ex.setPassword(mailedLink(t, s, "ops@example.co.jp"), opsPassword)
	sa := b.person("sample-ops", "en")
	sa.setPassword(mailedLink(t, s, "netops@sample-logistics.example"), opsPassword)

	op := b.person("operator", "ja")
	op.signIn(mgmt, opLogin, opPassword)
	op.open(mgmt + "/notices")
	if st := op.submit("#opnotice-new-announcement"); st != http.StatusOK {
		t.Fatalf("new announcement: %d", st)
	}
	// The accounts write Japanese (the demo's and the bootstrap's default):
	// the pages show the Japanese title.
	const title, titleEN = "大阪ノードの保守", "Osaka node maintenance"
	start := time.Now().Add(14 * 24 * time.Hour).In(clock.JST)
	op.choose("#notice-category", "maintenance")
	op.fill("#notice-title_ja", title)
	op.fill("#notice-title_en", titleEN)
	op.fill("#notice-body_ja", "<b>大阪</b>のノードを保守します。")
	op.fill("#notice-body_en", "<script>alert(1)</script> We service the Osaka node.")
	op.choose("#notice-starts_at", start.Format("2006-01-02T15:04"))
	op.choose("#notice-ends_at", start.Add(2*time.Hour).Format("2006-01-02T15:04"))
	op.fill("#notice-nodes", "osa-hub-01")
	if st := op.submit("#opnotice-save"); st != http.StatusOK {
		t.Fatalf("create the draft: %d:\n%s", st, op.text())
	}
	op.mustHave("#opnotice-publish", "the preview's publish form")
	op.contains("the preview", "Example Trading K.K.", "ノード osa-hub-01 上")
	if strings.Contains(op.text(), "Sample Logistics") {
		t.Fatal("the preview lists a customer with nothing on the node")
	}
	if n := eval[int](op, `document.querySelectorAll("#opnotice-publish input[name=customer]").length`); n != 1 {
		t.Fatalf("the publish form carries %d customers, want 1", n)
	}
	op.shoot("operator-notice-preview")
	notice := op.location()[len(mgmt):]
	if st := op.submit("#opnotice-publish-button"); st != http.StatusOK {
		t.Fatalf("publish: %d:\n%s", st, op.text())
	}
	op.contains("the published notice (the account writes Japanese)", "公開中", "通知した顧客", "Example Trading K.K.")
	op.open(mgmt + "/notices")
	op.contains("the list", title)
	op.checkLanguages("/notices", title, titleEN)

	so := b.person("officer", "en")
	so.setPassword(mailedLink(t, s, "so-e2e@example.net"), opPassword)
	so.signIn(mgmt, "so.e2e", opPassword)
	so.open(mgmt + "/notice-approvals")
	so.mustHave("#opnotice-security-h", "the security incidents section")
	so.checkLanguages("/notice-approvals")

	ex.signIn(cust, "example-ops", opsPassword)
	for _, path := range []string{"/notices", "/"} {
		ex.open(cust + path)
		ex.contains("the notice on the affected customer's "+path, title)
	}
	ex.open(cust + notice)
	ex.contains("the body as text", "<b>大阪</b>のノードを保守します。")
	if ex.has("main script, main b") {
		t.Fatal("the notice's markup became elements")
	}
	sa.signIn(cust, "sample-ops", opsPassword)
	for _, path := range []string{"/notices", "/"} {
		sa.open(cust + path)
		if txt := sa.text(); strings.Contains(txt, title) || strings.Contains(txt, titleEN) {
			t.Fatalf("a customer outside the scope sees the notice on %s", path)
		}
	}
	if st := sa.open(cust + notice); st != http.StatusNotFound {
		t.Fatalf("a customer outside the scope opens the notice: %d", st)
	}
	ex.setLang("ja") // the account's language, as the demo made it
	noticeSettingsInBrowser(t, ex, cust)
}

// portOnHub adds an AWS private port to customer's hub of priority prio and
// places it, as the operator does.
func portOnHub(t *testing.T, s *server, tok, customer, prio string) string {
	t.Helper()
	var id string
	for _, c := range s.items(tok, "/api/v1/customers") {
		if c["name"] == customer {
			id, _ = c["id"].(string)
		}
	}
	sc, _ := s.items(tok, "/api/v1/customers/"+id+"/contracts")[0]["service_code"].(string)
	var hub string
	for _, h := range s.items(tok, "/api/v1/customers/"+id+"/hubs") {
		if h["priority"] == prio {
			hub, _ = h["id"].(string)
		}
	}
	r := s.must("POST", s.mgmtURL("/api/v1/customers/"+id+"/ports"), map[string]any{"service_code": sc, "hub_id": hub,
		"kind": "a-private", "speed_mbps": 1000}, bearer(tok))
	if r.status != http.StatusCreated {
		t.Fatalf("create port: %d %s", r.status, r.body)
	}
	code := r.str("port_code")
	if r = s.must("POST", s.mgmtURL("/api/v1/customers/"+id+"/ports/"+code+"/placement"), map[string]any{}, bearer(tok)); r.status/100 != 2 {
		t.Fatalf("place port %s: %d %s", code, r.status, r.body)
	}
	return code
}
