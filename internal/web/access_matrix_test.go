package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/notice"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// The access matrix (STYLE 8; ISO/IEC 27017 9.2.3, 9.4.1, CLD.9.5.1): every
// route of both listeners is called by every kind of principal, and each
// answer must be what the permission table (identity.Allowed) says:
//
//   - no credential, or a credential of the other listener (staff on the
//     customer listener, a customer on the management listener): 401;
//   - a role the table does not allow the route's action: 403;
//   - an API token on a session-only route (identity.SessionOnly of the
//     route's action: credential changes, device certificates): 403
//     "session_required";
//   - another customer naming this customer's object: 404 (403 when its
//     role lacks the action: refused before any lookup);
//   - allowed: neither 401 nor 403 — a success or a validation answer, which
//     the contract check (openapi_validate_test.go) holds to the document —
//     and a GET of the caller's own existing object is not 404.
//
// The principals: customer A's operations administrator, admin and user,
// each by session and by API token; a read-only (user-role) token of A's
// operations administrator, whose self routes must be as narrow as its
// role; customer B's operations administrator (session and token); an
// operator and a security officer (session and token); an operator under a
// break-glass grant for A; no credential.
//
// Calls that would end the caller or consume an object (every DELETE) are
// made by a fresh equivalent principal on a fresh victim object, so that the
// matrix's own principals and A's fixture survive the run. Writes send "{}",
// which most handlers refuse as invalid: an allowed write then answers 400,
// which is what "allowed" needs. New routes are covered without touching
// this file; a parameter name it does not know is tried with a decoy.

// matrixSessionRoutes complete a login's second factor with a browser
// session: API tokens are refused with 403 today, contract 2 or not.
var matrixSessionRoutes = map[string]bool{
	"POST /api/v1/session/webauthn/begin":  true,
	"POST /api/v1/session/webauthn/finish": true,
}

// matrixMay404 are GET routes whose own existing object may still have
// nothing to show, with why.
var matrixMay404 = map[string]string{
	"GET /api/v1/nodes/{node}/status":                       "no status until the node's agent reports",
	"GET /api/v1/nodes/{node}/underlay":                     "no tunnel endpoint until an operator sets it",
	"GET /api/v1/customers/{customer}/deletion-certificate": "no certificate until the customer's erasure after termination finished",
}

// mxKind is how a principal stands to the objects named in the paths.
type mxKind int

const (
	mxOwn     mxKind = iota // the objects' customer (or the operator's own platform)
	mxOther                 // another customer: A's objects are not its own
	mxForeign               // a credential of the other listener
	mxNone                  // no credential
)

// mxPrincipal is one column of the matrix.
type mxPrincipal struct {
	name  string
	kind  mxKind
	role  identity.Role // the effective role: a token's own role
	token bool
	c     *client
	fresh func() *client // an equivalent new principal, for calls that end or consume it
	// owner is a session of the account whose own tokens and sessions the
	// principal's self routes are tried on (A's for B), logged in as
	// ownerLogin; nil for principals every call of which is refused (401).
	owner      *client
	ownerLogin string
	// breakGlass: an operator with a live grant for A, which adds the
	// break-glass role on routes naming A ({customer}).
	breakGlass bool
}

// mxWorld is the matrix's fixture on one engine.
type mxWorld struct {
	*sweepWorld
	cust, mgmt []mxPrincipal
	victims    *mxVictims
}

func TestAccessMatrix(t *testing.T) {
	t.Parallel() // a minute of round trips: overlap it with the other long tests
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newMatrixWorld(t, db)
		report := func(format string, args ...any) { t.Errorf(format, args...) }
		n := w.run(t, report, w.e.customer, w.e.srv.customerRoutes(), w.cust, identity.CustomerSide)
		n += w.run(t, report, w.e.mgmt, w.e.srv.mgmtRoutes(), w.mgmt, identity.OperatorSide)
		t.Logf("access matrix: %d calls", n)
	})
}

