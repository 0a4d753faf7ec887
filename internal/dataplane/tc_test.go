package dataplane

import (
	"strings"
	"testing"
)

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

// TestNetlinkIngressShaping exercises the ingress half on the real kernel:
// an ifb made, read back, marked with the device it shapes, a redirect set,
// replaced in place and read back, and everything removed again, removals
// of what is already gone succeeding.
func TestNetlinkIngressShaping(t *testing.T) {
	requireRoot(t)
	ns := runPrefix(t) + "-in"
	tc := netlinkTC{ops: netlinkOps{}}
	if got, err := tc.IFBs(ns); err != nil || len(got) != 0 {
		t.Fatalf("ifbs of a namespace that does not exist: %v, %v", got, err)
	}
	addNamespace(t, ns)
	sh(t, "ip", "-n", ns, "link", "add", "p0", "type", "veth", "peer", "name", "p1")
	// An ifb of someone else's is not listed as ours.
	sh(t, "ip", "-n", ns, "link", "add", "other0", "type", "ifb")
	if _, ok, err := tc.Redirect(ns, "p0"); err != nil || ok {
		t.Fatalf("fresh veth: redirected %v, %v", ok, err)
	}
	a, b := ifbName("p0"), ifbName("p1")
	for _, ifb := range []string{a, b} {
		if err := tc.AddIFB(ns, ifb, "p0"); err != nil {
			t.Fatal(err)
		}
	}
	if err := tc.AddIFB(ns, a, "p0"); err != nil {
		t.Fatalf("adding an ifb that is there: %v", err)
	}
	if got, err := tc.IFBs(ns); err != nil || len(got) != 2 || got[a] != "p0" || got[b] != "p0" {
		t.Fatalf("ifbs: %v, %v", got, err)
	}
	if out := sh(t, "ip", "-n", ns, "link", "show", a); !strings.Contains(out, "state UP") && !strings.Contains(out, ",UP") || !strings.Contains(out, "qlen 1000") {
		t.Errorf("ifb %s not up with a queue of 1000: %s", a, out)
	}
	if err := tc.AddShaping(ns, a, 200_000_000); err != nil {
		t.Fatal(err)
	}
	if bps, ok, err := tc.Rate(ns, a); err != nil || !ok || bps != 200_000_000 {
		t.Errorf("ifb rate: %d, %v, %v", bps, ok, err)
	}
	for _, to := range []string{b, a} {
		if err := tc.SetRedirect(ns, "p0", to); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := tc.Redirect(ns, "p0"); err != nil || !ok || got != to {
			t.Errorf("redirect set to %s reads %q, %v, %v", to, got, ok, err)
		}
	}
	filters := sh(t, "ip", "netns", "exec", ns, "tc", "filter", "show", "dev", "p0", "ingress")
	if n := strings.Count(filters, "mirred"); n != 1 || !strings.Contains(filters, "Redirect to device "+a) {
		t.Errorf("after a replaced redirect, %d mirred actions:\n%s", n, filters)
	}
	// IPv4 to a unicast MAC only: what tc writes as "protocol ip … match
	// u8 0 1 at -14".
	if !strings.Contains(filters, "protocol ip pref 1 u32") || !strings.Contains(filters, "match 00000000/00000100 at -16") {
		t.Errorf("the redirect does not select IPv4 to a unicast MAC:\n%s", filters)
	}
	// A redirect of everything (as an older tsunagi made it) is not ours:
	// it reads as going nowhere, and setting ours replaces it.
	sh(t, "ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", "p0", "ingress")
	sh(t, "ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "p0", "handle", "ffff:", "ingress")
	sh(t, "ip", "netns", "exec", ns, "tc", "filter", "add", "dev", "p0", "parent", "ffff:", "protocol", "all", "prio", "1",
		"handle", "800::800", "u32", "match", "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev", a)
	if got, ok, err := tc.Redirect(ns, "p0"); err != nil || !ok || got != "" {
		t.Errorf("a redirect of all frames reads %q, %v, %v; want one to nowhere", got, ok, err)
	}
	if err := tc.SetRedirect(ns, "p0", a); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := tc.Redirect(ns, "p0"); err != nil || !ok || got != a {
		t.Errorf("after replacing a redirect of all frames: %q, %v, %v", got, ok, err)
	}
	// An ifb deleted under a redirect reads as a redirect to nowhere.
	if err := tc.DeleteIFB(ns, b); err != nil {
		t.Fatal(err)
	}
	if err := tc.SetRedirect(ns, "p0", a); err != nil {
		t.Fatal(err)
	}
	if err := tc.DeleteIFB(ns, a); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := tc.Redirect(ns, "p0"); err != nil || !ok || got != "" {
		t.Errorf("redirect to a deleted ifb reads %q, %v, %v", got, ok, err)
	}
	if err := tc.RemoveRedirect(ns, "p0"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := tc.Redirect(ns, "p0"); err != nil || ok {
		t.Errorf("after removal: redirected %v, %v", ok, err)
	}
	if q := sh(t, "ip", "netns", "exec", ns, "tc", "qdisc", "show", "dev", "p0"); strings.Contains(q, "ingress") {
		t.Errorf("ingress qdisc left: %s", q)
	}
	for _, err := range []error{tc.RemoveRedirect(ns, "p0"), tc.RemoveRedirect(ns, "gone0"),
		tc.RemoveShaping(ns, "p0"), tc.RemoveShaping(ns, "gone0"), tc.DeleteIFB(ns, a)} {
		if err != nil {
			t.Errorf("removing what is not there: %v", err)
		}
	}
	if got, err := tc.IFBs(ns); err != nil || len(got) != 0 {
		t.Errorf("ifbs after removal: %v, %v", got, err)
	}
}

// TestIFBName: an ifb's name fits IFNAMSIZ whatever its port's device is
// called, is the same on every pass, and differs between devices.
func TestIFBName(t *testing.T) {
	seen := map[string]string{}
	for _, dev := range []string{"eth0", "eth1", "eth0.101", "enp65s0f1np1.40", "bronprem", "br01234567", "a", "eth0 "} {
		n := ifbName(dev)
		if len(n) > 15 || !strings.HasPrefix(n, ifbPrefix) || n != ifbName(dev) {
			t.Errorf("ifbName(%q) = %q", dev, n)
		}
		if other, dup := seen[n]; dup {
			t.Errorf("%q and %q share the ifb %s", dev, other, n)
		}
		seen[n] = dev
	}
}
