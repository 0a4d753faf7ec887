package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/docs"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestRenderDocIsSafe: raw HTML and script links in a document never reach
// the page (goldmark's safe mode), and links between documents point at
// their pages.
func TestRenderDocIsSafe(t *testing.T) {
	src := "# Title\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\nText <b onclick=\"x()\">inline</b>.\n\n" +
		"[bad](javascript:alert(3)) [roles](roles.md#customer-roles) [auth](./authentication.md) [none](missing.md) " +
		"[site](https://example.com/x.md)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
	html, err := renderDoc([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	out := string(html)
	for _, bad := range []string{"<script", "onerror", "onclick", "javascript:", "<b "} {
		if strings.Contains(strings.ToLower(out), bad) {
			t.Errorf("rendered document contains %q:\n%s", bad, out)
		}
	}
	for _, want := range []string{`href="/docs/roles#customer-roles"`, `href="/docs/authentication"`, `href="missing.md"`,
		`href="https://example.com/x.md"`, "<table>", "<h1 id="} {
		if !strings.Contains(out, want) {
			t.Errorf("rendered document lacks %s:\n%s", want, out)
		}
	}
}

// TestDocPages: every signed-in customer, whatever its role, reads the
// documents in either language; an unknown name, or a path, is 404.
func TestDocPages(t *testing.T) {
	t.Parallel()
	list := docs.List()
	if len(list) == 0 {
		t.Fatal("no documents embedded")
	}
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	cust, _ := flowCustomer(e, "Doc Pages K.K.", "dp")
	e.account(cust, "dp-user", identity.RoleUser, flowPW)
	c := e.pageClient(e.customer)
	c.login("dp-user", flowPW)
	for _, tc := range []struct{ lang, title string }{{"ja", "サービス資料"}, {"en", "Service documents"}} {
		c.setLang(tc.lang)
		c.expectPage(200, "/docs", tc.title, `id="docs-list"`, `href="/docs/roles"`, `href="/docs/authentication"`)
		p := c.expectPage(200, "/docs/authentication", `id="doc-body"`, `href="/docs/roles"`, `href="/docs"`)
		if n := strings.Count(p.body, "<h1"); n != 1 {
			t.Errorf("%s: %d h1", tc.lang, n)
		}
	}
	for _, d := range list {
		if d.Title == "" || d.Title == d.Name {
			t.Errorf("document %s has no title", d.Name)
		}
		c.expectPage(200, "/docs/"+d.Name, d.Title)
	}
	// The guide's pictures are served under its own path, and nothing
	// else of the directory is.
	if p := c.get("/docs/panel/home-en.png"); p.code != http.StatusOK || p.hdr.Get("Content-Type") != "image/png" ||
		!strings.HasPrefix(p.body, "\x89PNG") {
		t.Errorf("/docs/panel/home-en.png: %d %s", p.code, p.hdr.Get("Content-Type"))
	}
	for _, path := range []string{"/docs/nope", "/docs/roles.md", "/docs/..%2Fgo.mod", "/docs/docs.go",
		"/docs/panel/nope.png", "/docs/panel/..%2F..%2Fgo.mod", "/docs/panel/home-en.md", "/docs/..%2Fdocs/docs.go", "/docs/.git/config"} {
		if p := c.get(path); p.code != http.StatusNotFound {
			t.Errorf("%s: %d", path, p.code)
		}
	}
}
