package schematest

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// StandardLibraryOnly fails t for every import outside the standard library
// in the non-test Go files of the current directory (the package under
// test). A contract between processes imports nothing else, so that the
// agent can decode it without the controller's store or web packages;
// what names the package in the failure.
func StandardLibraryOnly(t testing.TB, what string) {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
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
			path := strings.Trim(imp.Path.Value, `"`)
			if strings.Contains(strings.SplitN(path, "/", 2)[0], ".") {
				t.Errorf("%s imports %s; %s uses the standard library only", f, path, what)
			}
		}
	}
}
