package dataplane

import (
	"fmt"
	"net/netip"
	"strings"
)

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// lineDiff shows the lines that differ between two texts, marked - and +.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			fmt.Fprintf(&b, "line %d:\n- %s\n+ %s\n", i+1, a, c)
		}
	}
	return b.String()
}
