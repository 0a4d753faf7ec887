package web

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// pageClient is a browser-like client of one listener for the panel's page
// tests: its own cookie jar, redirects not followed (a test sees the 303 and
// where it goes), an Accept-Language of its choosing. It does not check the
// OpenAPI documents: pages are not API operations.
type pageClient struct {
	t    testing.TB
	base string
	hc   *http.Client
	Lang string // Accept-Language; "" sends none
}

func (e *idEnv) pageClient(base string) *pageClient {
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.roots, ServerName: "localhost", MinVersion: tls.VersionTLS12}}
	e.t.Cleanup(tr.CloseIdleConnections)
	return &pageClient{t: e.t, base: base, hc: &http.Client{Transport: tr, Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// login signs in through the API, as the sign-in page's form does.
func (c *pageClient) login(loginID, pw string) {
	c.t.Helper()
	b, _ := json.Marshal(map[string]string{"login_id": loginID, "password": pw})
	req, _ := http.NewRequest("POST", c.base+"/api/v1/session", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(res.Body)
		c.t.Fatalf("login %s: %d %s", loginID, res.StatusCode, body)
	}
}

// htmlPage is one answer of the panel.
type htmlPage struct {
	code int
	body string
	hdr  http.Header
}

func (p htmlPage) location() string { return p.hdr.Get("Location") }

func (c *pageClient) get(path string) htmlPage {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.base+path, nil)
	return c.do(req)
}

// post sends a form as a browser does (same origin).
func (c *pageClient) post(path string, form url.Values) htmlPage {
	c.t.Helper()
	req, _ := http.NewRequest("POST", c.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return c.do(req)
}

func (c *pageClient) do(req *http.Request) htmlPage {
	c.t.Helper()
	if c.Lang != "" {
		req.Header.Set("Accept-Language", c.Lang)
	}
	p := c.send(req)
	if strings.HasPrefix(p.hdr.Get("Content-Type"), "text/html") {
		checkHTML(c.t, req.URL.Path, p)
	}
	return p
}

// send sends req as it is and reads the whole answer, holding it to no
// page rules: a fragment or a redirect's body is not a page.
func (c *pageClient) send(req *http.Request) htmlPage {
	c.t.Helper()
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return htmlPage{code: res.StatusCode, body: string(b), hdr: res.Header}
}

// tokyoNode makes region tokyo and its node tyo-1 with ports.
func (e *idEnv) tokyoNode(ports []catalog.PhysicalPort) catalog.Node {
	e.t.Helper()
	_, err := e.cat.CreateRegion(e.seed, catalog.RegionInput{Code: "tokyo", NameEN: "Tokyo", NameJA: "東京", DataLocation: "Japan"})
	e.must("region", err)
	n, err := e.cat.CreateNode(e.seed, catalog.NodeInput{Region: "tokyo", Name: "tyo-1", Ports: ports})
	e.must("node", err)
	return n
}

// expectPage fails the test unless p has status code want and contains
// every one of wants.
func expectPage(t *testing.T, what string, p htmlPage, want int, wants ...string) {
	t.Helper()
	if p.code != want {
		t.Fatalf("%s: %d, want %d\n%s", what, p.code, want, p.body)
	}
	for _, w := range wants {
		if !strings.Contains(p.body, w) {
			t.Fatalf("%s: page lacks %q\n%s", what, w, p.body)
		}
	}
}

func expectRedirect(t *testing.T, what string, p htmlPage, to string) {
	t.Helper()
	if p.code != http.StatusSeeOther || p.location() != to {
		t.Fatalf("%s: %d → %q, want 303 → %q\n%s", what, p.code, p.location(), to, p.body)
	}
}

// checkHTML holds every page to what all pages promise: the strict CSP, a
// language, no fmt slip ("%!d(string=…)"), no unfilled value.
func checkHTML(t testing.TB, path string, p htmlPage) {
	t.Helper()
	if csp := p.hdr.Get("Content-Security-Policy"); csp != pageCSP && !strings.HasPrefix(path, "/setup") {
		t.Errorf("%s: CSP %q", path, csp)
	}
	for _, bad := range []string{"%!", "<no value>", "ZgotmplZ"} {
		if strings.Contains(p.body, bad) {
			t.Errorf("%s: page contains %q", path, bad)
		}
	}
	if p.code == http.StatusOK && !strings.Contains(p.body, `<html lang="`) {
		t.Errorf("%s: no <html lang>", path)
	}
}

// TestPanelFrame: a page needs a sign-in (303 to /login with next), the
// error page is HTML in the viewer's language, the assets are served with
// the strict CSP, and the language switch only returns to local paths.
func TestPanelFrame(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	c := e.pageClient(e.customer)
	if p := c.get("/assets/panel.css"); p.code != 200 || !strings.Contains(p.body, "--accent") {
		t.Fatalf("asset: %d", p.code)
	}
	if p := c.get("/assets/vendor/htmx-2.0.11.min.js"); p.code != 200 {
		t.Fatalf("htmx: %d", p.code)
	}
	for _, next := range []string{"https://evil.example/", "//evil.example/", "/\\evil", ""} {
		p := c.post("/language", url.Values{"lang": {"en"}, "next": {next}})
		if p.code != http.StatusSeeOther || p.location() != "/" {
			t.Errorf("language switch to next %q: %d → %q", next, p.code, p.location())
		}
	}
	if p := c.post("/language", url.Values{"lang": {"fr"}}); p.code != http.StatusBadRequest {
		t.Errorf("unknown language: %d", p.code)
	}
	// Signed out: a page goes to the sign-in with its path; an htmx
	// refresh of a part of a page sends the whole page there instead.
	if p := c.get("/me/sessions?x=1"); p.code != http.StatusSeeOther || p.location() != "/login?next="+url.QueryEscape("/me/sessions?x=1") {
		t.Errorf("signed-out page: %d → %q", p.code, p.location())
	}
	req, _ := http.NewRequest("GET", c.base+"/me/sessions", nil)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("HX-Current-URL", c.base+"/me/sessions")
	if p := c.do(req); p.code != http.StatusUnauthorized || p.hdr.Get("HX-Redirect") != "/login?next="+url.QueryEscape("/me/sessions") {
		t.Errorf("signed-out htmx refresh: %d, HX-Redirect %q", p.code, p.hdr.Get("HX-Redirect"))
	}
	for _, tc := range []struct{ in, want string }{
		{"", "ja"}, {"en-US,en;q=0.9", "en"}, {"fr, en;q=0.5, ja;q=0.8", "ja"}, {"de", "ja"}, {"en;q=0.1", "en"},
	} {
		if got := acceptLanguage(tc.in); got != tc.want {
			t.Errorf("Accept-Language %q → %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestLocalPath: a redirect target from a form or a query stays on the
// site, whatever a browser would make of it (tabs and newlines dropped,
// backslashes read as slashes).
func TestLocalPath(t *testing.T) {
	for _, bad := range []string{"", "x", "https://evil.example/", "//evil.example", "/\\evil.example", "/\t/evil.example/x",
		"/\n/evil.example", "/\r\n/evil.example", " /evil", "/ /evil.example", "/\x00/evil", "/\x7f/evil", "/\u00a0/evil",
		"/\u2028/evil", "\\/evil.example", "javascript:alert(1)", "/x\\y"} {
		if got := localPath(bad); got != "/" {
			t.Errorf("localPath(%q) = %q, want /", bad, got)
		}
	}
	for _, good := range []string{"/", "/ports/shc00000001", "/network?x=1#y", "/login?next=%2F", "/%09/evil.example"} {
		if got := localPath(good); got != good {
			t.Errorf("localPath(%q) = %q", good, got)
		}
	}
}
