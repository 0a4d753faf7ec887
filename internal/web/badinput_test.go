package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tlsutil"
	"github.com/tsunagi-net/tsunagi/internal/web"
)

// badInputEnv is a management-listener test server with an operator token.
type badInputEnv struct {
	db     *store.DB
	srv    *httptest.Server
	client *http.Client
	token  string
}

func newBadInputEnv(t *testing.T, db *store.DB) *badInputEnv {
	t.Helper()
	ctx := context.Background()
	log := audit.New(db)
	cheap := identity.Config{Argon2: identity.Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1},
		SessionIdle: 30 * time.Minute, SessionAbsolute: 12 * time.Hour}
	ids := identity.New(db, log, cheap)
	s := web.New(web.Config{}, web.Deps{DB: db, Catalog: catalog.New(db, log), Identity: ids, Audit: log,
		Log: slog.New(slog.DiscardHandler), OnUnrecorded: func(route string) { t.Errorf("%s succeeded without an audit record", route) }})
	cert, _, err := tlsutil.SelfSigned(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s.MgmtHandler())
	srv.TLS = tlsutil.ServerConfig(cert)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	tok, err := ids.FirstOperatorLink(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ids.CompleteSetup(ctx, identity.OperatorSide, identity.SetupInput{Token: tok, LoginID: "ops1",
		DisplayName: "Ops One", Email: "ops1@example.net", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	_, p, err := ids.Login(ctx, identity.OperatorSide, "ops1", "correct horse battery", "test")
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := ids.CreateToken(ctx, p, identity.TokenInput{Name: "t", ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	// Every request here is bad on purpose: only the answers are checked
	// against the served OpenAPI document (do marks each request).
	client := &http.Client{Transport: web.OpenAPIChecked(t, srv.Client().Transport)}
	return &badInputEnv{db: db, srv: srv, client: client, token: secret}
}

func (e *badInputEnv) do(t *testing.T, method, path, contentType string, body io.Reader) (int, map[string]any, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req = web.AllowInvalidRequest(req)
	req.Header.Set("Authorization", "Bearer "+e.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, string(raw)
}

func (e *badInputEnv) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := e.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newBadInputEnv(t, db)
		big := `{"name":"` + strings.Repeat("a", web.MaxBody) + `"}`
		cases := []struct {
			name, method, path, ctype, body string
			status                          int
			code, field                     string
		}{
			{"malformed JSON", "POST", "/api/v1/customers", "application/json", `{"name": "x"`, 400, "invalid", ""},
			{"not JSON at all", "POST", "/api/v1/customers", "application/json", `name=x`, 400, "invalid", ""},
			{"unknown field", "POST", "/api/v1/customers", "application/json", `{"name":"x","admin":true}`, 400, "invalid", "admin"},
			{"wrong type", "POST", "/api/v1/customers", "application/json", `{"name":42}`, 400, "invalid", "name"},
			{"two objects", "POST", "/api/v1/customers", "application/json", `{"name":"x"}{"name":"y"}`, 400, "invalid", ""},
			{"empty body", "POST", "/api/v1/customers", "application/json", ``, 400, "invalid", ""},
			{"oversized body", "POST", "/api/v1/customers", "application/json", big, 413, "too_large", ""},
			{"form content type", "POST", "/api/v1/customers", "application/x-www-form-urlencoded", `name=x`, 400, "invalid", ""},
			{"invalid name", "POST", "/api/v1/customers", "application/json", `{"name":"bad\u0000name"}`, 400, "invalid", "name"},
			{"region code injection", "POST", "/api/v1/regions", "application/json",
				`{"code":"x'; DROP TABLE customers;--","name_en":"a","name_ja":"b","data_location":"Japan"}`, 400, "invalid", "code"},
			{"bad limit", "GET", "/api/v1/customers?limit=0", "", ``, 400, "invalid", "limit"},
			{"huge limit", "GET", "/api/v1/customers?limit=100000", "", ``, 400, "invalid", "limit"},
			{"unknown customer", "GET", "/api/v1/customers/cus_nope", "", ``, 404, "not_found", ""},
			{"invalid service code", "GET", "/api/v1/customers/cus_nope/contracts/shb123", "", ``, 404, "not_found", ""},
			{"no such endpoint", "GET", "/api/v1/nothing-here", "", ``, 404, "not_found", ""},
			{"wrong method", "DELETE", "/api/v1/customers", "", ``, 405, "method_not_allowed", ""},
		}
		before := map[string]int{}
		tables := []string{"customers", "regions", "contracts", "audit_events"}
		for _, tb := range tables {
			before[tb] = e.count(t, tb)
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				status, body, raw := e.do(t, tc.method, tc.path, tc.ctype, bytes.NewBufferString(tc.body))
				if status != tc.status {
					t.Fatalf("status = %d, want %d; body %s", status, tc.status, raw)
				}
				errObj, ok := body["error"].(map[string]any)
				if !ok {
					t.Fatalf("no error object in %s", raw)
				}
				if errObj["code"] != tc.code || errObj["message"] == "" {
					t.Errorf("error = %v, want code %s", errObj, tc.code)
				}
				if tc.field != "" && errObj["field"] != tc.field {
					t.Errorf("field = %v, want %s", errObj["field"], tc.field)
				}
				// The request ID is random base32 and may spell "sql".
				checked := strings.Replace(raw, fmt.Sprint(errObj["request_id"]), "", 1)
				for _, leak := range []string{"goroutine", "panic", "sql", "SQLSTATE", ".go:"} {
					if strings.Contains(checked, leak) {
						t.Errorf("body leaks internals (%q): %s", leak, raw)
					}
				}
			})
		}
		for _, tb := range tables {
			if n := e.count(t, tb); n != before[tb] {
				t.Errorf("%s: %d rows before, %d after bad input", tb, before[tb], n)
			}
		}
		// The same request, well formed, is accepted: the cases above failed
		// for the reason they name, not for a broken route.
		if status, _, raw := e.do(t, "POST", "/api/v1/customers", "application/json", bytes.NewBufferString(`{"name":"Good K.K."}`)); status != 201 {
			t.Fatalf("good request: %d %s", status, raw)
		}
	})
}

