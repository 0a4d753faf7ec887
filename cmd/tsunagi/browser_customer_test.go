package main

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// The demo customer's people in the customer scenario.
const (
	opsPassword    = "ops passphrase for the demo"
	admin2Password = "second admin passphrase 7"
	viewerPassword = "read only passphrase 9"
)

// TestBrowserFirstRun walks the README's first run: `serve --demo`, the
// setup link from the development mail sink, a password, and the demo
// customer's hub on the start page — in a real browser.
func TestBrowserFirstRun(t *testing.T) {
	t.Parallel()
	defer timed(t, "TestBrowserFirstRun")()
	s := startDemo(t)
	b := newBrowser(t, s)
	p := b.person("example-ops", "ja")
	link := mailedLink(t, s, "ops@example.co.jp")
	if !strings.HasPrefix(link, s.customerOrigin()+"/setup?token=") {
		t.Fatalf("the mailed link %q is not the customer listener's setup page", link)
	}
	p.setPassword(link, opsPassword)
	p.signIn(s.customerOrigin(), "example-ops", opsPassword)
	if loc := p.location(); loc != s.customerOrigin()+"/" {
		t.Fatalf("after sign-in the browser is at %s, want the start page", loc)
	}
	p.contains("the demo customer's hubs and contract on the start page", "東京", "大阪", "shb")
	p.shoot("customer-home")
}

