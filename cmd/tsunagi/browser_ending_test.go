package main

import (
	"net/http"
	"testing"
)

// TestBrowserPortRemoval: the demo customer's operations administrator
// marks a contracted port for removal on the draft's port page (confirming
// the dialog), sees on the review what stops with it, applies, and finds
// the port ended; axe-core checks every page on the way.
func TestBrowserPortRemoval(t *testing.T) {
	t.Parallel()
	defer timed(t, "TestBrowserPortRemoval")()
	s := startDemo(t)
	tok := s.bootstrap()
	code := addCloudPort(t, s, tok, "Example Trading K.K.")
	b := newBrowser(t, s)
	base := s.customerOrigin()
	ops := b.person("example-ops", "en")
	ops.setPassword(mailedLink(t, s, "ops@example.co.jp"), opsPassword)
	ops.signIn(base, "example-ops", opsPassword)

	ops.open(base + "/network")
	if st := ops.submit("#start-editing"); st != http.StatusOK {
		t.Fatalf("start editing: %d:\n%s", st, ops.text())
	}
	ops.open(base + "/network/draft/ports/" + code)
	ops.mustHave("#end-removal-mark", "the port page's remove action")
	if st := ops.submit("#end-removal-mark"); st != http.StatusOK {
		t.Fatalf("mark for removal: %d:\n%s", st, ops.text())
	}
	ops.mustHave("#end-review-"+code, "the review's list of what stops with the port")
	ops.mustHave("#risk", "the review's risk level")
	ops.mustHave("#end-review", "the review's section of the ports removed")
	ops.contains("the removed port in the review", code)
	ops.shoot("customer-port-removal-review")
	if st := ops.submit("#apply"); st != http.StatusOK {
		t.Fatalf("apply: %d:\n%s", st, ops.text())
	}
	ops.open(base + "/network/draft/ports/" + code)
	ops.mustHave("#end-removal-ended", "the port page says the port has ended")
	ops.axe()
}
