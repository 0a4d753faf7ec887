package dataplane

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/nstest"
)

// TestEndToEndL2Guard: a hub with one on-premises port carrying the
// service's layer-2 guards, whose peer namespace is the customer's
// network: hosts behind the port, each with its own MAC address
// (macvlan devices over the customer's link, one namespace each), and raw
// frames written with a packet socket.
//
//   - MAC limit: the first five addresses heard pass, the sixth is dropped
//     (its pings go unanswered) and the first five still pass.
//   - Storm control: a broadcast flood at about ten times the threshold
//     is cut to the threshold (plus the one second's burst the bucket
//     holds), counted where the frames land (the hub's input chain).
//   - BPDU guard: one BPDU shuts the port with no Observe (the hub's
//     watcher acts, and signals Tripped; nothing else runs that could
//     shut it, so waiting longer than the second the service promises
//     proves the same on a loaded machine, and the time is logged); it stays
//     down across a re-apply and a new Manager (an agent restart), and
//     comes back when the re-enable sequence passes the recorded one.
//   - Flaps: a burst of five carrier losses shuts the port with no
//     Observe too.
//   - MTU: set on the port by netlink, then left alone.
func TestEndToEndL2Guard(t *testing.T) {
	prefix, runDir := kernelTest(t)
	ctx := context.Background()
	node, cust := prefix+"-node", prefix+"-cu"
	addNamespace(t, node)
	addNamespace(t, cust)
	// No IPv6: the only frames on the customer's link are those of the
	// test and of its hosts' IPv4, so the order addresses are heard in
	// is the order the hosts start.
	noIPv6(t, cust)
	port := prefix + "o"
	sh(t, "ip", "-n", node, "link", "add", port, "mtu", "9000", "type", "veth", "peer", "name", "eth0", "netns", cust)
	sh(t, "ip", "-n", cust, "addr", "add", "169.254.10.2/28", "dev", "eth0")
	sh(t, "ip", "-n", cust, "link", "set", "eth0", "up")

	h := Hub{
		ID: prefix + "-g", LocalASN: 65100, RouterID: netip.MustParseAddr("10.100.0.1"),
		InternalNetwork: mustPrefix("10.100.0.0/24"), MonitoringNetwork: mustPrefix("10.200.0.0/24"),
		Ports: []Port{{Name: "onprem", Interface: port, Address: mustPrefix("169.254.10.1/28"),
			PeerAddress: netip.MustParseAddr("169.254.10.2"), PeerASN: 65001, Policy: RoutePolicy{Kind: PolicyAll},
			L2Guard: serviceGuard()}},
	}
	ns := h.Namespace()
	nl := netlinkOps{nodeNS: node}
	m, rec := recordingManager(runDir, nl, nftCLI{}, netlinkTC{ops: nl}, birdDaemon{})
	t.Cleanup(func() {
		defer m.Close()
		if err := m.Remove(ctx, h.ID); err != nil {
			t.Errorf("remove: %v", err)
		}
		killPidFile(pathsFor(runDir, ns).PID)
		_ = nl.DeleteNamespace(ns)
	})
	if err := m.Apply(ctx, h); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); !slices.Contains(got, "link mtu 1500 "+ns+" "+port) {
		t.Errorf("first apply: no MTU set in %q", got)
	}
	if l := linkOf(t, nl, ns, port); l.MTU != 1500 || !l.Up {
		t.Errorf("port after apply: %+v", l)
	}
	if err := m.Apply(ctx, h); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); len(got) > 0 {
		t.Errorf("re-applying the guarded hub made calls %q", got)
	}
	observeHub := func(m *Manager) Status {
		t.Helper()
		st, err := m.Observe(ctx, h)
		if err != nil {
			t.Fatalf("observe: %v", err)
		}
		return st
	}
	hub := "169.254.10.1"
	if err := ping(cust, "169.254.10.2", hub, 5*time.Second); err != nil {
		t.Fatalf("customer router → hub: %v", err)
	}

	t.Run("mac limit", func(t *testing.T) {
		// The customer's router is the first address; hosts 2 to 5 fill
		// the port's five, host 6 is one too many.
		for i := 2; i <= 6; i++ {
			host := prefix + "-h" + strconv.Itoa(i)
			addNamespace(t, host)
			noIPv6(t, host)
			mv := "mv" + strconv.Itoa(i)
			sh(t, "ip", "-n", cust, "link", "add", mv, "link", "eth0", "type", "macvlan", "mode", "bridge")
			sh(t, "ip", "-n", cust, "link", "set", mv, "netns", host)
			addr := "169.254.10." + strconv.Itoa(i+1)
			sh(t, "ip", "-n", host, "addr", "add", addr+"/28", "dev", mv)
			sh(t, "ip", "-n", host, "link", "set", mv, "up")
			err := ping(host, addr, hub, 3*time.Second)
			if i <= 5 && err != nil {
				t.Errorf("host %d (address %d of 5) → hub: %v", i, i, err)
			}
			if i == 6 && err == nil {
				t.Error("host 6, a sixth MAC address, reaches the hub")
			}
		}
		for _, c := range [][2]string{{cust, "169.254.10.2"}, {prefix + "-h2", "169.254.10.3"}, {prefix + "-h5", "169.254.10.6"}} {
			if err := ping(c[0], c[1], hub, 3*time.Second); err != nil {
				t.Errorf("%s, one of the five, → hub after the sixth: %v", c[1], err)
			}
		}
		st := observeHub(m)
		if n := counterOf(st.Rules, "port onprem "+port+": mac limit"); n == 0 {
			t.Errorf("no frame counted at the MAC limit: %+v", st.Rules)
		}
		listing, _ := nftCLI{}.List(ctx, ns)
		if n := strings.Count(listing, " expires "); n != 5 {
			t.Errorf("%d addresses in the port's set, want 5:\n%s", n, listing)
		}
		if len(st.Shut) > 0 {
			t.Errorf("shut by the MAC limit: %+v", st.Shut)
		}
	})

	t.Run("storm control", func(t *testing.T) {
		raw := nstest.OpenRaw(t, cust, "eth0")
		frame := udpBroadcast(raw.MAC, netip.MustParseAddr("169.254.10.2"))
		before := observeHub(m)
		// About 10,000 frames a second for two seconds, ten times the
		// threshold of 1,000.
		start := time.Now()
		sent := 0
		for time.Since(start) < 2*time.Second {
			for range 100 {
				if err := raw.Send(frame); err != nil {
					t.Fatalf("send: %v", err)
				}
				sent++
			}
			time.Sleep(10 * time.Millisecond)
		}
		elapsed := time.Since(start)
		after := observeHub(m)
		landed := counterOf(after.Rules, "hub input default deny") - counterOf(before.Rules, "hub input default deny")
		dropped := counterOf(after.Rules, "port onprem: storm control") - counterOf(before.Rules, "port onprem: storm control")
		want := 1000*elapsed.Seconds() + 1000 // the rate, and the bucket full at the start
		t.Logf("storm control: %d broadcast frames sent in %v, %d reached the hub (rate and burst %.0f), %d dropped",
			sent, elapsed.Round(time.Millisecond), landed, want, dropped)
		if float64(sent) < 5*1000*elapsed.Seconds() {
			t.Fatalf("only %d frames sent: not a flood", sent)
		}
		if float64(landed) < 0.8*want || float64(landed) > 1.2*want+10 {
			t.Errorf("%d frames reached the hub, want about %.0f", landed, want)
		}
		if landed+dropped > uint64(sent) || landed+dropped < uint64(sent)*95/100 {
			t.Errorf("passed %d + dropped %d, sent %d", landed, dropped, sent)
		}
	})

	t.Run("bpdu shuts until re-enabled", func(t *testing.T) {
		raw := nstest.OpenRaw(t, cust, "eth0")
		rec.take()
		drain(m.Tripped())
		if err := raw.Send(nstest.BPDUFrame(raw.MAC)); err != nil {
			t.Fatal(err)
		}
		// No Observe: the watcher acts on its own.
		took := shutWithin(t, nl, ns, port, watcherPatience)
		t.Logf("a BPDU shut the port in %v", took)
		select {
		case <-m.Tripped():
		case <-time.After(watcherPatience):
			t.Error("the shut was not signalled on Tripped")
		}
		st := observeHub(m)
		if len(st.Shut) != 1 || st.Shut[0].Reason != ShutBPDU || st.Shut[0].Port != "onprem" {
			t.Fatalf("after a BPDU: Shut = %+v", st.Shut)
		}
		t.Logf("shut: %+v", st.Shut[0])
		if got := rec.take(); !slices.Equal(got, []string{"link up=false " + ns + " " + port}) {
			t.Errorf("shutting made calls %q", got)
		}
		if linkOf(t, nl, ns, port).Up {
			t.Fatal("the port is still up")
		}
		if err := ping(cust, "169.254.10.2", hub, 1500*time.Millisecond); err == nil {
			t.Error("the hub answers on a shut port")
		}
		if err := m.Apply(ctx, h); err != nil {
			t.Fatal(err)
		}
		if got := rec.take(); len(got) > 0 {
			t.Errorf("re-applying made calls %q", got)
		}
		// The agent restarts: a new Manager, nothing in memory.
		m.Close()
		restarted, rec2 := recordingManager(runDir, nl, nftCLI{}, netlinkTC{ops: nl}, birdDaemon{})
		m = restarted // closed by the test's cleanup
		if err := restarted.Apply(ctx, h); err != nil {
			t.Fatal(err)
		}
		if got := rec2.take(); len(got) > 0 {
			t.Errorf("a restarted agent's apply made calls %q", got)
		}
		if st := observeHub(restarted); len(st.Shut) != 1 || linkOf(t, nl, ns, port).Up {
			t.Errorf("after restart: Shut = %+v, port up %v", st.Shut, linkOf(t, nl, ns, port).Up)
		}

		h.Ports[0].ReenableSeq = 1
		if err := restarted.Apply(ctx, h); err != nil {
			t.Fatal(err)
		}
		got := rec2.take()
		slices.Sort(got)
		if want := []string{"link up=true " + ns + " " + port, "nft -f " + ns}; !slices.Equal(got, want) {
			t.Errorf("re-enable made calls %q, want %q", got, want)
		}
		st = observeHub(restarted)
		if len(st.Shut) > 0 || counterOf(st.Rules, bpduComment(h.Ports[0], port)) != 0 {
			t.Errorf("after re-enable: Shut = %+v, rules %+v", st.Shut, st.Rules)
		}
		if err := ping(cust, "169.254.10.2", hub, 5*time.Second); err != nil {
			t.Errorf("customer router → hub after re-enable: %v", err)
		}
	})

	t.Run("flaps shut", func(t *testing.T) {
		drain(m.Tripped())
		// The burst in one batch: five losses within a few milliseconds.
		var burst []string
		for range 5 {
			burst = append(burst, "link set eth0 down", "link set eth0 up")
		}
		nstest.IPBatch(t, cust, burst)
		took := shutWithin(t, nl, ns, port, watcherPatience)
		t.Logf("five flaps shut the port in %v", took)
		select {
		case <-m.Tripped():
		case <-time.After(watcherPatience):
			t.Error("the shut was not signalled on Tripped")
		}
		st := observeHub(m)
		if len(st.Shut) != 1 || st.Shut[0].Reason != ShutFlap || st.Shut[0].ReenableSeq != 1 {
			t.Fatalf("after 5 flaps: Shut = %+v", st.Shut)
		}
		t.Logf("shut: %+v", st.Shut[0])
		if linkOf(t, nl, ns, port).Up {
			t.Error("the flapping port is still up")
		}
		h.Ports[0].ReenableSeq = 2
		if err := m.Apply(ctx, h); err != nil {
			t.Fatal(err)
		}
		if st := observeHub(m); len(st.Shut) > 0 || !linkOf(t, nl, ns, port).Up {
			t.Errorf("after re-enable: Shut = %+v", st.Shut)
		}
	})
}

