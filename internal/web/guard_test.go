package web

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// failUnrecorded is the test servers' Deps.OnUnrecorded: every test that
// makes a change through the web layer also checks that it was audited.
func failUnrecorded(t testing.TB) func(string) {
	return func(route string) { t.Errorf("%s succeeded without an audit record (guard.go)", route) }
}

// served counts, over the whole test binary, the guarded routes some test
// called with success, with the tests that did: the routes no test calls
// successfully are listed when TSUNAGI_UNSERVED_REPORT names a file
// (TestMain), and the tests that cover each route beside it.
var served = struct {
	sync.Mutex
	by map[string]map[string]bool // route → test names
}{by: map[string]map[string]bool{}}

func countServed(test, route string, code int) {
	if code >= 400 {
		return
	}
	test, _, _ = strings.Cut(test, "/")
	served.Lock()
	if served.by[route] == nil {
		served.by[route] = map[string]bool{}
	}
	served.by[route][test] = true
	served.Unlock()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if out := os.Getenv("TSUNAGI_UNSERVED_REPORT"); out != "" {
		if err := os.WriteFile(out, []byte(unservedReport()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// unservedReport lists every guarded route of both listeners with the tests
// of this run that answered it with success (none: no test did).
func unservedReport() string {
	s := New(Config{}, Deps{})
	var b strings.Builder
	served.Lock()
	defer served.Unlock()
	for _, side := range []struct {
		name   string
		routes []route
		pages  []pageRoute
	}{{"customer", s.customerRoutes(), s.customerPages()}, {"management", s.mgmtRoutes(), s.operatorPages()}} {
		var all []string
		for _, rt := range side.routes {
			all = append(all, rt.Method+" "+rt.Path)
		}
		for _, pg := range side.pages {
			if pg.Handle != nil {
				all = append(all, pg.Method+" "+pg.Path)
			}
		}
		slices.Sort(all)
		for _, r := range slices.Compact(all) {
			method, _, _ := strings.Cut(r, " ")
			if _, skip := notChanges[r]; skip || method == http.MethodGet || method == http.MethodHead {
				continue
			}
			fmt.Fprintf(&b, "%s\t%s\t%s\n", side.name, r, strings.Join(slices.Sorted(maps.Keys(served.by[r])), " "))
		}
	}
	return b.String()
}

// TestGuardRecordsUnauditedChange proves the guard can fail: a change
// route whose handler records nothing is recorded by the router as
// request.unrecorded, with the route and the principal, and reported;
// one that records, that fails, or that found nothing to change
// (audit.Unchanged), is not.
func TestGuardRecordsUnauditedChange(t *testing.T) {
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	e.account("", "guard-op", identity.RoleOperator, sweepPW)
	op := e.client(e.mgmt)
	op.login("guard-op", sweepPW)
	var who struct {
		ID string `json:"account_id"`
	}
	op.expect(http.StatusOK, "GET", "/api/v1/me", nil).json(t, &who)
	tok := op.newToken("guard", "")

	// A server of its own, so that its report goes here and not to the
	// test's failure.
	var reported []string
	deps := e.srv.deps
	deps.OnUnrecorded = func(route string) { reported = append(reported, route) }
	s := New(Config{}, deps)
	handler := func(route, mode string) http.Handler {
		return s.outer("management", s.guarded(route, func(w http.ResponseWriter, r *http.Request) {
			r, err := s.admit(r, identity.OperatorSide, route, identity.ActSelf)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			switch mode {
			case "record":
				if err := s.deps.Audit.Record(r.Context(), audit.Event{Action: "guard.test", Target: route}); err != nil {
					s.writeError(w, r, err)
					return
				}
			case "unchanged":
				audit.Unchanged(r.Context())
			}
			w.WriteHeader(http.StatusNoContent)
		}))
	}
	post := func(h http.Handler, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/x", nil)
		req.RemoteAddr = "127.0.0.1:40000"
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	rec := post(handler("POST /silent", ""), tok)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if !slices.Equal(reported, []string{"POST /silent"}) {
		t.Fatalf("reported %v, want [POST /silent]", reported)
	}
	rid := rec.Header().Get("X-Request-Id")
	es := entriesOf(t, e, rid)
	if len(es) != 1 || es[0].Action != unrecordedAction || es[0].Target != "POST /silent" || es[0].ActorID != who.ID {
		t.Fatalf("entries of %s: %+v", rid, es)
	}

	// A refused change, a recorded one, and one that found nothing to
	// change, are not reported.
	reported = nil
	if rec := post(handler("POST /silent", ""), ""); rec.Code != http.StatusUnauthorized {
		t.Fatalf("anonymous: status %d", rec.Code)
	}
	if rec := post(handler("POST /recorded", "record"), tok); rec.Code != http.StatusNoContent {
		t.Fatalf("recorded: status %d", rec.Code)
	}
	if rec := post(handler("POST /unchanged", "unchanged"), tok); rec.Code != http.StatusNoContent {
		t.Fatalf("unchanged: status %d", rec.Code)
	}
	if len(reported) != 0 {
		t.Fatalf("reported %v", reported)
	}
}

// entriesOf lists the audit entries of the request with ID rid, every chain.
func entriesOf(t *testing.T, e *idEnv, rid string) []audit.Entry {
	t.Helper()
	all, err := e.audit.List(e.seed, audit.AllChains().Page(0, 10_000))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 10_000 {
		t.Fatal("the log holds more entries than one read returns")
	}
	var out []audit.Entry
	for _, en := range all {
		if en.RequestID == rid {
			out = append(out, en)
		}
	}
	return out
}
