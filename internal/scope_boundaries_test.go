package internal_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The customer scope is a type (package tenant) whose values only
// authentication builds, and customer-scoped methods take it rather than a
// bare customer ID. These two rules are checked here over the source, so
// that the compiler's help does not quietly erode as callers are added.

// scopeMakers may build scopes and operator handles (tenant.For…), each for
// a reason. Test files elsewhere get theirs from package tenanttest.
var scopeMakers = map[string]string{
	"internal/tenant":     "defines them",
	"internal/identity":   "authentication: sessions, tokens, break-glass grants, staff handles",
	"internal/tenanttest": "test support",
	"internal/demo":       "the demo loader acts as the system before any account has a password",
}

// scopedPackages are the domain packages whose exported methods must not
// take a bare customer ID.
var scopedPackages = []string{"internal/catalog", "internal/network", "internal/audit", "internal/identity", "internal/notice", "internal/evidence",
	"internal/flows", "internal/monitor", "internal/usage", "internal/lookingglass", "internal/webhook"}

// bareIDAllowed lists the exported functions of scopedPackages that take a
// bare customer ID on purpose: the named cross-customer readers, and
// authentication turning the customer named in a management route into a
// handle or a break-glass scope.
var bareIDAllowed = map[string]string{
	"webhook.ExportTx":                 "the customer's own export: network.Export authorised the exporting account's scope and passes its customer inside its transaction",
	"audit.ChainOf":                    "names the chain an event of a customer is appended to (the event's own customer, set by the caller's scope); it reads nothing",
	"network.PurgeTx":                  "the purge of a customer whose retention ended: a system job, no caller's scope",
	"audit.Log.ForgetCustomerTx":       "the purge destroys the erased customer's audit key: a system job, no caller's scope",
	"identity.Service.CheckFeedSource": "authenticates a notice feed token: the customer is the token's, read by the token's hash, before any scope exists",
	"identity.DeleteCredentialsTx":     "day 1 and the purge stop an ended customer's sessions, tokens and links: system jobs, no caller's scope",
	"identity.Principal.Manage":        "builds the operator's handle on the customer in the path",
	"identity.Service.EnterBreakGlass": "builds the break-glass scope from a live grant",
	"identity.OpsAdminRecipients":      "system mail (notices, policy changes, port holds, the erasure notice) to a customer's administrators: the caller already holds the customer's scope or is a system job",
	"evidence.Service.ExportFor":       "the security officer's evidence request names any customer; the web layer checked the permission, and the purpose is required and recorded",
	"notice.EvidenceNotices":           "the evidence export's read of one customer's notices: ExportOwn reaches it after checking the customer's scope, ExportFor for the officer's request",
	"notice.Recipients":                "alert mail (reachability monitors) to a customer's administrators and notice contacts, sent by the ingester or a job for the monitor's own customer: no caller's scope",
	"notice.EvidenceDeliveries":        "the evidence export's read of one customer's notification log: ExportOwn reaches it after checking the customer's scope, ExportFor for the officer's request",
}

func TestScopeBoundaries(t *testing.T) {
	for _, v := range scopeViolations(t, "..") {
		t.Error(v)
	}
}

// scopeViolations checks the module rooted at root (its internal and cmd
// trees) and returns one line per violation.
func scopeViolations(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	for _, top := range []string{"internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) {
					return nil
				}
				return err
			}
			if d.IsDir() {
				if d.Name() == "testdata" {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") {
				return nil
			}
			rel, _ := filepath.Rel(root, path)
			rel = filepath.ToSlash(rel)
			out = append(out, checkScopeFile(t, path, rel)...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(out)
	return out
}

func checkScopeFile(t *testing.T, path, rel string) []string {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.ToSlash(filepath.Dir(rel))
	isTest := strings.HasSuffix(rel, "_test.go")
	var out []string
	pos := func(n ast.Node) string { p := fset.Position(n.Pos()); return rel + ":" + strconv.Itoa(p.Line) }

	// Rule 1: only the scope makers build scopes; non-test code never
	// imports tenanttest.
	tenantName := ""
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		switch {
		case p == module+"internal/tenant":
			tenantName = "tenant"
			if imp.Name != nil {
				tenantName = imp.Name.Name
			}
		case p == module+"internal/tenanttest" && !isTest:
			out = append(out, pos(imp)+": non-test code imports tenanttest")
		}
	}
	_, maker := scopeMakers[dir]
	if dir == "internal/identity" || dir == "internal/demo" {
		maker = maker && !isTest
	}
	if tenantName != "" && !maker {
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == tenantName && strings.HasPrefix(sel.Sel.Name, "For") {
					out = append(out, pos(sel)+": builds a scope (tenant."+sel.Sel.Name+") outside authentication")
				}
			}
			return true
		})
	}

	// Rule 1b: staff accounts are seeded without an inviting principal
	// only by tests and identity itself.
	if !isTest && dir != "internal/identity" {
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "SeedStaff" {
				out = append(out, pos(sel)+": seeds a staff account (SeedStaff) outside tests")
			}
			return true
		})
	}

	// Rule 2: exported functions of the scoped packages take a scope, not
	// a bare customer ID.
	if isTest || !slices.Contains(scopedPackages, dir) {
		return out
	}
	pkg := filepath.Base(dir)
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || !fn.Name.IsExported() {
			continue
		}
		name := pkg + "." + fn.Name.Name
		if fn.Recv != nil && len(fn.Recv.List) == 1 {
			rt := fn.Recv.List[0].Type
			if st, ok := rt.(*ast.StarExpr); ok {
				rt = st.X
			}
			if id, ok := rt.(*ast.Ident); ok {
				if !id.IsExported() {
					continue
				}
				name = pkg + "." + id.Name + "." + fn.Name.Name
			}
		}
		for _, field := range fn.Type.Params.List {
			if !bareCustomerID(field) {
				continue
			}
			if _, ok := bareIDAllowed[name]; !ok {
				out = append(out, pos(fn)+": "+name+" takes a bare customer ID; take a tenant.Scope (or tenant.Operator for operator-side methods)")
			}
		}
	}
	return out
}

