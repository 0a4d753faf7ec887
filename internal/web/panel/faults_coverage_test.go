package panel

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// faultImport is the package whose constructors make the messages users see.
const faultImport = "github.com/tsunagi-net/tsunagi/internal/fault"

// faultFormatArg is, for each constructor of package fault, the index of its
// format argument.
var faultFormatArg = map[string]int{"Field": 1, "New": 1, "Coded": 2, "Wrap": 2}

// composed are texts that code puts into messages other than as a format:
// a fixed text appended to another message (network.Problems.Err adds how
// many more problems a review lists), or a phrase given as a message's
// argument (text.check's what). Each entry's English is matched here to the
// literal the code must still contain, so that the entry goes when the code
// stops using it.
var composed = map[string]string{
	"one line of text without control characters":                     "one line of text without control characters",
	"text without control characters other than line breaks and tabs": "text without control characters other than line breaks and tabs",
	"%s (and 1 more problem; the review lists them all)":              " (and 1 more problem; the review lists them all)",
	"%s (and %d more problems; the review lists them all)":            " (and %d more problems; the review lists them all)",
}

// messageFuncs are functions (or methods, of any type) whose error, problem
// string or phrase becomes a fault message or part of one, passed through a
// "%s" (network's parsers of addresses, prefixes and ports, the capacity
// check, the ASN rules; the JSONForm phrases that say what a field takes):
// every message they return is translated like a fault's.
var messageFuncs = map[string][]string{
	"internal/network": {"ParsePrefix", "ParseAddr", "ParsePrefixList", "ParsePorts", "parsePort", "admit", "ASNProblem", "JSONForm"},
	"internal/text":    {"check", "Reason"},
}

// passedOn are the message expressions that are not a fixed format because
// they carry a message made elsewhere, which the scan finds where it is made.
var passedOn = map[string]string{
	"internal/network/speedchange.go: f.Message":   "a fault's message, kept as a problem of a review",
	"internal/network/validate.go: format":         "Problems.add's own parameter; its callers are scanned",
	"internal/network/validate.go: fix(p.Message)": "a problem renumbered to the client's list order",
}

// userFormat is one format string that code turns into a message a user
// reads, with where it was found.
type userFormat struct {
	format, where string
}

// TestEveryFaultMessageTranslated reads the Go code of the whole module and
// fails for every fault message format (fault.Field/New/Coded/Wrap, a
// fault.Error literal, a validation problem of package network) that
// faults/ja.json does not translate, and for every entry of faults/ja.json
// that no code uses any more. An entry that is one case of a format (e.g.
// "port not found" for "%s not found") counts as used while the format is.
func TestEveryFaultMessageTranslated(t *testing.T) {
	found, unresolved := scanFaultFormats(t, moduleRoot(t))
	if len(found) < 100 {
		t.Fatalf("found only %d fault formats: the scan is broken", len(found))
	}
	for _, u := range unresolved {
		if _, ok := passedOn[u]; !ok {
			t.Errorf("%s: a message that is not a fixed format; make it one, or list it in passedOn with why", u)
		}
	}
	entries := readFaultEntries(t)
	have := map[string]bool{}
	for _, e := range entries {
		if have[e.EN] {
			t.Errorf("faults/ja.json: %q is translated twice", e.EN)
		}
		have[e.EN] = true
	}
	formats := map[string]bool{}
	for _, f := range found {
		formats[f.format] = true
		if passesOn(f.format) {
			continue // another message and no text of its own; that one is translated
		}
		if !have[f.format] {
			t.Errorf("%s: fault message %q has no translation in faults/ja.json", f.where, f.format)
		}
	}
	src := moduleSource(t)
	for en, literal := range composed {
		if strings.Contains(src, strconv.Quote(literal)) || strings.Contains(src, "`"+literal+"`") {
			formats[en] = true
		}
	}
	for _, e := range entries {
		if formats[e.EN] {
			continue
		}
		if !specialises(e.EN, formats) {
			t.Errorf("faults/ja.json: no code makes the message %q any more; remove its entry", e.EN)
		}
	}
}

// specialises says whether en is one case of a format the code uses (its
// verbs filled in), such as "port not found" for "%s not found".
func specialises(en string, formats map[string]bool) bool {
	for f := range formats {
		if !passesOn(f) && f != en && faultVerbRE.MatchString(f) && faultPattern(f).MatchString(en) {
			return true
		}
	}
	return false
}

// passesOn says whether a format has no fixed text to translate ("%s",
// "%s %s"): it only carries values or other messages.
func passesOn(format string) bool {
	return strings.TrimSpace(faultVerbRE.ReplaceAllString(format, "")) == ""
}

