package panel

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCatalogueComplete loads the catalogue (both languages of every key,
// the same verbs, no key twice) and parses every page in both languages.
func TestCatalogueComplete(t *testing.T) {
	if _, err := New(); err != nil {
		t.Fatal(err)
	}
}

// keyUse finds the catalogue keys the templates and the Go code name
// literally: {{t "key"}} in templates; in web's Go code, the flash key of
// redirect(…, "key") and MustText(…, "key").
var (
	templateKeyRE = regexp.MustCompile(`\bt "([^"]+)"`)
	goKeyRE       = regexp.MustCompile(`(?:redirect\(w, r, [^,]+, |MustText\([^,]+, |flashKey: |Key: )"([a-z0-9_]+\.[a-z0-9_.-]+)"`)
)

// TestEveryKeyUsedExists fails for a key a template or the code asks for
// that the catalogue lacks, before any page is rendered with it.
func TestEveryKeyUsedExists(t *testing.T) {
	cat, err := LoadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	check := func(where string, b []byte, re *regexp.Regexp) {
		for _, m := range re.FindAllSubmatch(b, -1) {
			if key := string(m[1]); !cat.Has(key) {
				t.Errorf("%s asks for %q, which the catalogue lacks", where, key)
			}
		}
	}
	err = fs.WalkDir(files, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, path)
		check(path, b, templateKeyRE)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	goFiles, err := filepath.Glob("../*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range goFiles {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		check(f, b, goKeyRE)
	}
}

// TestMissingKeyFailsRender proves the strictness the tests above rely on:
// a page asking for a key the catalogue lacks does not render.
func TestMissingKeyFailsRender(t *testing.T) {
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.cat.Text("ja", "no.such_key"); err == nil {
		t.Fatal("a missing key gave a text")
	}
	var buf bytes.Buffer
	v := &View{Lang: "en", Side: "customer", Flash: "no.such_key", Data: struct{ Message, RequestID string }{"m", "r"}}
	if err := r.Render(&buf, "error", v); err == nil {
		t.Fatal("a page with a missing key rendered")
	}
	v.Flash = ""
	buf.Reset()
	if err := r.Render(&buf, "error", v); err != nil {
		t.Fatalf("error page: %v", err)
	}
}

// TestFaultTranslation: a known English fault message becomes its Japanese
// text with the values it carried; an unknown one keeps its English after
// the kind's Japanese text; English is passed through.
func TestFaultTranslation(t *testing.T) {
	c, err := LoadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	c.faults = append(c.faults, faultText{en: faultPattern("port %s has no speed %d"), ja: "ポート%sに速度%dはありません"})
	if got := c.Fault("ja", "invalid", "port shc00000001 has no speed 7"); got != "ポートshc00000001に速度7はありません" {
		t.Errorf("translated: %q", got)
	}
	if got := c.Fault("ja", "conflict", "something new"); !strings.Contains(got, "something new") || !strings.HasPrefix(got, "現在") {
		t.Errorf("fallback: %q", got)
	}
	if got := c.Fault("en", "invalid", "as is"); got != "as is" {
		t.Errorf("english: %q", got)
	}
}
