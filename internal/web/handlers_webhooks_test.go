package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/webhook"
)

// sweepHookURL is A's webhook in the cross-customer sweeps: its URL and
// description are A's and must never reach B.
const sweepHookURL = "https://192.88.98.7/alpha-sweep-hook"

func init() {
	sweepFixtures = append(sweepFixtures, func(t *testing.T, f *sweepFixture) {
		t.Helper()
		var w webhook.Webhook
		f.A.expect(http.StatusCreated, "POST", "/api/v1/webhooks", map[string]any{"url": sweepHookURL,
			"events": []string{webhook.TypeNoticePublished}, "description": "Alpha sweep receiver"}).json(t, &w)
		f.Add("webhook", w.ID)
		f.private = append(f.private, sweepHookURL, "Alpha sweep receiver")
		// A delivery in A's log, so that its IDs are harvested too.
		emitFor(t, f.A.e.db, catalog.CustomerID(f.ids["customer"][0]), "notices/ntc_alpha_sweep")
		f.private = append(f.private, "ntc_alpha_sweep")
	})
}

// emitFor queues a notice event for cust as its cause's transaction would.
func emitFor(t *testing.T, db *store.DB, cust catalog.CustomerID, subject string) {
	t.Helper()
	err := db.InTx(context.Background(), func(tx *store.Tx) error {
		return webhook.Emit(context.Background(), tx, webhook.Event{Customer: cust, Type: webhook.TypeNoticePublished,
			Subject: subject, Time: time.Now(), Data: map[string]string{"notice_id": "x"}})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestWebhooksAPI: registering shows the secret once and lists the webhook
// without it; an API token cannot register; a URL to a private address
// changes nothing; the delivery log lists what was queued; another
// customer reaches none of it; removing ends the webhook and its log.
func TestWebhooksAPI(t *testing.T) {
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	a, ac := flowCustomer(e, "Hook A K.K.", "ha")
	_, bc := flowCustomer(e, "Hook B K.K.", "hb")
	in := map[string]any{"url": "https://192.88.98.7/hook", "events": []string{webhook.TypeNoticePublished, webhook.TypeMonitorDown},
		"description": "NOC chat"}
	var made struct {
		webhook.Webhook
		Secret string `json:"secret"`
	}
	ac.expect(http.StatusCreated, "POST", "/api/v1/webhooks", in).json(t, &made)
	if !strings.HasPrefix(made.Secret, "whsec_") || made.ID == "" {
		t.Fatalf("registration answered %+v", made)
	}
	listed := ac.expect(http.StatusOK, "GET", "/api/v1/webhooks", nil)
	if strings.Contains(string(listed.body), made.Secret) || !strings.Contains(string(listed.body), made.ID) {
		t.Fatalf("the list shows the secret or not the webhook: %s", listed.body)
	}
	if !e.auditHas("webhook.create", "ok") {
		t.Error("registration not audited")
	}
	tok := e.client(e.customer)
	tok.token = ac.newToken("hook token", "")
	if r := tok.expect(http.StatusForbidden, "POST", "/api/v1/webhooks", in); !strings.Contains(string(r.body), "session_required") {
		t.Errorf("an API token registering: %s", r.body)
	}
	for _, u := range []string{"https://127.0.0.1/x", "https://169.254.169.254/latest/meta-data", "http://192.88.98.7/", "https://10.0.0.8/"} {
		ac.expect(http.StatusBadRequest, "POST", "/api/v1/webhooks", map[string]any{"url": u, "events": []string{webhook.TypeMonitorUp}})
	}
	var hooks list[webhook.Webhook]
	ac.expect(http.StatusOK, "GET", "/api/v1/webhooks", nil).json(t, &hooks)
	if len(hooks.Items) != 1 {
		t.Fatalf("after refused registrations: %d webhooks", len(hooks.Items))
	}
	emitFor(t, e.db, a, "notices/ntc_1")
	var log list[webhook.Delivery]
	ac.expect(http.StatusOK, "GET", "/api/v1/webhooks/"+made.ID+"/deliveries", nil).json(t, &log)
	if len(log.Items) != 1 || log.Items[0].Status != webhook.Pending || log.Items[0].Subject != "notices/ntc_1" {
		t.Fatalf("delivery log %+v", log.Items)
	}
	for _, r := range []struct{ method, path string }{{"GET", "/deliveries"}, {"POST", "/secret"}, {"DELETE", ""}} {
		bc.expect(http.StatusNotFound, r.method, "/api/v1/webhooks/"+made.ID+r.path, nil)
	}
	var rotated struct {
		webhook.Webhook
		Secret string `json:"secret"`
	}
	ac.expect(http.StatusOK, "POST", "/api/v1/webhooks/"+made.ID+"/secret", nil).json(t, &rotated)
	if rotated.Secret == made.Secret || rotated.OldSecretUntil == nil {
		t.Fatalf("rotation answered %+v", rotated)
	}
	ac.expect(http.StatusNoContent, "DELETE", "/api/v1/webhooks/"+made.ID, nil)
	ac.expect(http.StatusNotFound, "GET", "/api/v1/webhooks/"+made.ID+"/deliveries", nil)
}

// TestExportHoldsWebhooks: the customer's own export lists its webhooks
// (saved data) without their secrets; an admin, who may not read
// webhooks, exports the network without them.
func TestExportHoldsWebhooks(t *testing.T) {
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	a, ac := flowCustomer(e, "Hook Export K.K.", "hx")
	e.account(a, "hx-admin", identity.RoleAdmin, flowPW)
	var made struct {
		Secret string `json:"secret"`
	}
	ac.expect(http.StatusCreated, "POST", "/api/v1/webhooks", map[string]any{"url": "https://192.88.98.7/export-hook",
		"events": []string{webhook.TypeConfigApplied}, "description": "Export me"}).json(t, &made)
	r := ac.expect(http.StatusOK, "GET", "/api/v1/network/export", nil)
	if !strings.Contains(string(r.body), `"url": "https://192.88.98.7/export-hook"`) || !strings.Contains(string(r.body), "Export me") ||
		strings.Contains(string(r.body), made.Secret) || strings.Contains(string(r.body), "whsec_") {
		t.Fatalf("the export: %s", r.body)
	}
	adm := e.client(e.customer)
	adm.login("hx-admin", flowPW)
	if r := adm.expect(http.StatusOK, "GET", "/api/v1/network/export", nil); strings.Contains(string(r.body), "export-hook") {
		t.Fatalf("an admin's export holds the webhooks: %s", r.body)
	}
}