func readFaultEntries(t *testing.T) []faultEntry {
	t.Helper()
	b, err := fs.ReadFile(files, "messages/faults/ja.json")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := parseFaultEntries(b)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// moduleRoot is the directory of go.mod above the test's directory.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// goPackages parses the non-test Go files of every package under root, by
// directory.
func goPackages(t *testing.T, root string) (*token.FileSet, map[string][]*ast.File) {
	t.Helper()
	fset := token.NewFileSet()
	pkgs := map[string][]*ast.File{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		pkgs[filepath.Dir(path)] = append(pkgs[filepath.Dir(path)], f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fset, pkgs
}

// moduleSource is the text of every non-test Go file of the module.
func moduleSource(t *testing.T) string {
	t.Helper()
	root := moduleRoot(t)
	var b strings.Builder
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		b.Write(src)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// scanFaultFormats finds every format that becomes a user-visible fault
// message, and describes the ones that are not a fixed string.
func scanFaultFormats(t *testing.T, root string) (found []userFormat, unresolved []string) {
	t.Helper()
	fset, pkgs := goPackages(t, root)
	dirs := make([]string, 0, len(pkgs))
	for dir := range pkgs {
		dirs = append(dirs, dir)
	}
	sort.Strings(dirs)
	for _, dir := range dirs {
		files := pkgs[dir]
		if files[0].Name.Name == "fault" {
			continue // the constructors themselves
		}
		r := newResolver(files)
		rel, _ := filepath.Rel(root, dir)
		wanted := map[string]bool{}
		for _, name := range messageFuncs[filepath.ToSlash(rel)] {
			wanted[name] = true
		}
		seen := map[string]bool{}
		for _, f := range files {
			for _, d := range f.Decls {
				if fd, ok := d.(*ast.FuncDecl); ok && wanted[fd.Name.Name] {
					seen[fd.Name.Name] = true
					for _, e := range returnedMessages(fd) {
						if v, ok := r.strings(e); ok {
							found = append(found, userFormat{format: v[0], where: relPos(root, fset.Position(e.Pos()))})
						}
					}
				}
			}
		}
		for name := range wanted {
			if !seen[name] {
				t.Errorf("messageFuncs: %s has no function %s any more", rel, name)
			}
		}
		for _, f := range files {
			faultName := importName(f, faultImport)
			ast.Inspect(f, func(n ast.Node) bool {
				var format ast.Expr
				switch n := n.(type) {
				case *ast.CallExpr:
					format = formatOf(n, faultName, r.problemAdd)
				case *ast.CompositeLit:
					format = messageOf(n, faultName)
				}
				if format == nil {
					return true
				}
				where := relPos(root, fset.Position(format.Pos()))
				values, ok := r.strings(format)
				if !ok {
					file, _, _ := strings.Cut(where, ":")
					unresolved = append(unresolved, file+": "+exprText(fset, format))
					return true
				}
				for _, v := range values {
					found = append(found, userFormat{format: v, where: where})
				}
				return true
			})
		}
	}
	return found, unresolved
}

// returnedMessages are the formats or literals of the messages fd makes:
// errors.New, fmt.Errorf and fmt.Sprintf, and string literals it returns.
func returnedMessages(fd *ast.FuncDecl) []ast.Expr {
	var out []ast.Expr
	ast.Inspect(fd.Body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			sel, ok := n.Fun.(*ast.SelectorExpr)
			if !ok || len(n.Args) == 0 {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); ok && (x.Name == "errors" && sel.Sel.Name == "New" ||
				x.Name == "fmt" && (sel.Sel.Name == "Errorf" || sel.Sel.Name == "Sprintf")) {
				out = append(out, n.Args[0])
			}
		case *ast.ReturnStmt:
			for _, e := range n.Results {
				if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING && lit.Value != `""` {
					out = append(out, lit)
				}
			}
		}
		return true
	})
	return out
}

// formatOf is the format argument of a call that makes a user-visible
// message: a constructor of package fault, or Problems.add in a package
// that has one (network's validation).
func formatOf(call *ast.CallExpr, faultName string, problemAdd bool) ast.Expr {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return nil
	}
	if x, ok := sel.X.(*ast.Ident); ok && faultName != "" && x.Name == faultName {
		if i, ok := faultFormatArg[sel.Sel.Name]; ok && len(call.Args) > i {
			return call.Args[i]
		}
		return nil
	}
	if problemAdd && sel.Sel.Name == "add" && len(call.Args) >= 2 {
		return call.Args[1]
	}
	return nil
}

// messageOf is the Message of a fault.Error or Problem literal: the literal
// itself, or the format of the fmt.Sprintf that makes it.
func messageOf(lit *ast.CompositeLit, faultName string) ast.Expr {
	switch ty := lit.Type.(type) {
	case *ast.SelectorExpr:
		if x, ok := ty.X.(*ast.Ident); !ok || faultName == "" || x.Name != faultName || ty.Sel.Name != "Error" {
			return nil
		}
	case *ast.Ident:
		if ty.Name != "Problem" {
			return nil
		}
	default:
		return nil
	}
	for _, el := range lit.Elts {
		kv, ok := el.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		if k, ok := kv.Key.(*ast.Ident); !ok || k.Name != "Message" {
			continue
		}
		if call, ok := kv.Value.(*ast.CallExpr); ok {
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Sprintf" && len(call.Args) > 0 {
				return call.Args[0]
			}
		}
		return kv.Value
	}
	return nil
}