// bareCustomerID reports whether a parameter is a customer ID: of type
// CustomerID (catalog's or tenant's), or a string named cust or customerID.
func bareCustomerID(field *ast.Field) bool {
	switch t := field.Type.(type) {
	case *ast.Ident:
		if t.Name == "CustomerID" {
			return true
		}
		if t.Name == "string" {
			for _, n := range field.Names {
				if l := strings.ToLower(n.Name); l == "cust" || l == "customerid" {
					return true
				}
			}
		}
	case *ast.SelectorExpr:
		return t.Sel.Name == "CustomerID"
	}
	return false
}

// TestScopeBoundariesCatchViolations plants each kind of violation in a copy
// of the layout and checks that the rules above report it, and that the
// allowed places stay quiet: the boundary test can fail.
func TestScopeBoundariesCatchViolations(t *testing.T) {
	root := t.TempDir()
	write := func(rel, src string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const imports = `import (
	"context"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	t "github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)
`
	// Forged scopes: in a handler (under another import name), in a test
	// outside tenanttest, in identity's tests.
	write("internal/web/forge.go", "package web\n"+imports+`
func forge(c catalog.CustomerID) t.Scope { return t.ForAccount(c, "a", "ops-admin", "session", nil) }
var _ = tenanttest.Customer[string]
var _ context.Context
func seed(s interface{ SeedStaff() }) { s.SeedStaff() }
`)
	write("internal/network/forge_test.go", "package network\n"+imports+`
var f = t.ForOperator
var _ = tenanttest.Customer[string]
var _ context.Context
var _ catalog.CustomerID
`)
	write("internal/identity/forge_test.go", "package identity\n"+imports+`
var f = t.ForBreakGlass
var _ = tenanttest.Customer[string]
var _ context.Context
var _ catalog.CustomerID
`)
	// Bare IDs: a network method, an audit function with a string named
	// like one, and catalog's own type.
	write("internal/network/bare.go", "package network\n"+imports+`
type Service struct{}
func (s *Service) Leak(ctx context.Context, cust catalog.CustomerID) error { return nil }
func (s *Service) fine(ctx context.Context, cust catalog.CustomerID) error { return nil }
func (s *Service) Fine(ctx context.Context, sc t.Scope) error { return nil }
var _ = tenanttest.Customer[string]
`)
	write("internal/audit/bare.go", `package audit
func ForCustomer(customerID string) {}
`)
	write("internal/catalog/bare.go", `package catalog
type CustomerID string
type Catalog struct{}
func (c *Catalog) Peek(id CustomerID) {}
`)
	// Allowed: authentication builds scopes; tests use tenanttest.
	write("internal/identity/scope.go", "package identity\n"+strings.Replace(imports, "\t\"github.com/tsunagi-net/tsunagi/internal/tenanttest\"\n", "", 1)+`
type Principal struct{}
func (p Principal) Manage(cust catalog.CustomerID) t.Operator { return t.ForOperator(cust, "a", nil) }
var _ context.Context
`)
	write("internal/web/ok_test.go", "package web\n"+imports+`
var s = tenanttest.Customer("cus_a")
var _ context.Context
var _ catalog.CustomerID
var _ t.Scope
`)
	got := strings.Join(scopeViolations(t, root), "\n")
	for _, want := range []string{
		"internal/web/forge.go:9: builds a scope (tenant.ForAccount)",
		"internal/web/forge.go:6: non-test code imports tenanttest",
		"internal/web/forge.go:12: seeds a staff account (SeedStaff) outside tests",
		"internal/network/forge_test.go:9: builds a scope (tenant.ForOperator)",
		"internal/identity/forge_test.go:9: builds a scope (tenant.ForBreakGlass)",
		"internal/network/bare.go:10: network.Service.Leak takes a bare customer ID",
		"internal/audit/bare.go:2: audit.ForCustomer takes a bare customer ID",
		"internal/catalog/bare.go:4: catalog.Catalog.Peek takes a bare customer ID",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("planted violation not reported: %s\nreported:\n%s", want, got)
		}
	}
	for _, quiet := range []string{"fine", "Fine", "identity/scope.go", "ok_test.go"} {
		if strings.Contains(got, quiet) {
			t.Errorf("reported an allowed use (%s):\n%s", quiet, got)
		}
	}
}

// TestTenantIsALeaf keeps package tenant below every domain package: it may
// import only the standard library and fault, so that catalog, audit,
// identity and network can all take its types.
func TestTenantIsALeaf(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("tenant", "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, module) && p != module+"internal/fault" {
				t.Errorf("%s imports %s: package tenant may import only fault", f, p)
			}
		}
	}
}
