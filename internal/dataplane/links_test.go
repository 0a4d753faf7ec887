package dataplane

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// testBackbone is the main hub of a DR group of three: its sub and backup
// hubs are on two other nodes.
func testBackbone() *Backbone {
	return &Backbone{VNI: 3001, Device: "vxbb", LocalUnderlay: netip.MustParseAddr("10.255.0.1"),
		Address: mustPrefix("10.254.0.1/29"), LocalPreference: 300,
		Peers: []BackbonePeer{
			{Name: "sub", RemoteUnderlay: netip.MustParseAddr("10.255.0.2"), Neighbor: netip.MustParseAddr("10.254.0.2"), DR: DRSub},
			{Name: "backup", RemoteUnderlay: netip.MustParseAddr("10.255.0.3"), Neighbor: netip.MustParseAddr("10.254.0.3"), DR: DRBackup},
		}}
}

// applyCalls applies h and returns the altering calls it made.
func applyCalls(t *testing.T, f *fakeNode, h Hub) []string {
	t.Helper()
	if err := f.m.Apply(context.Background(), h); err != nil {
		t.Fatalf("apply: %v", err)
	}
	return f.rec.take()
}

func netCalls(calls []string) []string {
	return slices.DeleteFunc(slices.Clone(calls), func(c string) bool {
		return strings.HasPrefix(c, "nft") || strings.HasPrefix(c, "bird") || strings.HasPrefix(c, "tc")
	})
}

// One VXLAN device per hub, however many peers: peers come and go as
// entries of its flood list, and the device — with the sessions to the
// other peers over it — stays. A VNI change replaces the device; removing
// the backbone deletes it rather than handing it to the node.
func TestBackboneDevice(t *testing.T) {
	f := newFakeNode(t, "eth-on", "eth-aws")
	h := testHub()
	h.Backbone = testBackbone()
	h.Backbone.Peers = h.Backbone.Peers[:1]
	got := netCalls(applyCalls(t, f, h))
	for _, want := range []string{
		"vxlan add hub-c1 vxbb vni 3001 local 10.255.0.1",
		"addr add hub-c1 vxbb 10.254.0.1/29",
		"flood add hub-c1 vxbb 10.255.0.2",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("create: no %q in %q", want, got)
		}
	}
	if got := applyCalls(t, f, h); len(got) > 0 {
		t.Errorf("unchanged backbone made calls %q", got)
	}

	h.Backbone = testBackbone()
	if got := netCalls(applyCalls(t, f, h)); !slices.Equal(got, []string{"flood add hub-c1 vxbb 10.255.0.3"}) {
		t.Errorf("adding the backup hub: calls %q, want one flood entry", got)
	}
	h.Backbone.Peers = h.Backbone.Peers[1:]
	if got := netCalls(applyCalls(t, f, h)); !slices.Equal(got, []string{"flood del hub-c1 vxbb 10.255.0.2"}) {
		t.Errorf("removing the sub hub: calls %q, want one flood entry gone", got)
	}
	if floods, _ := f.net.Floods("hub-c1", "vxbb"); !slices.Equal(floods, []netip.Addr{netip.MustParseAddr("10.255.0.3")}) {
		t.Errorf("flood list %v, want the backup's node only", floods)
	}

	h.Backbone.VNI = 3002
	got = netCalls(applyCalls(t, f, h))
	if !slices.Contains(got, "link del hub-c1 vxbb") || !slices.Contains(got, "vxlan add hub-c1 vxbb vni 3002 local 10.255.0.1") ||
		!slices.Contains(got, "flood add hub-c1 vxbb 10.255.0.3") {
		t.Errorf("VNI change calls %q", got)
	}
	h.Backbone = nil
	got = applyCalls(t, f, h)
	if !slices.Contains(got, "link del hub-c1 vxbb") || slices.ContainsFunc(got, func(c string) bool { return strings.HasPrefix(c, "link move vxbb") }) {
		t.Errorf("backbone removal calls %q", got)
	}
	node, _ := f.net.Links("")
	for _, l := range node {
		if l.Name == "vxbb" {
			t.Error("the VXLAN device was handed to the node namespace")
		}
	}
}

