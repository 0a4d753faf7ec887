package audit

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// decodeDetail is json.Unmarshal of a stored detail into a map: a verifier
// decodes every entry's, which through encoding/json was a tenth of a long
// chain's verification. The details the log writes are flat objects of
// plain strings, numbers, booleans and null, encoded by json.Marshal (no
// space); those are read here, and anything else — an escape, nesting,
// odd spacing, bad JSON — by encoding/json itself, so the result is always
// what json.Unmarshal gives (TestDecodeDetailMatchesJSON).
func decodeDetail(s string) (map[string]any, error) {
	if m, ok := decodeFlat(s); ok {
		return m, nil
	}
	var m map[string]any
	err := json.Unmarshal([]byte(s), &m)
	return m, err
}

// decodeFlat reads s when it is a flat object the fast path knows.
func decodeFlat(s string) (map[string]any, bool) {
	if s == "null" {
		return nil, true
	}
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return nil, false
	}
	m := map[string]any{}
	i := 1
	if s[i] == '}' {
		return m, i == len(s)-1
	}
	for {
		k, n, ok := plainString(s, i)
		if !ok || n >= len(s) || s[n] != ':' {
			return nil, false
		}
		i = n + 1
		var v any
		switch c := s[i]; {
		case c == '"':
			v, n, ok = plainString(s, i)
		case c == 't' && len(s)-i >= 4 && s[i:i+4] == "true":
			v, n, ok = true, i+4, true
		case c == 'f' && len(s)-i >= 5 && s[i:i+5] == "false":
			v, n, ok = false, i+5, true
		case c == 'n' && len(s)-i >= 4 && s[i:i+4] == "null":
			v, n, ok = nil, i+4, true
		default:
			v, n, ok = number(s, i)
		}
		if !ok || n >= len(s) {
			return nil, false
		}
		m[k] = v
		switch s[n] {
		case ',':
			i = n + 1
		case '}':
			return m, n == len(s)-1
		default:
			return nil, false
		}
	}
}

// plainString reads the string starting at s[i] (a quote) when it has no
// escape and is valid UTF-8, and returns it and the index after it.
func plainString(s string, i int) (string, int, bool) {
	if i >= len(s) || s[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			v := s[i+1 : j]
			return v, j + 1, utf8.ValidString(v)
		case c == '\\' || c < 0x20:
			return "", 0, false
		}
	}
	return "", 0, false
}

// number reads the JSON number starting at s[i] as encoding/json does (its
// literal through strconv.ParseFloat), checking JSON's grammar first, which
// ParseFloat alone does not.
func number(s string, i int) (float64, int, bool) {
	j := i
	if j < len(s) && s[j] == '-' {
		j++
	}
	switch {
	case j < len(s) && s[j] == '0':
		j++
	case j < len(s) && s[j] >= '1' && s[j] <= '9':
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
	default:
		return 0, 0, false
	}
	if j < len(s) && s[j] == '.' {
		j++
		d := j
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == d {
			return 0, 0, false
		}
	}
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		j++
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		d := j
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == d {
			return 0, 0, false
		}
	}
	f, err := strconv.ParseFloat(s[i:j], 64)
	return f, j, err == nil
}
