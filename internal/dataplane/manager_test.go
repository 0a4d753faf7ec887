package dataplane

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type fakeNode struct {
	net  *fakeNet
	nft  *fakeNft
	tc   *fakeTC
	bird *fakeBird
	m    *Manager
	rec  *calls
	dir  string
}

func newFakeNode(t *testing.T, nodeLinks ...string) *fakeNode {
	f := &fakeNode{net: newFakeNet(nodeLinks...), nft: &fakeNft{}, tc: &fakeTC{}, bird: &fakeBird{}, dir: t.TempDir()}
	f.m, f.rec = recordingManager(f.dir, f.net, f.nft, f.tc, f.bird)
	return f
}

func testHub() Hub {
	return e2eHub("c1", "eth-on", "eth-aws", PolicyAll)
}

// TestApplyStates walks one hub through a sequence of desired states and
// checks, after each, the altering calls made and the resulting state as
// text (Tailscale's TestRouterStates).
func TestApplyStates(t *testing.T) {
	f := newFakeNode(t, "eth-on", "eth-aws", "eth-other")
	ctx := context.Background()
	base := testHub()
	noAWS := base
	noAWS.Ports = base.Ports[:1]
	faster := noAWS
	faster.Ports = slices.Clone(noAWS.Ports)
	faster.Ports[0].SpeedMbps = 1000
	unshaped := faster
	unshaped.Ports = slices.Clone(faster.Ports)
	unshaped.Ports[0].SpeedMbps = 0
	ifbOn, ifbAWS := ifbName("eth-on"), ifbName("eth-aws")

	steps := []struct {
		name      string
		hub       Hub
		wantCalls []string
		wantLinks string
		wantNode  string // links left in the node namespace
		wantTC    string // the fake kernel's shaping, as fakeTC.dump writes it
	}{
		{
			name: "create",
			hub:  base,
			wantCalls: []string{
				"netns add hub-c1",
				`link move eth-on ""→"hub-c1"`, `link move eth-aws ""→"hub-c1"`,
				`link alias hub-c1 eth-aws "tsunagi:hub-c1"`, "addr add hub-c1 eth-aws 169.254.20.1/30", "link up=true hub-c1 eth-aws",
				`link alias hub-c1 eth-on "tsunagi:hub-c1"`, "addr add hub-c1 eth-on 169.254.10.1/30", "link up=true hub-c1 eth-on",
				"addr add hub-c1 lo 10.100.0.1/32", "addr add hub-c1 lo 10.200.0.1/32", "link up=true hub-c1 lo",
				"sysctl hub-c1 net.ipv4.ip_forward=1", "sysctl hub-c1 net.ipv4.conf.all.rp_filter=2", "sysctl hub-c1 net.ipv4.conf.default.rp_filter=2",
				"sysctl hub-c1 net.ipv6.conf.all.disable_ipv6=1", "sysctl hub-c1 net.ipv6.conf.default.disable_ipv6=1",
				"nft -f hub-c1",
				"tc add hub-c1 eth-on 100000000", "tc add hub-c1 eth-aws 500000000",
				// Ingress: the ifb and its htb before the redirect to it.
				"ifb add hub-c1 " + ifbOn + " for eth-on", "tc add hub-c1 " + ifbOn + " 100000000",
				"tc redirect hub-c1 eth-on to " + ifbOn,
				"ifb add hub-c1 " + ifbAWS + " for eth-aws", "tc add hub-c1 " + ifbAWS + " 500000000",
				"tc redirect hub-c1 eth-aws to " + ifbAWS,
				"bird -p", "bird start hub-c1",
			},
			wantTC: "hub-c1/eth-aws 500000000\nhub-c1/eth-on 100000000\n" +
				"hub-c1/" + ifbOn + " 100000000\nhub-c1/" + ifbAWS + " 500000000\n" +
				"ifb hub-c1/" + ifbOn + " for eth-on\nifb hub-c1/" + ifbAWS + " for eth-aws\n" +
				"redirect hub-c1/eth-aws to " + ifbAWS + "\nredirect hub-c1/eth-on to " + ifbOn + "\n",
			wantLinks: `eth-aws UP alias=tsunagi:hub-c1 169.254.20.1/30
eth-on UP alias=tsunagi:hub-c1 169.254.10.1/30
lo UP 10.100.0.1/32 10.200.0.1/32 127.0.0.1/8
net.ipv4.ip_forward=1
net.ipv4.conf.all.rp_filter=2
net.ipv4.conf.default.rp_filter=2
net.ipv6.conf.all.disable_ipv6=1
net.ipv6.conf.default.disable_ipv6=1
`,
			wantNode: "eth-other DOWN\n",
		},
		{
			name:      "same again changes nothing",
			hub:       base,
			wantCalls: nil,
			wantLinks: "eth-aws UP alias=tsunagi:hub-c1 169.254.20.1/30\neth-on UP alias=tsunagi:hub-c1 169.254.10.1/30\nlo UP 10.100.0.1/32 10.200.0.1/32 127.0.0.1/8\n",
			wantNode:  "eth-other DOWN\n",
			wantTC: "hub-c1/eth-aws 500000000\nhub-c1/eth-on 100000000\n" +
				"hub-c1/" + ifbOn + " 100000000\nhub-c1/" + ifbAWS + " 500000000\n" +
				"ifb hub-c1/" + ifbOn + " for eth-on\nifb hub-c1/" + ifbAWS + " for eth-aws\n" +
				"redirect hub-c1/eth-aws to " + ifbAWS + "\nredirect hub-c1/eth-on to " + ifbOn + "\n",
		},
		{
			name: "a port removed is given back",
			hub:  noAWS,
			wantCalls: []string{
				"addr del hub-c1 eth-aws 169.254.20.1/30", `link alias hub-c1 eth-aws ""`, "link up=false hub-c1 eth-aws",
				`link move eth-aws "hub-c1"→""`,
				// Unshaped while still in the hub; its ifb goes.
				"tc unredirect hub-c1 eth-aws", "tc del hub-c1 eth-aws", "ifb del hub-c1 " + ifbAWS,
				// The hub's input chain no longer admits BGP from the aws peer.
				"nft -f hub-c1", "bird -p", "birdc configure",
			},
			wantLinks: "eth-on UP alias=tsunagi:hub-c1 169.254.10.1/30\nlo UP 10.100.0.1/32 10.200.0.1/32 127.0.0.1/8\n",
			wantNode:  "eth-aws DOWN\neth-other DOWN\n",
			wantTC: "hub-c1/eth-on 100000000\nhub-c1/" + ifbOn + " 100000000\n" +
				"ifb hub-c1/" + ifbOn + " for eth-on\nredirect hub-c1/eth-on to " + ifbOn + "\n",
		},
		{
			name:      "speed change is a class change in each direction",
			hub:       faster,
			wantCalls: []string{"tc change hub-c1 eth-on 1000000000", "tc change hub-c1 " + ifbOn + " 1000000000"},
			wantTC: "hub-c1/eth-on 1000000000\nhub-c1/" + ifbOn + " 1000000000\n" +
				"ifb hub-c1/" + ifbOn + " for eth-on\nredirect hub-c1/eth-on to " + ifbOn + "\n",
			wantLinks: "eth-on UP alias=tsunagi:hub-c1 169.254.10.1/30\nlo UP 10.100.0.1/32 10.200.0.1/32 127.0.0.1/8\n",
			wantNode:  "eth-aws DOWN\neth-other DOWN\n",
		},
		{
			name:      "speed 0 removes the shaping",
			hub:       unshaped,
			wantCalls: []string{"tc del hub-c1 eth-on", "tc unredirect hub-c1 eth-on", "ifb del hub-c1 " + ifbOn},
			wantTC:    "",
			wantLinks: "eth-on UP alias=tsunagi:hub-c1 169.254.10.1/30\nlo UP 10.100.0.1/32 10.200.0.1/32 127.0.0.1/8\n",
			wantNode:  "eth-aws DOWN\neth-other DOWN\n",
		},
	}
	for _, s := range steps {
		if err := f.m.Apply(ctx, s.hub); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got := f.rec.take()
		slices.Sort(got)
		want := slices.Clone(s.wantCalls)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: calls\n  %s\nwant\n  %s", s.name, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		links, err := dumpLinks(f.net, "hub-c1")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(links, s.wantLinks) {
			t.Errorf("%s: hub-c1 links:\n%swant:\n%s", s.name, links, s.wantLinks)
		}
		node, _ := f.net.Links("")
		var nb strings.Builder
		for _, l := range node {
			nb.WriteString(l.Name + " DOWN" + map[bool]string{true: " alias=" + l.Alias}[l.Alias != ""] + "\n")
		}
		if nb.String() != s.wantNode {
			t.Errorf("%s: node namespace:\n%swant:\n%s", s.name, nb.String(), s.wantNode)
		}
		if got := f.tc.dump(); got != s.wantTC {
			t.Errorf("%s: shaping:\n%swant:\n%s", s.name, got, s.wantTC)
		}
	}
}