// TestBrowserCustomerPanel: the customer scenarios of issue #11 on one demo
// controller: invitation by mail and a WebAuthn key; the edit workflow with
// a second admin watching the lock; a read-only user; both languages on every
// main page; axe-core on every page; screenshots.
func TestBrowserCustomerPanel(t *testing.T) {
	t.Parallel()
	defer timed(t, "TestBrowserCustomerPanel")()
	s := startDemo(t)
	tok := s.bootstrap()
	newPort := addCloudPort(t, s, tok, "Example Trading K.K.")
	b := newBrowser(t, s)
	base := s.customerOrigin()

	ops := b.person("example-ops", "ja")
	ops.setPassword(mailedLink(t, s, "ops@example.co.jp"), opsPassword)
	ops.signIn(base, "example-ops", opsPassword)

	admin := b.person("admin2", "ja")
	viewer := b.person("viewer", "en")
	t.Run("invite", func(t *testing.T) {
		defer timed(t, "invite")()
		ops := ops.in(t)
		ops.invite("admin2", "Second Admin", "admin2@example.co.jp", "admin")
		ops.invite("viewer", "Read Only", "viewer@example.co.jp", "user")
		admin := admin.in(t)
		admin.setPassword(mailedLink(t, s, "admin2@example.co.jp"), admin2Password)
		admin.signIn(base, "admin2", admin2Password)
		viewer := viewer.in(t)
		viewer.setPassword(mailedLink(t, s, "viewer@example.co.jp"), viewerPassword)
		viewer.signIn(base, "viewer", viewerPassword)
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("webauthn", func(t *testing.T) {
		defer timed(t, "webauthn")()
		admin := admin.in(t)
		key := admin.virtualKey()
		admin.open(base + "/me/security")
		if admin.has("#reauth-password") { // enrolment asks for the password again first
			admin.fill("#reauth-password", admin2Password)
			admin.submit("#reauth-submit")
		}
		admin.fill("#webauthn-name", "virtual key")
		admin.clickUntil("#webauthn-register", `document.querySelector("#webauthn-keys") !== null`)
		admin.axe()
		if n := admin.credentials(key); n != 1 {
			t.Fatalf("the authenticator holds %d credentials after registration, want 1", n)
		}
		admin.contains("the key is listed", "virtual key")
		admin.signOut()
		admin.signIn(base, "admin2", admin2Password)
		if !strings.Contains(admin.location(), "/login/mfa") {
			t.Fatalf("with a key, sign-in went to %s, not the second-factor step", admin.location())
		}
		admin.mustHave("#webauthn-login", "the security-key button")
		admin.clickUntil("#webauthn-login", `!location.pathname.startsWith("/login")`)
		admin.axe()
		if loc := admin.location(); strings.Contains(loc, "/login") {
			t.Fatalf("after the key the browser is still at %s:\n%s", loc, admin.text())
		}
	})

	t.Run("workflow", func(t *testing.T) {
		defer timed(t, "workflow")()
		editWorkflow(t, s, tok, admin.in(t), ops.in(t), newPort)
	})

	t.Run("read-only user", func(t *testing.T) {
		defer timed(t, "read-only user")()
		viewer := viewer.in(t)
		for _, path := range []string{"/", "/contracts", "/hubs", "/ports", "/ports/" + newPort, "/network", "/network/versions", "/docs", "/me"} {
			if st := viewer.open(base + path); st != http.StatusOK {
				t.Errorf("a user opening %s: %d", path, st)
				continue
			}
			// The only forms a user has are their own: language, sign-out
			// and their own account's.
			if f := eval[string](viewer, `[...document.querySelectorAll("main form[method=post]")].map(f => f.getAttribute("action")).filter(a => !a.startsWith("/me") && a !== "/language").join(" ")`); f != "" {
				t.Errorf("a user sees edit controls on %s: forms to %s", path, f)
			}
		}
		if viewer.has("#start-editing") {
			t.Errorf("a user sees the start-editing button")
		}
		if st := viewer.open(base + "/accounts"); st != http.StatusForbidden {
			t.Errorf("a user opening /accounts: %d, want 403", st)
		}
		for _, path := range []string{"/network/lock", "/network/apply", "/accounts"} {
			if st := viewer.post(path, map[string]string{}); st != http.StatusForbidden {
				t.Errorf("a user forcing POST %s: %d, want 403", path, st)
			}
		}
		if st := viewer.open(base + "/network/draft/ports/" + newPort); st != http.StatusForbidden && st != http.StatusOK {
			t.Errorf("a user opening the draft editor: %d", st)
		} else if st == http.StatusOK && viewer.has("main form[method=post]") {
			t.Errorf("a user sees forms on the draft editor")
		}
	})

	t.Run("languages", func(t *testing.T) {
		defer timed(t, "languages")()
		ops := ops.in(t)
		data := []string{"Example Trading K.K.", "Second Admin", "Read Only", "E2E Operator", "virtual key"}
		for _, path := range []string{"/", "/contracts", "/hubs", "/ports", "/ports/" + newPort, "/network", "/network/versions",
			"/network/nat", "/accounts", "/security", "/audit", "/me", "/me/security"} {
			ops.checkLanguages(path, data...)
		}
		// The documents' titles are the documents' own, in both languages.
		ops.open(base + "/docs")
		titles := strings.Split(eval[string](ops, `[...document.querySelectorAll('main a[href^="/docs/"]')].map(a => a.textContent).join("\n")`), "\n")
		ops.checkLanguages("/docs", append(data, titles...)...)
	})

	t.Run("every page", func(t *testing.T) {
		defer timed(t, "every page")()
		pages := ops.in(t).crawl("/", 80)
		t.Logf("axe-core on %d pages: %v", len(pages), pages)
	})

	t.Run("screenshots", func(t *testing.T) {
		defer timed(t, "screenshots")()
		ops := ops.in(t)
		for _, pg := range []struct{ name, path string }{{"customer-home", "/"}, {"customer-contracts", "/contracts"},
			{"customer-hubs", "/hubs"}, {"customer-ports", "/ports"}, {"customer-port", "/ports/" + newPort},
			{"customer-network", "/network"}, {"customer-versions", "/network/versions"}, {"customer-accounts", "/accounts"},
			{"customer-audit", "/audit"}, {"customer-me", "/me"}} {
			ops.open(base + pg.path)
			ops.shoot(pg.name)
		}
		ops.open(base + "/")
		ops.docShot("home")
		ops.open(base + "/ports/" + portOfKind(t, s, tok, "Example Trading K.K.", "m-public"))
		ops.docShot("port")
	})
}

// invite sends the invitation form of /accounts/new.
func (p *tab) invite(login, name, email, role string) {
	p.t.Helper()
	p.open(p.origin() + "/accounts/new")
	p.fill("#invite-login-id", login)
	p.fill("#invite-display-name", name)
	p.fill("#invite-email", email)
	p.choose("#invite-role", role)
	if st := p.submit("#invite-submit"); st != http.StatusOK {
		p.t.Fatalf("invite %s: %d:\n%s", login, st, p.text())
	}
	p.contains("the invitation is listed", login)
}

// addCloudPort has the operator sell customer a new AWS private port on its
// main hub and place it, through the operator API: the port is contracted
// but not yet in the customer's configuration. It returns the port code.
func addCloudPort(t *testing.T, s *server, tok, customer string) string {
	t.Helper()
	var id string
	for _, c := range s.items(tok, "/api/v1/customers") {
		if c["name"] == customer {
			id, _ = c["id"].(string)
		}
	}
	if id == "" {
		t.Fatalf("no demo customer %q", customer)
	}
	sc, _ := s.items(tok, "/api/v1/customers/"+id+"/contracts")[0]["service_code"].(string)
	var hub string
	for _, h := range s.items(tok, "/api/v1/customers/"+id+"/hubs") {
		if h["priority"] == "main" {
			hub, _ = h["id"].(string)
		}
	}
	r := s.must("POST", s.mgmtURL("/api/v1/customers/"+id+"/ports"), map[string]any{"service_code": sc, "hub_id": hub,
		"kind": "a-private", "speed_mbps": 1000}, bearer(tok))
	if r.status != http.StatusCreated {
		t.Fatalf("create port: %d %s", r.status, r.body)
	}
	code := r.str("port_code")
	r = s.must("POST", s.mgmtURL("/api/v1/customers/"+id+"/ports/"+code+"/placement"), map[string]any{}, bearer(tok))
	if r.status/100 != 2 {
		t.Fatalf("place port %s: %d %s", code, r.status, r.body)
	}
	return code
}

// editWorkflow: admin takes the lock, configures the new cloud port and adds
// a firewall rule to the public cloud port, sees the review's diff and
// risk, applies and finds the version in the history; ops, the other
// administrator, sees who holds the lock meanwhile; then admin rolls back
// to the version before, from its page, through the same review and apply.
func editWorkflow(t *testing.T, s *server, tok string, admin, ops *tab, newPort string) {
	base := s.customerOrigin()
	publicPort := portOfKind(t, s, tok, "Example Trading K.K.", "m-public")
	admin.open(base + "/network")
	admin.contains("the new contracted port is offered", newPort)
	if st := admin.submit("#start-editing"); st != http.StatusOK {
		t.Fatalf("start editing: %d:\n%s", st, admin.text())
	}

	ops.open(base + "/network")
	ops.contains("the second admin sees the lock holder", "admin2")
	if ops.has("#start-editing") {
		t.Errorf("the second admin is offered to start editing while admin2 holds the lock")
	}
	ops.shoot("customer-network-locked")

	admin.mustHave("#add-"+newPort, "the contracted port's add-to-the-configuration action")
	admin.submit("#add-" + newPort)
	admin.formSubmit(`form[action$="/connection"]`, map[string]string{
		"vlan": "103", "peer_asn": "64512", "type": "DefaultRoute",
		"primary_hub_address": "169.254.101.1", "primary_peer_address": "169.254.101.2", "primary_prefix_length": "30",
		"secondary_hub_address": "169.254.101.5", "secondary_peer_address": "169.254.101.6", "secondary_prefix_length": "30",
	})
	admin.open(base + "/network/draft/ports/" + publicPort)
	admin.formSubmit(`form[action$="/rules"]`, map[string]string{
		"action": "accept", "sources": "head-office", "destinations": "any", "applications": "web", "comment": "from the browser test",
	})
	if !admin.hasValue("from the browser test") {
		t.Errorf("the new rule is not in the draft's rules")
	}
	admin.shoot("customer-draft-port")

	admin.open(base + "/network/review")
	admin.contains("the review shows the changed ports", newPort, publicPort)
	admin.mustHave("#risk", "the review's risk level")
	admin.shoot("customer-review")
	admin.docShot("review")
	if st := admin.submit("#apply"); st != http.StatusOK {
		t.Fatalf("apply: %d:\n%s", st, admin.text())
	}
	loc := admin.location()
	i := strings.LastIndex(loc, "/network/versions/")
	if i < 0 {
		t.Fatalf("apply led to %s, not a version's page", loc)
	}
	applied := loc[i+len("/network/versions/"):]
	admin.open(base + "/network/versions")
	admin.mustHave(`a[href="/network/versions/`+applied+`"]`, "the applied version in the history")
	n, err := strconv.Atoi(applied)
	if err != nil || n < 2 {
		t.Fatalf("applied version %q", applied)
	}

	before := strconv.Itoa(n - 1)
	admin.open(base + "/network/versions/" + before)
	if st := admin.submit("#rollback"); st != http.StatusOK {
		t.Fatalf("rollback: %d:\n%s", st, admin.text())
	}
	admin.contains("the rollback is reviewed like any change", newPort)
	if st := admin.submit("#apply"); st != http.StatusOK {
		t.Fatalf("apply the rollback: %d:\n%s", st, admin.text())
	}
	admin.open(base + "/network/versions")
	admin.mustHave(`a[href="/network/versions/`+strconv.Itoa(n+1)+`"]`, "the rollback's version in the history")
	admin.open(base + "/network/draft/ports/" + publicPort)
	if admin.hasValue("from the browser test") {
		t.Errorf("after the rollback the rule added in version %d is still there", n)
	}
}

// formSubmit fills the form sel by field names (inputs, selects, check
// boxes) and sends it; the page it leads to must show no refusal.
func (p *tab) formSubmit(sel string, fields map[string]string) {
	p.t.Helper()
	p.mustHave(sel, "the form")
	fj, _ := json.Marshal(fields)
	sj, _ := json.Marshal(sel)
	missing := eval[string](p, `(() => {
		const f = document.querySelector(`+string(sj)+`), miss = [];
		for (const [name, v] of Object.entries(`+string(fj)+`)) {
			const el = f.elements.namedItem(name);
			if (!el) { miss.push(name); continue; }
			if (el.type === "checkbox") { el.checked = v !== ""; continue; }
			if (el.multiple) { for (const o of el.options) o.selected = v.split(",").includes(o.value); continue; }
			el.value = v;
		}
		return miss.join(" ");
	})()`)
	if missing != "" {
		p.t.Fatalf("%s: the form %s has no field %s", p.name, sel, missing)
	}
	if st := p.submit(sel + ` button[type=submit]`); st != http.StatusOK {
		p.t.Fatalf("%s: sending %s: %d:\n%s", p.name, sel, st, tail(p.text(), 2000))
	}
	if errs := eval[string](p, `[...document.querySelectorAll(".field-error, #form-error")].map(e => e.textContent).join("; ")`); errs != "" {
		p.t.Fatalf("%s: %s refused: %s", p.name, sel, errs)
	}
}

// portOfKind is the code of the customer's first port of kind.
func portOfKind(t *testing.T, s *server, tok, customer, kind string) string {
	t.Helper()
	for _, c := range s.items(tok, "/api/v1/customers") {
		if c["name"] != customer {
			continue
		}
		for _, p := range s.items(tok, "/api/v1/customers/"+c["id"].(string)+"/ports") {
			if p["kind"] == kind {
				return p["port_code"].(string)
			}
		}
	}
	t.Fatalf("%s has no %s port", customer, kind)
	return ""
}

// hasValue reports whether a form field on the page holds v.
func (p *tab) hasValue(v string) bool {
	p.t.Helper()
	vj, _ := json.Marshal(v)
	return eval[bool](p, `[...document.querySelectorAll("input, textarea")].some(e => e.value === `+string(vj)+`)`)
}
