package text

import (
	"strings"
	"testing"
)

func TestSingleAndMultiLine(t *testing.T) {
	for _, c := range []struct {
		in           string
		single, mult bool // accepted?
	}{
		{"web servers", true, true},
		{"日本語のコメント", true, true},
		{"", true, true},
		{"a\";\n}\nflush ruleset\n", false, true},
		{"line\r\nbreak", false, true},
		{"tab\there", false, true},
		{"esc\x1b[2J", false, false},
		{"nul\x00", false, false},
		{"del\x7f", false, false},
		{"c1\u0085", false, false},
		{"sep\u2028", false, false},
		{"bidi\u202eevil", false, false},
		{"isolate\u2066x", false, false},
		{"bad\xff", false, false},
	} {
		if got := SingleLine(c.in) == ""; got != c.single {
			t.Errorf("SingleLine(%q) accepted=%v, want %v", c.in, got, c.single)
		}
		if got := MultiLine(c.in) == ""; got != c.mult {
			t.Errorf("MultiLine(%q) accepted=%v, want %v", c.in, got, c.mult)
		}
	}
}

// TestReason: a reason is counted in characters (500 Japanese characters
// are 1500 bytes and pass), must be given, and is one line.
func TestReason(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"hardware refresh", true},
		{strings.Repeat("移", MaxReason), true},
		{strings.Repeat("移", MaxReason+1), false},
		{" ", false},
		{"", false},
		{"two\nlines", false},
	} {
		if got := Reason(tc.in); (got == "") != tc.ok {
			t.Errorf("Reason(%.20q) = %q, want ok %v", tc.in, got, tc.ok)
		}
	}
}
