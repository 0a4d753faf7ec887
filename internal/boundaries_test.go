// Package internal_test keeps the architecture's boundaries as tests: which
// package may import what, and that every package says what it holds.
package internal_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/tsunagi-net/tsunagi/"

// forbidden lists, per package, imports it must never have directly.
var forbidden = map[string][]string{
	// The web layer knows nothing of SQL, nor of the agent's or the data
	// plane's types: what a node reports reaches it as network/observed.
	"web": {"database/sql", module + "internal/store", "github.com/jackc/pgx/v5", "modernc.org/sqlite",
		module + "internal/agent", module + "internal/dataplane"},
	// Domain packages know nothing of HTTP.
	"catalog":  {"net/http", module + "internal/web"},
	"identity": {"net/http", module + "internal/web"},
	"audit":    {"net/http", module + "internal/web"},
	"store":    {"net/http", module + "internal/web"},
	"network":  {"net/http", module + "internal/web"},
	"schedule": {"net/http", module + "internal/web"},
	"mail":     {module + "internal/web"},
	// The agent runs on hub nodes without the database or the web server.
	"agent":     {module + "internal/store", module + "internal/web", "database/sql"},
	"dataplane": {module + "internal/store", module + "internal/web", "database/sql"},
}

func TestPackageBoundaries(t *testing.T) {
	dirs, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		pkg := d.Name()
		fset := token.NewFileSet()
		files, _ := filepath.Glob(filepath.Join(pkg, "*.go"))
		hasDoc := false
		nonTest := 0
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			nonTest++
			af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if af.Doc != nil && strings.HasPrefix(af.Doc.Text(), "Package "+af.Name.Name+" ") {
				hasDoc = true
			}
			for _, imp := range af.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				for _, bad := range forbidden[pkg] {
					if path == bad || strings.HasPrefix(path, bad+"/") {
						t.Errorf("%s imports %s, which its boundary forbids", f, path)
					}
				}
			}
		}
		if nonTest > 0 && !hasDoc {
			t.Errorf("package %s has no package doc comment saying what it holds", pkg)
		}
	}
}
