package dataplane

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// listenTCP listens in a namespace and reports the remote address of each
// connection it accepts.
func listenTCP(t *testing.T, ns, addr string) <-chan string {
	t.Helper()
	var ln net.Listener
	err := netlinkOps{}.inNamespace(ns, func() error {
		var err error
		ln, err = net.Listen("tcp4", addr)
		return err
	})
	if err != nil {
		t.Fatalf("listen %s in %s: %v", addr, ns, err)
	}
	t.Cleanup(func() { ln.Close() })
	seen := make(chan string, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			seen <- c.RemoteAddr().(*net.TCPAddr).IP.String()
			c.Close()
		}
	}()
	return seen
}

// dialTCP opens a TCP connection from src in namespace ns.
func dialTCP(ns, src, dst string, timeout time.Duration) error {
	return netlinkOps{}.inNamespace(ns, func() error {
		d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp4", dst)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

func recv(ch <-chan string) string {
	select {
	case s := <-ch:
		return s
	case <-time.After(3 * time.Second):
		return "(nothing)"
	}
}

// TestEndToEndNAT: a hub with an on-premises port and a public cloud port
// with NAPT and a static NAT. Hub-to-cloud flows leave with a public
// source; a flow the cloud opens toward an inside address is dropped even
// when the cloud has a route for it; the static NAT address reaches its
// inside host from the cloud, and that host's own flows leave with its
// public address.
func TestEndToEndNAT(t *testing.T) {
	prefix, runDir := kernelTest(t)
	ctx := context.Background()
	node := prefix + "-node"
	addNamespace(t, node)
	nl := netlinkOps{nodeNS: node}
	m := NewManager(Options{RunDir: runDir, NodeNamespace: node})

	onNS, clNS := prefix+"-on", prefix+"-pub"
	onPort, clPort := prefix+"o", prefix+"p"
	wirePeers(t, node, onNS, onPort, clNS, clPort)
	sh(t, "ip", "-n", onNS, "addr", "add", "10.10.0.1/32", "dev", "lo")
	sh(t, "ip", "-n", onNS, "addr", "add", "10.10.0.5/32", "dev", "lo")
	sh(t, "ip", "-n", clNS, "addr", "add", "172.31.0.1/32", "dev", "lo")
	// Besides its own prefix, the on-premises router sends a longer prefix
	// of the hub's internal network and a bogon: the hub must refuse both.
	onBird := startPeerBird(t, onNS, runDir, peerConf{Local: "169.254.10.2", Hub: "169.254.10.1", ASN: 65001, HubASN: 65100,
		Prefixes: []string{"10.10.0.0/16", "10.100.0.0/25", "192.0.2.0/24"}, Loopback: "10.10.0.1"})
	clBird := startPeerBird(t, clNS, runDir, peerConf{Local: "169.254.20.2", Hub: "169.254.20.1", ASN: 12076, HubASN: 65100,
		Prefixes: []string{"172.31.0.0/16"}, Loopback: "172.31.0.1"})

	h := e2eHub(prefix+"-n", onPort, clPort, PolicyDefaultRoute)
	h.Ports[1].Name = "pub"
	h.Ports[1].PeerASN = 12076
	h.Ports[1].NAPT = &NAPT{Inside: []netip.Prefix{mustPrefix("10.10.0.0/16")}, Public: []netip.Prefix{mustPrefix("203.0.113.8/30")}}
	h.Ports[1].StaticNAT = []StaticNAT{{Inside: netip.MustParseAddr("10.10.0.5"), Public: netip.MustParseAddr("203.0.113.20")}}
	t.Cleanup(func() {
		if err := m.Remove(ctx, h.ID); err != nil {
			t.Errorf("remove: %v", err)
		}
		killPidFile(pathsFor(runDir, h.Namespace()).PID)
		_ = nl.DeleteNamespace(h.Namespace())
	})
	if err := m.Apply(ctx, h); err != nil {
		t.Fatal(err)
	}
	hubBird := m.BirdClient(h.ID)
	waitEstablished(t, hubBird, SessionName("onprem"))
	waitEstablished(t, hubBird, SessionName("pub"))
	for _, r := range []struct {
		c      BirdClient
		who, p string
	}{
		{peerClient(onBird), "on-prem", "172.31.0.0/16"},
		{peerClient(clBird), "cloud", "0.0.0.0/0"},
		{peerClient(clBird), "cloud", "203.0.113.8/30"},
		{peerClient(clBird), "cloud", "203.0.113.20/32"},
	} {
		waitFor(t, r.who+" to learn "+r.p, 30*time.Second, func() (bool, string) { return hasRoute(r.c, r.p, "hub") })
	}
	if ok, _ := hasRoute(peerClient(clBird), "10.10.0.0/16", "hub"); ok {
		t.Error("the DefaultRoute port leaks 10.10.0.0/16")
	}
	if ok, _ := hasRoute(peerClient(onBird), "203.0.113.8/30", "hub"); ok {
		t.Error("the NAT public prefix leaks to the on-premises port")
	}

	cloudSeen := listenTCP(t, clNS, "172.31.0.1:8080")
	if err := dialTCP(onNS, "10.10.0.1", "172.31.0.1:8080", 3*time.Second); err != nil {
		t.Fatalf("on-prem → cloud through NAPT: %v", err)
	}
	if src := recv(cloudSeen); !mustPrefix("203.0.113.8/30").Contains(netip.MustParseAddr(strings.Split(src+" ", " ")[0])) {
		t.Errorf("cloud sees the NAPT flow from %s, want an address of 203.0.113.8/30", src)
	}
	if err := dialTCP(onNS, "10.10.0.5", "172.31.0.1:8080", 3*time.Second); err != nil {
		t.Fatalf("static NAT host → cloud: %v", err)
	}
	if src := recv(cloudSeen); src != "203.0.113.20" {
		t.Errorf("cloud sees the static NAT host as %s, want 203.0.113.20", src)
	}

	onSeen := listenTCP(t, onNS, "0.0.0.0:8081")
	if err := dialTCP(clNS, "172.31.0.1", "203.0.113.20:8081", 3*time.Second); err != nil {
		t.Fatalf("cloud → static NAT public address: %v", err)
	}
	if src := recv(onSeen); src != "172.31.0.1" {
		t.Errorf("inside host sees the cloud as %s, want 172.31.0.1", src)
	}
	// The cloud routes the inside prefix at the hub by hand: NAPT must
	// still refuse the flow it opens.
	sh(t, "ip", "-n", clNS, "route", "add", "10.10.0.0/16", "via", "169.254.20.1")
	if err := dialTCP(clNS, "172.31.0.1", "10.10.0.1:8081", time.Second); err == nil {
		t.Error("a flow opened from the NAPT cloud reached an inside host")
	}
	st, err := m.Observe(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	counted := map[string]uint64{}
	for _, r := range st.Rules {
		counted[r.Comment] = r.Packets
	}
	if counted["port pub: napt, flow opened from outside"] == 0 {
		t.Errorf("the NAPT drop rule counted nothing: %+v", st.Rules)
	}
	// Imported is counted after the import filter: 1 on the on-premises
	// session means the hub's own prefix and the bogon were refused.
	for _, s := range st.Sessions {
		if !s.Established() || s.Routes.Imported != 1 {
			t.Errorf("session %s: %+v", s.Name, s)
		}
	}
	// …and says which prefixes it refused, and why (the looking glass).
	want := map[string]string{"10.100.0.0/25": "hub's own network", "192.0.2.0/24": "bogon"}
	for _, s := range st.Sessions {
		if s.Name != SessionName("onprem") {
			continue
		}
		got := map[string]string{}
		for _, f := range s.Filtered {
			got[f.Prefix] = f.Reason
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("filtered on the on-premises session: %v, want %v", got, want)
		}
	}
	if len(st.Sessions) != 2 || len(st.Links) != 2 || st.Links[0].TxPackets == 0 || st.Links[1].RxPackets == 0 {
		t.Errorf("observed %+v", st)
	}
	listing, _ := nftCLI{}.List(ctx, h.Namespace())
	t.Log(fmt.Sprintf("nft ruleset of %s:\n%s", h.Namespace(), listing))
}
