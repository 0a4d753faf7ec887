package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// The cross-customer sweep (ISO/IEC 27017 CLD.9.5.1, DESIGN principle 1).
//
// Customer A and customer B each get a contract, a hub, ports, accounts,
// sessions, tokens and a security policy. The sweep reads the customer
// listener's route table (customerRoutes), substitutes A's identifiers into
// every path parameter, and calls every route with each of B's principals
// (its operations administrator and its admin). Every answer must be
//
//   - 404 for a route with path parameters (403 where B's role lacks the
//     route's action: refused before any lookup, the same for every ID),
//   - anything but 5xx for a route without parameters (a collection answers
//     with B's own objects),
//
// and no answer may contain any of A's identifiers, codes, login IDs,
// e-mail addresses or its name. Methods a path does not register must be
// 404/405. Afterwards A's objects and credentials must be unchanged.
//
// New routes are covered without touching this file, because the sweep walks
// the route table. Path parameters are substituted BY NAME; the convention
// that routes must follow is:
//
//	{code}      a service code (shb…) or a port code (shc…): both are tried
//	{contract}  a service code
//	{id}, {hub} a hub ID
//	{port}      a port code or a port ID: both are tried
//	{account}   an account ID
//	{session}   a session's public ID (ses_…)
//	{token}     an API token ID (tok_…)
//	{customer}  a customer ID
//	{device}    a registered device (client certificate) ID
//	{version}   a configuration version number (per customer: B has its own
//	            version 1 too, so the number is tried but is not private)
//	anything else: every identifier A owns, one at a time — the fixture's and
//	every ID (prefix_ + 26 base32) or code that A's own GET answers show, so
//	objects created by later features are found without registering them.
//
// Features whose objects cannot be reached from the fixture above can create
// them for A by appending to sweepFixtures (from an init func in their own
// test file); whatever A's GET routes then return is harvested.
var sweepFixtures []func(t *testing.T, f *sweepFixture)

// sweepFixture is what a feature's fixture hook gets: A's clients and a way to
// register A's identifiers under a parameter name.
type sweepFixture struct {
	A       *client // A's operations administrator, logged in by session
	ids     map[string][]string
	private []string // every A value that must never reach B
}

// Add registers value as one of A's identifiers, tried for path parameters
// named param (and for unknown names), that must never appear in B's answers.
func (f *sweepFixture) Add(param, value string) {
	f.ids[param] = append(f.ids[param], value)
	f.private = append(f.private, value)
}

// Candidate registers value for path parameters named param without making it
// private: for per-customer numbers such as version 1, which B has too.
func (f *sweepFixture) Candidate(param, value string) {
	f.ids[param] = append(f.ids[param], value)
}

func TestCrossCustomerSweep(t *testing.T) {
	t.Parallel() // a minute of round trips: overlap it with the other long tests
	storetest.Each(t, func(t *testing.T, db *store.DB) { runSweep(t, db) })
}

// sweepIDRE matches the shapes of tsunagi's identifiers and codes.
var sweepIDRE = regexp.MustCompile(`^(?:[a-z]{2,5}_[a-z2-7]{26}|sh[bc][0-9]{8})$`)

// sweepTenant is one customer of the sweep with its principals.
type sweepTenant struct {
	cust       catalog.CustomerID
	opsAdmin   *client // session
	opsToken   *client // API token of the ops-admin
	adminToken *client
}

// sweepWorld is the sweep's fixture: A and B with their objects.
type sweepWorld struct {
	e        *idEnv
	f        *sweepFixture
	A, B     sweepTenant
	platform map[string]bool
}

