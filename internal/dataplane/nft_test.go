package dataplane

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNftGolden renders the ruleset script of each hub under
// testdata/nft/<case>/input.json and compares it with ruleset.nft beside
// it (TSUNAGI_UPDATE_GOLDEN=1 rewrites). As root, each golden script is
// also checked by nft -c inside a scratch namespace, which makes the
// kernel validate it without applying it.
func TestNftGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/nft/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	scratch := ""
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("nft"); err == nil {
			scratch = runPrefix(t) + "-nftc"
			addNamespace(t, scratch)
		}
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var h Hub
			readGoldenInput(t, dir, &h)
			if err := h.Validate(); err != nil {
				t.Fatalf("input does not validate: %v", err)
			}
			_, script := renderNft(h)
			golden := filepath.Join(dir, "ruleset.nft")
			compareGolden(t, golden, []byte(script))
			if scratch != "" {
				cmd := exec.Command("ip", "netns", "exec", scratch, "nft", "-c", "-f", golden)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("nft -c refuses %s: %v: %s", golden, err, out)
				}
			}
		})
	}
}

// The digest in the table comment is what makes Set a no-op: a comment
// that matches means no batch at all.
func TestNftSetIsIdempotent(t *testing.T) {
	f := &fakeNft{}
	c := &calls{}
	s := &nftSet{ops: recNft{f, c}}
	h := testHub()
	h.Ports[0].Firewall = &FirewallPolicy{Stateful: true, Rules: []Rule{{Action: Accept, Protocol: "icmp"}}}
	ctx := context.Background()
	for range 3 {
		if err := s.Set(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.take(); len(got) != 1 {
		t.Errorf("three Sets of one ruleset made %d batches: %q", len(got), got)
	}
	h.Ports[0].Firewall.Rules[0].Action = Drop
	if err := s.Set(ctx, h); err != nil {
		t.Fatal(err)
	}
	script, _ := f.List(ctx, "hub-c1")
	if len(c.take()) != 1 || !strings.Contains(script, `meta l4proto icmp counter drop comment "port onprem rule 0"`) {
		t.Errorf("changed rule not applied:\n%s", script)
	}
	if !strings.HasPrefix(script, "table ip tsunagi\ndelete table ip tsunagi\ntable netdev tsunagi_l2\ndelete table netdev tsunagi_l2\ntable ip tsunagi {\n") {
		t.Errorf("script does not replace the table in one batch:\n%s", script)
	}
}
