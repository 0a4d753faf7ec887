// Package apicontract holds the API tests' contract check: an HTTP
// transport that validates every request a test sends to a tsunagi listener,
// and every answer it gets, against the OpenAPI document that listener serves
// (/api/v1/openapi.json), and fails the test on a mismatch. The internal/web
// tests and the cmd/tsunagi end-to-end tests use it, so the documents cannot
// drift from what the code does. It is test support: no program imports it.
package apicontract

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// What is checked: the request's parameters (undocumented query parameters
// included) and body; the answer's status, which must be documented for the
// operation, its content type, headers and body, and that every instant in a
// JSON answer is UTC. A test that deliberately sends bad input opts out of
// the request check for that one call (AllowInvalid); its answer is still
// checked. A request no operation matches must be answered 404 (no such
// path) or 405 with Allow (no such method), in the error shape.

// Contract is one parsed document and its router.
type Contract struct {
	doc    *openapi3.T
	router routers.Router
	err    error
}

// contracts caches parsed documents by their SHA-256: the two listeners' two
// documents are parsed once per test binary, however many servers the tests
// start.
var contracts sync.Map // [32]byte → *Contract

// Load parses an OpenAPI document (once per content) and makes its router.
func Load(b []byte) (*Contract, error) {
	c := load(b)
	return c, c.err
}

func load(b []byte) *Contract {
	key := sha256.Sum256(b)
	if c, ok := contracts.Load(key); ok {
		return c.(*Contract)
	}
	c := &Contract{}
	c.doc, c.err = openapi3.NewLoader().LoadFromData(b)
	if c.err == nil {
		c.err = c.doc.Validate(context.Background())
	}
	if c.err == nil {
		// The documents name the server "/": match any host.
		c.doc.Servers = nil
		c.router, c.err = gorillamux.NewRouter(c.doc)
	}
	got, _ := contracts.LoadOrStore(key, c)
	return got.(*Contract)
}

func init() {
	// The setup pages are documented as text/html strings, the notices'
	// Atom feed as an application/atom+xml string, evidence archives as
	// application/gzip binary strings.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("application/atom+xml", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("application/gzip", openapi3filter.FileBodyDecoder)
}

type skipRequestCheck struct{}

// AllowInvalid marks r as deliberately invalid (bad input on purpose): its
// answer is checked against the document, the request itself is not.
func AllowInvalid(r *http.Request) *http.Request { return r.WithContext(InvalidRequest(r.Context())) }

// InvalidRequest is AllowInvalid for a request yet to be made with ctx.
func InvalidRequest(ctx context.Context) context.Context {
	return context.WithValue(ctx, skipRequestCheck{}, true)
}

// contractTransport checks each exchange against the served document.
type contractTransport struct {
	t    testing.TB
	base http.RoundTripper

	mu   sync.Mutex           // guards docs
	docs map[string]*Contract // by scheme://host
}

// Transport wraps base so that every request and answer through it is
// validated against the OpenAPI document the server serves; mismatches fail
// t (t.Errorf, so it may be used from any goroutine while t runs).
func Transport(t testing.TB, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &contractTransport{t: t, base: base, docs: map[string]*Contract{}}
}

var errUnreachable = errors.New("the server did not answer")

// served returns the contract served at u's origin, fetching it on first use.
func (ct *contractTransport) served(u *url.URL) (*Contract, error) {
	origin := u.Scheme + "://" + u.Host
	ct.mu.Lock()
	defer ct.mu.Unlock()
	if c := ct.docs[origin]; c != nil {
		return c, nil
	}
	req, err := http.NewRequest("GET", origin+"/api/v1/openapi.json", nil)
	if err != nil {
		return nil, err
	}
	res, err := ct.base.RoundTrip(req)
	if err != nil {
		return nil, errUnreachable
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching the served document: status %d, %v", res.StatusCode, err)
	}
	c := load(b)
	if c.err != nil {
		return nil, fmt.Errorf("the served document does not load: %w", c.err)
	}
	ct.docs[origin] = c
	return c, nil
}

func (ct *contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c, err := ct.served(req.URL)
	if errors.Is(err, errUnreachable) {
		// The server is down or refusing (tests of shutdown and of the
		// allow-list make it so): the call itself will say so.
		return ct.base.RoundTrip(req)
	}
	if err != nil {
		ct.t.Errorf("OpenAPI check of %s %s: %v", req.Method, req.URL.Path, err)
		return ct.base.RoundTrip(req)
	}
	var reqBody []byte
	if req.Body != nil && req.Body != http.NoBody {
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(reqBody)), nil }
	}
	res, err := ct.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resBody, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	res.Body = io.NopCloser(bytes.NewReader(resBody))
	skipReq, _ := req.Context().Value(skipRequestCheck{}).(bool)
	if problems := c.Check(req, reqBody, !skipReq, res, resBody); len(problems) > 0 {
		ct.t.Errorf("%s: %s %s → %d does not match the served OpenAPI document:\n\t%s\n\tanswer: %.300s",
			testCaller(), req.Method, req.URL.RequestURI(), res.StatusCode, strings.Join(problems, "\n\t"), resBody)
	}
	return res, nil
}

