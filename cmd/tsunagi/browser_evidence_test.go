package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/tsunagi-net/tsunagi/internal/evidence"
	"github.com/tsunagi-net/tsunagi/internal/signing"
)

// TestBrowserEvidence: the demo customer's operations administrator sees
// its chain's status on /audit and downloads an export, which verifies
// offline against the keys the service publishes; the security officer
// requests the same customer's evidence on /evidence with a purpose, that
// download verifies too, and the customer's /audit then lists the
// officer's evidence.export with the purpose. axe-core checks every page.
func TestBrowserEvidence(t *testing.T) {
	defer timed(t, "TestBrowserEvidence")()
	s := startDemo(t)
	tok := s.bootstrap()
	r := s.must("POST", s.mgmtURL("/api/v1/staff"), map[string]any{"login_id": "so.evidence", "display_name": "Evidence Officer",
		"email": "so-evidence@example.net", "role": "security-officer", "language": "en"}, bearer(tok))
	if r.status != http.StatusCreated {
		t.Fatalf("invite the security officer: %d %s", r.status, r.body)
	}
	var cust string
	for _, c := range s.items(tok, "/api/v1/customers") {
		if c["name"] == "Example Trading K.K." {
			cust, _ = c["id"].(string)
		}
	}
	if cust == "" {
		t.Fatal("the demo has no Example Trading K.K.")
	}
	r = s.must("GET", s.customerURL("/api/v1/signing-keys"), nil, nil)
	var keys struct{ Items []signing.PublicKey }
	if r.status != http.StatusOK || json.Unmarshal(r.body, &keys) != nil {
		t.Fatalf("signing keys: %d %s", r.status, r.body)
	}

	b := newBrowser(t, s)
	base, mgmt := s.customerOrigin(), s.mgmtOrigin()
	ops := b.person("example-ops", "ja")
	ops.setPassword(mailedLink(t, s, "ops@example.co.jp"), opsPassword)
	ops.signIn(base, "example-ops", opsPassword)
	ops.open(base + "/audit")
	ops.mustHave("#evidence-status", "the chain's status")
	ops.contains("the chain's status", cust, "正常")
	ops.mustHave("#evidence-keys", "the link to the public keys")
	ops.checkLanguages("/audit", cust, "tsunagi evidence verify FILE --key keys.json")
	name, archive := ops.download("#evidence-download")
	if !strings.HasPrefix(name, "tsunagi-evidence-"+cust+"-") || !strings.HasSuffix(name, evidence.ArchiveExt) {
		t.Errorf("the customer's download is named %q", name)
	}
	rep, err := evidence.VerifyArchive(bytes.NewReader(archive), keys.Items)
	if err != nil || rep.Customer != cust || rep.Entries == 0 {
		t.Fatalf("the customer's archive: %+v, %v", rep, err)
	}
	ops.shoot("customer-audit-evidence")

	so := b.person("officer", "en")
	so.setPassword(mailedLink(t, s, "so-evidence@example.net"), opPassword)
	so.signIn(mgmt, "so.evidence", opPassword)
	so.open(mgmt + "/audit?customer=" + cust)
	so.mustHave("#opc-audit-ask", "the request for a purpose before a customer's chain is read")
	so.fill("#f-purpose", "Checking the export of REQ-2026-118")
	if st := so.submit("#opc-audit-filter button"); st != http.StatusOK {
		t.Fatalf("the customer's chain with a purpose: %d:\n%s", st, so.text())
	}
	so.mustHave("#opc-audit-list", "the customer's entries")
	so.open(mgmt + "/audit/chains")
	so.mustHave("#evidence-chains", "the list of chains")
	so.contains("the customer's chain", cust, "Intact")
	so.open(mgmt + "/evidence")
	so.mustHave("#evidence-request", "the evidence request form")
	so.checkLanguages("/evidence", "tsunagi evidence verify FILE --key keys.json")
	const purpose = "Customer's request REQ-2026-118: access records for the December audit"
	so.fill("#f-customer", cust)
	so.fill("#f-purpose", purpose)
	name, archive = so.download("#evidence-request-download")
	if !strings.HasPrefix(name, "tsunagi-evidence-"+cust+"-") {
		t.Errorf("the officer's download is named %q", name)
	}
	if rep, err := evidence.VerifyArchive(bytes.NewReader(archive), keys.Items); err != nil || rep.Customer != cust {
		t.Fatalf("the officer's archive: %+v, %v", rep, err)
	}
	so.shoot("operator-evidence-request")

	ops.open(base + "/audit?limit=500")
	ops.contains("the officer's request in the customer's own log", "evidence.export", purpose)
}

// download clicks sel, a button whose answer is an attachment, and returns
// the name the server suggested and the bytes the browser saved (into a
// directory of the test's).
func (p *tab) download(sel string) (string, []byte) {
	p.t.Helper()
	dir := p.t.TempDir()
	ctx, cancel := p.step()
	defer cancel()
	on := true
	if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, BrowserContextID: chromedp.FromContext(p.ctx).BrowserContextID,
		DownloadPath: dir, EventsEnabled: &on}); err != nil {
		p.t.Fatalf("%s: allow downloads: %v", p.name, err)
	}
	begun := chromedp.BrowserEvents(ctx, cdpbrowser.DownloadWillBegin)
	progress := chromedp.BrowserEvents(ctx, cdpbrowser.DownloadProgress)
	p.do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	var guid, name string
	for ev, err := range begun {
		if err != nil {
			p.t.Fatalf("%s: no download after %s: %v (at %s)\n%s", p.name, sel, err, p.location(), tail(p.text(), 1500))
		}
		guid, name = ev.GUID, ev.SuggestedFilename
		break
	}
	for ev, err := range progress {
		if err != nil {
			p.t.Fatalf("%s: download %s: %v", p.name, name, err)
		}
		if ev.GUID != guid {
			continue
		}
		if ev.State == cdpbrowser.DownloadProgressStateCanceled {
			p.t.Fatalf("%s: download %s was cancelled", p.name, name)
		}
		if ev.State == cdpbrowser.DownloadProgressStateCompleted {
			break
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, guid))
	if err != nil {
		p.t.Fatalf("%s: the downloaded %s: %v", p.name, name, err)
	}
	return name, b
}