func TestApplyRefusesInvalidHubWithoutTouchingAnything(t *testing.T) {
	f := newFakeNode(t, "eth-on", "eth-aws")
	h := testHub()
	h.Ports[1].PeerAddress = netip.MustParseAddr("10.9.9.9") // not on the port's link
	err := f.m.Apply(context.Background(), h)
	if err == nil || !strings.Contains(err.Error(), "peer 10.9.9.9 is not another address of 169.254.20.0/30") {
		t.Fatalf("Apply = %v, want the peer address refused", err)
	}
	if got := f.rec.take(); len(got) > 0 {
		t.Errorf("a refused hub made calls: %q", got)
	}
}

func TestMissingInterfaceIsRefusedWhole(t *testing.T) {
	f := newFakeNode(t, "eth-on") // eth-aws not there yet
	ctx := context.Background()
	err := f.m.Apply(ctx, testHub())
	if err == nil || !strings.Contains(err.Error(), "interface eth-aws does not exist") {
		t.Fatalf("Apply = %v, want the missing interface named", err)
	}
	if got := f.rec.take(); len(got) > 0 {
		t.Errorf("a hub refused for a missing interface made calls: %q", got)
	}
	f.net.ns[""]["eth-aws"] = &LinkState{Name: "eth-aws"} // the interface appears
	if err := f.m.Apply(ctx, testHub()); err != nil {
		t.Fatalf("second pass: %v", err)
	}
}

