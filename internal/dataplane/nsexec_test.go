package dataplane

import (
	"context"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/nstest"
)

// TestRunNftInNamespace: nft started from a thread moved into a namespace
// acts in that namespace only, and the agent's own goroutines stay where
// they were: a table added through runNft is listed there and not in the
// agent's namespace, also after many calls from concurrent goroutines.
func TestRunNftInNamespace(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.RunPrefix(t) + "x"
	nstest.AddNamespace(t, ns)
	ctx := context.Background()
	table := "tsg_probe_" + strings.ReplaceAll(ns, "-", "_")
	if _, err := runNft(ctx, ns, "table ip "+table+" {\n}\n", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := runNft(ctx, ns, "", "list", "tables")
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := nstest.Sh(t, "ip", "netns", "exec", ns, "nft", "list", "tables"); !strings.Contains(got, table) {
		t.Errorf("the table is not in %s: %q", ns, got)
	}
	own, err := runNft(ctx, "", "", "list", "tables")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(own, table) || strings.Contains(nstest.Sh(t, "nft", "list", "tables"), table) {
		t.Errorf("the table is in the agent's own namespace: %q", own)
	}
	if _, err := runNft(ctx, ns+"-missing", "", "list", "tables"); err == nil || !strings.Contains(err.Error(), "namespace") {
		t.Errorf("nft in a missing namespace: %v, want the namespace named", err)
	}
}