func runSweep(t *testing.T, db *store.DB) {
	w := newSweepWorld(t, db)
	A, B, f := w.A, w.B, w.f
	routes := w.e.srv.customerRoutes()
	before := harvest(t, A.opsAdmin, routes, w.platform)
	for _, v := range before {
		f.private = append(f.private, v)
	}
	f.private = dedupe(f.private)
	if len(before) < 10 {
		t.Fatalf("harvested only %d identifiers from A's own answers: %v", len(before), before)
	}

	calls := 0
	for _, who := range []sweeper{{"B ops-admin token", B.opsToken, identity.RoleOpsAdmin},
		{"B admin token", B.adminToken, identity.RoleAdmin}, {"B ops-admin session", B.opsAdmin, identity.RoleOpsAdmin}} {
		// Pass 1 as B is; then B takes every state a parameterless POST
		// gives it (the edit lock, a draft, …) and pass 2 repeats the
		// sweep, so that a handler that refuses early only in some states
		// (e.g. "start editing first") is also swept in the others.
		calls += sweepAs(t, t.Errorf, who, routes, f, before)
		for _, rt := range routes {
			if rt.Method == "POST" && rt.Action != "" && len(pathParams(rt.Path)) == 0 && identity.Allowed(who.role, rt.Action) {
				who.c.doInvalid("POST", rt.Path, "{}")
				calls++
			}
		}
		calls += sweepAs(t, t.Errorf, who, routes, f, before)
	}
	t.Logf("sweep: %d routes, %d calls, %d private values of A", len(routes), calls, len(f.private))

	// Nothing of A changed: its principals still work and its answers list
	// the same identifiers.
	A.opsToken.expect(http.StatusOK, "GET", "/api/v1/me", nil)
	A.opsAdmin.expect(http.StatusOK, "GET", "/api/v1/me", nil)
	after := harvest(t, A.opsAdmin, routes, w.platform)
	if !slices.Equal(before, after) {
		t.Errorf("A's objects changed during the sweep:\nbefore %v\nafter  %v", before, after)
	}
	sweepEvidence(t, B, f)
}

// sweepEvidence: B's own evidence — its chain's status and an export of
// its records, every file of the archive decompressed — holds B's records
// and nothing of A.
func sweepEvidence(t *testing.T, B sweepTenant, f *sweepFixture) {
	t.Helper()
	for _, c := range []*client{B.opsToken, B.opsAdmin} {
		if leak := leaked(c.expect(http.StatusOK, "GET", "/api/v1/audit/status", nil), f.private); leak != "" {
			t.Errorf("B's chain status contains A's %q", leak)
		}
	}
	from, to := jstWindow()
	r := B.opsToken.expect(http.StatusOK, "POST", "/api/v1/evidence-exports", map[string]string{"from": from, "to": to})
	if leak := leaked(resp{hdr: r.hdr}, f.private); leak != "" {
		t.Errorf("B's export's headers contain A's %q", leak)
	}
	mine := false
	for _, file := range archiveFiles(t, r.body) {
		mine = mine || strings.Contains(file.text, string(B.cust))
		if leak := leaked(resp{body: []byte(file.text)}, f.private); leak != "" {
			t.Errorf("B's evidence archive: %s contains A's %q", file.name, leak)
		}
	}
	if !mine {
		t.Error("B's evidence archive does not name B: the leak check read nothing")
	}
}