// testCaller names the test lines that made the call, innermost first.
func testCaller() string {
	pcs := make([]uintptr, 40)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	var at []string
	for {
		f, more := frames.Next()
		if strings.HasSuffix(f.File, "_test.go") && len(at) < 3 {
			at = append(at, fmt.Sprintf("%s:%d", filepath.Base(f.File), f.Line))
		}
		if !more {
			break
		}
	}
	if len(at) == 0 {
		return "(unknown caller)"
	}
	return strings.Join(at, " ← ")
}

// checkOptions: every undocumented status is a mismatch; credentials are the
// router's business (tests send none or wrong ones on purpose, and the 401
// answer is what is checked).
var checkOptions = &openapi3filter.Options{
	IncludeResponseStatus: true,
	MultiError:            true,
	AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
}

// Check returns what in the exchange the document does not allow; the
// request is checked only when checkRequest is set.
func (c *Contract) Check(req *http.Request, reqBody []byte, checkRequest bool, res *http.Response, resBody []byte) []string {
	ctx := context.Background()
	probe := req.Clone(ctx)
	probe.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := c.router.FindRoute(probe)
	switch {
	case errors.Is(err, routers.ErrMethodNotAllowed):
		return c.checkUnrouted(res, resBody, http.StatusMethodNotAllowed)
	case err != nil:
		return c.checkUnrouted(res, resBody, http.StatusNotFound)
	}
	var problems []string
	in := &openapi3filter.RequestValidationInput{Request: probe, PathParams: params, Route: route, Options: checkOptions}
	if checkRequest {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			problems = append(problems, "request: "+flatten(err))
		}
		problems = append(problems, undocumentedQuery(route, req.URL.Query())...)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header,
		Body: io.NopCloser(bytes.NewReader(resBody)), Options: checkOptions}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		problems = append(problems, "answer: "+flatten(err))
	}
	return append(problems, nonUTCInstants(res, resBody)...)
}

// nonUTCInstants reports instants in a JSON answer that are not in UTC: the
// API sends RFC 3339 UTC ("Z"), and only a field named *_jst, documented as a
// display copy for people, carries the JST offset (docs/api.md "Time"). An
// audit entry's free-form detail is exempt: it is the hash-chained record as
// written at the time, with instants written for people (clock.Show), and
// entries already in a chain are never rewritten.
func nonUTCInstants(res *http.Response, body []byte) []string {
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		return nil
	}
	var v any
	if json.Unmarshal(body, &v) != nil {
		return nil
	}
	var problems []string
	var walk func(at string, v any)
	walk = func(at string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, y := range x {
				if !strings.HasSuffix(k, "_jst") && k != "detail" {
					walk(at+"/"+k, y)
				}
			}
		case []any:
			for i, y := range x {
				walk(fmt.Sprintf("%s/%d", at, i), y)
			}
		case string:
			if t, err := time.Parse(time.RFC3339Nano, x); err == nil && !strings.HasSuffix(x, "Z") {
				problems = append(problems, fmt.Sprintf("answer: %s is %q, an instant not in UTC (%s)", at, x, t.UTC().Format(time.RFC3339)))
			}
		}
	}
	walk("", v)
	slices.Sort(problems)
	return problems
}

// checkUnrouted: a path the document does not have must be a 404, a method
// it does not have a 405 with Allow, both in the error shape.
func (c *Contract) checkUnrouted(res *http.Response, body []byte, want int) []string {
	var problems []string
	if res.StatusCode != want {
		problems = append(problems, fmt.Sprintf("the document has no such operation, so the answer must be %d", want))
	}
	if want == http.StatusMethodNotAllowed && res.Header.Get("Allow") == "" {
		problems = append(problems, "a 405 answer must say Allow")
	}
	return append(problems, c.checkErrorBody(res, body)...)
}

// checkErrorBody: body is the documented Error schema.
func (c *Contract) checkErrorBody(res *http.Response, body []byte) []string {
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		return []string{"an error answer must be application/json, not " + res.Header.Get("Content-Type")}
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return []string{"the error answer is not JSON: " + err.Error()}
	}
	s := c.doc.Components.Schemas["Error"]
	if s == nil || s.Value == nil {
		return []string{"the document has no Error schema"}
	}
	if err := s.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		return []string{"the error answer is not the Error schema: " + flatten(err)}
	}
	return nil
}

// undocumentedQuery reports query parameters the operation does not declare:
// kin-openapi validates the declared ones only.
func undocumentedQuery(route *routers.Route, q url.Values) []string {
	var known []string
	for _, ps := range []openapi3.Parameters{route.PathItem.Parameters, route.Operation.Parameters} {
		for _, p := range ps {
			if p.Value != nil && p.Value.In == openapi3.ParameterInQuery {
				known = append(known, p.Value.Name)
			}
		}
	}
	var problems []string
	for k := range q {
		if !slices.Contains(known, k) {
			problems = append(problems, fmt.Sprintf("request: query parameter %q is not documented", k))
		}
	}
	slices.Sort(problems)
	return problems
}

// flatten writes a (multi-)error on one line per cause.
func flatten(err error) string {
	var me openapi3.MultiError
	if errors.As(err, &me) {
		parts := make([]string, 0, len(me))
		for _, e := range me {
			parts = append(parts, flatten(e))
		}
		return strings.Join(parts, "; ")
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}
