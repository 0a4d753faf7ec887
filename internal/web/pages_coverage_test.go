package web

import (
	"encoding/json"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"
)

// apiOnly are the operations of the OpenAPI documents that have no page, and
// why. Everything else a customer or an operator can do through the API, the
// panel offers too (issue: "an API without its page is half a feature").
var apiOnly = map[string]string{
	"GET /healthz":             "probe for load balancers and supervisors",
	"GET /readyz":              "probe for load balancers and supervisors",
	"GET /api/v1/openapi.json": "the API's own description, for API clients",
	"GET /metrics":             "Prometheus scrape target",
	"GET /api/v1/me":           "who the caller is, for API clients; the panel shows it in every page's header",
}

// TestEveryOperationHasAPage compares each listener's OpenAPI operations
// with the pages' Covers lists: an operation neither covered nor named
// API-only fails, and so does a Covers entry naming no operation.
func TestEveryOperationHasAPage(t *testing.T) {
	t.Parallel()
	s := New(Config{}, Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	for _, side := range []struct {
		name  string
		doc   []byte
		pages []pageRoute
	}{
		{"customer", openapiCustomer, s.customerPages()},
		{"operator", openapiOperator, s.operatorPages()},
	} {
		var doc struct {
			Paths map[string]map[string]json.RawMessage `json:"paths"`
		}
		if err := json.Unmarshal(side.doc, &doc); err != nil {
			t.Fatal(err)
		}
		ops := map[string]bool{}
		for path, methods := range doc.Paths {
			for m := range methods {
				switch m {
				case "get", "post", "put", "delete", "patch":
					ops[strings.ToUpper(m)+" "+path] = true
				}
			}
		}
		covered := map[string]bool{}
		for _, pg := range side.pages {
			for _, op := range pg.Covers {
				if !ops[op] {
					t.Errorf("%s page %s %s covers %q, which the %s OpenAPI document does not have", side.name, pg.Method, pg.Path, op, side.name)
				}
				covered[op] = true
			}
		}
		var missing []string
		for op := range ops {
			if !covered[op] && apiOnly[op] == "" {
				missing = append(missing, op)
			}
		}
		sort.Strings(missing)
		for _, op := range missing {
			t.Errorf("%s: %s has no page (add it to a page's Covers, or to apiOnly with the reason)", side.name, op)
		}
	}
}
