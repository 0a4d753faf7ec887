package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserExport: the demo customer's operations administrator
// downloads its export from /export, imports the file back into the draft
// through the upload form, and lands on the review; both languages, and
// axe-core on every page opened.
func TestBrowserExport(t *testing.T) {
	t.Parallel()
	defer timed(t, "TestBrowserExport")()
	s := startDemo(t)
	b := newBrowser(t, s)
	base := s.customerOrigin()
	ops := b.person("example-ops", "ja")
	ops.setPassword(mailedLink(t, s, "ops@example.co.jp"), opsPassword)
	ops.signIn(base, "example-ops", opsPassword)

	ops.checkLanguages("/export")
	if st := ops.open(base + "/export"); st != http.StatusOK {
		t.Fatalf("/export: %d", st)
	}
	ops.mustHave("#exp-download", "the download button")
	// What the button downloads, fetched as the browser would.
	file := eval[string](ops, `fetch(document.querySelector("#exp-download").href).then(r => r.ok ? r.text() : "status " + r.status)`)
	if !strings.Contains(file, `"schema": "tsunagi.customer-export/v1"`) || !strings.Contains(file, `"applied_by"`) {
		t.Fatalf("downloaded export:\n%.2000s", file)
	}
	path := filepath.Join(t.TempDir(), "tsunagi-export.json")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	ops.do("choose the file", chromedp.SetUploadFiles(chromedp.CSS("#exp-file"), []string{path}))
	if st := ops.submit("#exp-import-submit"); st != http.StatusOK {
		t.Fatalf("import: %d:\n%s", st, ops.text())
	}
	if !strings.HasSuffix(ops.location(), "/network/review") {
		t.Fatalf("after the import the browser is at %s:\n%s", ops.location(), tail(ops.text(), 1500))
	}
	ops.contains("the review of the imported draft", "The file's configuration is now the draft")
	ops.shoot("customer-export-review")
}
