package dataplane

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// withFirewall returns h with port i's firewall set to one rule.
func withFirewall(h Hub, i int, action Action) Hub {
	h.Ports = slices.Clone(h.Ports)
	h.Ports[i].Firewall = &FirewallPolicy{Stateful: true, Rules: []Rule{{Action: action}}}
	return h
}

// TestApplyChangedSkipsWhatDidNotChange: on a pass for a new document
// (ApplyChanged) only the subsystem whose input changed is set — the
// changed hub's firewall —, so drift planted in the kernel of an unchanged
// hub, and in an unchanged subsystem of the changed hub, is not even
// read; a resync pass (ApplyAll) reads everything back and repairs both.
// Without the Manager's memory of its last sets, ApplyChanged would repair
// the drift at once and the first check fails.
func TestApplyChangedSkipsWhatDidNotChange(t *testing.T) {
	f := newFakeNode(t, "eth-on", "eth-aws", "eth-on2")
	ctx := context.Background()
	a := testHub()
	b := testHub()
	b.ID = "other"
	b.Ports = slices.Clone(b.Ports[:1])
	b.Ports[0].Interface = "eth-on2"
	apply := func(what string, fn func(context.Context, []Hub) ([]error, error), hubs ...Hub) []string {
		t.Helper()
		failed, err := fn(ctx, hubs)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		for i, e := range failed {
			if e != nil {
				t.Fatalf("%s: hub %s: %v", what, hubs[i].ID, e)
			}
		}
		return f.rec.take()
	}
	apply("first pass", f.m.ApplyAll, a, b)
	drift := func() {
		// Someone changed the shaping of both hubs by hand.
		_ = f.tc.set("hub-c1", "eth-on", 1)
		_ = f.tc.set("hub-other", "eth-on2", 1)
	}
	drift()

	a2 := withFirewall(a, 0, Drop)
	if got := apply("document pass", f.m.ApplyChanged, a2, b); !slices.Equal(got, []string{"nft -f hub-c1"}) {
		t.Errorf("document pass made %q, want only the changed firewall replaced", got)
	}
	if !strings.Contains(f.nft.tables["hub-c1"], "drop") {
		t.Errorf("the changed firewall is not in the kernel:\n%s", f.nft.tables["hub-c1"])
	}
	got := apply("resync pass", f.m.ApplyAll, a2, b)
	want := []string{"tc change hub-c1 eth-on 100000000", "tc change hub-other eth-on2 100000000"}
	if !slices.Equal(got, want) {
		t.Errorf("resync pass made %q, want the drift of both hubs repaired: %q", got, want)
	}

	// A pass with nothing changed touches nothing, not even the drift.
	drift()
	if got := apply("same document again", f.m.ApplyChanged, a2, b); len(got) != 0 {
		t.Errorf("unchanged document made %q", got)
	}
	// A Manager that did not set the hubs itself (an agent restart) knows
	// nothing of them: its document pass reads back and repairs all.
	m2, rec2 := recordingManager(f.dir, f.net, f.nft, f.tc, f.bird)
	if _, err := m2.ApplyChanged(ctx, []Hub{a2, b}); err != nil {
		t.Fatal(err)
	}
	if got := rec2.take(); !slices.Equal(got, want) {
		t.Errorf("a new Manager's document pass made %q, want %q", got, want)
	}
}

// TestApplyChangedForgetsAFailedHub: a hub whose set fails is forgotten,
// so the next document pass sets every subsystem of it again, reading the
// kernel back, even the ones whose input has not changed.
func TestApplyChangedForgetsAFailedHub(t *testing.T) {
	f := newFakeNode(t, "eth-on", "eth-aws")
	ctx := context.Background()
	a := testHub()
	if _, err := f.m.ApplyAll(ctx, []Hub{a}); err != nil {
		t.Fatal(err)
	}
	bad := withFirewall(a, 0, Drop)
	bad.Ports[1].MD5 = "REFUSE" // the fake bird -p refuses it
	failed, err := f.m.ApplyChanged(ctx, []Hub{bad})
	if err != nil || failed[0] == nil || !strings.Contains(failed[0].Error(), "bird") {
		t.Fatalf("ApplyChanged = %v, %v; want BIRD's refusal", failed, err)
	}
	f.rec.take()
	_ = f.tc.set("hub-c1", "eth-on", 1)
	good := withFirewall(a, 0, Drop) // the firewall was set before BIRD failed
	failed, err = f.m.ApplyChanged(ctx, []Hub{good})
	if err != nil || failed[0] != nil {
		t.Fatalf("ApplyChanged = %v, %v", failed, err)
	}
	if got := f.rec.take(); !slices.Contains(got, "tc change hub-c1 eth-on 100000000") || slices.Contains(got, "nft -f hub-c1") {
		t.Errorf("after a failure the document pass made %q, want the tc drift repaired and the firewall (in place) read back, not replaced", got)
	}
}
