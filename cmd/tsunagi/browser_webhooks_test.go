package main

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/webhook"
)

// hookDelivery is what the test's receiver took: the headers that sign it
// and the body.
type hookDelivery struct {
	id, ts, sig string
	body        []byte
}

// TestBrowserWebhooks: Example Trading's operations administrator
// registers a webhook on the panel for a real HTTPS receiver (on 127.0.0.1,
// admitted by --webhook-allow-networks, its certificate's CA given by
// --webhook-ca-file); a URL to a private address is refused in place; the
// secret is shown once; a notice the operator publishes to the customer
// reaches the receiver, signed with that secret, as a CloudEvent; the
// delivery log shows it delivered; the secret is rotated and the webhook
// removed. axe-core checks every page on the way, in both languages.
func TestBrowserWebhooks(t *testing.T) {
	t.Parallel()
	defer timed(t, "TestBrowserWebhooks")()
	got := make(chan hookDelivery, 10)
	rcv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- hookDelivery{r.Header.Get(webhook.HeaderID), r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature), body}
	}))
	defer rcv.Close()
	ca := filepath.Join(t.TempDir(), "receiver-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rcv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, serveOpts{args: []string{"--demo", "--webhook-allow-networks", "127.0.0.0/8", "--webhook-ca-file", ca}})
	tok := s.bootstrap()
	b := newBrowser(t, s)
	cust := s.customerOrigin()
	ex := b.person("example-ops", "en")
	ex.setPassword(mailedLink(t, s, "ops@example.co.jp"), opsPassword)
	ex.signIn(cust, "example-ops", opsPassword)
	ex.setLang("ja")               // the account's language, as the demo made it
	ex.checkLanguages("/webhooks") // ends in English
	if st := ex.open(cust + "/webhooks"); st != http.StatusOK {
		t.Fatalf("/webhooks: %d", st)
	}
	check := func(typ string) {
		eval[bool](ex, `document.querySelector('input[name=events][value="`+typ+`"]').checked = true`)
	}
	ex.fill("#f-url", "https://10.20.30.40/hook")
	check(webhook.TypeNoticePublished)
	if st := ex.submit("#webhook-register"); st != http.StatusBadRequest {
		t.Fatalf("a private address: %d", st)
	}
	ex.mustHave("#e-url", "the URL's error in place")
	ex.fill("#f-url", rcv.URL+"/hook")
	check(webhook.TypeNoticePublished)
	ex.fill("#f-description", "E2E receiver")
	if st := ex.submit("#webhook-register"); st != http.StatusOK {
		t.Fatalf("register: %d:\n%s", st, ex.text())
	}
	secret := strings.TrimSpace(eval[string](ex, `document.querySelector("#webhook-secret").textContent`))
	if !strings.HasPrefix(secret, webhook.SecretPrefix+"_") {
		t.Fatalf("secret %q", secret)
	}
	ex.open(cust + "/webhooks")
	if strings.Contains(ex.text(), secret) {
		t.Fatal("the list shows the secret")
	}
	ex.contains("the list", rcv.URL+"/hook", "E2E receiver")

	var example string
	for _, c := range s.items(tok, "/api/v1/customers") {
		if c["name"] == "Example Trading K.K." {
			example, _ = c["id"].(string)
		}
	}
	notice := publishNotice(t, s, tok, []string{example})
	var d hookDelivery
	select {
	case d = <-got:
	case <-time.After(2 * time.Minute):
		t.Fatal("the notice's event did not reach the receiver")
	}
	if err := webhook.Verify(secret, d.id, d.ts, d.sig, d.body, time.Now()); err != nil {
		t.Fatalf("the receiver's check: %v", err)
	}
	var ev map[string]any
	if err := json.Unmarshal(d.body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev["specversion"] != "1.0" || ev["type"] != webhook.TypeNoticePublished || ev["subject"] != "notices/"+notice ||
		ev["id"] != d.id || !strings.HasSuffix(ev["source"].(string), "/customers/"+example) {
		t.Fatalf("CloudEvent %s", d.body)
	}

	ex.submit(`#webhooks a[href^="/webhooks/"]`)
	log := ex.location()[len(cust):]
	ex.mustHave("#webhook-deliveries", "the delivery log")
	ex.contains("the delivery", d.id, "Delivered", "200")
	ex.checkLanguages(log, d.id, "notices/"+notice) // ends in Japanese
	if st := ex.submit("#webhook-rotate"); st != http.StatusOK {
		t.Fatalf("rotate: %d", st)
	}
	if fresh := strings.TrimSpace(eval[string](ex, `document.querySelector("#webhook-secret").textContent`)); fresh == secret {
		t.Fatal("rotation kept the secret")
	}
	ex.open(cust + "/webhooks")
	if st := ex.submit(`#webhooks form[action$="/delete"] button`); st != http.StatusOK {
		t.Fatalf("remove: %d", st)
	}
	ex.contains("the emptied list", "登録された Webhook はありません。")
}
