package dataplane

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/nstest"
)

// e2eCustomer is one customer's side of the end-to-end topology: an
// on-premises router namespace and a cloud router namespace, each joined by
// a veth pair to a port of the customer's hub.
type e2eCustomer struct {
	hub             Hub
	onprem, cloud   string // peer namespaces
	onBird, cloudPr peerBird
	onPort, clPort  string // hub-side interfaces, in the node namespace at first
	hubBird         BirdClient
	onAddr, clAddr  string // loopback addresses inside the customers' prefixes
}

// e2eHub is the hub both customers get: identical addresses, prefixes and
// ASNs, to show that hubs are isolated by their namespaces alone.
func e2eHub(id, onIf, clIf string, cloudPolicy PolicyKind) Hub {
	return Hub{
		ID:                id,
		LocalASN:          65100,
		RouterID:          netip.MustParseAddr("10.100.0.1"),
		InternalNetwork:   mustPrefix("10.100.0.0/24"),
		MonitoringNetwork: mustPrefix("10.200.0.0/24"),
		Ports: []Port{
			{Name: "onprem", Interface: onIf, Address: mustPrefix("169.254.10.1/30"),
				PeerAddress: netip.MustParseAddr("169.254.10.2"), PeerASN: 65001,
				Policy: RoutePolicy{Kind: PolicyAll}, SpeedMbps: 100},
			{Name: "aws", Interface: clIf, Address: mustPrefix("169.254.20.1/30"),
				PeerAddress: netip.MustParseAddr("169.254.20.2"), PeerASN: 64512,
				Policy: RoutePolicy{Kind: cloudPolicy}, SpeedMbps: 500},
		},
	}
}

func setupCustomer(t *testing.T, prefix, node, x, runDir string, policy PolicyKind, md5 string) *e2eCustomer {
	t.Helper()
	c := &e2eCustomer{
		onprem: prefix + "-on" + x, cloud: prefix + "-aws" + x,
		onPort: prefix + "o" + x, clPort: prefix + "w" + x,
		onAddr: "10.10.0.1", clAddr: "172.31.0.1",
	}
	c.hub = e2eHub(prefix+"-"+x, c.onPort, c.clPort, policy)
	c.hub.Ports[0].MD5 = md5
	c.hub.Ports[0].BFD = md5 != "" // B: MD5 and BFD; A: neither
	for _, side := range []struct{ ns, port, addr, lo string }{
		{c.onprem, c.onPort, "169.254.10.2/30", c.onAddr + "/32"},
		{c.cloud, c.clPort, "169.254.20.2/30", c.clAddr + "/32"},
	} {
		addNamespace(t, side.ns)
		sh(t, "ip", "-n", node, "link", "add", side.port, "type", "veth", "peer", "name", "eth0", "netns", side.ns)
		sh(t, "ip", "-n", side.ns, "addr", "add", side.addr, "dev", "eth0")
		sh(t, "ip", "-n", side.ns, "addr", "add", side.lo, "dev", "lo")
		sh(t, "ip", "-n", side.ns, "link", "set", "eth0", "up")
	}
	c.onBird = startPeerBird(t, c.onprem, runDir, peerConf{Local: "169.254.10.2", Hub: "169.254.10.1", ASN: 65001, HubASN: 65100,
		Prefixes: []string{"10.10.0.0/16"}, Loopback: c.onAddr, MD5: md5, BFD: md5 != ""})
	c.cloudPr = startPeerBird(t, c.cloud, runDir, peerConf{Local: "169.254.20.2", Hub: "169.254.20.1", ASN: 64512, HubASN: 65100,
		Prefixes: []string{"172.31.0.0/16"}, Loopback: c.clAddr})
	return c
}

