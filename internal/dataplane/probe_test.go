package dataplane

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/nstest"
)

// TestProbeInNamespaces sends real probes from a hub-like namespace to a
// customer namespace over a veth pair. The hub runs its own ruleset with
// what could get in the probes' way: a port NAPT translating every inside
// source, a static NAT and a stateful port firewall that denies
// everything. Probes are the hub's own traffic, so they still pass, and
// the customer sees them from the hub's monitoring address, untranslated.
func TestProbeInNamespaces(t *testing.T) {
	prefix, _ := kernelTest(t)
	hubNS, custNS, port := prefix+"-hub", prefix+"-cust", prefix+"p"
	addNamespace(t, hubNS)
	addNamespace(t, custNS)
	hub := Hub{ID: prefix, LocalASN: 65100, RouterID: netip.MustParseAddr("10.100.0.1"),
		InternalNetwork: mustPrefix("10.100.0.0/24"), MonitoringNetwork: mustPrefix("10.200.0.0/24"),
		Ports: []Port{{Name: "onprem", Interface: port, Address: mustPrefix("169.254.10.1/30"),
			PeerAddress: netip.MustParseAddr("169.254.10.2"), PeerASN: 65001,
			Firewall:  &FirewallPolicy{Stateful: true},
			NAPT:      &NAPT{Inside: []netip.Prefix{mustPrefix("0.0.0.0/0")}, Public: []netip.Prefix{mustPrefix("203.0.113.8/30")}},
			StaticNAT: []StaticNAT{{Inside: netip.MustParseAddr("10.200.0.1"), Public: netip.MustParseAddr("203.0.113.20")}}}},
	}
	source := hub.MonitoringNetwork.Addr().Next()
	sh(t, "ip", "-n", hubNS, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", custNS)
	nstest.IPBatch(t, hubNS, []string{"addr add " + source.String() + "/32 dev lo", "addr add 169.254.10.1/30 dev " + port,
		"link set " + port + " up", "route add 10.10.0.0/16 via 169.254.10.2"})
	nstest.IPBatch(t, custNS, []string{"addr add 169.254.10.2/30 dev eth0", "addr add 10.10.0.1/32 dev lo",
		"link set eth0 up", "route add 10.200.0.0/24 via 169.254.10.1"})
	_, script := renderNft(hub)
	if err := (nftCLI{}).Apply(context.Background(), hubNS, script); err != nil {
		t.Fatal(err)
	}

	// The customer's TCP service, which tells where each connection came from.
	var ln net.Listener
	if err := nstest.InNamespace(custNS, func() (err error) { ln, err = net.Listen("tcp4", "10.10.0.1:8443"); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	from := make(chan string, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			from <- c.RemoteAddr().(*net.TCPAddr).IP.String()
			c.Close()
		}
	}()

	target := netip.MustParseAddr("10.10.0.1")
	silent := netip.MustParseAddr("10.10.0.9") // routed to the customer, who forwards nothing
	spec := func(to netip.Addr, tcpPort int, seq uint16) ProbeSpec {
		return ProbeSpec{Namespace: hubNS, Source: source, Target: to, TCPPort: tcpPort, ID: 0x7473, Seq: seq, Timeout: time.Second}
	}
	for _, c := range []struct {
		name string
		spec ProbeSpec
		ok   bool
		err  string
	}{
		{"icmp echo answered", spec(target, 0, 1), true, ""},
		{"tcp connection accepted", spec(target, 8443, 0), true, ""},
		{"tcp connection refused", spec(target, 8444, 0), false, ProbeRefused},
		{"icmp echo unanswered", spec(silent, 0, 2), false, ProbeTimeout},
		{"tcp connection unanswered", spec(silent, 8443, 0), false, ProbeTimeout},
		{"icmp echo without a route", spec(netip.MustParseAddr("192.0.2.1"), 0, 3), false, ProbeUnreachable},
		{"tcp connection without a route", spec(netip.MustParseAddr("192.0.2.1"), 8443, 0), false, ProbeUnreachable},
	} {
		got := Probe(context.Background(), c.spec)
		if got.OK != c.ok || got.Error != c.err || got.Cause != nil || (got.OK && got.RTT <= 0) {
			t.Errorf("%s: %+v, want ok %v error %q", c.name, got, c.ok, c.err)
		}
	}
	select {
	case src := <-from:
		if src != source.String() {
			t.Errorf("the customer saw the TCP probe from %s, want the hub's monitoring address %s", src, source)
		}
	default:
		t.Error("the customer's service saw no TCP probe")
	}

	// An ICMP error quoting the echo is "unreachable": the customer's
	// router refuses to forward toward an address it has no route for.
	sh(t, "ip", "netns", "exec", custNS, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	nstest.IPBatch(t, custNS, []string{"route add unreachable 10.10.0.128/25"})
	if got := Probe(context.Background(), spec(netip.MustParseAddr("10.10.0.200"), 0, 4)); got.OK || got.Error != ProbeUnreachable {
		t.Errorf("echo answered by an ICMP unreachable: %+v, want %q", got, ProbeUnreachable)
	}
	// A probe that cannot be sent is the node's error, its cause kept apart.
	if got := Probe(context.Background(), ProbeSpec{Namespace: prefix + "-gone", Source: source, Target: target, Timeout: time.Second}); got.OK || got.Error != ProbeNodeError || got.Cause == nil {
		t.Errorf("probe from a missing namespace: %+v, want %q with its cause", got, ProbeNodeError)
	}
}

// TestMatchEcho: of every ICMP message the hub's raw socket sees, only the
// target's reply with the probe's ID, sequence and nonce answers the
// probe, and only an ICMP error quoting the probe's own echo fails it.
func TestMatchEcho(t *testing.T) {
	target, other := netip.MustParseAddr("10.10.0.1"), netip.MustParseAddr("10.10.0.2")
	router := netip.MustParseAddr("169.254.10.2")
	nonce := []byte("12345678")
	reply := func(id, seq uint16, payload []byte) []byte {
		m := echoRequest(id, seq, payload)
		m[0] = 0
		return m
	}
	// quoting is an ICMP error of the given type quoting an echo from the
	// monitoring address to dst: its IP header, then its first 8 bytes.
	quoting := func(typ byte, dst netip.Addr, id, seq uint16) []byte {
		ip := make([]byte, 20)
		ip[0], ip[9] = 0x45, 1
		copy(ip[12:], netip.MustParseAddr("10.200.0.1").AsSlice())
		copy(ip[16:], dst.AsSlice())
		return append(append([]byte{typ, 1, 0, 0, 0, 0, 0, 0}, ip...), echoRequest(id, seq, nonce)[:8]...)
	}
	for _, c := range []struct {
		name string
		msg  []byte
		from netip.Addr
		want echoMatch
	}{
		{"the reply", reply(7, 3, nonce), target, echoReply},
		{"a reply from another address", reply(7, 3, nonce), other, echoOther},
		{"a reply of another ID", reply(8, 3, nonce), target, echoOther},
		{"a reply of another sequence", reply(7, 4, nonce), target, echoOther},
		{"a reply with another nonce", reply(7, 3, []byte("87654321")), target, echoOther},
		{"an echo request", echoRequest(7, 3, nonce), target, echoOther},
		{"unreachable, quoting the probe", quoting(3, target, 7, 3), router, echoError},
		{"time exceeded, quoting the probe", quoting(11, target, 7, 3), router, echoError},
		{"unreachable, quoting another echo", quoting(3, target, 7, 4), router, echoOther},
		{"unreachable, quoting an echo to another target", quoting(3, other, 7, 3), router, echoOther},
		{"truncated", []byte{3, 1, 0}, router, echoOther},
		{"an error quoting too little", quoting(3, target, 7, 3)[:30], router, echoOther},
	} {
		if got := matchEcho(c.msg, c.from, target, 7, 3, nonce); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	if m := echoRequest(7, 3, nonce); icmpChecksum(m) != 0 {
		t.Errorf("an echo request's checksum does not verify: %x", icmpChecksum(m))
	}
}
