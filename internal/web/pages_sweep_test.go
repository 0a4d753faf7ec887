package web

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// The control panel in the cross-customer sweep and the access matrix. The
// panel's pages are another face of the API (pages.go), so they owe what the
// API owes (sweep_test.go, access_matrix_test.go):
//
//   - customer B, signed in, asking a page for customer A's objects gets 404
//     (403 where B's role lacks the page's action), never A's data: none of
//     A's identifiers, codes, login IDs, e-mail addresses or its name is in
//     the answer, whether the page is asked by the browser or by htmx. A
//     parameterless page shows B nothing of A's either. B's refused forms
//     change nothing: not A's objects or sessions, not B's own state;
//   - an operator page naming customer B and one of A's objects gets 404;
//   - a page with an action sends a signed-out browser to /login (303), and
//     so it does a browser with a session of the other listener;
//   - a role the permission table (identity.Allowed) does not give the
//     page's action gets 403; a role it does give gets the page for its own
//     objects (so that the 404s above mean something);
//   - a form (POST) sent from another site is refused with 403
//     (http.CrossOriginProtection), signed in or not;
//   - a form page needs at least the permission of each API write it
//     covers: the panel is no way around the API's table.
//
// The sweep walks the page tables (customerPages, operatorPages), so pages
// added later are covered without touching this file. Path parameters are
// filled BY NAME, as the API sweep does (sweep_test.go: {code}, {id},
// {account}, {customer}, {node}, {version}, …; an unknown name gets every
// identifier A owns).

func TestPanelSweep(t *testing.T) {
	t.Parallel() // a minute of round trips: overlap it with the other long tests
	p := newPageSweep(t)
	report := func(format string, args ...any) { t.Errorf(format, args...) }
	s := p.w.e.srv
	n := p.crossCustomerChangesNothing(report, p.w.e.customer, s.customerPages())
	n += p.mixedCustomers(report, s.operatorPages())
	n += p.signedOut(report, p.w.e.customer, s.customerPages(), "signed out", nil)
	n += p.signedOut(report, p.w.e.mgmt, s.operatorPages(), "signed out", nil)
	// A session of the other listener, sent under this listener's cookie
	// name (as a stolen cookie would be), is no session here.
	n += p.signedOut(report, p.w.e.customer, s.customerPages(), "an operator's session",
		map[string]string{"Cookie": cookieName(identity.CustomerSide) + "=" + p.sessionSecret(p.staffViewers[0], identity.OperatorSide)})
	n += p.signedOut(report, p.w.e.mgmt, s.operatorPages(), "a customer's session",
		map[string]string{"Cookie": cookieName(identity.OperatorSide) + "=" + p.sessionSecret(p.custViewers[0], identity.CustomerSide)})
	n += p.roles(report, s.customerPages(), p.custViewers)
	n += p.roles(report, s.operatorPages(), p.staffViewers)
	n += p.crossSite(report, p.w.e.customer, s.customerPages(), p.custViewers)
	n += p.crossSite(report, p.w.e.mgmt, s.operatorPages(), p.staffViewers)
	pagesWithinAPI(report, s.customerPages(), s.customerRoutes(), sweepCustomerRoles, t.Logf)
	pagesWithinAPI(report, s.operatorPages(), s.mgmtRoutes(), sweepStaffRoles, t.Logf)
	t.Logf("panel sweep: %d customer pages, %d operator pages, %d requests",
		len(s.customerPages()), len(s.operatorPages()), n)
}

var (
	sweepCustomerRoles = []identity.Role{identity.RoleOpsAdmin, identity.RoleAdmin, identity.RoleUser}
	sweepStaffRoles    = []identity.Role{identity.RoleOperator, identity.RoleSecurityOfficer}
)

// apiState is what c's parameterless API reads show: the identifiers in
// them (harvest) and each one's status, so that an object without an
// identifier of its own (the edit lock, the draft) is seen coming or going.
func apiState(t *testing.T, c *client, routes []route, platform map[string]bool) []string {
	t.Helper()
	out := harvest(t, c, routes, platform)
	for _, rt := range routes {
		if rt.Method == "GET" && rt.Action != "" && len(pathParams(rt.Path)) == 0 && rt.Path != "/api/v1/audit" {
			out = append(out, fmt.Sprintf("%s: %d", rt.Path, c.do("GET", rt.Path, nil).code))
		}
	}
	return out
}

