package dataplane

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/nstest"
)

// everything is the NAPT inside prefix the agent gives every NAPT port: all
// that reaches the hub from behind it, which includes the hub's own link
// address, so only the hub's own exclusion keeps its traffic untranslated.
var everything = []netip.Prefix{mustPrefix("0.0.0.0/0")}

// applyNATHub applies h on a fresh manager for node and removes it at
// cleanup; it returns the hub's BIRD.
func applyNATHub(t *testing.T, node, runDir string, h Hub) BirdClient {
	t.Helper()
	ctx := context.Background()
	m := NewManager(Options{RunDir: runDir, NodeNamespace: node})
	t.Cleanup(func() {
		if err := m.Remove(ctx, h.ID); err != nil {
			t.Errorf("remove: %v", err)
		}
		killPidFile(pathsFor(runDir, h.Namespace()).PID)
		_ = netlinkOps{nodeNS: node}.DeleteNamespace(h.Namespace())
	})
	if err := m.Apply(ctx, h); err != nil {
		t.Fatal(err)
	}
	return m.BirdClient(h.ID)
}

// TestEndToEndHubOwnTrafficOnNAPT: a public cloud port whose NAPT
// translates everything behind the hub (as the agent asks), to three
// grades. The cloud router knows the hub by its link address: it drops
// BGP, BFD and echo requests from any other address, and it is passive,
// so its BGP session comes up only if the hub opens it untranslated, BFD
// only if the hub's control packets keep the hub's address, and a ping
// from the hub's link address is answered only if it leaves untranslated. Flows from behind the hub
// leave translated, and over many inside hosts every address of every
// grade is used, and no other address.
func TestEndToEndHubOwnTrafficOnNAPT(t *testing.T) {
	prefix, runDir := kernelTest(t)
	ctx := context.Background()
	node := prefix + "-node"
	addNamespace(t, node)
	onNS, clNS := prefix+"-on", prefix+"-pub"
	onPort, clPort := prefix+"o", prefix+"p"
	wirePeers(t, node, onNS, onPort, clNS, clPort)
	var hosts []string
	batch := []string{"addr add 10.10.0.1/32 dev lo"}
	for i := 1; i <= 96; i++ {
		hosts = append(hosts, fmt.Sprintf("10.10.1.%d", i))
		batch = append(batch, "addr add "+hosts[i-1]+"/32 dev lo")
	}
	nstest.IPBatch(t, onNS, batch)
	sh(t, "ip", "-n", clNS, "addr", "add", "172.31.0.1/32", "dev", "lo")
	sh(t, "ip", "netns", "exec", clNS, "nft", `add table ip peer
add chain ip peer in { type filter hook input priority filter; }
add rule ip peer in ip saddr != 169.254.20.1 icmp type echo-request counter drop
add rule ip peer in ip saddr != 169.254.20.1 udp dport { 3784, 4784 } counter drop
add rule ip peer in ip saddr != 169.254.20.1 tcp dport 179 counter drop`)
	onBird := startPeerBird(t, onNS, runDir, peerConf{Local: "169.254.10.2", Hub: "169.254.10.1", ASN: 65001, HubASN: 65100,
		Prefixes: []string{"10.10.0.0/16"}, Loopback: "10.10.0.1"})
	clBird := startPeerBird(t, clNS, runDir, peerConf{Local: "169.254.20.2", Hub: "169.254.20.1", ASN: 12076, HubASN: 65100,
		Prefixes: []string{"172.31.0.0/16"}, Loopback: "172.31.0.1", BFD: true, Passive: true})

	grades := []netip.Prefix{mustPrefix("203.0.113.8/32"), mustPrefix("203.0.113.10/31"), mustPrefix("203.0.113.12/30")}
	h := e2eHub(prefix+"-n", onPort, clPort, PolicyDefaultRoute)
	h.Ports[1].Name, h.Ports[1].PeerASN, h.Ports[1].BFD = "pub", 12076, true
	h.Ports[1].NAPT = &NAPT{Inside: everything, Public: grades}
	hubBird := applyNATHub(t, node, runDir, h)

	waitEstablished(t, hubBird, SessionName("onprem"))
	if err := ping(h.Namespace(), "169.254.20.1", "169.254.20.2", 5*time.Second); err != nil {
		t.Errorf("a ping from the hub's link address on the NAPT port: %v", err)
	}
	waitFor(t, "the BFD session on the NAPT port to come up", 30*time.Second, func() (bool, string) {
		lines, err := hubBird.Command(ctx, "show bfd sessions")
		var text strings.Builder
		for _, l := range lines {
			text.WriteString(l.Text + "\n")
		}
		return err == nil && strings.Contains(text.String(), "169.254.20.2") && strings.Contains(text.String(), " Up "), text.String()
	})
	waitEstablished(t, hubBird, SessionName("pub")) // opened by the hub: the router is passive

	for _, g := range grades {
		waitFor(t, "the cloud to learn "+g.String(), 30*time.Second, func() (bool, string) {
			return hasRoute(peerClient(clBird), g.String(), "hub")
		})
	}
	waitFor(t, "on-prem to learn 172.31.0.0/16", 30*time.Second, func() (bool, string) {
		return hasRoute(peerClient(onBird), "172.31.0.0/16", "hub")
	})
	cloudSeen := listenTCP(t, clNS, "172.31.0.1:8080")
	seen := map[string]int{}
	for _, src := range hosts {
		if err := dialTCP(onNS, src, "172.31.0.1:8080", 3*time.Second); err != nil {
			t.Fatalf("%s → cloud through NAPT: %v", src, err)
		}
		seen[recv(cloudSeen)]++
	}
	var want, got []string
	for _, g := range grades {
		for a := g.Addr(); g.Contains(a); a = a.Next() {
			want = append(want, a.String())
		}
	}
	for a := range seen {
		got = append(got, a)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("%d flows left from %v, want every address of the grades %v", len(hosts), seen, want)
	}
	listing, _ := nftCLI{}.List(ctx, h.Namespace())
	t.Logf("nft ruleset of %s:\n%s", h.Namespace(), listing)
}

