package desired

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestGoldenMatchesSchema checks the golden document against
// desiredstate.schema.json with a small validator of the keywords the schema
// uses (type, required, additionalProperties: false, properties, items,
// enum, const, pattern, minimum, maximum, maxItems, minItems, $ref), so that
// the schema and the Go types cannot drift apart unnoticed.
func TestGoldenMatchesSchema(t *testing.T) {
	var schema map[string]any
	if err := json.Unmarshal(SchemaJSON, &schema); err != nil {
		t.Fatalf("schema does not parse: %v", err)
	}
	b, err := os.ReadFile("../testdata/desired/tyo-1.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if errs := validate(schema, schema, doc, "$"); len(errs) > 0 {
		t.Fatalf("golden document breaks the schema:\n%s", strings.Join(errs, "\n"))
	}
	// The validator itself rejects what it should.
	bad := map[string]any{"schema": "x"}
	if errs := validate(schema, schema, bad, "$"); len(errs) == 0 {
		t.Fatal("validator accepted a bad document")
	}
}

func validate(root, s map[string]any, v any, at string) []string {
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/$defs/")
		return validate(root, root["$defs"].(map[string]any)[name].(map[string]any), v, at)
	}
	var errs []string
	fail := func(f string, a ...any) { errs = append(errs, at+": "+fmt.Sprintf(f, a...)) }
	if c, ok := s["const"]; ok && c != v {
		fail("want %v, got %v", c, v)
	}
	if e, ok := s["enum"].([]any); ok && !slices.Contains(e, v) {
		fail("%v not in %v", v, e)
	}
	switch s["type"] {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			fail("not an object")
			return errs
		}
		props, _ := s["properties"].(map[string]any)
		for _, r := range s["required"].([]any) {
			if _, ok := m[r.(string)]; !ok {
				fail("missing %s", r)
			}
		}
		for k, x := range m {
			ps, ok := props[k].(map[string]any)
			if !ok {
				if s["additionalProperties"] == false {
					fail("unexpected property %s", k)
				}
				continue
			}
			errs = append(errs, validate(root, ps, x, at+"."+k)...)
		}
	case "array":
		l, ok := v.([]any)
		if !ok {
			fail("not an array")
			return errs
		}
		if n, ok := s["maxItems"].(float64); ok && float64(len(l)) > n {
			fail("more than %v items", n)
		}
		if n, ok := s["minItems"].(float64); ok && float64(len(l)) < n {
			fail("fewer than %v items", n)
		}
		if is, ok := s["items"].(map[string]any); ok {
			for i, x := range l {
				errs = append(errs, validate(root, is, x, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			fail("not a string")
			return errs
		}
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(str) {
			fail("%q does not match %s", str, p)
		}
	case "integer", "boolean":
		if s["type"] == "boolean" {
			if _, ok := v.(bool); !ok {
				fail("not a boolean")
			}
			return errs
		}
		f, ok := v.(float64)
		if !ok || f != float64(int64(f)) {
			fail("not an integer")
			return errs
		}
		if n, ok := s["minimum"].(float64); ok && f < n {
			fail("%v < %v", f, n)
		}
		if n, ok := s["maximum"].(float64); ok && f > n {
			fail("%v > %v", f, n)
		}
	}
	return errs
}