// pageSweep is the sweep world (A and B with their objects) with browser
// sessions for the pages.
type pageSweep struct {
	t         *testing.T
	w         *sweepWorld
	harvested []string // every identifier A's own API answers show
	// bViewers are B's accounts, one per role; custViewers A's; staffViewers
	// an operator and a security officer.
	bViewers, custViewers, staffViewers []pageViewer
}

// pageViewer is a signed-in browser of one role.
type pageViewer struct {
	name string
	role identity.Role
	c    *pageClient
}

func newPageSweep(t *testing.T) *pageSweep {
	w := newSweepWorld(t, storetest.SQLite(t))
	e := w.e
	p := &pageSweep{t: t, w: w}
	p.harvested = harvest(t, w.A.opsAdmin, e.srv.customerRoutes(), w.platform)
	w.f.private = dedupe(append(w.f.private, p.harvested...))
	// Nodes are the platform's, not a customer's: operator pages find them
	// by name or ID.
	var nodes list[map[string]any]
	staff := e.account("", "pg-op", identity.RoleOperator, sweepPW)
	officer := e.account("", "pg-so", identity.RoleSecurityOfficer, sweepPW)
	op := e.client(e.mgmt)
	op.login("pg-op", sweepPW)
	op.expect(http.StatusOK, "GET", "/api/v1/nodes", nil).json(t, &nodes)
	for _, n := range nodes.Items {
		for _, k := range []string{"id", "name"} {
			if v, ok := n[k].(string); ok {
				w.f.Candidate("node", v)
			}
		}
	}
	w.f.Candidate("account", staff.ID)
	w.f.Candidate("account", officer.ID)
	viewer := func(base, login string, role identity.Role) pageViewer {
		c := e.pageClient(base)
		c.login(login, sweepPW)
		return pageViewer{login, role, c}
	}
	for _, who := range []struct {
		suffix string
		role   identity.Role
	}{{"-ops", identity.RoleOpsAdmin}, {"-admin", identity.RoleAdmin}, {"-user", identity.RoleUser}} {
		p.bViewers = append(p.bViewers, viewer(e.customer, "bravo"+who.suffix, who.role))
		p.custViewers = append(p.custViewers, viewer(e.customer, "alpha"+who.suffix, who.role))
	}
	p.staffViewers = []pageViewer{viewer(e.mgmt, "pg-op", identity.RoleOperator),
		viewer(e.mgmt, "pg-so", identity.RoleSecurityOfficer)}
	return p
}

// sweepPagePath is the request path of a page pattern: "/{$}" is "/".
func sweepPagePath(pattern string) string { return strings.ReplaceAll(pattern, "{$}", "") }

// sweepCall sends one request of a page's method as c's browser: a GET, or an
// empty form sent as the browser does (same origin), with hdr on top. It
// does not hold the answer to checkHTML: a redirect's body or an htmx
// fragment is not a page, and the page tests check whole pages.
func sweepCall(c *pageClient, method, path string, hdr map[string]string) htmlPage {
	c.t.Helper()
	var body io.Reader
	if method != http.MethodGet {
		body = strings.NewReader("")
	}
	req, _ := http.NewRequest(method, c.base+path, body)
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", c.base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
		if v == "" {
			req.Header.Del(k)
		}
	}
	return c.send(req)
}

// sweepPageLeak returns the first of A's private values in the answer (body or
// headers, a Location included), or "". A value that the request's path
// holds is not looked for: B put it there, and every page repeats its own
// path (the language switch returns to it).
func sweepPageLeak(p htmlPage, path string, private []string) string {
	hdr := fmt.Sprint(p.hdr)
	for _, v := range private {
		if v != "" && !strings.Contains(path, v) && (strings.Contains(p.body, v) || strings.Contains(hdr, v)) {
			return v
		}
	}
	return ""
}

