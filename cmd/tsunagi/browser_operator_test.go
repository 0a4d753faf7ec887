package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestBrowserOperatorConsole: the first operator account is made through the
// setup link in the browser; the operator registers a node with ports,
// issues its enrolment token (shown once) and sees the node on the capacity
// page; every page of the console's menu is checked in both languages,
// with axe-core, and photographed.
func TestBrowserOperatorConsole(t *testing.T) {
	t.Parallel()
	defer timed(t, "TestBrowserOperatorConsole")()
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
	op.mustHave("#setup-done", "the operator account is made")
	op.signIn(base, opLogin, opPassword)

	t.Run("node", func(t *testing.T) {
		defer timed(t, "node")()
		op := op.in(t)
		op.open(base + "/nodes")
		op.fill("#node-name", "tyo-hub-02")
		op.choose("#node-region", "tokyo")
		if st := op.submit("#node-submit"); st != http.StatusOK {
			t.Fatalf("register node: %d:\n%s", st, op.text())
		}
		if !strings.HasSuffix(op.location(), "/nodes/tyo-hub-02") {
			op.open(base + "/nodes/tyo-hub-02")
		}
		for _, port := range []struct{ name, speed, kind string }{{"eth1", "10000", "onprem"}, {"eth2", "100000", "cloud-aws"}} {
			op.fill("#port-name", port.name)
			op.choose("#port-speed", port.speed)
			op.choose("#port-kind", port.kind)
			if st := op.submit("#port-submit"); st != http.StatusOK {
				t.Fatalf("add port %s: %d:\n%s", port.name, st, op.text())
			}
		}
		op.mustHave("#port-table", "the node's ports")
		op.contains("the node's ports", "eth1", "eth2")
		if st := op.submit("#issue-token"); st != http.StatusOK {
			t.Fatalf("issue token: %d:\n%s", st, op.text())
		}
		op.mustHave("#enrolment-token", "the enrolment token, shown once")
		secret := eval[string](op, `document.querySelector("#enrolment-token").textContent.trim()`)
		if len(secret) < 20 {
			t.Fatalf("enrolment token %q", secret)
		}
		op.shoot("operator-token")
		op.open(base + "/nodes/tyo-hub-02")
		if strings.Contains(op.text(), secret) {
			t.Errorf("the enrolment token is shown again on the node's page")
		}
		op.open(base + "/capacity")
		op.mustHave("meter", "utilisation bars")
		op.contains("the new node on the capacity page", "tyo-hub-02")
		op.shoot("operator-capacity")
	})

	t.Run("every page", func(t *testing.T) {
		defer timed(t, "every page")()
		pages := op.in(t).crawl("/", 80)
		t.Logf("axe-core on %d pages: %v", len(pages), pages)
	})

	t.Run("pages", func(t *testing.T) {
		defer timed(t, "pages")()
		op := op.in(t)
		op.open(base + "/")
		paths := op.navLinks()
		paths = append(paths, "/nodes/tyo-hub-01", "/regions")
		data := []string{"E2E Operator", "Example Trading K.K.", "Sample Logistics Inc."}
		for _, path := range paths {
			op.checkLanguages(path, data...)
			op.shoot("operator" + strings.ReplaceAll(strings.TrimSuffix(path, "/"), "/", "-"))
		}
	})
}

// navLinks are the paths of the layout's menu.
func (p *tab) navLinks() []string {
	p.t.Helper()
	s := eval[string](p, `[...document.querySelectorAll("nav.nav a")].map(a => a.getAttribute("href")).join(" ")`)
	if s == "" {
		p.t.Fatalf("%s: no menu on %s", p.name, p.location())
	}
	return strings.Fields(s)
}