// shutWithin waits up to limit for a device to be set down and returns how
// long it took; past the limit the test fails.
// watcherPatience is how long a test waits for a guard watcher: the
// service acts within about a second (the tests log what they measured),
// and only the watcher can act in these tests, so the wait is generous
// for a shared, loaded machine rather than a timing claim.
const watcherPatience = 10 * time.Second

func shutWithin(t *testing.T, ops netOps, ns, dev string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for linkOf(t, ops, ns, dev).Up {
		if time.Since(start) > limit {
			t.Fatalf("%s is still up %v later", dev, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// drain empties a signal channel.
func drain(c <-chan struct{}) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

func noIPv6(t *testing.T, ns string) {
	t.Helper()
	for _, k := range []string{"all", "default"} {
		sh(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf."+k+".disable_ipv6=1")
	}
}

func linkOf(t *testing.T, ops netOps, ns, name string) LinkState {
	t.Helper()
	links, err := ops.Links(ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if l.Name == name {
			return l
		}
	}
	t.Fatalf("no link %s in %s", name, ns)
	return LinkState{}
}

// udpBroadcast is an IPv4 UDP datagram to 255.255.255.255 port 9
// (discard) in a broadcast frame.
func udpBroadcast(src net.HardwareAddr, from netip.Addr) []byte {
	f := make([]byte, 14+20+8+18)
	copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:], src)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0], ip[8], ip[9] = 0x45, 64, 17 // IPv4, TTL, UDP
	binary.BigEndian.PutUint16(ip[2:], uint16(len(f)-14))
	a := from.As4()
	copy(ip[12:], a[:])
	copy(ip[16:], []byte{255, 255, 255, 255})
	binary.BigEndian.PutUint16(ip[10:], nstest.ICMPChecksum(ip)) // the Internet checksum
	udp := f[34:]
	binary.BigEndian.PutUint16(udp[0:], 40000)
	binary.BigEndian.PutUint16(udp[2:], 9)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp))) // checksum 0: none
	return f
}