// crossCustomerChangesNothing is crossCustomer, then checks that B's forms,
// all refused since each named an object B does not have, changed nothing
// of A's: A's sessions, token and browsers still work and A's answers list
// the same identifiers. (crossCustomer checks B's own state form by form.)
func (p *pageSweep) crossCustomerChangesNothing(report func(string, ...any), base string, pages []pageRoute) int {
	t, routes := p.t, p.w.e.srv.customerRoutes()
	aBefore := harvest(t, p.w.A.opsAdmin, routes, p.w.platform)
	n := p.crossCustomer(report, base, pages)
	for _, c := range []*client{p.w.A.opsToken, p.w.A.opsAdmin} {
		if r := c.do("GET", "/api/v1/me", nil); r.code != http.StatusOK {
			report("after the sweep, A's API credential answers %d", r.code)
		}
	}
	for _, v := range p.custViewers {
		if r := sweepCall(v.c, http.MethodGet, "/api/v1/me", nil); r.code != http.StatusOK {
			report("after the sweep, %s's browser session answers %d", v.name, r.code)
		}
	}
	if after := harvest(t, p.w.A.opsAdmin, routes, p.w.platform); !slices.Equal(aBefore, after) {
		gone, came := sweepDiff(aBefore, after)
		report("A's objects changed during the panel sweep: gone %v, came %v", gone, came)
	}
	return n
}

