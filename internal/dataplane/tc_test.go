package dataplane

import "testing"

// TestNetlinkTC exercises the real htb through netlink on a veth in a
// scratch namespace, across the whole range of contracted speeds.
func TestNetlinkTC(t *testing.T) {
	requireRoot(t)
	ns := runPrefix(t) + "-tc"
	addNamespace(t, ns)
	sh(t, "ip", "-n", ns, "link", "add", "p0", "type", "veth", "peer", "name", "p1")
	tc := netlinkTC{ops: netlinkOps{}}
	if _, ok, err := tc.Rate(ns, "p0"); err != nil || ok {
		t.Fatalf("fresh veth: shaped %v, %v", ok, err)
	}
	if err := tc.AddShaping(ns, "p0", 10_000_000_000); err != nil {
		t.Fatal(err)
	}
	for _, bps := range []uint64{10_000_000_000, 100_000_000, 5_000_000_000, 300_000_000} {
		if err := tc.ChangeRate(ns, "p0", bps); err != nil {
			t.Fatalf("change to %d: %v", bps, err)
		}
		got, ok, err := tc.Rate(ns, "p0")
		if err != nil || !ok || got != bps {
			t.Errorf("after change to %d bit/s: %d, shaped %v, %v", bps, got, ok, err)
		}
	}
	qdiscs := sh(t, "ip", "netns", "exec", ns, "tc", "qdisc", "show", "dev", "p0")
	if want := "qdisc htb 1: root"; len(qdiscs) < len(want) || qdiscs[:len(want)] != want {
		t.Errorf("qdisc after changes: %q", qdiscs)
	}
	if err := tc.RemoveShaping(ns, "p0"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := tc.Rate(ns, "p0"); err != nil || ok {
		t.Errorf("after removal: shaped %v, %v", ok, err)
	}
}
