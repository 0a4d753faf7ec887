package web

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/apicontract"
)

// The web tests' clients check every exchange against the served OpenAPI
// document (internal/apicontract); these are the package's handles on it.

// OpenAPIChecked wraps base with the contract check. It is exported for the
// package's external tests (bench, bad input).
func OpenAPIChecked(t testing.TB, base http.RoundTripper) http.RoundTripper {
	return apicontract.Transport(t, base)
}

// AllowInvalidRequest marks r as bad input on purpose: only its answer is
// checked.
func AllowInvalidRequest(r *http.Request) *http.Request { return apicontract.AllowInvalid(r) }

func allowInvalidRequest(r *http.Request) *http.Request { return apicontract.AllowInvalid(r) }

// TestContractCheckCatchesDrift proves the check can fail: an answer with an
// undocumented status, one whose body breaks its schema, one with the wrong
// content type, a request with an undocumented query parameter and a request
// body the document refuses must each be reported; the opt-out lets only the
// last one through.
func TestContractCheckCatchesDrift(t *testing.T) {
	c, err := apicontract.Load(openapiCustomer)
	if err != nil {
		t.Fatal(err)
	}
	json := http.Header{"Content-Type": {"application/json"}}
	answer := func(code int, h http.Header, body string) (*http.Response, []byte) {
		return &http.Response{StatusCode: code, Header: h}, []byte(body)
	}
	get := func(target string) *http.Request {
		return mustRequest(t, "GET", target, "")
	}
	okMe := `{"id":"acc_aaaaaaaaaaaaaaaaaaaaaaaaaa"}`
	cases := []struct {
		name    string
		req     *http.Request
		body    string
		checkRq bool
		code    int
		hdr     http.Header
		answer  string
		caught  bool
	}{
		{"undocumented status", get("/api/v1/regions"), "", true, http.StatusTeapot, json, `{}`, true},
		{"schema mismatch", get("/api/v1/regions"), "", true, 200, json, `{"items":"none"}`, true},
		{"wrong content type", get("/api/v1/regions"), "", true, 200, http.Header{"Content-Type": {"text/plain"}}, `hello`, true},
		{"undocumented query", get("/api/v1/regions?colour=red"), "", true, 401, json,
			`{"error":{"code":"unauthorized","message":"sign in"}}`, true},
		{"invalid body", mustRequest(t, "POST", "/api/v1/session", `{"login_id":7}`), `{"login_id":7}`, true, 401, json,
			`{"error":{"code":"unauthorized","message":"wrong"}}`, true},
		{"invalid body, opted out", mustRequest(t, "POST", "/api/v1/session", `{"login_id":7}`), `{"login_id":7}`, false, 401, json,
			`{"error":{"code":"unauthorized","message":"wrong"}}`, false},
		{"instant in JST", get("/api/v1/sessions"), "", true, 200, json, `{"items":[{"id":"ses_aaaaaaaaaaaaaaaaaaaaaaaaaa",` +
			`"created_at":"2026-01-02T09:00:00+09:00","last_seen_at":"2026-01-02T00:00:00Z","expires_at":"2026-01-02T00:00:00Z",` +
			`"source_ip":"127.0.0.1","user_agent":"t","current":true,"last_seen_jst":"2026-01-02T09:00:00+09:00"}],"next_after":null}`, true},
		{"instants in UTC", get("/api/v1/sessions"), "", true, 200, json, `{"items":[{"id":"ses_aaaaaaaaaaaaaaaaaaaaaaaaaa",` +
			`"created_at":"2026-01-02T00:00:00Z","last_seen_at":"2026-01-02T00:00:00Z","expires_at":"2026-01-02T00:00:00Z",` +
			`"source_ip":"127.0.0.1","user_agent":"t","current":true,"last_seen_jst":"2026-01-02T09:00:00+09:00"}],"next_after":null}`, false},
		{"unrouted path answered 200", get("/api/v1/nowhere"), "", true, 200, json, okMe, true},
		{"unrouted path answered 404", get("/api/v1/nowhere"), "", true, 404, json,
			`{"error":{"code":"not_found","message":"no such endpoint"}}`, false},
	}
	for _, tc := range cases {
		res, b := answer(tc.code, tc.hdr, tc.answer)
		problems := c.Check(tc.req, []byte(tc.body), tc.checkRq, res, b)
		if got := len(problems) > 0; got != tc.caught {
			t.Errorf("%s: reported %v, want reported=%v", tc.name, problems, tc.caught)
		}
	}
}

func mustRequest(t *testing.T, method, target, body string) *http.Request {
	t.Helper()
	var rd io.Reader = http.NoBody
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequest(method, "https://127.0.0.1"+target, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}