func newMatrixWorld(t *testing.T, db *store.DB) *mxWorld {
	sw := newSweepWorld(t, db)
	e := sw.e
	w := &mxWorld{sweepWorld: sw}
	login := func(base, loginID string) *client {
		c := e.client(base)
		c.login(loginID, sweepPW)
		return c
	}
	withToken := func(base string, session *client, role identity.Role) func() *client {
		return func() *client {
			c := e.client(base)
			c.token = session.newToken(fmt.Sprintf("matrix %d", seq.Add(1)), role)
			return c
		}
	}
	sessionOf := func(base, loginID string) func() *client { return func() *client { return login(base, loginID) } }

	// Customer A (the objects' owner): each account by session and token.
	var cust, mgmt []mxPrincipal
	for _, acct := range []struct {
		login string
		role  identity.Role
	}{{"alpha-ops", identity.RoleOpsAdmin}, {"alpha-admin", identity.RoleAdmin}, {"alpha-user", identity.RoleUser}} {
		s := login(e.customer, acct.login)
		tokenOf := withToken(e.customer, s, acct.role)
		cust = append(cust,
			mxPrincipal{name: acct.login + " session", kind: mxOwn, role: acct.role, c: s, fresh: sessionOf(e.customer, acct.login),
				owner: s, ownerLogin: acct.login},
			mxPrincipal{name: acct.login + " token", kind: mxOwn, role: acct.role, token: true, c: tokenOf(), fresh: tokenOf,
				owner: s, ownerLogin: acct.login})
	}
	// A read-only token of the operations administrator: its self routes
	// are a user's, not its account's.
	opsSession := login(e.customer, "alpha-ops")
	ro := withToken(e.customer, opsSession, identity.RoleUser)
	cust = append(cust, mxPrincipal{name: "alpha-ops user-role token", kind: mxOwn, role: identity.RoleUser, token: true,
		c: ro(), fresh: ro, owner: opsSession, ownerLogin: "alpha-ops"})
	// Customer B, whose self routes are tried on A's tokens and sessions.
	bs := login(e.customer, "bravo-ops")
	bt := withToken(e.customer, bs, identity.RoleOpsAdmin)
	cust = append(cust,
		mxPrincipal{name: "bravo-ops session", kind: mxOther, role: identity.RoleOpsAdmin, c: bs, fresh: sessionOf(e.customer, "bravo-ops"),
			owner: opsSession, ownerLogin: "alpha-ops"},
		mxPrincipal{name: "bravo-ops token", kind: mxOther, role: identity.RoleOpsAdmin, token: true, c: bt(), fresh: bt,
			owner: opsSession, ownerLogin: "alpha-ops"})

	// Staff, and their credentials on the customer listener.
	e.account("", "mx-op", identity.RoleOperator, sweepPW)
	e.account("", "mx-so", identity.RoleSecurityOfficer, sweepPW)
	for _, acct := range []struct {
		login string
		role  identity.Role
	}{{"mx-op", identity.RoleOperator}, {"mx-so", identity.RoleSecurityOfficer}} {
		s := login(e.mgmt, acct.login)
		tokenOf := withToken(e.mgmt, s, "")
		tk := tokenOf()
		mgmt = append(mgmt,
			mxPrincipal{name: acct.login + " session", kind: mxOwn, role: acct.role, c: s, fresh: sessionOf(e.mgmt, acct.login),
				owner: s, ownerLogin: acct.login},
			mxPrincipal{name: acct.login + " token", kind: mxOwn, role: acct.role, token: true, c: tk, fresh: tokenOf,
				owner: s, ownerLogin: acct.login})
		cust = append(cust,
			mxPrincipal{name: acct.login + " session", kind: mxForeign, role: acct.role, c: foreignSession(e, s, e.customer, identity.CustomerSide)},
			mxPrincipal{name: acct.login + " token", kind: mxForeign, role: acct.role, token: true, c: foreignToken(e, tk, e.customer)})
	}
	// An operator under a live break-glass grant for A: on the routes that
	// name A it also holds the break-glass role (ISO/IEC 27017 CLD.12.1.5).
	e.account("", "mx-bg", identity.RoleOperator, sweepPW)
	bg := login(e.mgmt, "mx-bg")
	bg.expect(http.StatusCreated, "POST", "/api/v1/customers/"+string(sw.A.cust)+"/break-glass",
		map[string]any{"reason": "access matrix: break-glass reads", "minutes": 30})
	mgmt = append(mgmt, mxPrincipal{name: "mx-bg session (break-glass for A)", kind: mxOwn, role: identity.RoleOperator,
		c: bg, fresh: sessionOf(e.mgmt, "mx-bg"), owner: bg, ownerLogin: "mx-bg", breakGlass: true})
	// Customer A's credentials on the management listener; no credential.
	mgmt = append(mgmt,
		mxPrincipal{name: "alpha-ops session", kind: mxForeign, role: identity.RoleOpsAdmin, c: foreignSession(e, opsSession, e.mgmt, identity.OperatorSide)},
		mxPrincipal{name: "alpha-ops token", kind: mxForeign, role: identity.RoleOpsAdmin, token: true, c: foreignToken(e, sw.A.opsToken, e.mgmt)},
		mxPrincipal{name: "no credential", kind: mxNone, c: e.client(e.mgmt)})
	cust = append(cust, mxPrincipal{name: "no credential", kind: mxNone, c: e.client(e.customer)})
	w.cust, w.mgmt = cust, mgmt
	w.victims = &mxVictims{w: w, opsSession: opsSession}
	return w
}