// TestEndToEndNATOverSecondaryLink: a public cloud port with two links
// (ExpressRoute's primary and secondary, each its own link and BGP
// session to its own router), both carrying the port's NAPT and static
// NAT. Each router has the cloud's service address behind it; the hub
// prefers the primary. A host behind the hub keeps its static public
// address and the others leave through NAPT, and the cloud reaches the
// static address, over the primary — and over the secondary after the
// primary link's carrier is lost.
func TestEndToEndNATOverSecondaryLink(t *testing.T) {
	prefix, runDir := kernelTest(t)
	node := prefix + "-node"
	addNamespace(t, node)
	onNS, priNS, secNS := prefix+"-on", prefix+"-pri", prefix+"-sec"
	onPort, priPort, secPort := prefix+"o", prefix+"p", prefix+"s"
	wirePeers(t, node, onNS, onPort, priNS, priPort)
	addNamespace(t, secNS)
	sh(t, "ip", "-n", node, "link", "add", secPort, "type", "veth", "peer", "name", "eth0", "netns", secNS)
	sh(t, "ip", "-n", secNS, "addr", "add", "169.254.21.2/30", "dev", "eth0")
	sh(t, "ip", "-n", secNS, "link", "set", "eth0", "up")
	sh(t, "ip", "-n", onNS, "addr", "add", "10.10.0.1/32", "dev", "lo")
	sh(t, "ip", "-n", onNS, "addr", "add", "10.10.0.5/32", "dev", "lo")
	onBird := startPeerBird(t, onNS, runDir, peerConf{Local: "169.254.10.2", Hub: "169.254.10.1", ASN: 65001, HubASN: 65100,
		Prefixes: []string{"10.10.0.0/16"}, Loopback: "10.10.0.1"})
	routers := map[string]peerBird{}
	for _, r := range []struct{ ns, local, hub string }{{priNS, "169.254.20.2", "169.254.20.1"}, {secNS, "169.254.21.2", "169.254.21.1"}} {
		sh(t, "ip", "-n", r.ns, "addr", "add", "172.31.0.1/32", "dev", "lo")
		routers[r.ns] = startPeerBird(t, r.ns, runDir, peerConf{Local: r.local, Hub: r.hub, ASN: 12076, HubASN: 65100,
			Prefixes: []string{"172.31.0.0/16"}, Loopback: "172.31.0.1", BFD: true})
	}

	h := e2eHub(prefix+"-n", onPort, priPort, PolicyDefaultRoute)
	napt := &NAPT{Inside: everything, Public: []netip.Prefix{mustPrefix("203.0.113.8/30")}}
	static := []StaticNAT{{Inside: netip.MustParseAddr("10.10.0.5"), Public: netip.MustParseAddr("203.0.113.20")}}
	pri := &h.Ports[1]
	pri.Name, pri.PeerASN, pri.BFD, pri.NAPT, pri.StaticNAT = "pub_p", 12076, true, napt, static
	sec := *pri
	sec.Name, sec.Interface = "pub_s", secPort
	sec.Address, sec.PeerAddress = mustPrefix("169.254.21.1/30"), netip.MustParseAddr("169.254.21.2")
	h.Ports = append(h.Ports, sec)
	hubBird := applyNATHub(t, node, runDir, h)
	for _, s := range []string{"onprem", "pub_p", "pub_s"} {
		waitEstablished(t, hubBird, SessionName(s))
	}
	for _, r := range routers {
		for _, p := range []string{"203.0.113.8/30", "203.0.113.20/32"} {
			waitFor(t, r.NS+" to learn "+p, 30*time.Second, func() (bool, string) { return hasRoute(peerClient(r), p, "hub") })
		}
	}
	waitFor(t, "on-prem to learn 172.31.0.0/16", 30*time.Second, func() (bool, string) {
		return hasRoute(peerClient(onBird), "172.31.0.0/16", "hub")
	})
	via := func(dev string) {
		t.Helper()
		waitFor(t, "the hub to route the cloud over "+dev, 30*time.Second, func() (bool, string) {
			out := sh(t, "ip", "-n", h.Namespace(), "route", "get", "172.31.0.1")
			return strings.Contains(out, " dev "+dev+" "), out
		})
	}
	onSeen := listenTCP(t, onNS, "0.0.0.0:8081")
	check := func(link, cloud string) {
		t.Helper()
		cloudSeen := listenTCP(t, cloud, "172.31.0.1:8080")
		if err := dialTCP(onNS, "10.10.0.1", "172.31.0.1:8080", 3*time.Second); err != nil {
			t.Fatalf("%s: inside host → cloud through NAPT: %v", link, err)
		}
		if src := recv(cloudSeen); !napt.Public[0].Contains(netip.MustParseAddr(strings.Split(src+" ", " ")[0])) {
			t.Errorf("%s: the cloud sees the NAPT flow from %s, want an address of %v", link, src, napt.Public[0])
		}
		if err := dialTCP(onNS, "10.10.0.5", "172.31.0.1:8080", 3*time.Second); err != nil {
			t.Fatalf("%s: static NAT host → cloud: %v", link, err)
		}
		if src := recv(cloudSeen); src != "203.0.113.20" {
			t.Errorf("%s: the cloud sees the static NAT host as %s, want 203.0.113.20", link, src)
		}
		if err := dialTCP(cloud, "172.31.0.1", "203.0.113.20:8081", 3*time.Second); err != nil {
			t.Fatalf("%s: cloud → static NAT public address: %v", link, err)
		}
		if src := recv(onSeen); src != "172.31.0.1" {
			t.Errorf("%s: the inside host sees the cloud as %s, want 172.31.0.1", link, src)
		}
	}
	via(priPort)
	check("primary", priNS)
	// The primary link's carrier goes: BFD and the link take its session
	// down, and the hub routes the cloud over the secondary.
	sh(t, "ip", "-n", priNS, "link", "set", "eth0", "down")
	via(secPort)
	check("secondary", secNS)
}
