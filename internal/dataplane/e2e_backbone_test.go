package dataplane

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestEndToEndBackbone: one customer's main hub and sub hub on two nodes
// (two node namespaces joined by an underlay veth), linked by VXLAN with an
// iBGP session between their BIRDs. The on-premises router on the main
// hub's node reaches the cloud behind the sub hub across the backbone;
// routes from the backbone carry the sub hub's DR preference and mark.
func TestEndToEndBackbone(t *testing.T) {
	prefix, runDir := kernelTest(t)
	ctx := context.Background()
	nodeX, nodeY := prefix+"-nx", prefix+"-ny"
	addNamespace(t, nodeX)
	addNamespace(t, nodeY)
	// The underlay between the nodes.
	sh(t, "ip", "-n", nodeX, "link", "add", prefix+"u", "type", "veth", "peer", "name", prefix+"u", "netns", nodeY)
	sh(t, "ip", "-n", nodeX, "addr", "add", "10.255.0.1/30", "dev", prefix+"u")
	sh(t, "ip", "-n", nodeY, "addr", "add", "10.255.0.2/30", "dev", prefix+"u")
	sh(t, "ip", "-n", nodeX, "link", "set", prefix+"u", "up")
	sh(t, "ip", "-n", nodeY, "link", "set", prefix+"u", "up")

	onNS, clNS := prefix+"-on", prefix+"-aws"
	addNamespace(t, onNS)
	addNamespace(t, clNS)
	sh(t, "ip", "-n", nodeX, "link", "add", prefix+"o", "type", "veth", "peer", "name", "eth0", "netns", onNS)
	sh(t, "ip", "-n", nodeY, "link", "add", prefix+"w", "type", "veth", "peer", "name", "eth0", "netns", clNS)
	for _, side := range []struct{ ns, addr, lo string }{
		{onNS, "169.254.10.2/30", "10.10.0.1/32"}, {clNS, "169.254.20.2/30", "172.31.0.1/32"},
	} {
		sh(t, "ip", "-n", side.ns, "addr", "add", side.addr, "dev", "eth0")
		sh(t, "ip", "-n", side.ns, "addr", "add", side.lo, "dev", "lo")
		sh(t, "ip", "-n", side.ns, "link", "set", "eth0", "up")
	}
	onBird := startPeerBird(t, onNS, runDir, peerConf{Local: "169.254.10.2", Hub: "169.254.10.1", ASN: 65001, HubASN: 65100,
		Prefixes: []string{"10.10.0.0/16"}, Loopback: "10.10.0.1"})
	clBird := startPeerBird(t, clNS, runDir, peerConf{Local: "169.254.20.2", Hub: "169.254.20.1", ASN: 64512, HubASN: 65100,
		Prefixes: []string{"172.31.0.0/16"}, Loopback: "172.31.0.1"})

	base := e2eHub("", prefix+"o", prefix+"w", PolicyAll)
	main := base
	main.ID = prefix + "-m"
	main.Ports = base.Ports[:1]
	main.Backbone = &Backbone{VNI: 3001, Device: "vxbb", LocalUnderlay: netip.MustParseAddr("10.255.0.1"), Address: mustPrefix("10.254.0.1/29"), LocalPreference: 300,
		Peers: []BackbonePeer{{Name: "sub", RemoteUnderlay: netip.MustParseAddr("10.255.0.2"), Neighbor: netip.MustParseAddr("10.254.0.2"), DR: DRSub}}}
	sub := base
	sub.ID = prefix + "-s"
	sub.RouterID = netip.MustParseAddr("100.64.1.1")
	// The sub hub's own networks are where the service's default pool puts
	// them, inside 100.64.0.0/10: bogon space on a port, not on the backbone.
	sub.InternalNetwork, sub.MonitoringNetwork = mustPrefix("100.64.1.0/24"), mustPrefix("100.64.2.0/28")
	sub.Ports = base.Ports[1:]
	sub.Backbone = &Backbone{VNI: 3001, Device: "vxbb", LocalUnderlay: netip.MustParseAddr("10.255.0.2"), Address: mustPrefix("10.254.0.2/29"), LocalPreference: 200,
		Peers: []BackbonePeer{{Name: "main", RemoteUnderlay: netip.MustParseAddr("10.255.0.1"), Neighbor: netip.MustParseAddr("10.254.0.1"), DR: DRMain}}}

	mx := NewManager(Options{RunDir: runDir, NodeNamespace: nodeX})
	my := NewManager(Options{RunDir: runDir, NodeNamespace: nodeY})
	for _, hm := range []struct {
		m *Manager
		h Hub
		n string
	}{{mx, main, nodeX}, {my, sub, nodeY}} {
		t.Cleanup(func() {
			if err := hm.m.Remove(ctx, hm.h.ID); err != nil {
				t.Errorf("remove %s: %v", hm.h.ID, err)
			}
			killPidFile(pathsFor(runDir, hm.h.Namespace()).PID)
			_ = netlinkOps{nodeNS: hm.n}.DeleteNamespace(hm.h.Namespace())
		})
		if err := hm.m.Apply(ctx, hm.h); err != nil {
			t.Fatalf("apply %s: %v", hm.h.ID, err)
		}
	}
	waitEstablished(t, mx.BirdClient(main.ID), BackboneSessionName("sub"))
	waitEstablished(t, my.BirdClient(sub.ID), BackboneSessionName("main"))
	waitFor(t, "on-prem to learn the cloud across the backbone", 30*time.Second, func() (bool, string) {
		return hasRoute(peerClient(onBird), "172.31.0.0/16", "hub")
	})
	waitFor(t, "the cloud to learn on-prem across the backbone", 30*time.Second, func() (bool, string) {
		return hasRoute(peerClient(clBird), "10.10.0.0/16", "hub")
	})
	lines, err := mx.BirdClient(main.ID).Command(ctx, "show route 172.31.0.0/16 all")
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for _, l := range lines {
		text.WriteString(l.Text + "\n")
	}
	for _, want := range []string{"[bb_sub ", "BGP.local_pref: 200", "BGP.large_community: (65100, 1, 3001)"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("main hub's route to 172.31.0.0/16 lacks %q:\n%s", want, text.String())
		}
	}
	// The mark is the hub's own bookkeeping: the customer's router gets
	// the route without it.
	lines, err = peerClient(onBird).Command(ctx, "show route 172.31.0.0/16 all")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		if strings.Contains(l.Text, "large_community") {
			t.Errorf("the backbone mark reached the on-premises router: %s", l.Text)
		}
	}
	if err := ping(onNS, "10.10.0.1", "172.31.0.1", 5*time.Second); err != nil {
		t.Fatalf("on-prem → cloud across the backbone: %v", err)
	}
	// The sub hub's internal network reaches the main hub and, through it,
	// the on-premises router; the sub hub answers on it.
	waitFor(t, "on-prem to learn the sub hub's internal network", 30*time.Second, func() (bool, string) {
		return hasRoute(peerClient(onBird), "100.64.1.0/24", "hub")
	})
	if err := ping(onNS, "10.10.0.1", "100.64.1.1", 5*time.Second); err != nil {
		t.Fatalf("on-prem → the sub hub's own address: %v", err)
	}
	// Idempotent with a VXLAN device too.
	m2, rec := recordingManager(runDir, netlinkOps{nodeNS: nodeX}, nftCLI{}, netlinkTC{ops: netlinkOps{nodeNS: nodeX}}, birdDaemon{})
	if err := m2.Apply(ctx, main); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); len(got) > 0 {
		t.Errorf("re-applying the main hub made calls %q", got)
	}
}

