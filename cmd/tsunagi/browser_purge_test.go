package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestBrowserPurge: the operator console's erasure pages and the published
// signing keys in a real browser, with axe-core, in both languages; the
// keys are also served without sign-in on the customer listener. (A live
// erasure needs days to pass: the purge itself is tested with a fake clock
// in internal/lifecycle and internal/web.)
func TestBrowserPurge(t *testing.T) {
	t.Parallel()
	defer timed(t, "TestBrowserPurge")()
	s := startDemo(t)
	b := newBrowser(t, s)
	base := s.mgmtOrigin()
	op := b.person("operator", "ja")
	link := strings.Replace(s.setupURL, "https://"+s.mgmt, base, 1)
	if st := op.open(link); st != http.StatusOK {
		t.Fatalf("first-operator link: %d", st)
	}
	op.fill("#f-login_id", opLogin)
	op.fill("#f-display_name", "E2E Operator")
	op.fill("#f-email", "ops-e2e@example.net")
	op.fill("#f-password", opPassword)
	if st := op.submit("#setup-submit"); st != http.StatusOK {
		t.Fatalf("first-operator setup: %d:\n%s", st, op.text())
	}
	op.signIn(base, opLogin, opPassword)

	r := s.must("GET", s.customerURL("/api/v1/signing-keys"), nil, nil)
	var keys struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if r.status != http.StatusOK || json.Unmarshal(r.body, &keys) != nil || len(keys.Items) != 1 {
		t.Fatalf("signing keys without sign-in: %d %s", r.status, r.body)
	}

	for _, lang := range []string{"ja", "en"} {
		if lang == "en" {
			op.switchLang("en")
		}
		op.open(base + "/erasures")
		op.mustHave("#purge-keys-link", "the link to the signing keys")
		op.axe()
		op.open(base + "/signing-keys")
		op.mustHave("#purge-keys", "the table of signing keys")
		op.contains("the current key", keys.Items[0].ID)
		if op.has("#purge-rotate-form") {
			t.Error("an operator is offered the rotation, which only a security officer may do")
		}
		op.axe()
	}
	op.shoot("purge-keys")
}

// TestServeRefusesLatePurge: --purge-after-days over 90 stops serve at
// start: a terminated customer's data is erased by day 90, never later.
func TestServeRefusesLatePurge(t *testing.T) {
	p := launch(t, "serve", "--data-dir", t.TempDir(), "--purge-after-days", "91")
	if code, _ := p.wait(exitTimeout); code == 0 {
		t.Fatal("serve started with --purge-after-days 91")
	}
	if !strings.Contains(p.stderr.String(), "never later") {
		t.Fatalf("serve's refusal does not say why: %s", p.stderr.String())
	}
}
