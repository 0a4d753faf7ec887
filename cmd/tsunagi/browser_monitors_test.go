package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestBrowserMonitors: the demo customer's operations administrator (its
// contract has the reachability-monitor option) adds a monitor on
// /monitors, opens its page (history and the SVG graphs), stops it with a
// reason — the stop shows on /audit — and resumes it; both languages, and
// axe-core on every page opened.
func TestBrowserMonitors(t *testing.T) {
	defer timed(t, "TestBrowserMonitors")()
	s := startDemo(t)
	s.bootstrap()
	b := newBrowser(t, s)
	base := s.customerOrigin()
	ops := b.person("example-ops", "ja")
	ops.setPassword(mailedLink(t, s, "ops@example.co.jp"), opsPassword)
	ops.signIn(base, "example-ops", opsPassword)

	ops.checkLanguages("/monitors")
	if st := ops.open(base + "/monitors"); st != http.StatusOK {
		t.Fatalf("/monitors: %d", st)
	}
	ops.mustHave("#monitor-add-form", "the add form")
	ops.fill("#f-name", "Web server")
	ops.fill("#f-target", "198.51.100.25")
	ops.choose("#f-probe", "tcp")
	ops.fill("#f-tcp_port", "443")
	ops.fill("#f-interval_seconds", "30")
	if st := ops.submit("#monitor-add"); st != http.StatusOK {
		t.Fatalf("add: %d:\n%s", st, ops.text())
	}
	page := strings.TrimPrefix(ops.location(), base)
	if !strings.HasPrefix(page, "/monitors/mon_") {
		t.Fatalf("after the add: %s", page)
	}
	id := strings.TrimPrefix(page, "/monitors/")
	ops.mustHave("#monitor-state", "the monitor's state")
	ops.mustHave("svg", "the round-trip time graph")
	ops.checkLanguages(page, id, "Web server", "198.51.100.25")
	ops.shoot("customer-monitor")

	if st := ops.open(base + "/monitors"); st != http.StatusOK {
		t.Fatalf("/monitors: %d", st)
	}
	ops.fill("#reason-"+id, "maintenance window")
	if st := ops.submit("#monitor-stop-" + id); st != http.StatusOK {
		t.Fatalf("stop: %d:\n%s", st, ops.text())
	}
	ops.mustHave("#monitor-resume-"+id, "the resume button of the stopped monitor")
	ops.shoot("customer-monitors-stopped")
	ops.open(base + "/audit?limit=500")
	ops.contains("the stop in the customer's audit log", "monitor.stop", "monitor:"+id)
	ops.open(base + "/monitors")
	if st := ops.submit("#monitor-resume-" + id); st != http.StatusOK {
		t.Fatalf("resume: %d:\n%s", st, ops.text())
	}
	ops.mustHave("#monitor-stop-"+id, "the stop button of the resumed monitor")
	ops.open(base + "/audit?limit=500")
	ops.contains("the resume in the customer's audit log", "monitor.resume")
}
