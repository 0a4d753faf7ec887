package nstest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The helpers below are those above for benchmarks: they take testing.TB,
// which *testing.B satisfies. (The originals take *testing.T; once they take
// testing.TB these can go.)

// RequireRootTB skips unless the benchmark can build namespaces.
func RequireRootTB(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root: creates network namespaces, veth pairs, nftables tables and BIRD processes")
	}
	for _, bin := range []string{"/usr/sbin/bird", "ip", "nft", "tc"} {
		if _, err := exec.LookPath(bin); err != nil {
			tb.Skipf("needs %s: %v", bin, err)
		}
	}
}

// RunPrefixTB is RunPrefix for a benchmark.
func RunPrefixTB(tb testing.TB) string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return "tsg" + hex.EncodeToString(b)
}

// ShTB is Sh for a benchmark.
func ShTB(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// AddNamespaceTB is AddNamespace for a benchmark: the namespace is deleted
// at cleanup (processes started in it must be stopped by their owner).
func AddNamespaceTB(tb testing.TB, name string) {
	tb.Helper()
	ShTB(tb, "ip", "netns", "add", name)
	tb.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	ShTB(tb, "ip", "-n", name, "link", "set", "lo", "up")
}

// IPBatchTB runs many ip commands (one a line, without the leading "ip")
// in one process: building hundreds of links one exec at a time would
// measure fork and exec, not the kernel.
func IPBatchTB(tb testing.TB, ns string, lines []string) {
	tb.Helper()
	cmd := exec.Command("ip", "-n", ns, "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("ip -n %s -batch: %v: %s", ns, err, out)
	}
}