// resolver finds the string values an expression of one package can have.
type resolver struct {
	consts     map[string]ast.Expr   // package-level const or var → its value
	fields     map[string][]ast.Expr // struct field → values given it in literals
	problemAdd bool                  // the package has Problems.add
}

func newResolver(files []*ast.File) *resolver {
	r := &resolver{consts: map[string]ast.Expr{}, fields: map[string][]ast.Expr{}}
	for _, f := range files {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.GenDecl:
				for _, s := range d.Specs {
					vs, ok := s.(*ast.ValueSpec)
					if !ok || len(vs.Values) != len(vs.Names) {
						continue
					}
					for i, name := range vs.Names {
						r.consts[name.Name] = vs.Values[i]
					}
				}
			case *ast.FuncDecl:
				if d.Name.Name == "add" && d.Recv != nil && len(d.Recv.List) == 1 && typeName(d.Recv.List[0].Type) == "Problems" {
					r.problemAdd = true
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if kv, ok := n.(*ast.KeyValueExpr); ok {
				if k, ok := kv.Key.(*ast.Ident); ok {
					r.fields[k.Name] = append(r.fields[k.Name], kv.Value)
				}
			}
			return true
		})
	}
	return r
}

// strings resolves e: a string literal, a concatenation, a package-level
// constant, or a struct field (every string literal given that field in the
// package's composite literals, e.g. a table of messages).
func (r *resolver) strings(e ast.Expr) ([]string, bool) {
	return r.resolve(e, 4)
}

// resolve is strings through at most depth names (a field given its own
// kind's field, {Message: f.Message}, would otherwise never end).
func (r *resolver) resolve(e ast.Expr, depth int) ([]string, bool) {
	if depth == 0 {
		return nil, false
	}
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return nil, false
		}
		s, err := strconv.Unquote(e.Value)
		return []string{s}, err == nil
	case *ast.ParenExpr:
		return r.resolve(e.X, depth)
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			return nil, false
		}
		a, ok1 := r.resolve(e.X, depth)
		b, ok2 := r.resolve(e.Y, depth)
		if !ok1 || !ok2 || len(a) != 1 || len(b) != 1 {
			return nil, false
		}
		return []string{a[0] + b[0]}, true
	case *ast.Ident:
		if v, ok := r.consts[e.Name]; ok {
			return r.resolve(v, depth-1)
		}
	case *ast.SelectorExpr:
		var out []string
		for _, v := range r.fields[e.Sel.Name] {
			if s, ok := r.resolve(v, depth-1); ok {
				out = append(out, s...)
			}
		}
		return out, len(out) > 0
	}
	return nil, false
}

func typeName(e ast.Expr) string {
	if s, ok := e.(*ast.StarExpr); ok {
		e = s.X
	}
	if id, ok := e.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

// importName is the name file f gives the package at path, or "".
func importName(f *ast.File, path string) string {
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == path {
			if imp.Name != nil {
				return imp.Name.Name
			}
			return filepath.Base(path)
		}
	}
	return ""
}

func relPos(root string, p token.Position) string {
	rel, err := filepath.Rel(root, p.Filename)
	if err != nil {
		rel = p.Filename
	}
	return rel + ":" + strconv.Itoa(p.Line)
}

func exprText(fset *token.FileSet, e ast.Expr) string {
	start, end := fset.Position(e.Pos()), fset.Position(e.End())
	b, err := os.ReadFile(start.Filename)
	if err != nil || end.Offset > len(b) {
		return "?"
	}
	return string(b[start.Offset:end.Offset])
}