// sweepDiff is what is in a but not b, and in b but not a.
func sweepDiff(a, b []string) (onlyA, onlyB []string) {
	for _, x := range a {
		if !slices.Contains(b, x) {
			onlyA = append(onlyA, x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			onlyB = append(onlyB, x)
		}
	}
	return onlyA, onlyB
}

// crossCustomer calls every customer page as each of B's viewers: a page with
// path parameters with A's identifiers (404, or 403 for a role without the
// action, unless B gets the same answer for a decoy that exists nowhere); a
// parameterless GET page as it is (no 5xx). No answer may hold A's data.
func (p *pageSweep) crossCustomer(report func(string, ...any), base string, pages []pageRoute) int {
	n := 0
	stateChecked := map[string]bool{}
	for _, who := range p.bViewers {
		c := *who.c
		c.base = base
		for _, pg := range pages {
			if pg.Action == "" {
				continue // public pages (sign-in, assets) show no customer's data
			}
			params := pathParams(pg.Path)
			if len(params) == 0 && pg.Method != http.MethodGet {
				continue // B's own forms change B's state only; not swept
			}
			// A GET is also asked as htmx asks it: a page may answer a
			// fragment then, by another path through its handler.
			variants := []map[string]string{nil}
			if pg.Method == http.MethodGet {
				variants = append(variants, map[string]string{"HX-Request": "true"})
			}
			// A refused form changes nothing, B's own state (its edit
			// lock, a draft) included: checked for the first of B's
			// viewers whose role the form admits (B's state is the
			// customer's, and reading it is the sweep's slowest part).
			var before []string
			if pg.Method != http.MethodGet && identity.Allowed(who.role, pg.Action) && !stateChecked[pg.Method+" "+pg.Path] {
				stateChecked[pg.Method+" "+pg.Path] = true
				before = apiState(p.t, p.w.B.opsAdmin, p.w.e.srv.customerRoutes(), p.w.platform)
			}
			for _, sub := range substitutions(sweepPagePath(pg.Path), params, p.w.f, p.harvested) {
				for _, hdr := range variants {
					n += p.crossCall(report, &c, who, pg, sub, params, hdr)
				}
			}
			if before == nil {
				continue
			}
			if after := apiState(p.t, p.w.B.opsAdmin, p.w.e.srv.customerRoutes(), p.w.platform); !slices.Equal(before, after) {
				gone, came := sweepDiff(before, after)
				report("%s: %s %s: B's own state changed while the forms naming objects B does not have were refused: gone %v, came %v",
					who.name, pg.Method, pg.Path, gone, came)
			}
		}
	}
	return n
}

// crossCall makes one request of the cross-customer sweep and checks its
// answer; it returns the number of requests made.
func (p *pageSweep) crossCall(report func(string, ...any), c *pageClient, who pageViewer, pg pageRoute, sub substitution,
	params []string, hdr map[string]string) int {
	f := p.w.f
	r := sweepCall(c, pg.Method, sub.path, hdr)
	n := 1
	where := fmt.Sprintf("%s: %s %s (page %s)", who.name, pg.Method, sub.path, pg.Path)
	if hdr != nil {
		where += " as htmx"
	}
	if r.code >= 500 {
		report("%s: status %d", where, r.code)
	}
	if leak := sweepPageLeak(r, sub.path, f.private); leak != "" {
		report("%s: the page shows A's %q", where, leak)
	}
	if len(params) == 0 || !sub.private {
		return n
	}
	want := http.StatusNotFound
	if !identity.Allowed(who.role, pg.Action) {
		want = http.StatusForbidden
	}
	if r.code == want {
		return n
	}
	d := sweepCall(c, pg.Method, sub.decoy, hdr)
	n++
	if d.code != r.code {
		report("%s: status %d (decoy %s: %d), want %d", where, r.code, sub.decoy, d.code, want)
		return n
	}
	p.t.Logf("%s: %d, the same as for a decoy ID (reveals nothing)", where, r.code)
	return n
}

// mixedCustomers: an operator page that names a customer and one of its
// objects answers 404 when the object is another customer's (customer B in
// the path, A's contract or port): the console never shows or changes A's
// object under B's name. Only operators whose role has the page's action
// ask, since the point is the lookup, not the permission.
func (p *pageSweep) mixedCustomers(report func(string, ...any), pages []pageRoute) int {
	fx := &sweepFixture{ids: map[string][]string{}, private: p.w.f.private}
	for k, v := range p.w.f.ids {
		fx.ids[k] = v
	}
	fx.ids["customer"] = []string{string(p.w.B.cust)}
	n := 0
	for _, who := range p.staffViewers {
		for _, pg := range pages {
			params := pathParams(pg.Path)
			if pg.Action == "" || !identity.Allowed(who.role, pg.Action) || len(params) < 2 || !slices.Contains(params, "customer") {
				continue
			}
			for _, sub := range substitutions(sweepPagePath(pg.Path), params, fx, p.harvested) {
				n += p.crossCall(report, who.c, who, pg, sub, params, nil)
			}
		}
	}
	return n
}

// sessionSecret is the session cookie of who's browser on side.
func (p *pageSweep) sessionSecret(who pageViewer, side identity.Side) string {
	for _, ck := range who.c.hc.Jar.Cookies(mustURLTB(p.t, who.c.base)) {
		if ck.Name == cookieName(side) {
			return ck.Value
		}
	}
	p.t.Fatalf("%s has no %s session cookie", who.name, cookieName(side))
	return ""
}

// signedOut: every page with an action sends a browser without a session
// (or with hdr's credential, which is none here) to the sign-in page, a GET
// with the page to return to.
func (p *pageSweep) signedOut(report func(string, ...any), base string, pages []pageRoute, who string, hdr map[string]string) int {
	n := 0
	c := p.w.e.pageClient(base)
	for _, pg := range pages {
		if pg.Action == "" {
			continue
		}
		path := sweepFirstPath(pg, p.w.f, p.harvested)
		r := sweepCall(c, pg.Method, path, hdr)
		n++
		loc := r.location()
		if r.code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
			report("%s: %s %s (page %s): status %d to %q, want 303 to /login", who, pg.Method, path, pg.Path, r.code, loc)
			continue
		}
		if pg.Method == http.MethodGet && loc != "/login?next="+url.QueryEscape(path) {
			report("%s: GET %s: sent to %q, which does not return to the page", who, path, loc)
		}
		if leak := sweepPageLeak(r, path, p.w.f.private); leak != "" {
			report("%s: %s %s: the answer shows A's %q", who, pg.Method, path, leak)
		}
	}
	return n
}

// sweepFirstPath is a page's path with its parameters filled with the first of
// A's candidates.
func sweepFirstPath(pg pageRoute, f *sweepFixture, harvested []string) string {
	return substitutions(sweepPagePath(pg.Path), pathParams(pg.Path), f, harvested)[0].path
}