// The backbone's BIRD sessions and firewall: one iBGP session per peer on
// the one device; the hub's own DR preference set on what its ports learn
// and left as received on the backbone; BGP accepted from each neighbor on
// the device only.
func TestBackboneSessions(t *testing.T) {
	h := testHub()
	h.Backbone = testBackbone()
	conf, err := renderBird(h, pathsFor(t.TempDir(), h.Namespace()), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"protocol bgp bb_sub", "protocol bgp bb_backup", "neighbor 10.254.0.2 as 65100", "neighbor 10.254.0.3 as 65100",
		"local 10.254.0.1 as 65100"} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("BIRD configuration lacks %q", want)
		}
	}
	for _, f := range []struct{ name, want, not string }{
		{"import_port_onprem", "bgp_local_pref = 300;", "bgp_large_community"},
		{"import_port_aws", "bgp_local_pref = 300;", "bgp_large_community"},
		{"import_bb_sub", "bgp_large_community.add((65100, 1, 3001));", "bgp_local_pref"},
		{"import_bb_backup", "bgp_large_community.add((65100, 1, 3001));", "bgp_local_pref"},
	} {
		_, body, _ := strings.Cut(string(conf), "filter "+f.name+" {")
		body, _, _ = strings.Cut(body, "}")
		if !strings.Contains(body, f.want) || strings.Contains(body, f.not) {
			t.Errorf("filter %s: want %q and no %q:\n%s", f.name, f.want, f.not, body)
		}
	}
	script := renderNftBody(h)
	for _, want := range []string{`iifname "vxbb" ip saddr 10.254.0.2 tcp dport 179 accept`, `iifname "vxbb" ip saddr 10.254.0.3 tcp dport 179 accept`} {
		if !strings.Contains(script, want) {
			t.Errorf("nftables script lacks %q", want)
		}
	}
}

// A redundant port is a bridge the hub creates over its two legs, each an
// isolated bridge port: the address and everything else of the port are
// on the bridge; the legs carry no address. Turning a single port into a
// redundant one and back moves the address between the interface and the
// bridge; removing the hub gives both legs back.
func TestRedundantPort(t *testing.T) {
	f := newFakeNode(t, "eth-on", "eth-on2", "eth-aws")
	h := testHub()
	single := h
	h.Ports = slices.Clone(h.Ports)
	h.Ports[0].Interface, h.Ports[0].Legs = "bron", []string{"eth-on", "eth-on2"}
	got := netCalls(applyCalls(t, f, h))
	for _, want := range []string{
		`link move eth-on ""→"hub-c1"`, `link move eth-on2 ""→"hub-c1"`,
		"bridge add hub-c1 bron " + bridgeMAC(h, h.Ports[0]).String(),
		`link master hub-c1 eth-on "bron"`, `link master hub-c1 eth-on2 "bron"`,
		"link isolated=true hub-c1 eth-on", "link isolated=true hub-c1 eth-on2",
		"addr add hub-c1 bron 169.254.10.1/30", "link up=true hub-c1 bron",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("create: no %q in %q", want, got)
		}
	}
	if slices.ContainsFunc(got, func(c string) bool { return strings.HasPrefix(c, "addr add hub-c1 eth-on") }) {
		t.Errorf("a leg got an address: %q", got)
	}
	if got := applyCalls(t, f, h); len(got) > 0 {
		t.Errorf("unchanged redundant port made calls %q", got)
	}
	if mac := bridgeMAC(h, h.Ports[0]); mac[0] != 0x02 || !slices.Equal(mac, bridgeMAC(h, h.Ports[0])) {
		t.Errorf("bridge MAC %v: want a stable locally administered address", mac)
	}

	// Back to a single port on the primary leg: the bridge goes, the
	// primary leg gets the address, the secondary goes back to the node.
	got = netCalls(applyCalls(t, f, single))
	for _, want := range []string{"link del hub-c1 bron", `link move eth-on2 "hub-c1"→""`, "addr add hub-c1 eth-on 169.254.10.1/30"} {
		if !slices.Contains(got, want) {
			t.Errorf("to single: no %q in %q", want, got)
		}
	}
	links, _ := f.net.Links("hub-c1")
	for _, l := range links {
		if l.Name == "eth-on" && (l.Master != "" || l.Isolated) {
			t.Errorf("eth-on still a bridge port: %+v", l)
		}
	}

	// And redundant again, then the hub removed.
	applyCalls(t, f, h)
	if err := f.m.Remove(context.Background(), h.ID); err != nil {
		t.Fatal(err)
	}
	node, _ := f.net.Links("")
	var names []string
	for _, l := range node {
		names = append(names, l.Name)
		if l.Master != "" || l.Alias != "" || len(l.Addrs) > 0 {
			t.Errorf("%s handed back with state: %+v", l.Name, l)
		}
	}
	if !slices.Equal(names, []string{"eth-aws", "eth-on", "eth-on2"}) {
		t.Errorf("node namespace after removal: %v", names)
	}
}