// TestFaultMatching: messages whose English holds regexp-special characters,
// quoted values (%q), line breaks, a literal percent sign, or another
// message (translated in turn) come out in Japanese with their values; the
// most specific pattern wins whatever the file's order.
func TestFaultMatching(t *testing.T) {
	c, err := LoadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	c.faults = compileFaults([]faultEntry{
		{"%s not found", "%sが見つかりません"},
		{"port not found", "ポートが見つかりません"},
		{"a (b) [c] {d}? x*y+z | ^$. %s \\ end", "記号 %s"},
		{"login ID %q is taken", "ログイン ID %q は使用済みです"},
		{"line %d: %w", "%d 行目: %w"},
		{"%q is not an address", "%q はアドレスではありません"},
		{"%d%% of %s used", "%d%% を %s で使用"},
		{"%s (and %d more problems)", "%s（ほか %d 件）"},
		{"first\nsecond %s", "一行目\n二行目 %s"},
	})
	for _, tc := range []struct{ en, ja string }{
		{"port not found", "ポートが見つかりません"},
		{"hub not found", "hubが見つかりません"},
		{"a (b) [c] {d}? x*y+z | ^$. v.1 \\ end", "記号 v.1"},
		{"a (b) [c] {d}? x*y+z | ^$. v.1 \\ ends", "現在の状態と競合しています（a (b) [c] {d}? x*y+z | ^$. v.1 \\ ends）"},
		{`login ID "o'brien \"x\"" is taken`, `ログイン ID "o'brien \"x\"" は使用済みです`},
		{`line 3: "10.0.0.1/8" is not an address`, `3 行目: "10.0.0.1/8" はアドレスではありません`},
		{"80% of pool-1 used", "80% を pool-1 で使用"},
		{"hub not found (and 2 more problems)", "hubが見つかりません（ほか 2 件）"},
		{"first\nsecond a\nb", "一行目\n二行目 a\nb"},
	} {
		if got := c.Fault("ja", "conflict", tc.en); got != tc.ja && !strings.HasPrefix(tc.ja, "現在") {
			t.Errorf("%q: got %q, want %q", tc.en, got, tc.ja)
		} else if strings.HasPrefix(tc.ja, "現在") && !strings.HasSuffix(got, "（"+tc.en+"）") {
			t.Errorf("%q: got %q, want the general text and the English", tc.en, got)
		}
	}
}

// TestFaultEntriesChecked: a translation taking other verbs than its English,
// or an entry with no fixed English text, is refused when the file loads.
func TestFaultEntriesChecked(t *testing.T) {
	for _, bad := range []string{
		`[{"EN": "port %s has %d", "JA": "ポート %d に %s"}]`,
		`[{"EN": "%s", "JA": "%s"}]`,
		`[{"EN": "port %s", "JA": ""}]`,
	} {
		if _, err := parseFaultEntries([]byte(bad)); err == nil {
			t.Errorf("%s was accepted", bad)
		}
	}
}

// TestEveryFaultEntryMatchesItself formats each entry of faults/ja.json with
// sample values and checks that the message comes out as that entry's
// Japanese: no other, less specific entry takes it.
func TestEveryFaultEntryMatchesItself(t *testing.T) {
	c, err := LoadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	sample := func(verb string) string {
		switch verb[len(verb)-1] {
		case 'd':
			return "7"
		case 'q':
			return `"v-1"`
		case 'x', 'X':
			return "1F"
		case 'f', 'g':
			return "1.50"
		}
		return "tk-val"
	}
	fill := func(format string) string {
		return percentOrVerbRE.ReplaceAllStringFunc(format, func(v string) string {
			if v == "%%" {
				return "%"
			}
			return sample(v)
		})
	}
	for _, e := range readFaultEntries(t) {
		if got, want := c.Fault("ja", "invalid", fill(e.EN)), fill(e.JA); got != want {
			t.Errorf("%q: got %q, want %q", fill(e.EN), got, want)
		}
	}
}

// TestFaultNestedInCatalogue: a review problem that carries a text check's
// message, itself carrying a phrase, with the count of further problems,
// is Japanese throughout.
func TestFaultNestedInCatalogue(t *testing.T) {
	c, err := LoadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	en := "a comment must be one line of text without control characters (found U+000A at byte 3) (and 2 more problems; the review lists them all)"
	want := "コメントは制御文字を含まない 1 行のテキストにしてください（U+000A が 3 バイト目にあります）。（ほかに問題が 2 件あります。すべてレビューに表示されます）"
	if got := c.Fault("ja", "invalid", en); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestFaultFieldPartsTranslated: a message that names the client's field
// and carries another message (a region name's text check, a JSON type
// error with what the field takes) is Japanese throughout, the field name
// kept as sent.
func TestFaultFieldPartsTranslated(t *testing.T) {
	c, err := LoadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	for en, want := range map[string]string{
		"name_ja is not accepted as text: it must be valid UTF-8 text":                                                     "name_ja はテキストとして受け付けられません。正しい UTF-8 のテキストにしてください。",
		"name_en is not accepted as text: it must be one line of text without control characters (found U+0009 at byte 2)": "name_en はテキストとして受け付けられません。制御文字を含まない 1 行のテキストにしてください（U+0009 が 2 バイト目にあります）。",
		"speed_mbps must be a JSON int64":  "speed_mbps は JSON の int64 にしてください。",
		"the body has the wrong JSON type": "本文の JSON の型が正しくありません。",
	} {
		if got := c.Fault("ja", "invalid", en); got != want {
			t.Errorf("%q: got %q, want %q", en, got, want)
		}
	}
}