// roles: a viewer whose role lacks a page's action gets 403 (for every
// method; the refusal comes before the handler, so a form changes nothing);
// a viewer whose role has it gets each GET page, for at least one of its own
// objects when the page names one.
func (p *pageSweep) roles(report func(string, ...any), pages []pageRoute, viewers []pageViewer) int {
	n := 0
	for _, who := range viewers {
		for _, pg := range pages {
			if pg.Action == "" {
				continue
			}
			params := pathParams(pg.Path)
			if !identity.Allowed(who.role, pg.Action) {
				path := sweepFirstPath(pg, p.w.f, p.harvested)
				r := sweepCall(who.c, pg.Method, path, nil)
				n++
				if r.code != http.StatusForbidden {
					report("%s (%s): %s %s (page %s, action %s): status %d, want 403", who.name, who.role, pg.Method, path, pg.Path, pg.Action, r.code)
				}
				continue
			}
			if pg.Method != http.MethodGet || !p.knownParams(params) {
				continue
			}
			var got []int
			ok := false
			for _, sub := range substitutions(sweepPagePath(pg.Path), params, p.w.f, p.harvested) {
				r := sweepCall(who.c, http.MethodGet, sub.path, nil)
				n++
				got = append(got, r.code)
				if r.code == http.StatusOK || r.code == http.StatusSeeOther && !strings.HasPrefix(r.location(), "/login") {
					ok = true
					break
				}
			}
			if !ok {
				report("%s (%s): GET %s (action %s): no own object shows (statuses %v)", who.name, who.role, pg.Path, pg.Action, sweepDedupeInts(got))
			}
		}
	}
	return n
}

// knownParams says whether the sweep knows candidates for every parameter
// (an unknown name such as {kind} or {name} is a vocabulary, not an
// object of A's: its own-object check is left to the page's tests).
func (p *pageSweep) knownParams(params []string) bool {
	for _, name := range params {
		if len(p.w.f.ids[name]) == 0 {
			return false
		}
	}
	return true
}

