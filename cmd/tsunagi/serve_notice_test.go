package main

import (
	"strings"
	"testing"
)

// TestServeRefusesNoticeMinDays: a minimum notice period outside 1–90 days
// stops serve at start, saying which flag and why (not as an unknown one).
func TestServeRefusesNoticeMinDays(t *testing.T) {
	p := launch(t, "serve", "--data-dir", t.TempDir(), "--notice-min-days", "0")
	if code, _ := p.wait(exitTimeout); code == 0 {
		t.Fatal("serve started with --notice-min-days 0")
	}
	if s := p.stderr.String(); !strings.Contains(s, "--notice-min-days") || !strings.Contains(s, "1 to 90 days") {
		t.Fatalf("serve's refusal does not say why: %s", s)
	}
}
