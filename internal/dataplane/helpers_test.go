package dataplane

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
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

// readGoldenInput decodes a golden case's input.json strictly (unknown
// fields refused) into v.
func readGoldenInput(t *testing.T, dir string, v any) {
	t.Helper()
	raw, err := os.ReadFile(dir + "/input.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatal(err)
	}
}

// compareGolden compares got with the golden file, or rewrites the file
// when TSUNAGI_UPDATE_GOLDEN=1.
func compareGolden(t *testing.T, golden string, got []byte) {
	t.Helper()
	if updateGolden {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with TSUNAGI_UPDATE_GOLDEN=1 to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (TSUNAGI_UPDATE_GOLDEN=1 to accept):\n%s", golden, lineDiff(string(want), string(got)))
	}
}