// The flood list on the kernel: entries are added and removed one remote at
// a time, and only the all-zeros entries are read back as the list — not
// the addresses the device learns.
func TestFloodListOnTheKernel(t *testing.T) {
	requireRoot(t)
	prefix := runPrefix(t)
	node, hub := prefix+"-n", prefix+"-h"
	addNamespace(t, node)
	addNamespace(t, hub)
	ops := netlinkOps{nodeNS: node}
	if err := ops.AddVXLAN(hub, VXLANSpec{Name: "vxbb", VNI: 4001, Local: netip.MustParseAddr("10.255.0.1")}); err != nil {
		t.Fatal(err)
	}
	r2, r3 := netip.MustParseAddr("10.255.0.2"), netip.MustParseAddr("10.255.0.3")
	for _, r := range []netip.Addr{r3, r2} {
		if err := ops.FloodAdd(hub, "vxbb", r); err != nil {
			t.Fatal(err)
		}
	}
	// A learned-looking entry (a MAC address toward a remote) is not part
	// of the flood list.
	sh(t, "bridge", "-n", hub, "fdb", "add", "02:00:00:00:00:01", "dev", "vxbb", "dst", "10.255.0.9")
	got, err := ops.Floods(hub, "vxbb")
	if err != nil || !slices.Equal(got, []netip.Addr{r2, r3}) {
		t.Fatalf("Floods = %v, %v; want [%v %v]", got, err, r2, r3)
	}
	// An address learned behind r2 goes with it; one behind r3 stays.
	sh(t, "bridge", "-n", hub, "fdb", "add", "02:00:00:00:00:02", "dev", "vxbb", "dst", "10.255.0.2")
	sh(t, "bridge", "-n", hub, "fdb", "add", "02:00:00:00:00:03", "dev", "vxbb", "dst", "10.255.0.3")
	if err := ops.FloodDel(hub, "vxbb", r2); err != nil {
		t.Fatal(err)
	}
	if got, err := ops.Floods(hub, "vxbb"); err != nil || !slices.Equal(got, []netip.Addr{r3}) {
		t.Fatalf("after removing %v: Floods = %v, %v", r2, got, err)
	}
	fdb := sh(t, "bridge", "-n", hub, "fdb", "show", "dev", "vxbb")
	if strings.Contains(fdb, "02:00:00:00:00:02") || !strings.Contains(fdb, "02:00:00:00:00:03") {
		t.Errorf("after removing %v the FDB is:\n%s", r2, fdb)
	}
	links, err := ops.Links(hub)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if l.Name == "vxbb" && (l.VXLAN == nil || *l.VXLAN != (VXLANSpec{Name: "vxbb", VNI: 4001, Local: netip.MustParseAddr("10.255.0.1")})) {
			t.Errorf("VXLAN device read back as %+v", l.VXLAN)
		}
	}
}
