package dataplane

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestUnderlayGolden renders the underlay table of a main hub with two
// peers (testdata/underlay/main-of-three.nft; TSUNAGI_UPDATE_GOLDEN=1
// rewrites it) and, as root, has the kernel check it with nft -c.
func TestUnderlayGolden(t *testing.T) {
	h := testHub()
	h.Backbone = testBackbone()
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	_, script := renderUnderlay(h)
	golden := "testdata/underlay/main-of-three.nft"
	compareGolden(t, golden, []byte(script))
	if os.Geteuid() != 0 {
		return
	}
	if _, err := exec.LookPath("nft"); err != nil {
		return
	}
	scratch := runPrefix(t) + "-uc"
	addNamespace(t, scratch)
	if out, err := exec.Command("ip", "netns", "exec", scratch, "nft", "-c", "-f", golden).CombinedOutput(); err != nil {
		t.Errorf("nft -c refuses %s: %v: %s", golden, err, out)
	}
}

// The underlay table follows the backbone: declared once, a no-op while
// the peers and VNI stay, replaced when they change, deleted with the
// backbone or the hub — and another hub's table is never touched.
func TestUnderlaySetStates(t *testing.T) {
	f := &fakeUnderlay{}
	c := &calls{}
	s := &underlaySet{ops: recUnderlay{f, c}}
	ctx := context.Background()
	h := testHub()
	other := testHub()
	other.ID = "c2"
	other.Backbone = testBackbone()
	other.Backbone.VNI = 4001
	if err := s.Set(ctx, h); err != nil {
		t.Fatal(err)
	}
	if got := c.take(); len(got) > 0 {
		t.Fatalf("a hub without a backbone made calls %q", got)
	}
	if err := s.Set(ctx, other); err != nil {
		t.Fatal(err)
	}
	c.take()
	h.Backbone = testBackbone()
	step := func(name string, do func() error, want ...string) {
		t.Helper()
		if err := do(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := c.take(); !slices.Equal(got, want) {
			t.Errorf("%s: calls %q, want %q", name, got, want)
		}
	}
	set := func() error { return s.Set(ctx, h) }
	step("create", set, "nft -f (node) tsunagi_vx_c1")
	step("again", set)
	step("again", set)
	h.Backbone.Peers = h.Backbone.Peers[:1]
	step("a peer leaves", set, "nft -f (node) tsunagi_vx_c1")
	if got := f.tables["tsunagi_vx_c1"]; !strings.Contains(got, "elements = { 10.255.0.2 }") || !strings.Contains(got, "@th,96,24 3001 ip saddr != @peers") {
		t.Errorf("table after a peer left:\n%s", got)
	}
	h.Backbone.VNI = 3002
	step("VNI changes", set, "nft -f (node) tsunagi_vx_c1")
	h.Backbone = nil
	step("backbone removed", set, "nft -f (node) tsunagi_vx_c1")
	step("again", set)
	if _, ok := f.tables["tsunagi_vx_c1"]; ok {
		t.Error("the table outlived the backbone")
	}
	step("remove the other hub", func() error { return s.Remove(ctx, "c2") }, "nft -f (node) tsunagi_vx_c2")
	step("remove again", func() error { return s.Remove(ctx, "c2") })
}

var dropCounted = regexp.MustCompile(`counter packets [1-9][0-9]* bytes [0-9]+ drop`)

// TestUnderlayFilterOnTheKernel: a hub on node X whose backbone's one peer
// is node P. A stranger S on the same underlay, not in the hub's peer list,
// sends VXLAN frames with the customer's VNI to node X: none reaches the
// hub's VXLAN device, while P's frames do (and P reaches the hub's backbone
// address). Without the underlay filter the stranger's frames are
// decapsulated into the hub.
func TestUnderlayFilterOnTheKernel(t *testing.T) {
	prefix, runDir := kernelTest(t)
	ctx := context.Background()
	nodeX, peerNS, strangerNS := prefix+"-nx", prefix+"-np", prefix+"-ns"
	for _, ns := range []string{nodeX, peerNS, strangerNS} {
		addNamespace(t, ns)
		// No IPv6 chatter (router solicitations, DAD) from the peer
		// while the hub's receive counter is read.
		sh(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	}
	for _, side := range []struct{ ns, dev, local, remote string }{
		{peerNS, prefix + "p", "10.255.0.1/30", "10.255.0.2/30"},
		{strangerNS, prefix + "s", "10.255.0.5/30", "10.255.0.6/30"},
	} {
		sh(t, "ip", "-n", nodeX, "link", "add", side.dev, "type", "veth", "peer", "name", "eth0", "netns", side.ns)
		sh(t, "ip", "-n", nodeX, "addr", "add", side.local, "dev", side.dev)
		sh(t, "ip", "-n", nodeX, "link", "set", side.dev, "up")
		sh(t, "ip", "-n", side.ns, "addr", "add", side.remote, "dev", "eth0")
		sh(t, "ip", "-n", side.ns, "link", "set", "eth0", "up")
		sh(t, "ip", "-n", side.ns, "route", "add", "10.255.0.0/24", "dev", "eth0")
	}
	// Both outsiders speak VXLAN to node X on the customer's VNI, each
	// with an address on the hub's backbone segment.
	for _, o := range []struct{ ns, local, addr string }{
		{peerNS, "10.255.0.2", "10.254.0.2/29"}, {strangerNS, "10.255.0.6", "10.254.0.3/29"},
	} {
		sh(t, "ip", "-n", o.ns, "link", "add", "vx", "type", "vxlan", "id", "3001", "local", o.local, "remote", "10.255.0.1", "dstport", "4789")
		sh(t, "ip", "-n", o.ns, "addr", "add", o.addr, "dev", "vx")
		sh(t, "ip", "-n", o.ns, "link", "set", "vx", "up")
	}
	sh(t, "ip", "-n", nodeX, "link", "add", prefix+"o", "type", "veth", "peer", "name", prefix+"q")

	h := e2eHub(prefix+"-m", prefix+"o", "", PolicyAll)
	h.Ports = h.Ports[:1]
	h.Backbone = &Backbone{VNI: 3001, Device: "vxbb", LocalUnderlay: netip.MustParseAddr("10.255.0.1"), Address: mustPrefix("10.254.0.1/29"), LocalPreference: 300,
		Peers: []BackbonePeer{{Name: "sub", RemoteUnderlay: netip.MustParseAddr("10.255.0.2"), Neighbor: netip.MustParseAddr("10.254.0.2"), DR: DRSub}}}
	m := NewManager(Options{RunDir: runDir, NodeNamespace: nodeX})
	t.Cleanup(func() {
		if err := m.Remove(ctx, h.ID); err != nil {
			t.Errorf("remove %s: %v", h.ID, err)
		}
		killPidFile(pathsFor(runDir, h.Namespace()).PID)
		_ = netlinkOps{nodeNS: nodeX}.DeleteNamespace(h.Namespace())
		if out := sh(t, "ip", "netns", "exec", nodeX, "nft", "list", "tables"); strings.Contains(out, underlayTable(h.ID)) {
			t.Errorf("the underlay table outlived the hub: %s", out)
		}
	})
	if err := m.Apply(ctx, h); err != nil {
		t.Fatal(err)
	}

	counter := func(ns, dev, name string) int {
		text := sh(t, "ip", "netns", "exec", ns, "cat", "/sys/class/net/"+dev+"/statistics/"+name)
		n, err := strconv.Atoi(strings.TrimSpace(text))
		if err != nil {
			t.Fatalf("%s of %s in %s: %q: %v", name, dev, ns, text, err)
		}
		return n
	}
	rx := func() int { return counter(h.Namespace(), "vxbb", "rx_packets") }
	// The stranger sends: ARP broadcasts toward the hub's backbone address,
	// each one VXLAN packet to node X.
	before, sent := rx(), counter(strangerNS, "vx", "tx_packets")
	_ = ping(strangerNS, "10.254.0.3", "10.254.0.1", 3*time.Second)
	if counter(strangerNS, "vx", "tx_packets") == sent {
		t.Fatal("the stranger sent nothing: the test proves nothing")
	}
	if got := rx(); got != before {
		t.Errorf("%d VXLAN frames from the unlisted underlay address 10.255.0.6 reached the hub", got-before)
	}
	if out := sh(t, "ip", "netns", "exec", nodeX, "nft", "list", "table", "ip", underlayTable(h.ID)); !dropCounted.MatchString(out) {
		t.Errorf("the underlay filter counted no drop:\n%s", out)
	}
	// The listed peer's frames still arrive, and the hub answers them.
	before = rx()
	if err := ping(peerNS, "10.254.0.2", "10.254.0.1", 5*time.Second); err != nil {
		t.Errorf("the listed peer cannot reach the hub's backbone address: %v", err)
	}
	if got := rx(); got == before {
		t.Error("no frame of the listed peer reached the hub")
	}
	// Re-applying changes nothing, the filter included.
	m2, rec := recordingManager(runDir, netlinkOps{nodeNS: nodeX}, nftCLI{}, netlinkTC{ops: netlinkOps{nodeNS: nodeX}}, birdDaemon{})
	if err := m2.Apply(ctx, h); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); len(got) > 0 {
		t.Errorf("re-applying the hub made calls %q", got)
	}
}
