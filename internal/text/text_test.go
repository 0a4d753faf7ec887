package text

import "testing"

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