// A hub that cannot be realised changes nothing of itself and stops no
// other hub: the others are applied in the same pass.
func TestApplyAllKeepsABrokenHubApart(t *testing.T) {
	f := newFakeNode(t, "eth-on", "eth-aws", "eth-on2")
	ctx := context.Background()
	good := testHub()
	other := testHub()
	other.ID = "other"
	other.Ports = other.Ports[:1]
	other.Ports[0].Interface = "eth-on2"
	broken := testHub()
	broken.ID = "broken"
	broken.Ports = broken.Ports[:1]
	broken.Ports[0].Interface = "eth-missing"
	failed, err := f.m.ApplyAll(ctx, []Hub{good, broken, other})
	if err != nil || len(failed) != 3 || failed[0] != nil || failed[2] != nil ||
		failed[1] == nil || !strings.Contains(failed[1].Error(), "eth-missing") {
		t.Fatalf("ApplyAll = %v, %v; want only the broken hub failed, naming eth-missing", failed, err)
	}
	var good1, other1 bool
	for _, c := range f.rec.take() {
		if strings.Contains(c, "hub-broken") {
			t.Errorf("the broken hub was touched: %q", c)
		}
		good1 = good1 || strings.Contains(c, "hub-c1")
		other1 = other1 || strings.Contains(c, "hub-other")
	}
	if !good1 || !other1 {
		t.Errorf("the realisable hubs were not both applied (c1 %v, other %v)", good1, other1)
	}
}

