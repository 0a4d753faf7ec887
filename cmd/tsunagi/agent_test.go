package main

import (
	"strings"
	"testing"
)

// Bad agent flags are refused with one clear line before anything is
// touched (no enrolment, no data plane).
func TestAgentFlagsRefused(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"agent"}, "--controller is required"},
		{[]string{"agent", "--controller", "https://127.0.0.1:1", "--resync", "1s"}, "--resync 1s: at least 5s"},
		{[]string{"agent", "--controller", "https://127.0.0.1:1", "--log-level", "loud"}, "--log-level"},
	} {
		p := launch(t, c.args...)
		code, _ := p.wait(exitTimeout)
		if code == 0 || !strings.Contains(p.stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q, want an error with %q", c.args, code, p.stderr.String(), c.want)
		}
	}
}