func newSweepWorld(t *testing.T, db *store.DB) *sweepWorld {
	e := startIDEnv(t, db, identity.Config{})
	ctx := e.seed
	// Platform objects, visible to every customer by design.
	platform := map[string]bool{}
	for _, r := range []catalog.RegionInput{
		{Code: "tokyo", NameEN: "Tokyo", NameJA: "東京", DataLocation: "Japan"},
		{Code: "osaka", NameEN: "Osaka", NameJA: "大阪", DataLocation: "Japan"},
	} {
		reg, err := e.cat.CreateRegion(ctx, r)
		e.must("region", err)
		platform[string(reg.ID)] = true
		n, err := e.cat.CreateNode(ctx, catalog.NodeInput{Region: r.Code, Name: r.Code + "-hub-01", Ports: []catalog.PhysicalPort{
			{Name: "eth1", SpeedMbps: 100_000, Kind: "onprem"}, {Name: "eth3", SpeedMbps: 100_000, Kind: "cloud-aws"}}})
		e.must("node", err)
		platform[string(n.ID)] = true
	}

	f := &sweepFixture{ids: map[string][]string{}}
	type tenant = sweepTenant
	const pw = sweepPW
	mk := func(name, prefix string, isA bool) tenant {
		cu, err := e.cat.CreateCustomer(ctx, catalog.CustomerInput{Name: name})
		e.must("customer", err)
		var tn tenant
		tn.cust = cu.ID
		add := func(param, v string) {
			if isA {
				f.Add(param, v)
			}
		}
		add("customer", string(cu.ID))
		if isA {
			f.private = append(f.private, name)
		}
		for i, region := range []string{"tokyo", "osaka"} {
			k, err := e.cat.CreateContract(ctx, tenanttest.Operator(cu.ID), catalog.ContractInput{Plan: "smart-hub"})
			e.must("contract", err)
			add("code", k.ServiceCode)
			add("contract", k.ServiceCode)
			add("contract_id", string(k.ID))
			prio := []string{"main", "sub"}[i]
			h, err := e.cat.CreateHub(ctx, tenanttest.Operator(cu.ID), catalog.HubInput{ServiceCode: k.ServiceCode, Region: region, Priority: prio})
			e.must("hub", err)
			add("id", string(h.ID))
			add("hub", string(h.ID))
			pt, err := e.cat.CreatePort(ctx, tenanttest.Operator(cu.ID), catalog.PortInput{ServiceCode: k.ServiceCode, HubID: h.ID, Kind: "onprem", SpeedMbps: 10_000})
			e.must("port", err)
			add("code", pt.PortCode)
			add("port", pt.PortCode)
			add("port", string(pt.ID))
		}
		for _, x := range []struct {
			login string
			role  identity.Role
		}{{prefix + "-ops", identity.RoleOpsAdmin}, {prefix + "-admin", identity.RoleAdmin}, {prefix + "-user", identity.RoleUser}} {
			a := e.account(cu.ID, x.login, x.role, pw)
			add("account", a.ID)
			if isA {
				f.private = append(f.private, a.LoginID, a.Email)
			}
		}
		tn.opsAdmin = e.client(e.customer)
		tn.opsAdmin.login(prefix+"-ops", pw)
		tn.opsToken = e.client(e.customer)
		tn.opsToken.token = tn.opsAdmin.newToken("sweep ops", "")
		admin := e.client(e.customer)
		admin.login(prefix+"-admin", pw)
		tn.adminToken = e.client(e.customer)
		tn.adminToken.token = admin.newToken("sweep admin", "")
		// Sessions and tokens have IDs too.
		for _, c := range []*client{tn.opsAdmin, admin} {
			var ss list[identity.Session]
			c.expect(http.StatusOK, "GET", "/api/v1/sessions", nil).json(t, &ss)
			for _, s := range ss.Items {
				add("session", s.ID)
			}
			var ts list[identity.Token]
			c.expect(http.StatusOK, "GET", "/api/v1/tokens", nil).json(t, &ts)
			for _, tk := range ts.Items {
				add("token", tk.ID)
			}
		}
		tn.opsAdmin.expect(http.StatusOK, "PUT", "/api/v1/security-policy",
			map[string]any{"allow_list": []string{"127.0.0.0/8", "::1"}, "require_mfa": false, "require_device": false})
		_, certPEM := deviceCert(t, prefix+"-device")
		var dev identity.Device
		tn.opsAdmin.expect(http.StatusCreated, "POST", "/api/v1/devices", map[string]string{"name": prefix + " laptop",
			"certificate_pem": certPEM}).json(t, &dev)
		add("device", dev.ID)
		if isA {
			f.private = append(f.private, dev.Fingerprint)
		}
		tn.opsAdmin.expect(http.StatusCreated, "POST", "/api/v1/accounts", map[string]any{"login_id": prefix + "-invited",
			"display_name": "Invited " + prefix, "email": prefix + "-invited@example.co.jp", "role": "user"})
		if isA {
			f.private = append(f.private, prefix+"-invited", prefix+"-invited@example.co.jp")
		}
		return tn
	}
	A := mk("Alpha Sweep K.K.", "alpha", true)
	B := mk("Bravo Sweep K.K.", "bravo", false)
	f.A = A.opsAdmin
	for _, hook := range sweepFixtures {
		hook(t, f)
	}

	return &sweepWorld{e: e, f: f, A: A, B: B, platform: platform}
}

