// Package schematest checks JSON documents against the JSON schemas of
// tsunagi's contracts between processes (network/desired,
// network/observed) in tests, with a small validator of the keywords those
// schemas use: type, required, additionalProperties: false, properties,
// items, enum, const, pattern, minimum, maximum, maxLength, maxItems,
// minItems and $ref to #/$defs. It exists so that a contract's schema and
// its Go types cannot drift apart unnoticed. StandardLibraryOnly keeps each
// contract package free of any import outside the standard library.
package schematest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Validate checks the JSON document doc against schema and returns one
// line per violation; an unparsable schema or document is a violation too.
func Validate(schema, doc []byte) []string {
	var root map[string]any
	if err := json.Unmarshal(schema, &root); err != nil {
		return []string{"schema: " + err.Error()}
	}
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return []string{"document: " + err.Error()}
	}
	return validate(root, root, v, "$")
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
		if n, ok := s["maxLength"].(float64); ok && float64(len([]rune(str))) > n {
			fail("longer than %v characters", n)
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
