package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
	"github.com/tsunagi-net/tsunagi/internal/webhook"
)

// TestWebhookPages: the list and form in both languages; a refused URL
// shows its error in place, keeps what was typed and registers nothing;
// a registration shows the secret once; the delivery log, rotation and
// removal; another customer and an admin reach none of it.
func TestWebhookPages(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	a, _ := flowCustomer(e, "Hook Pages K.K.", "wp")
	flowCustomer(e, "Other Hooks K.K.", "wo")
	e.account(a, "wp-admin", identity.RoleAdmin, flowPW)
	c := e.pageClient(e.customer)
	c.login("wp-ops", flowPW)
	for _, tc := range []struct{ lang, title, none, event string }{
		{"ja", "Webhook を登録", "登録された Webhook はありません。", "監視：到達不能に"},
		{"en", "Register a webhook", "No webhooks registered.", "Monitor down"},
	} {
		c.setLang(tc.lang)
		c.expectPage(200, "/webhooks", tc.title, tc.none, tc.event, `id="webhook-form"`, `value="net.tsunagi.monitor.down"`)
	}
	c.setLang("en")
	for _, bad := range []string{"https://127.0.0.1/hook", "http://192.88.98.7/hook", "https://169.254.169.254/latest"} {
		p := c.post("/webhooks", url.Values{"url": {bad}, "events": {webhook.TypeMonitorDown}, "description": {"Refused one"}})
		expectPage(t, "refused "+bad, p, http.StatusBadRequest, `id="e-url"`, `value="Refused one"`,
			`value="net.tsunagi.monitor.down" checked`)
	}
	p := c.post("/webhooks", url.Values{"url": {"https://192.88.98.7/hook"}, "description": {"No events"}})
	expectPage(t, "no events", p, http.StatusBadRequest, `id="e-events"`)
	if hooks, _ := e.srv.deps.Webhooks.List(context.Background(), tenanttest.Customer(a)); len(hooks) != 0 {
		t.Fatalf("refused forms registered %+v", hooks)
	}
	p = c.post("/webhooks", url.Values{"url": {"https://192.88.98.7/hook"}, "events": {webhook.TypeMonitorDown, webhook.TypeNoticePublished},
		"description": {"<b>NOC</b>"}})
	expectPage(t, "registered", p, http.StatusOK, `id="webhook-secret"`, "whsec_")
	list := c.expectPage(200, "/webhooks", "https://192.88.98.7/hook", "&lt;b&gt;NOC&lt;/b&gt;", "Notice")
	if strings.Contains(list.body, "whsec_") {
		t.Error("the list shows a secret")
	}
	hooks, _ := e.srv.deps.Webhooks.List(context.Background(), tenanttest.Customer(a))
	if len(hooks) != 1 {
		t.Fatalf("webhooks %+v", hooks)
	}
	id := hooks[0].ID
	emitFor(t, e.db, a, "notices/ntc_pages")
	for _, tc := range []struct{ lang, title, status string }{{"ja", "Webhook の送信記録", "送信待ち"}, {"en", "Webhook delivery log", "Pending"}} {
		c.setLang(tc.lang)
		c.expectPage(200, "/webhooks/"+id, tc.title, tc.status, "notices/ntc_pages", `id="webhook-deliveries"`, `id="webhook-rotate"`)
	}
	c.setLang("en")
	expectPage(t, "rotated", c.post("/webhooks/"+id+"/secret", nil), http.StatusOK, `id="webhook-secret"`, "keeps signing until")

	other := e.pageClient(e.customer)
	other.login("wo-ops", flowPW)
	other.expectPage(404, "/webhooks/"+id)
	if p := other.post("/webhooks/"+id+"/delete", nil); p.code != http.StatusNotFound {
		t.Fatalf("B removes A's webhook: %d", p.code)
	}
	if strings.Contains(other.expectPage(200, "/webhooks").body, "192.88.98.7") {
		t.Error("B's list shows A's webhook")
	}
	adm := e.pageClient(e.customer)
	adm.login("wp-admin", flowPW)
	adm.expectPage(403, "/webhooks")

	expectRedirect(t, "remove", c.post("/webhooks/"+id+"/delete", nil), "/webhooks")
	c.expectPage(200, "/webhooks", "Webhook removed.", "No webhooks registered.")
}