// TestEndToEndHubs builds a node out of namespaces: two customers' hubs,
// built by this package, each with an on-premises router (AS 65001,
// 10.10.0.0/16) and an AWS router (AS 64512, 172.31.0.0/16) running their
// own BIRD, with the same addresses and prefixes for both customers.
func TestEndToEndHubs(t *testing.T) {
	prefix, runDir := kernelTest(t)
	ctx := context.Background()
	node := prefix + "-node"
	addNamespace(t, node)

	nl := netlinkOps{nodeNS: node}
	m, rec := recordingManager(runDir, nl, nftCLI{}, netlinkTC{ops: nl}, birdDaemon{})
	a := setupCustomer(t, prefix, node, "a", runDir, PolicyAggregateRFC1918, "")
	// B's on-premises session is MD5-signed (TCP_MD5SIG) and BFD-watched;
	// A's is neither.
	b := setupCustomer(t, prefix, node, "b", runDir, PolicyAll, "s3cret-B")
	for _, c := range []*e2eCustomer{a, b} {
		t.Cleanup(func() {
			if err := m.Remove(ctx, c.hub.ID); err != nil {
				t.Errorf("remove %s: %v", c.hub.ID, err)
			}
			// Belt and braces, should Remove have failed half-way.
			killPidFile(pathsFor(runDir, c.hub.Namespace()).PID)
			_ = nl.DeleteNamespace(c.hub.Namespace())
		})
		c.hubBird = m.BirdClient(c.hub.ID)
	}

	for _, c := range []*e2eCustomer{a, b} {
		if err := m.Apply(ctx, c.hub); err != nil {
			t.Fatalf("apply %s: %v", c.hub.ID, err)
		}
	}
	t.Logf("first apply: %s", strings.Join(rec.take(), "; "))

	for _, c := range []*e2eCustomer{a, b} {
		waitEstablished(t, c.hubBird, SessionName("onprem"))
		waitEstablished(t, c.hubBird, SessionName("aws"))
	}
	// A's AWS port advertises RFC 1918 aggregates only while a more specific
	// route is learned: the next pass (the agent's resync) sees 10.10/16 and
	// starts advertising 10/8, without resetting any session.
	before, _ := protocolState(a.hubBird, SessionName("aws"))
	waitFor(t, "hub A to learn 10.10.0.0/16", 30*time.Second, func() (bool, string) {
		return hasRoute(a.hubBird, "10.10.0.0/16", SessionName("onprem"))
	})
	if err := m.Apply(ctx, a.hub); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); !slices.Equal(got, []string{"bird -p", "birdc configure"}) {
		t.Errorf("aggregate activation made calls %q, want only a checked reconfigure", got)
	}

	learn := func(c BirdClient, who, prefix string) {
		waitFor(t, who+" to learn "+prefix, 30*time.Second, func() (bool, string) { return hasRoute(c, prefix, "hub") })
	}
	learn(peerClient(a.onBird), "A on-prem", "172.31.0.0/16")
	learn(peerClient(a.cloudPr), "A cloud", "10.0.0.0/8")
	learn(peerClient(a.cloudPr), "A cloud", "10.100.0.0/24")
	learn(peerClient(b.onBird), "B on-prem", "172.31.0.0/16")
	learn(peerClient(b.cloudPr), "B cloud", "10.10.0.0/16")
	learn(peerClient(b.onBird), "B on-prem", "10.200.0.0/24")
	if ok, _ := hasRoute(peerClient(a.cloudPr), "10.10.0.0/16", "hub"); ok {
		t.Error("A's AggregateRFC1918 port leaks the more specific 10.10.0.0/16")
	}
	after, _ := protocolState(a.hubBird, SessionName("aws"))
	if !after.Established() || !after.Since.Equal(before.Since) {
		t.Errorf("reconfigure reset A's aws session: before %+v, after %+v", before, after)
	}

	waitFor(t, "B's BFD session to come up", 30*time.Second, func() (bool, string) {
		lines, err := b.hubBird.Command(ctx, "show bfd sessions")
		var text strings.Builder
		for _, l := range lines {
			text.WriteString(l.Text + "\n")
		}
		return err == nil && strings.Contains(text.String(), "169.254.10.2") && strings.Contains(text.String(), " Up "), text.String()
	})

	for _, c := range []*e2eCustomer{a, b} {
		if err := ping(c.onprem, c.onAddr, c.clAddr, 5*time.Second); err != nil {
			t.Fatalf("%s: on-prem → cloud across the hub: %v", c.hub.ID, err)
		}
		if err := ping(c.cloud, c.clAddr, c.onAddr, 5*time.Second); err != nil {
			t.Fatalf("%s: cloud → on-prem across the hub: %v", c.hub.ID, err)
		}
		// The hub answers on its internal network's first address.
		if err := ping(c.onprem, c.onAddr, "10.100.0.1", 5*time.Second); err != nil {
			t.Fatalf("%s: on-prem → the hub's internal address: %v", c.hub.ID, err)
		}
	}

	t.Run("idempotent", func(t *testing.T) {
		p := pathsFor(runDir, a.hub.Namespace())
		conf0, _ := os.ReadFile(p.Config)
		pid0, _ := os.ReadFile(p.PID)
		nft0, _ := nftCLI{}.List(ctx, a.hub.Namespace())
		links0, _ := dumpLinks(nl, a.hub.Namespace())
		for range 2 {
			if err := m.Apply(ctx, a.hub); err != nil {
				t.Fatal(err)
			}
			if got := rec.take(); len(got) > 0 {
				t.Errorf("Apply of an unchanged hub made altering calls: %q", got)
			}
		}
		conf1, _ := os.ReadFile(p.Config)
		pid1, _ := os.ReadFile(p.PID)
		nft1, _ := nftCLI{}.List(ctx, a.hub.Namespace())
		links1, _ := dumpLinks(nl, a.hub.Namespace())
		if string(conf0) != string(conf1) || string(pid0) != string(pid1) || nft0 != nft1 || links0 != links1 {
			t.Errorf("state changed: bird.conf %v, pid %q→%q, nft %v, links %v",
				string(conf0) == string(conf1), pid0, pid1, nft0 == nft1, links0 == links1)
		}
		// A restarted agent (a new Manager, nothing in memory) adopts all of
		// it without a single altering call.
		restarted, rec2 := recordingManager(runDir, nl, nftCLI{}, netlinkTC{ops: nl}, birdDaemon{})
		if err := restarted.Apply(ctx, a.hub); err != nil {
			t.Fatal(err)
		}
		if got := rec2.take(); len(got) > 0 {
			t.Errorf("a restarted agent's first Apply made calls: %q", got)
		}
		// Nothing of A is in B's namespace.
		linksB, _ := dumpLinks(nl, b.hub.Namespace())
		if strings.Contains(linksB, a.onPort) || strings.Contains(linksB, a.clPort) || strings.Contains(linksB, a.hub.Namespace()) {
			t.Errorf("B's namespace shows A's links:\n%s", linksB)
		}
		wantLinks := "lo UP 10.100.0.1/32 10.200.0.1/32 127.0.0.1/8\n" +
			a.onPort + " UP alias=tsunagi:" + a.hub.Namespace() + " 169.254.10.1/30\n" +
			a.clPort + " UP alias=tsunagi:" + a.hub.Namespace() + " 169.254.20.1/30\n" +
			// Each shaped port's ifb, marked with the device whose ingress
			// it shapes (tc.go).
			ifbName(a.onPort) + " UP alias=tsunagi-ifb:" + a.onPort + "\n" +
			ifbName(a.clPort) + " UP alias=tsunagi-ifb:" + a.clPort + "\n" +
			"net.ipv4.ip_forward=1\nnet.ipv4.conf.all.rp_filter=2\nnet.ipv4.conf.default.rp_filter=2\n" +
			"net.ipv6.conf.all.disable_ipv6=1\nnet.ipv6.conf.default.disable_ipv6=1\n"
		if links1 != sortLinesExceptSysctl(wantLinks) {
			t.Errorf("hub A links:\n%s\nwant:\n%s", links1, sortLinesExceptSysctl(wantLinks))
		}
	})

	t.Run("firewall blocks then allows", func(t *testing.T) {
		since0 := waitEstablished(t, a.hubBird, SessionName("onprem")).Since
		blocked := a.hub
		blocked.Ports = slices.Clone(a.hub.Ports)
		blocked.Ports[0].Firewall = &FirewallPolicy{Stateful: true, Rules: []Rule{
			{Action: Drop, Destinations: []netip.Prefix{mustPrefix("172.31.0.0/16")}, Protocol: "icmp"},
			{Action: Accept},
		}}
		if err := m.Apply(ctx, blocked); err != nil {
			t.Fatal(err)
		}
		if got := rec.take(); !slices.Equal(got, []string{"nft -f " + a.hub.Namespace()}) {
			t.Errorf("firewall change made calls %q, want one nft batch", got)
		}
		if err := ping(a.onprem, a.onAddr, a.clAddr, 1500*time.Millisecond); err == nil {
			t.Error("A: ping passes a drop rule")
		}
		if err := ping(b.onprem, b.onAddr, b.clAddr, 5*time.Second); err != nil {
			t.Errorf("B is hit by A's firewall: %v", err)
		}
		listing, _ := nftCLI{}.List(ctx, a.hub.Namespace())
		if !strings.Contains(listing, `comment "port onprem rule 0"`) || strings.Contains(listing, "counter packets 0 bytes 0 drop comment \"port onprem rule 0\"") {
			t.Errorf("rule 0 counted no packet:\n%s", listing)
		}
		allowed := blocked
		allowed.Ports = slices.Clone(blocked.Ports)
		allowed.Ports[0].Firewall = &FirewallPolicy{Stateful: true, Rules: []Rule{
			{Action: Accept, Destinations: []netip.Prefix{mustPrefix("172.31.0.0/16")}, Protocol: "icmp"},
		}}
		if err := m.Apply(ctx, allowed); err != nil {
			t.Fatal(err)
		}
		rec.take()
		if err := ping(a.onprem, a.onAddr, a.clAddr, 5*time.Second); err != nil {
			t.Errorf("A: ping fails after the rule allows it: %v", err)
		}
		st := waitEstablished(t, a.hubBird, SessionName("onprem"))
		if !st.Since.Equal(since0) {
			t.Errorf("firewall change reset the BGP session: since %v → %v", since0, st.Since)
		}
		a.hub = allowed
	})

	t.Run("speed change keeps the session", func(t *testing.T) {
		st0 := waitEstablished(t, a.hubBird, SessionName("onprem"))
		peer0, _ := protocolState(peerClient(a.onBird), "hub")
		// The on-premises port's egress is shaped at 100 Mbit/s: a TCP flow
		// from the cloud to on-prem, measured with iperf3, gets 90-101 % of
		// it (headers take about 4 %).
		at100 := nstest.Iperf3(t, a.onprem, a.onAddr, a.cloud, a.clAddr, "5201", 2)
		t.Logf("goodput through the hub at 100 Mbit/s: %.1f Mbit/s", at100/1e6)
		if at100 < 90e6 || at100 > 101e6 {
			t.Errorf("goodput at a contracted 100 Mbit/s: %.1f Mbit/s", at100/1e6)
		}
		faster := a.hub
		faster.Ports = slices.Clone(a.hub.Ports)
		faster.Ports[0].SpeedMbps = 300
		// A ping every 10 ms runs across the change and must lose nothing.
		stop := make(chan struct{})
		type result struct{ sent, lost int }
		done := make(chan result, 1)
		go func() {
			sent, lost, err := pingStream(a.onprem, a.onAddr, a.clAddr, 10*time.Millisecond, stop)
			if err != nil {
				t.Errorf("ping stream: %v", err)
			}
			done <- result{sent, lost}
		}()
		time.Sleep(300 * time.Millisecond)
		if err := m.Apply(ctx, faster); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		close(stop)
		r := <-done
		t.Logf("pings at 10 ms across the speed change: %d sent, %d lost", r.sent, r.lost)
		if r.lost > 0 || r.sent < 20 {
			t.Errorf("speed change: %d of %d pings lost", r.lost, r.sent)
		}
		// One class change in each direction: the port's egress and its
		// ifb's (tc.go).
		want := []string{"tc change " + a.hub.Namespace() + " " + a.onPort + " 300000000",
			"tc change " + a.hub.Namespace() + " " + ifbName(a.onPort) + " 300000000"}
		if got := rec.take(); !slices.Equal(got, want) {
			t.Errorf("speed change made calls %q, want %q", got, want)
		}
		if bps, ok, err := (netlinkTC{ops: nl}).Rate(a.hub.Namespace(), a.onPort); err != nil || !ok || bps != 300_000_000 {
			t.Errorf("shaping after change: %d bit/s, present %v, %v", bps, ok, err)
		}
		at300 := nstest.Iperf3(t, a.onprem, a.onAddr, a.cloud, a.clAddr, "5202", 2)
		t.Logf("goodput through the hub at 300 Mbit/s: %.1f Mbit/s", at300/1e6)
		if at300 < 1.5*at100 || at300 > 303e6 {
			t.Errorf("goodput after the change to 300 Mbit/s: %.1f Mbit/s", at300/1e6)
		}
		if err := ping(a.onprem, a.onAddr, a.clAddr, 5*time.Second); err != nil {
			t.Errorf("ping after speed change: %v", err)
		}
		st1, _ := protocolState(a.hubBird, SessionName("onprem"))
		peer1, _ := protocolState(peerClient(a.onBird), "hub")
		if !st1.Established() || !st1.Since.Equal(st0.Since) || !peer1.Since.Equal(peer0.Since) {
			t.Errorf("session reset by speed change: hub %+v → %+v, peer %+v → %+v", st0, st1, peer0, peer1)
		}
		a.hub = faster
	})

	t.Run("remove hub A leaves B", func(t *testing.T) {
		if err := m.Remove(ctx, a.hub.ID); err != nil {
			t.Fatal(err)
		}
		if ok, _ := nl.NamespaceExists(a.hub.Namespace()); ok {
			t.Error("hub A's namespace survives Remove")
		}
		links, err := nl.Links("")
		if err != nil {
			t.Fatal(err)
		}
		var back []string
		for _, l := range links {
			if strings.HasPrefix(l.Name, prefix) {
				back = append(back, l.Name+"/"+l.Alias)
			}
		}
		if !slices.Contains(back, a.onPort+"/") || !slices.Contains(back, a.clPort+"/") {
			t.Errorf("A's ports not given back unmarked to the node namespace: %v", back)
		}
		if _, err := os.Stat(filepath.Join(runDir, a.hub.Namespace())); !os.IsNotExist(err) {
			t.Errorf("A's run directory survives: %v", err)
		}
		if err := ping(b.onprem, b.onAddr, b.clAddr, 5*time.Second); err != nil {
			t.Errorf("B after A's removal: %v", err)
		}
	})
}

// sortLinesExceptSysctl orders link lines by name as dumpLinks does.
func sortLinesExceptSysctl(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	var links, rest []string
	for _, l := range lines {
		if strings.Contains(l, "=") && !strings.Contains(l, " ") {
			rest = append(rest, l)
		} else {
			links = append(links, l)
		}
	}
	slices.Sort(links)
	return strings.Join(append(links, rest...), "\n") + "\n"
}