func sweepDedupeInts(s []int) []int {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// crossSite: every form (POST) sent from another site is refused with 403,
// by a browser that says so (Sec-Fetch-Site: cross-site) and by one that
// only sends its Origin, whether signed in (a viewer whose role has the
// action) or not.
func (p *pageSweep) crossSite(report func(string, ...any), base string, pages []pageRoute, viewers []pageViewer) int {
	n := 0
	anon := p.w.e.pageClient(base)
	for _, pg := range pages {
		if pg.Method == http.MethodGet {
			continue
		}
		c := anon
		for _, who := range viewers {
			if pg.Action != "" && identity.Allowed(who.role, pg.Action) {
				c = who.c
				break
			}
		}
		path := sweepFirstPath(pg, p.w.f, p.harvested)
		for _, hdr := range []map[string]string{
			{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
			{"Sec-Fetch-Site": "", "Origin": "https://evil.example"},
		} {
			r := sweepCall(c, pg.Method, path, hdr)
			n++
			if r.code != http.StatusForbidden {
				report("cross-site %s %s (page %s, headers %v): status %d, want 403", pg.Method, path, pg.Path, hdr, r.code)
			}
		}
	}
	return n
}

// pagesWithinAPI: a form page (any method but GET) must need at least the
// permission of each API write it covers: every role the page's action
// admits is admitted by the operation's. A GET page may rightly show a
// section for a narrower permission only to those who have it; a GET page
// wider than a GET it covers is logged for a reader to check.
func pagesWithinAPI(report func(string, ...any), pages []pageRoute, routes []route, roles []identity.Role, logf func(string, ...any)) {
	api := map[string]identity.Action{}
	for _, rt := range routes {
		api[rt.Method+" "+rt.Path] = rt.Action
	}
	for _, pg := range pages {
		for _, op := range pg.Covers {
			act, ok := api[op]
			if !ok || act == "" {
				continue // a public operation, or one the coverage test reports
			}
			write := !strings.HasPrefix(op, "GET ")
			if write != (pg.Method != http.MethodGet) {
				continue // a page offering a form whose target is another page
			}
			for _, role := range roles {
				if !identity.Allowed(role, pg.Action) || identity.Allowed(role, act) {
					continue
				}
				if write {
					report("page %s %s (action %q) admits %s, but the API operation it covers, %s, needs %q",
						pg.Method, pg.Path, pg.Action, role, op, act)
				} else {
					logf("check by hand: page %s %s (action %q) admits %s, who may not %s (%q): the page must show that part only with $.Can",
						pg.Method, pg.Path, pg.Action, role, op, act)
				}
			}
		}
	}
}

// TestPanelSweepCatchesLeaks proves that the panel sweep fails on what it
// exists to catch, with deliberately broken pages mounted beside the real
// ones: a page showing another customer's account, one whose status tells
// that another customer's contract exists, a list of every customer's
// e-mail addresses, a refused form that takes the caller's edit lock, one
// that deletes another customer's device, a form that needs less
// permission than the API operation it covers, and a form target outside
// the cross-origin protection.
func TestPanelSweepCatchesLeaks(t *testing.T) {
	t.Parallel()
	p := newPageSweep(t)
	s, db := p.w.e.srv, p.w.e.db
	text := func(w http.ResponseWriter, s string) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(s))
	}
	leaky := []pageRoute{
		{"GET", "/leak/{account}", identity.ActCatalogRead, nil, func(w http.ResponseWriter, r *http.Request) error {
			var login string
			if err := db.QueryRow(r.Context(), `SELECT login_id FROM accounts WHERE id = ?`, r.PathValue("account")).Scan(&login); err != nil {
				return fault.New(fault.NotFound, "not found")
			}
			text(w, login)
			return nil
		}},
		{"GET", "/oracle/{code}", identity.ActCatalogRead, nil, func(w http.ResponseWriter, r *http.Request) error {
			var n int
			_ = db.QueryRow(r.Context(), `SELECT COUNT(*) FROM contracts WHERE service_code = ?`, r.PathValue("code")).Scan(&n)
			if n > 0 {
				return fault.New(fault.Forbidden, "not yours")
			}
			return fault.New(fault.NotFound, "not found")
		}},
		{"GET", "/leak-all", identity.ActCatalogRead, nil, func(w http.ResponseWriter, r *http.Request) error {
			all, err := everyEmail(r.Context(), db)
			if err != nil {
				return err
			}
			text(w, strings.Join(all, "\n"))
			return nil
		}},
		{"POST", "/grab/{code}", identity.ActNetworkEdit, nil, func(w http.ResponseWriter, r *http.Request) error {
			// Takes the caller's edit lock before finding that the port
			// is not the caller's.
			n, err := s.network()
			if err != nil {
				return err
			}
			if _, err := n.StartEditing(r.Context(), principal(r).Scope()); err != nil {
				return err
			}
			return fault.New(fault.NotFound, "not found")
		}},
		{"POST", "/steal/{device}/revoke", identity.ActDevicesManage, nil, func(w http.ResponseWriter, r *http.Request) error {
			// Deletes whatever device it is given, then says not found.
			_, _ = db.Exec(r.Context(), `DELETE FROM device_certificates WHERE id = ?`, r.PathValue("device"))
			return fault.New(fault.NotFound, "not found")
		}},
		{"POST", "/wide/apply", identity.ActNetworkRead, []string{"POST /api/v1/network/draft/apply"},
			func(w http.ResponseWriter, r *http.Request) error { return redirect(w, r, "/", "") }},
	}
	pages := append(s.customerPages(), leaky...)
	handler := s.outer("customer", s.mux(s.customerRoutes(), identity.CustomerSide, pages...))
	// A form served without the cross-origin protection (mounted past it).
	unprotected := http.NewServeMux()
	unprotected.Handle("POST /unguarded", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/", http.StatusSeeOther)
	}))
	unprotected.Handle("/", handler)
	ts := httptest.NewUnstartedServer(unprotected)
	ts.TLS = serverTLS(p.w.e.cert)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	for _, v := range append(p.bViewers, p.custViewers...) {
		v.c.base = ts.URL
		v.c.login(v.name, sweepPW) // the jar's session is for the real listener's host
	}
	planted := append(slices.Clone(leaky), pageRoute{"POST", "/unguarded", "", nil, nil})
	var reports []string
	report := func(format string, args ...any) { reports = append(reports, fmt.Sprintf(format, args...)) }
	p.crossCustomerChangesNothing(report, ts.URL, planted)
	p.crossSite(report, ts.URL, planted, p.custViewers)
	pagesWithinAPI(report, planted, s.customerRoutes(), sweepCustomerRoles, t.Logf)
	for _, want := range []string{"/leak/", "/oracle/", "/leak-all", "B's own state changed", "A's objects changed",
		"POST /wide/apply", "cross-site POST /unguarded"} {
		found := false
		for _, r := range reports {
			found = found || strings.Contains(r, want)
		}
		if !found {
			t.Errorf("the panel sweep did not report the planted page %s; reports: %q", want, reports)
		}
	}
}