func TestCrossOriginWritesAreRefused(t *testing.T) {
	t.Parallel()
	e := newBadInputEnv(t, storetest.SQLite(t))
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/customers", strings.NewReader(`{"name":"Evil K.K."}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 403 || body["error"]["code"] != "forbidden" {
		t.Fatalf("cross-origin POST: %d %v", resp.StatusCode, body)
	}
	if n := e.count(t, "customers"); n != 0 {
		t.Errorf("%d customers created by a cross-origin request", n)
	}
	var denied int
	if err := e.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM audit_events WHERE action = 'access.denied'
		AND result = 'denied' AND target = 'POST /api/v1/customers'`).Scan(&denied); err != nil || denied != 1 {
		t.Errorf("refusals recorded = %d (%v), want 1", denied, err)
	}
}

func TestUnauthenticatedAndForbidden(t *testing.T) {
	t.Parallel()
	e := newBadInputEnv(t, storetest.SQLite(t))
	for _, auth := range []string{"", "Bearer tsk_forged", "Basic b3BzMTpwdw==", "Bearer " + e.token + "x"} {
		req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/customers", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("Authorization %q: status %d, want 401", auth, resp.StatusCode)
		}
	}
	// The first operator has role "operator": the audit log is the security
	// officer's, so it is refused and the refusal is itself audited.
	status, _, raw := e.do(t, "GET", "/api/v1/audit", "", nil)
	if status != 403 {
		t.Fatalf("audit as operator: %d %s", status, raw)
	}
	var denied int
	if err := e.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM audit_events WHERE action = 'access.denied' AND result = 'denied'`).Scan(&denied); err != nil || denied != 1 {
		t.Errorf("denied entries = %d (%v), want 1", denied, err)
	}
	// A refused attempt at a customer's records is in that customer's own
	// chain, naming what was asked.
	status, created, raw := e.do(t, "POST", "/api/v1/customers", "application/json", strings.NewReader(`{"name":"Watched K.K."}`))
	if status != 201 {
		t.Fatalf("create customer: %d %s", status, raw)
	}
	cust, _ := created["id"].(string)
	if status, _, raw := e.do(t, "GET", "/api/v1/audit?customer="+cust+"&purpose=curious", "", nil); status != 403 {
		t.Fatalf("a customer's audit as operator: %d %s", status, raw)
	}
	var inChain int
	if err := e.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM audit_events WHERE action = 'access.denied'
		AND chain = ? AND target = 'GET /api/v1/audit'`, cust).Scan(&inChain); err != nil || inChain != 1 {
		t.Errorf("refusals in the customer's chain = %d (%v), want 1", inChain, err)
	}
}
