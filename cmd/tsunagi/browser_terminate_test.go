package main

import (
	"net/http"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
)

// TestBrowserTermination: the operator cancels every contract of the demo
// customer through the API, with today as the termination date; the
// customer's operations administrator then sees, on the start page, the
// notice with the termination date, day 1 and the erasure deadline and the
// link to the export, in Japanese and in English, with axe-core on both.
func TestBrowserTermination(t *testing.T) {
	t.Parallel()
	defer timed(t, "TestBrowserTermination")()
	s := startDemo(t)
	tok := s.bootstrap()
	var id string
	for _, c := range s.items(tok, "/api/v1/customers") {
		if c["name"] == "Example Trading K.K." {
			id, _ = c["id"].(string)
		}
	}
	if id == "" {
		t.Fatal("no demo customer Example Trading K.K.")
	}
	d := clock.Today()
	for _, k := range s.items(tok, "/api/v1/customers/"+id+"/contracts") {
		code, _ := k["service_code"].(string)
		r := s.must("POST", s.mgmtURL("/api/v1/customers/"+id+"/contracts/"+code+"/cancel"),
			map[string]string{"termination_date": d, "reason": "browser test"}, bearer(tok))
		if r.status != http.StatusOK {
			t.Fatalf("cancel %s: %d %s", code, r.status, r.body)
		}
	}

	b := newBrowser(t, s)
	base := s.customerOrigin()
	ops := b.person("example-ops", "ja")
	ops.setPassword(mailedLink(t, s, "ops@example.co.jp"), opsPassword)
	ops.signIn(base, "example-ops", opsPassword)
	ops.open(base + "/")
	ops.mustHave("#term-notice", "the termination notice")
	ops.mustHave(`#term-notice a[href="/export"]`, "the link to the export")
	dates := []string{d, catalog.DayOne(d), catalog.PurgeDueOn(d)}
	ops.contains("the notice in Japanese", append([]string{"ご契約は終了します"}, dates...)...)
	ops.axe()
	ops.shoot("customer-termination-ja")
	ops.switchLang("en")
	ops.mustHave("#term-notice", "the termination notice")
	ops.contains("the notice in English", append([]string{"Your service is ending"}, dates...)...)
	ops.axe()
	ops.shoot("customer-termination-en")
}