// A redundant port whose secondary leg does not exist on the node is
// refused whole, like any missing interface.
func TestRedundantPortMissingLeg(t *testing.T) {
	f := newFakeNode(t, "eth-on", "eth-aws")
	h := testHub()
	h.Ports[0].Interface, h.Ports[0].Legs = "bron", []string{"eth-on", "eth-on2"}
	err := f.m.Apply(context.Background(), h)
	if err == nil || !strings.Contains(err.Error(), "interface eth-on2 does not exist") {
		t.Fatalf("apply = %v, want the missing leg named", err)
	}
	if got := f.rec.take(); len(got) > 0 {
		t.Errorf("a refused hub made calls %q", got)
	}
}

// A port on a VLAN of the node's physical port: the data plane makes the
// sub-interface on the parent, takes it into the hub, and deletes it when
// the port goes (it is the hub's creation, not the node's interface). A
// parent that does not exist refuses the hub whole. (The kernel of the
// test machine has no 8021q: this runs on the fakes only.)
func TestVLANSubInterface(t *testing.T) {
	f := newFakeNode(t, "eth3", "eth-aws")
	h := testHub()
	h.Ports = slices.Clone(h.Ports)
	h.Ports[0].Interface = "eth3.101"
	h.Ports[0].VLANs = []VLANLink{{Name: "eth3.101", Parent: "eth3", ID: 101}}
	got := netCalls(applyCalls(t, f, h))
	for _, want := range []string{`vlan add "" eth3.101 on eth3 tag 101`, `link move eth3.101 ""→"hub-c1"`, "addr add hub-c1 eth3.101 169.254.10.1/30"} {
		if !slices.Contains(got, want) {
			t.Errorf("create: no %q in %q", want, got)
		}
	}
	if got := applyCalls(t, f, h); len(got) > 0 {
		t.Errorf("unchanged VLAN port made calls %q", got)
	}
	if err := f.m.Remove(context.Background(), h.ID); err != nil {
		t.Fatal(err)
	}
	node, _ := f.net.Links("")
	for _, l := range node {
		if l.Name == "eth3.101" {
			t.Error("the sub-interface was handed back to the node instead of deleted")
		}
	}

	g := testHub()
	g.Ports = slices.Clone(g.Ports)
	g.Ports[0].Interface = "eth9.101"
	g.Ports[0].VLANs = []VLANLink{{Name: "eth9.101", Parent: "eth9", ID: 101}}
	if err := f.m.Apply(context.Background(), g); err == nil || !strings.Contains(err.Error(), "eth9.101 does not exist") {
		t.Errorf("a VLAN on a missing parent: %v", err)
	}
	g.Ports[0].VLANs[0].ID = 4095
	if err := g.Validate(); err == nil || !strings.Contains(err.Error(), "tag 1-4094") {
		t.Errorf("tag 4095: %v", err)
	}
}
