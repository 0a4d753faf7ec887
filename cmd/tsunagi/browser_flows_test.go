package main

import (
	"net/http"
	"testing"
)

// TestBrowserFlows: the demo customer's operations administrator opens the
// flow records page in both languages, with its query form and the
// window's counts (the demo's hubs have ended no connection, so the table
// is empty); an address that is not one is refused next to its field.
// axe-core checks every page.
func TestBrowserFlows(t *testing.T) {
	defer timed(t, "TestBrowserFlows")()
	s := startDemo(t)
	b := newBrowser(t, s)
	base := s.customerOrigin()
	ops := b.person("example-ops", "ja")
	ops.setPassword(mailedLink(t, s, "ops@example.co.jp"), opsPassword)
	ops.signIn(base, "example-ops", opsPassword)
	if st := ops.open(base + "/flows"); st != http.StatusOK {
		t.Fatalf("/flows: %d", st)
	}
	ops.mustHave("#flows-query", "the query form")
	ops.mustHave("#flows-counts", "the window's counts")
	ops.contains("the empty result", "この期間に終了した通信の記録はありません。")
	ops.checkLanguages("/flows")
	ops.fill("#flows-address", "not-an-address")
	if st := ops.submit("#flows-query button[type=submit]"); st != http.StatusBadRequest {
		t.Fatalf("a bad address: %d, want 400", st)
	}
	ops.mustHave("#e-address", "the address's error next to its field")
}