// sweepPW is the password of every account of the sweep world.
const sweepPW = "sweep-test passphrase 42"

// sweeper is one of B's principals.
type sweeper struct {
	name string
	c    *client
	role identity.Role
}

// sweepAs calls every route with A's identifiers as who, checks every answer,
// and returns the number of calls made.
//
// A route with path parameters must answer 404 (403 when who's role lacks its
// action). Any other answer is accepted only if it is indistinguishable from
// the answer to the same request naming a decoy — an identifier of the same
// shape that exists nowhere — i.e. it reveals nothing about A's object (a
// handler that checks B's own state first, such as "start editing first",
// answers alike for every ID). It is logged, because pass 2 normally turns it
// into a 404.
func sweepAs(t *testing.T, report func(string, ...any), who sweeper, routes []route, f *sweepFixture, harvested []string) int {
	t.Helper()
	calls := 0
	for _, rt := range routes {
		if who.c.token == "" && rt.Method == "DELETE" && (rt.Path == "/api/v1/session" || rt.Path == "/api/v1/network/lock") {
			continue // would end the sweeping session or its state
		}
		params := pathParams(rt.Path)
		var body any
		if rt.Method == "POST" || rt.Method == "PUT" || rt.Method == "PATCH" {
			body = "{}"
		}
		for _, sub := range substitutions(rt.Path, params, f, harvested) {
			// Deliberately outside the document: another shape's identifier
			// ({code} gets contract and port codes) and incomplete bodies.
			r := who.c.doInvalid(rt.Method, sub.path, body)
			calls++
			where := fmt.Sprintf("%s: %s %s (route %s)", who.name, rt.Method, sub.path, rt.Path)
			if r.code >= 500 {
				report("%s: status %d: %s", where, r.code, r.body)
			}
			if leak := leaked(r, f.private); leak != "" {
				report("%s: the answer contains A's %q: %s", where, leak, r.body)
			}
			if len(params) == 0 || !sub.private {
				continue
			}
			want := http.StatusNotFound
			if rt.Action != "" && !identity.Allowed(who.role, rt.Action) {
				want = http.StatusForbidden
			}
			if r.code == want {
				continue
			}
			d := who.c.doInvalid(rt.Method, sub.decoy, body)
			calls++
			if d.code != r.code || errCodeOf(d) != errCodeOf(r) {
				report("%s: status %d (decoy %s: %d), want %d: %s", where, r.code, sub.decoy, d.code, want, r.body)
				continue
			}
			t.Logf("%s: %d, the same as for a decoy ID (reveals nothing)", where, r.code)
		}
	}
	// Methods a path does not register.
	for path, methods := range pathMethods(routes) {
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			if slices.Contains(methods, m) {
				continue
			}
			for _, sub := range substitutions(path, pathParams(path), f, harvested)[:1] {
				r := who.c.do(m, sub.path, nil)
				calls++
				if r.code != http.StatusMethodNotAllowed && r.code != http.StatusNotFound {
					report("%s: unregistered %s %s: status %d", who.name, m, sub.path, r.code)
				}
				if leak := leaked(r, f.private); leak != "" {
					report("%s: unregistered %s %s: the answer contains A's %q", who.name, m, sub.path, leak)
				}
			}
		}
	}
	return calls
}