var seq atomic.Int64

// foreignSession sends the session of c (a client of the other listener) to
// base under base's own cookie name, as a stolen cookie would be sent.
func foreignSession(e *idEnv, c *client, base string, side identity.Side) *client {
	other := identity.CustomerSide
	if side == identity.CustomerSide {
		other = identity.OperatorSide
	}
	var secret string
	for _, ck := range c.hc.Jar.Cookies(mustURLTB(e.t, c.base)) {
		if ck.Name == cookieName(other) {
			secret = ck.Value
		}
	}
	if secret == "" {
		e.t.Fatalf("no %v session cookie for %s", other, c.base)
	}
	f := e.client(base)
	f.hdr.Set("Cookie", cookieName(side)+"="+secret)
	return f
}

func foreignToken(e *idEnv, c *client, base string) *client {
	f := e.client(base)
	f.token = c.token
	return f
}

func mustURLTB(t testing.TB, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// mxVictims makes objects that a call may consume.
type mxVictims struct {
	w          *mxWorld
	opsSession *client // A's operations administrator, for A's devices
}

// value returns what to put for path parameter name of route rt when who
// calls it on listener side, and whether it names an object that exists.
func (v *mxVictims) value(t *testing.T, side identity.Side, rt route, name string, who mxPrincipal) (string, bool) {
	f, e := v.w.f, v.w.e
	consume := rt.Method == "DELETE"
	first := func(param string) (string, bool) {
		if ids := f.ids[param]; len(ids) > 0 {
			return ids[0], true
		}
		return "", false
	}
	switch name {
	case "code":
		for _, c := range f.ids["code"] {
			if strings.Contains(rt.Path, "/contracts/{code}") == strings.HasPrefix(c, "shb") {
				return c, true
			}
		}
	case "version":
		return "1", true
	case "id":
		if strings.HasPrefix(rt.Path, "/api/v1/notices/") {
			// A notice is the platform's own: a fresh draft on A.
			n, err := e.srv.deps.Notices.Create(e.seed, notice.Draft{Kind: notice.Incident, Category: "outage", Severity: "minor",
				TitleJA: "障害", TitleEN: "Outage", BodyJA: "調査中", BodyEN: "Investigating", Scope: notice.Scope{Customers: []string{string(v.w.A.cust)}}})
			e.must("victim notice", err)
			if side == identity.CustomerSide {
				// A customer sees a notice once it is published to it.
				_, err = e.srv.deps.Notices.Publish(e.seed, n.ID, []string{string(v.w.A.cust)})
				e.must("publish the victim notice", err)
			}
			return n.ID, true
		}
		if ids := f.ids[name]; len(ids) > 0 && !consume {
			return ids[0], true
		}
	case "customer":
		return string(v.w.A.cust), true
	case "node":
		return "tokyo-hub-01", true // nodes are named in paths
	case "account":
		if !consume && side == identity.CustomerSide {
			return first("account")
		}
		role, cust := identity.RoleUser, v.w.A.cust
		if side == identity.OperatorSide {
			role, cust = identity.RoleOperator, catalog.CustomerID("")
			if strings.Contains(rt.Path, "/officers/") {
				role = identity.RoleSecurityOfficer
			}
		}
		in := identity.InviteInput{LoginID: fmt.Sprintf("mx-victim-%d", seq.Add(1)),
			DisplayName: "Victim", Email: fmt.Sprintf("mx-victim-%d@example.co.jp", seq.Add(1)), Role: role}
		var a identity.Account
		var err error
		if cust == "" {
			a, _, err = e.idn.SeedStaff(e.seed, in)
		} else {
			a, err = e.idn.Invite(e.seed, tenanttest.Customer(cust), in)
		}
		e.must("victim account", err)
		return a.ID, true
	case "token":
		if who.owner != nil {
			return v.tokenID(t, who.owner), true
		}
	case "session":
		if who.owner != nil {
			return v.sessionID(t, who.owner.base, who.ownerLogin), true
		}
	case "device":
		_, certPEM := deviceCert(t, fmt.Sprintf("mx-device-%d", seq.Add(1)))
		var dev identity.Device
		v.opsSession.expect(http.StatusCreated, "POST", "/api/v1/devices",
			map[string]string{"name": fmt.Sprintf("victim %d", seq.Add(1)), "certificate_pem": certPEM}).json(t, &dev)
		return dev.ID, true
	default:
		if ids := f.ids[name]; len(ids) > 0 && !consume {
			return ids[0], true
		}
	}
	return "zzz_zzzzzzzzzzzzzzzzzzzzzzzzzz", false
}

func (v *mxVictims) tokenID(t *testing.T, s *client) string {
	var tk identity.Token
	s.expect(http.StatusCreated, "POST", "/api/v1/tokens", map[string]any{"name": fmt.Sprintf("victim %d", seq.Add(1)),
		"expires_at": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)}).json(t, &tk)
	return tk.ID
}

