package disposal

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/network/schematest"
)

func sample() Report {
	return Report{Schema: Schema, AgentVersion: "1.2.3", WipedAt: time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC),
		HubsRemoved: []string{"abc123"}, FilesRemoved: []string{"state/node.key", "run/agent-holds.json"}}
}

// TestRoundTrip: a report encodes to what the schema accepts and decodes
// back to itself.
func TestRoundTrip(t *testing.T) {
	b, err := Encode(sample())
	if err != nil {
		t.Fatal(err)
	}
	if errs := schematest.Validate(SchemaJSON, b); len(errs) > 0 {
		t.Fatalf("schema refuses a good report: %v", errs)
	}
	r, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Complete() || r.HubsRemoved[0] != "abc123" || len(r.FilesRemoved) != 2 || !r.WipedAt.Equal(sample().WipedAt) {
		t.Fatalf("decoded %+v", r)
	}
}

// TestRefused: what Decode refuses, and the schema too.
func TestRefused(t *testing.T) {
	cases := map[string]func(*Report){
		"schema":  func(r *Report) { r.Schema = "tsunagi.node-disposal/v0" },
		"version": func(r *Report) { r.AgentVersion = "a b" },
		"hub":     func(r *Report) { r.HubsRemoved = []string{"../etc"} },
		"file":    func(r *Report) { r.FilesRemoved = []string{""} },
		"failure": func(r *Report) { r.Failures = []string{strings.Repeat("x", MaxText+1)} },
	}
	for name, mutate := range cases {
		r := sample()
		mutate(&r)
		b, err := Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(b); err == nil {
			t.Errorf("%s: Decode accepted %s", name, b)
		}
		if errs := schematest.Validate(SchemaJSON, b); len(errs) == 0 {
			t.Errorf("%s: the schema accepts what Decode refuses", name)
		}
	}
	if _, err := Decode([]byte(`{"schema":"tsunagi.node-disposal/v1","extra":1}`)); err == nil {
		t.Error("an unknown field was accepted")
	}
}

// TestImportsOnlyStandardLibrary keeps the package shared by the agent and
// the controller without either's dependencies.
func TestImportsOnlyStandardLibrary(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		af, err := parser.ParseFile(fset, f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			if p := strings.Trim(imp.Path.Value, `"`); strings.Contains(strings.SplitN(p, "/", 2)[0], ".") {
				t.Errorf("%s imports %s", f, p)
			}
		}
	}
}