func errCodeOf(r resp) string {
	var b errorBody
	_ = json.Unmarshal(r.body, &b)
	return b.Error.Code + "|" + b.Error.Message
}

// decoy returns an identifier of v's shape that exists nowhere.
func decoy(v string) string {
	switch {
	case regexp.MustCompile(`^[a-z]{2,5}_[a-z2-7]{26}$`).MatchString(v):
		return v[:strings.IndexByte(v, '_')+1] + "zzzzzzzzzzzzzzzzzzzzzzzzzz"
	case regexp.MustCompile(`^sh[bc][0-9]{8}$`).MatchString(v):
		return v[:3] + "00000000"
	}
	return v + "0"
}

// pathParams lists the {names} of a pattern path.
func pathParams(p string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)(?:\.\.\.)?\}`).FindAllStringSubmatch(p, -1) {
		out = append(out, m[1])
	}
	return out
}

// substitution is a path with A's identifiers, and the same path with
// decoys. private is false when every value put in is a per-customer
// candidate (such as a version number B has too): then only the leak check
// applies, since B may rightly get its own object.
type substitution struct {
	path, decoy string
	private     bool
}

// substitutions expands pattern path with A's candidates for each parameter:
// the values registered under its name, or every value of A for an unknown
// name. The product is capped so that a route with many unknown parameters
// stays affordable.
func substitutions(path string, params []string, f *sweepFixture, harvested []string) []substitution {
	secret := map[string]bool{}
	for _, v := range f.private {
		secret[v] = true
	}
	subs := []substitution{{path, path, false}}
	for _, name := range params {
		cands := f.ids[name]
		if len(cands) == 0 {
			cands = dedupe(append(slices.Clone(harvested), allIDs(f)...))
		}
		re := regexp.MustCompile(`\{` + name + `(?:\.\.\.)?\}`)
		var next []substitution
		for _, p := range subs {
			for _, c := range cands {
				next = append(next, substitution{re.ReplaceAllLiteralString(p.path, c), re.ReplaceAllLiteralString(p.decoy, decoy(c)),
					p.private || secret[c]})
			}
		}
		if len(next) > 400 {
			next = next[:400]
		}
		subs = next
	}
	return subs
}

func allIDs(f *sweepFixture) []string {
	var out []string
	for _, v := range f.ids {
		out = append(out, v...)
	}
	sort.Strings(out)
	return out
}

// harvest GETs every parameterless GET route as c and returns the
// identifiers its answers hold, minus platform objects.
func harvest(t *testing.T, c *client, routes []route, platform map[string]bool) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, rt := range routes {
		if rt.Method != "GET" || rt.Action == "" || len(pathParams(rt.Path)) > 0 || rt.Path == "/api/v1/audit" {
			// Public routes hold no customer data (the OpenAPI document's
			// examples look like IDs); the audit log grows with every
			// request, and its IDs are covered by the other routes.
			continue
		}
		r := c.do("GET", rt.Path, nil)
		if r.code != http.StatusOK || !strings.Contains(r.hdr.Get("Content-Type"), "json") {
			continue
		}
		var v any
		if json.Unmarshal(r.body, &v) != nil {
			continue
		}
		walkStrings(v, func(s string) {
			if sweepIDRE.MatchString(s) && !platform[s] && !strings.HasPrefix(s, "req_") {
				seen[s] = true
			}
		})
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func walkStrings(v any, fn func(string)) {
	switch x := v.(type) {
	case string:
		fn(x)
	case []any:
		for _, y := range x {
			walkStrings(y, fn)
		}
	case map[string]any:
		for _, y := range x {
			walkStrings(y, fn)
		}
	}
}

// leaked returns the first of A's private values found in r's body or
// headers, or "".
func leaked(r resp, private []string) string {
	hdr := fmt.Sprint(r.hdr)
	for _, v := range private {
		if v == "" {
			continue
		}
		if strings.Contains(string(r.body), v) || strings.Contains(hdr, v) {
			return v
		}
	}
	return ""
}

func pathMethods(routes []route) map[string][]string {
	out := map[string][]string{}
	for _, rt := range routes {
		out[rt.Path] = append(out[rt.Path], rt.Method)
	}
	return out
}

func dedupe(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return slices.Compact(s)
}

// TestSweepCatchesLeaks proves that the sweep fails on the leaks it exists
// to catch: three deliberately broken routes — one answering another
// customer's object, one whose status reveals that the object exists, one
// collection listing every customer's accounts — must each be reported.
func TestSweepCatchesLeaks(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t)
	w := newSweepWorld(t, db)
	s := w.e.srv
	bg := context.Background()
	leaky := []route{
		{"GET", "/api/v1/leak/{account}", identity.ActCatalogRead, func(rw http.ResponseWriter, r *http.Request) error {
			var login string
			if err := db.QueryRow(bg, `SELECT login_id FROM accounts WHERE id = ?`, r.PathValue("account")).Scan(&login); err != nil {
				return fault.New(fault.NotFound, "not found")
			}
			writeJSON(rw, http.StatusOK, map[string]string{"login_id": login})
			return nil
		}},
		{"GET", "/api/v1/oracle/{code}", identity.ActCatalogRead, func(rw http.ResponseWriter, r *http.Request) error {
			var n int
			_ = db.QueryRow(bg, `SELECT COUNT(*) FROM contracts WHERE service_code = ?`, r.PathValue("code")).Scan(&n)
			if n > 0 {
				return fault.New(fault.Forbidden, "not yours")
			}
			return fault.New(fault.NotFound, "not found")
		}},
		{"GET", "/api/v1/leak-all", identity.ActCatalogRead, func(rw http.ResponseWriter, r *http.Request) error {
			all, err := everyEmail(bg, db)
			if err != nil {
				return err
			}
			writeJSON(rw, http.StatusOK, all)
			return nil
		}},
	}
	routes := append(s.customerRoutes(), leaky...)
	ts := httptest.NewUnstartedServer(s.outer("customer", s.mux(routes, identity.CustomerSide)))
	ts.TLS = serverTLS(w.e.cert)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	before := harvest(t, w.A.opsAdmin, s.customerRoutes(), w.platform)
	w.f.private = dedupe(append(w.f.private, before...))
	b := *w.B.opsToken
	b.base = ts.URL
	// The planted routes are in no document: this client is unchecked.
	b.hc = &http.Client{Transport: ts.Client().Transport, Timeout: 30 * time.Second}
	var reports []string
	sweepAs(t, func(format string, args ...any) { reports = append(reports, fmt.Sprintf(format, args...)) },
		sweeper{"B ops-admin token", &b, identity.RoleOpsAdmin}, leaky, w.f, before)
	for _, want := range []string{"/api/v1/leak/", "/api/v1/oracle/", "/api/v1/leak-all"} {
		found := false
		for _, r := range reports {
			found = found || strings.Contains(r, want)
		}
		if !found {
			t.Errorf("the sweep did not report the leaky route %s; reports: %q", want, reports)
		}
	}
	// And the real table, on the same server, reports nothing.
	reports = nil
	sweepAs(t, func(format string, args ...any) { reports = append(reports, fmt.Sprintf(format, args...)) },
		sweeper{"B ops-admin token", &b, identity.RoleOpsAdmin}, s.customerRoutes(), w.f, before)
	if len(reports) > 0 {
		t.Errorf("the real route table reported leaks: %q", reports)
	}
}

// everyEmail is what the sweeps' planted leaky handlers give away: every
// account's e-mail address, whoever's it is.
func everyEmail(ctx context.Context, db *store.DB) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT email FROM accounts`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var all []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return nil, err
		}
		all = append(all, m)
	}
	return all, rows.Err()
}