func (v *mxVictims) sessionID(t *testing.T, base, loginID string) string {
	c := v.w.e.client(base)
	c.login(loginID, sweepPW)
	var ss list[identity.Session]
	c.expect(http.StatusOK, "GET", "/api/v1/sessions", nil).json(t, &ss)
	for _, s := range ss.Items {
		if s.Current {
			return s.ID
		}
	}
	t.Fatalf("no current session for %s", loginID)
	return ""
}

var paramRE = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)(?:\.\.\.)?\}`)

// run calls every authenticated route of one listener as every principal and
// reports each answer the permission table does not predict.
func (w *mxWorld) run(t *testing.T, report func(string, ...any), base string, routes []route, who []mxPrincipal, side identity.Side) int {
	t.Helper()
	calls := 0
	for _, p := range who {
		for _, rt := range routes {
			if rt.Action == "" {
				continue // public: health, the document, login, setup
			}
			calls++
			w.call(t, report, base, rt, p, side)
		}
	}
	return calls
}

func (w *mxWorld) call(t *testing.T, report func(string, ...any), base string, rt route, p mxPrincipal, side identity.Side) {
	t.Helper()
	real := true
	var values []string
	path := paramRE.ReplaceAllStringFunc(rt.Path, func(m string) string {
		v, ok := w.victims.value(t, side, rt, paramRE.FindStringSubmatch(m)[1], p)
		real = real && ok
		values = append(values, v)
		return v
	})
	decoyPath := paramRE.ReplaceAllStringFunc(rt.Path, func(string) string {
		v := decoy(values[0])
		values = values[1:]
		return v
	})
	c := p.c
	if rt.Method == "DELETE" && p.fresh != nil {
		c = p.fresh()
	}
	c = c.at(base)
	var body any
	if rt.Method == "POST" || rt.Method == "PUT" || rt.Method == "PATCH" {
		body = "{}"
	}
	r := c.doInvalid(rt.Method, path, body) // "{}" is incomplete on purpose; the answer is checked
	key := rt.Method + " " + rt.Path
	where := fmt.Sprintf("%s: %s %s", p.name, rt.Method, path)
	if p.breakGlass && strings.Contains(rt.Path, "{customer}") {
		p.role = p.role.WithRole(identity.RoleBreakGlass)
	}
	if r.code >= 500 {
		report("%s: status %d: %s", where, r.code, r.body)
		return
	}
	switch {
	case p.kind == mxNone || p.kind == mxForeign:
		if r.code != http.StatusUnauthorized {
			report("%s: status %d, want 401 (%s): %s", where, r.code, map[mxKind]string{mxNone: "no credential", mxForeign: "the other listener's credential"}[p.kind], r.body)
		}
	case !identity.Allowed(p.role, rt.Action):
		if r.code != http.StatusForbidden {
			report("%s: status %d, want 403 (role %s lacks %s): %s", where, r.code, p.role, rt.Action, r.body)
		}
	case p.token && matrixSessionRoutes[key]:
		if r.code != http.StatusForbidden {
			report("%s: status %d, want 403 (a login's second factor is given in a session): %s", where, r.code, r.body)
		}
	case p.token && identity.SessionOnly(rt.Action):
		// Session-only routes refuse every API token, whatever its role.
		var eb errorBody
		_ = json.Unmarshal(r.body, &eb)
		if r.code != http.StatusForbidden || eb.Error.Code != identity.CodeSessionRequired {
			report("%s: status %d (%s), want 403 session_required (session-only): %s", where, r.code, errCodeOf(r), r.body)
		}
	case p.kind == mxOther && strings.Contains(rt.Path, "{"):
		if r.code == http.StatusNotFound {
			return
		}
		// An answer that B's own state decides ("start editing first") is
		// the same for an identifier that exists nowhere: it reveals
		// nothing about A's object (the sweep's decoy rule).
		d := c.doInvalid(rt.Method, decoyPath, body)
		if d.code != r.code || errCodeOf(d) != errCodeOf(r) {
			report("%s: status %d (decoy: %d), want 404 (another customer's object): %s", where, r.code, d.code, r.body)
		}
	default:
		if r.code == http.StatusUnauthorized || r.code == http.StatusForbidden {
			report("%s: status %d, want an answer of an allowed call (%s may %s): %s", where, r.code, p.role, rt.Action, r.body)
		}
		if rt.Method == "GET" && real && strings.Contains(rt.Path, "{") && r.code == http.StatusNotFound && matrixMay404[key] == "" {
			report("%s: 404 for the caller's own object: %s", where, r.body)
		}
	}
}

// at is c aimed at base (the same credentials).
func (c *client) at(base string) *client {
	if c.base == base {
		return c
	}
	d := *c
	d.base = base
	return &d
}

// TestAccessMatrixCatchesMistakes proves the matrix fails on what it exists
// to catch. A server is given four broken routes — a permission weakened
// (user may read the security policy: the router's action and the scope the
// handler gives the service, since the service checks too), a route served without
// authentication, a handler that reads another customer's hub (the scope
// taken from elsewhere than the principal), and a token allowed to revoke
// its account's other tokens (the route's action no longer session-only) —
// and the matrix, expecting the real routes and table, must report each.
func TestAccessMatrixCatchesMistakes(t *testing.T) {
	t.Parallel()
	w := newMatrixWorld(t, storetest.SQLite(t))
	s := w.e.srv
	real := map[string]route{}
	for _, rt := range s.customerRoutes() {
		real[rt.Method+" "+rt.Path] = rt
	}
	planted := []string{"GET /api/v1/security-policy", "GET /api/v1/regions", "GET /api/v1/hubs/{id}", "DELETE /api/v1/tokens/{token}"}
	served := s.customerRoutes()
	for i, rt := range served {
		switch rt.Method + " " + rt.Path {
		case planted[0]:
			// A weaker permission at the router, and a handler that gives
			// the service a scope with every right instead of the caller's:
			// both the router's and the service's checks are lost.
			served[i].Action = identity.ActCatalogRead
			served[i].Handle = func(rw http.ResponseWriter, r *http.Request) error {
				pol, err := s.deps.Identity.Policy(r.Context(), tenanttest.Customer(principal(r).CustomerID))
				if err != nil {
					return err
				}
				writeJSON(rw, http.StatusOK, pol)
				return nil
			}
		case planted[1]:
			served[i].Action = ""
		case planted[2]:
			served[i].Handle = func(rw http.ResponseWriter, r *http.Request) error {
				// The leak: a scope forged for A, whoever asks.
				h, err := s.deps.Catalog.GetHub(r.Context(), tenanttest.Customer(w.A.cust), catalog.HubID(r.PathValue("id")))
				if err != nil {
					return err
				}
				writeJSON(rw, http.StatusOK, h)
				return nil
			}
		case planted[3]:
			// The route's action no longer session-only, and a handler that
			// hands the service a token's principal as if it were a session:
			// both the router's and the service's refusals are lost.
			served[i].Action = identity.ActSelf
			revoke := rt.Handle
			served[i].Handle = func(rw http.ResponseWriter, r *http.Request) error {
				p := principal(r)
				p.Via = "session"
				return revoke(rw, r.WithContext(context.WithValue(r.Context(), keyPrincipal, p)))
			}
		}
	}
	ts := httptest.NewUnstartedServer(s.outer("customer", s.mux(served, identity.CustomerSide)))
	ts.TLS = serverTLS(w.e.cert)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	var expect []route
	for _, k := range planted {
		expect = append(expect, real[k])
	}
	var reports []string
	w.run(t, func(format string, args ...any) { reports = append(reports, fmt.Sprintf(format, args...)) },
		ts.URL, expect, w.cust, identity.CustomerSide)
	for _, want := range []string{
		"alpha-user session: GET /api/v1/security-policy: status 200, want 403",
		"no credential: GET /api/v1/regions: status 200, want 401",
		"bravo-ops session: GET /api/v1/hubs/",
		"alpha-ops user-role token: DELETE /api/v1/tokens/",
	} {
		found := false
		for _, r := range reports {
			found = found || strings.HasPrefix(r, want)
		}
		if !found {
			t.Errorf("the matrix did not report %q; reports:\n%s", want, strings.Join(reports, "\n"))
		}
	}
}