// A configuration BIRD refuses never reaches the live path nor the daemon.
func TestBirdRefusedConfigKeepsTheLiveOne(t *testing.T) {
	f := newFakeNode(t, "eth-on", "eth-aws", "REFUSE0")
	ctx := context.Background()
	if err := f.m.Apply(ctx, testHub()); err != nil {
		t.Fatal(err)
	}
	p := pathsFor(f.dir, "hub-c1")
	live, _ := os.ReadFile(p.Config)
	bad := testHub()
	bad.Ports = slices.Clone(bad.Ports)
	bad.Ports[1].Interface = "REFUSE0" // lands in a description; the fake bird -p refuses it
	f.rec.take()
	err := f.m.Apply(ctx, bad)
	if err == nil || !strings.Contains(err.Error(), "configuration refused") {
		t.Fatalf("Apply = %v, want the configuration refused", err)
	}
	if now, _ := os.ReadFile(p.Config); string(now) != string(live) {
		t.Error("the refused configuration replaced the live file")
	}
	if f.bird.loaded(p) != string(live) {
		t.Error("BIRD loaded the refused configuration")
	}
	for _, c := range f.rec.take() {
		if strings.HasPrefix(c, "birdc") {
			t.Errorf("BIRD was told to reconfigure: %q", c)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(p.Config), "bird.conf.*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

// A configuration bird -p passes but the running BIRD refuses is not left
// in place: the previous file comes back and the next pass tries again.
func TestBirdRuntimeRefusalRestoresTheFile(t *testing.T) {
	f := newFakeNode(t, "eth-on", "eth-aws", "RTFAIL0")
	ctx := context.Background()
	if err := f.m.Apply(ctx, testHub()); err != nil {
		t.Fatal(err)
	}
	p := pathsFor(f.dir, "hub-c1")
	live, _ := os.ReadFile(p.Config)
	bad := testHub()
	bad.Ports = slices.Clone(bad.Ports)
	bad.Ports[1].Interface = "RTFAIL0"
	for range 2 {
		if err := f.m.Apply(ctx, bad); err == nil {
			t.Fatal("Apply accepted a configuration BIRD refused")
		}
		if now, _ := os.ReadFile(p.Config); string(now) != string(live) {
			t.Fatal("the refused configuration stays in place")
		}
		if got := f.rec.take(); !slices.Contains(got, "birdc configure") {
			t.Errorf("the pass did not retry the reconfigure: %q", got)
		}
	}
}

// A restarted agent finds BIRD gone (crash) but its configuration in place:
// it starts BIRD without rewriting anything else.
func TestBirdDeadIsRestarted(t *testing.T) {
	f := newFakeNode(t, "eth-on", "eth-aws")
	ctx := context.Background()
	if err := f.m.Apply(ctx, testHub()); err != nil {
		t.Fatal(err)
	}
	_ = f.bird.Stop(pathsFor(f.dir, "hub-c1"))
	f.rec.take()
	if err := f.m.Apply(ctx, testHub()); err != nil {
		t.Fatal(err)
	}
	if got := f.rec.take(); !slices.Equal(got, []string{"bird start hub-c1"}) {
		t.Errorf("calls %q, want only a start", got)
	}
}

// Aggregates follow the table: advertised while a more specific route is
// learned over another session, withdrawn when it goes.
func TestAggregatesFollowLearnedRoutes(t *testing.T) {
	f := newFakeNode(t, "eth-on", "eth-aws")
	ctx := context.Background()
	h := e2eHub("c1", "eth-on", "eth-aws", PolicyAggregateRFC1918)
	if err := f.m.Apply(ctx, h); err != nil {
		t.Fatal(err)
	}
	p := pathsFor(f.dir, "hub-c1")
	if strings.Contains(f.bird.loaded(p), "route 10.0.0.0/8 blackhole") {
		t.Error("10/8 advertised with nothing learned")
	}
	f.bird.routes = []Route{{Net: mustPrefix("10.10.0.0/16"), Protocol: "port_onprem", Primary: true}}
	if err := f.m.Apply(ctx, h); err != nil {
		t.Fatal(err)
	}
	conf := f.bird.loaded(p)
	if !strings.Contains(conf, "route 10.0.0.0/8 blackhole") || !strings.Contains(conf, "if net ~ [ 10.0.0.0/8, 10.100.0.0/24, 10.200.0.0/24 ] then accept;") {
		t.Errorf("10/8 not advertised on aws once 10.10/16 is learned:\n%s", conf)
	}
	f.bird.routes = nil
	if err := f.m.Apply(ctx, h); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(f.bird.loaded(p), "10.0.0.0/8") {
		t.Error("10/8 still advertised after 10.10/16 went")
	}
}

// Remove deletes a namespace only if this package created it, and gives back
// only the links it marked.
func TestRemoveTouchesOnlyWhatItOwns(t *testing.T) {
	ctx := context.Background()
	t.Run("created", func(t *testing.T) {
		f := newFakeNode(t, "eth-on", "eth-aws")
		if err := f.m.Apply(ctx, testHub()); err != nil {
			t.Fatal(err)
		}
		if err := f.m.Remove(ctx, "c1"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := f.net.NamespaceExists("hub-c1"); ok {
			t.Error("namespace survives")
		}
		node, _ := f.net.Links("")
		if len(node) != 2 || node[0].Alias != "" || node[1].Alias != "" {
			t.Errorf("links not given back unmarked: %+v", node)
		}
		if f.bird.Running("", pathsFor(f.dir, "hub-c1")) {
			t.Error("BIRD still running")
		}
	})
	t.Run("adopted", func(t *testing.T) {
		f := newFakeNode(t, "eth-on", "eth-aws")
		_ = f.net.CreateNamespace("hub-c1") // made by someone else
		f.net.ns["hub-c1"]["foreign0"] = &LinkState{Name: "foreign0", Alias: "not ours"}
		if err := f.m.Apply(ctx, testHub()); err != nil {
			t.Fatal(err)
		}
		for _, c := range f.rec.take() {
			if strings.HasPrefix(c, "netns add") {
				t.Errorf("adopting created a namespace: %q", c)
			}
		}
		if err := f.m.Remove(ctx, "c1"); err != nil {
			t.Fatal(err)
		}
		links, err := f.net.Links("hub-c1")
		if err != nil {
			t.Fatalf("adopted namespace deleted: %v", err)
		}
		var names []string
		for _, l := range links {
			names = append(names, l.Name)
		}
		if !slices.Equal(names, []string{"foreign0", "lo"}) {
			t.Errorf("adopted namespace holds %v after Remove, want the foreign link and lo", names)
		}
	})
}
