package audit_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/audit"
)

// plainDetailKeys are the Detail keys that hold no personal data:
// identifiers, codes, dates, counts, configuration. Each key a call site
// writes is either here or in audit.PersonalDetailKeys, so a new key is
// classified by whoever adds it.
var plainDetailKeys = []string{
	"account", "account_recoveries", "address", "affected_hubs", "affected_ports", "after", "allow_list", "base_version", "before",
	"catalog_after_mbps", "catalog_before_mbps", "certificates_revoked", "change", "change_count",
	"chosen", "class", "classes", "code", "complete", "completes", "configurations", "controller", "count", "created_at",
	"customer_terminated_on", "customers_in_full", "data_location", "done", "draft", "due",
	"effective_date", "end", "end_date", "ends_on", "error", "expires_at", "exported_at", "failed", "failures",
	"file", "files_removed", "fingerprint", "from", "from_mbps", "from_node", "generation", "grant",
	"hubs_removed", "impact", "invitation_withdrawn", "key", "kind", "legs", "limit", "link_expires_at",
	"locked_until", "mailed_at", "mapping", "method", "move", "needs", "next_run_at", "node", "not_after",
	"option", "oversubscription", "physical_ports", "physical_ports_released", "plan", "port_removals",
	"prefix", "prefixes", "priority", "proposed", "purge_after_days", "purge_due_on", "purpose", "quantity",
	"reenable_seq", "region", "remaining", "requested_by", "require_device", "require_mfa",
	"retired", "risk", "role", "rollback_of", "run", "schema", "schema_version", "sent", "serial",
	"service_code", "session", "sessions", "since", "size", "skipped", "speed_changes", "speed_mbps",
	"start_date", "status", "still_placed", "target_role", "terminated_on", "termination_date", "to", "to_mbps", "to_node",
	"user_verified", "version", "versions", "via", "was_live",
	// backup.create and backup.restore
	"deleted", "engine", "purged", "rows", "sha256",
	// customer.purge.restored
	"contracts_cancelled", "finished_at",
	// notice.* (announce): counts and the notice's own classification
	"approval_dropped", "category", "customers", "customers_added", "recipients", "source",
	// report.file, report.attachment.read (customer reports)
	"content_type", "number",
	// route_quota.warning: a session's prefixes against its limit
	"percent",
	// monitor.create, monitor.update: the monitor's port, probed address (a
	// customer's host, not a person's) and probe settings
	"fail_after", "interval_seconds", "port", "probe", "target", "tcp_port",
	// records.expire (retention): the class, the audit chain and how far it was cut, counts
	"chain", "removed", "retention_days", "up_to",
	// evidence.export: how many notices and notification log rows the archive holds
	"deliveries", "notices",
	// network.apply (the review's revision), notice.sent (the notice's step)
	"revision", "step",
	// webhook.create: the receiver URL's host (never its path, which may be a secret) and the event types
	"host", "events",
}

// TestEveryDetailKeyIsClassified reads every non-test Go file and collects
// the keys audit details are written with: in files that use the audit
// package, map literals given as an Event's Detail or assigned to a variable
// or field named detail/Detail and keys set with detail["…"] = …; in every
// file, the map literals returned by functions named …Detail.
func TestEveryDetailKeyIsClassified(t *testing.T) {
	known := map[string]bool{}
	for _, k := range append(slices.Clone(audit.PersonalDetailKeys), plainDetailKeys...) {
		if known[k] {
			t.Errorf("detail key %q is classified twice", k)
		}
		known[k] = true
	}
	found := map[string]string{} // key → where
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		collectDetailKeys(f, importsAudit(f), func(key string, pos token.Pos) {
			if _, ok := found[key]; !ok {
				found[key] = fset.Position(pos).String()
			}
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) < 40 {
		t.Fatalf("found only %d detail keys: the walk misses the call sites", len(found))
	}
	for k, where := range found {
		if !known[k] {
			t.Errorf("%s: audit detail key %q is neither in audit.PersonalDetailKeys nor in plainDetailKeys: classify it", where, k)
		}
	}
}

func importsAudit(f *ast.File) bool {
	for _, im := range f.Imports {
		if p, _ := strconv.Unquote(im.Path.Value); p == "github.com/tsunagi-net/tsunagi/internal/audit" {
			return true
		}
	}
	return false
}

func detailName(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.Ident:
		return strings.EqualFold(x.Name, "detail")
	case *ast.SelectorExpr:
		return x.Sel.Name == "Detail"
	}
	return false
}

// collectDetailKeys collects the keys of f's audit details; in files that
// do not use the audit package (review.go builds a review's audit detail),
// only those of functions named …Detail.
func collectDetailKeys(f *ast.File, usesAudit bool, add func(string, token.Pos)) {
	mapKeys := func(e ast.Expr) {
		lit, ok := e.(*ast.CompositeLit)
		if !ok {
			return
		}
		if _, ok := lit.Type.(*ast.MapType); !ok {
			return
		}
		for _, el := range lit.Elts {
			if kv, ok := el.(*ast.KeyValueExpr); ok {
				if b, ok := kv.Key.(*ast.BasicLit); ok && b.Kind == token.STRING {
					s, _ := strconv.Unquote(b.Value)
					add(s, b.Pos())
				}
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		if _, ok := n.(*ast.FuncDecl); !ok && !usesAudit {
			return true
		}
		switch x := n.(type) {
		case *ast.KeyValueExpr:
			if id, ok := x.Key.(*ast.Ident); ok && id.Name == "Detail" {
				mapKeys(x.Value)
			}
		case *ast.AssignStmt:
			for i, l := range x.Lhs {
				if detailName(l) && i < len(x.Rhs) {
					mapKeys(x.Rhs[i])
				}
				if ix, ok := l.(*ast.IndexExpr); ok && detailName(ix.X) {
					if b, ok := ix.Index.(*ast.BasicLit); ok && b.Kind == token.STRING {
						s, _ := strconv.Unquote(b.Value)
						add(s, b.Pos())
					}
				}
			}
		case *ast.FuncDecl:
			if strings.HasSuffix(x.Name.Name, "Detail") && x.Body != nil {
				ast.Inspect(x.Body, func(n ast.Node) bool {
					if r, ok := n.(*ast.ReturnStmt); ok {
						for _, e := range r.Results {
							mapKeys(e)
						}
					}
					return true
				})
			}
		}
		return true
	})
}
