package nstest

import (
	"os/exec"
	"strings"
	"testing"
)

// IPBatch runs many ip commands (one a line, without the leading "ip")
// in one process: building hundreds of links one exec at a time would
// measure fork and exec, not the kernel.
func IPBatch(tb testing.TB, ns string, lines []string) {
	tb.Helper()
	cmd := exec.Command("ip", "-n", ns, "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("ip -n %s -batch: %v: %s", ns, err, out)
	}
}
