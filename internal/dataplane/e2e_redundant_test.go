package dataplane

import (
	"context"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/nstest"
)

// TestEndToEndRedundantPort: an on-premises port over two legs, with the
// service's layer-2 guards. The customer's router keeps one leg active at a
// time, the standby leg up but not forwarding, as an active-backup bond does
// (this kernel has no bonding driver: the router is a bridge whose standby
// port drops everything — nstest.Standby — and the test makes its failover:
// activate the standby, then the primary's cable is cut). The hub bridges
// the legs: when the primary's carrier goes and the router moves to the
// secondary, traffic continues at a 10 ms ping and the BGP session is not
// reset; the hub's report shows the primary leg without carrier. Last, a
// BPDU on the active leg shuts both legs within a second.
func TestEndToEndRedundantPort(t *testing.T) {
	prefix, runDir := kernelTest(t)
	ctx := context.Background()
	node, onNS, clNS := prefix+"-node", prefix+"-on", prefix+"-aws"
	for _, ns := range []string{node, onNS, clNS} {
		addNamespace(t, ns)
	}
	legP, legS, clIf := prefix+"p", prefix+"s", prefix+"w"
	// The customer's router: its address on a bridge over both legs, the
	// secondary leg standing by.
	sh(t, "ip", "-n", node, "link", "add", legP, "type", "veth", "peer", "name", "eth0", "netns", onNS)
	sh(t, "ip", "-n", node, "link", "add", legS, "type", "veth", "peer", "name", "eth1", "netns", onNS)
	nstest.Standby(t, onNS, "eth1")
	sh(t, "ip", "-n", node, "link", "add", clIf, "type", "veth", "peer", "name", "eth0", "netns", clNS)
	for _, c := range [][]string{
		{onNS, "link", "add", "rtr", "type", "bridge", "stp_state", "0"},
		{onNS, "link", "set", "eth0", "master", "rtr", "up"},
		{onNS, "link", "set", "eth1", "master", "rtr", "up"},
		{onNS, "addr", "add", "169.254.10.2/30", "dev", "rtr"},
		{onNS, "addr", "add", "10.10.0.1/32", "dev", "lo"},
		{onNS, "link", "set", "rtr", "up"},
		{clNS, "addr", "add", "169.254.20.2/30", "dev", "eth0"},
		{clNS, "addr", "add", "172.31.0.1/32", "dev", "lo"},
		{clNS, "link", "set", "eth0", "up"},
	} {
		sh(t, append([]string{"ip", "-n"}, c...)...)
	}
	onBird := startPeerBird(t, onNS, runDir, peerConf{Local: "169.254.10.2", Hub: "169.254.10.1", ASN: 65001, HubASN: 65100,
		Prefixes: []string{"10.10.0.0/16"}, Loopback: "10.10.0.1"})
	startPeerBird(t, clNS, runDir, peerConf{Local: "169.254.20.2", Hub: "169.254.20.1", ASN: 64512, HubASN: 65100,
		Prefixes: []string{"172.31.0.0/16"}, Loopback: "172.31.0.1"})

	h := e2eHub(prefix+"-r", "", clIf, PolicyAll)
	h.Ports[0].Interface, h.Ports[0].Legs = "bronprem", []string{legP, legS}
	h.Ports[0].L2Guard = &L2Guard{BPDUGuard: true, StormControlPPS: 1000, FlapLimit: 5, FlapWindowSeconds: 60,
		MACLimit: 5, MACAgeingSeconds: 2400, MTU: 1500}
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
	session := waitEstablished(t, m.BirdClient(h.ID), SessionName("onprem"))
	waitFor(t, "on-prem to learn the cloud", 30*time.Second, func() (bool, string) {
		return hasRoute(peerClient(onBird), "172.31.0.0/16", "hub")
	})
	if err := ping(onNS, "10.10.0.1", "172.31.0.1", 5*time.Second); err != nil {
		t.Fatalf("on-prem → cloud over the primary leg: %v", err)
	}
	// What the kernel holds is what was asked: re-applying changes nothing
	// (bridge ports and their isolation are read back).
	m2, rec := recordingManager(runDir, netlinkOps{nodeNS: node}, nftCLI{}, netlinkTC{ops: netlinkOps{nodeNS: node}}, birdDaemon{})
	t.Cleanup(m2.Close)
	if err := m2.Apply(ctx, h); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); len(got) > 0 {
		t.Errorf("re-applying the redundant port made calls %q", got)
	}
	legs := func() map[string]LinkCounters {
		st, err := m.Observe(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]LinkCounters{}
		for _, l := range st.Links {
			if l.Port == "onprem" {
				out[l.Leg] = l
			}
		}
		return out
	}
	// What the customer sends in is held to the contract on the bridge too:
	// on-premises → cloud over the primary leg here, over the secondary
	// after the failover below.
	checkContract(t, "into the hub over the primary leg", func() float64 {
		return nstest.Iperf3(t, clNS, "172.31.0.1", onNS, "10.10.0.1", "5213", 2)
	}, 100)
	before := legs()
	if !before["primary"].Carrier || !before["secondary"].Carrier || before["secondary"].Name != legS {
		t.Errorf("legs before failover: %+v", before)
	}
	if before["primary"].TxPackets == 0 || before[""].Name != "bronprem" {
		t.Errorf("traffic did not use the primary leg through the bridge: %+v", before)
	}

	// The primary fails; the router moves to the secondary, as its
	// active/standby failover would, during a 10 ms ping.
	stop := make(chan struct{})
	type result struct{ sent, lost int }
	done := make(chan result)
	go func() {
		sent, lost, err := pingStream(onNS, "10.10.0.1", "172.31.0.1", 10*time.Millisecond, stop)
		if err != nil {
			t.Errorf("ping stream: %v", err)
		}
		done <- result{sent, lost}
	}()
	time.Sleep(time.Second)
	nstest.Activate(t, onNS)
	sh(t, "ip", "-n", onNS, "link", "set", "eth0", "down")
	time.Sleep(2 * time.Second)
	close(stop)
	r := <-done
	t.Logf("failover to the secondary leg: %d of %d pings lost at 10 ms", r.lost, r.sent)
	if r.sent < 200 || r.lost*10 > r.sent {
		t.Errorf("failover lost %d of %d pings", r.lost, r.sent)
	}
	after := legs()
	if after["primary"].Carrier || !after["secondary"].Carrier {
		t.Errorf("the report does not show the primary leg down: %+v", after)
	}
	if after["secondary"].TxPackets <= before["secondary"].TxPackets {
		t.Errorf("no traffic on the secondary leg after failover: %+v", after["secondary"])
	}
	now, err := protocolState(m.BirdClient(h.ID), SessionName("onprem"))
	if err != nil {
		t.Fatal(err)
	}
	if !now.Established() || !now.Since.Equal(session.Since) {
		t.Errorf("BGP session changed across the failover: %+v, was %+v", now, session)
	}
	// The contracted speed is shaped on the bridge, whichever leg carries
	// the traffic: cloud → on-premises over the secondary at 100 Mbit/s.
	if bps := nstest.Iperf3(t, onNS, "10.10.0.1", clNS, "172.31.0.1", "5211", 2); bps < 90e6 || bps > 101e6 {
		t.Errorf("goodput over the secondary leg %.1f Mbit/s, want 90–101 of the contracted 100", bps/1e6)
	}
	checkContract(t, "into the hub over the secondary leg", func() float64 {
		return nstest.Iperf3(t, clNS, "172.31.0.1", onNS, "10.10.0.1", "5212", 2)
	}, 100)
	// Nothing on the node was reset by the failover either.
	if err := m2.Apply(ctx, h); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); len(got) > 0 {
		t.Errorf("after failover, re-applying made calls %q", got)
	}

	// A switch behind the secondary leg, now the active one, sends a
	// BPDU: the hub's guard watcher shuts the port, both legs, within a
	// second and with no Observe.
	raw := nstest.OpenRaw(t, onNS, "eth1")
	if err := raw.Send(nstest.BPDUFrame(raw.MAC)); err != nil {
		t.Fatal(err)
	}
	nl := netlinkOps{nodeNS: node}
	took := shutWithin(t, nl, h.Namespace(), legS, watcherPatience)
	t.Logf("a BPDU on the secondary leg shut it in %v", took)
	if linkOf(t, nl, h.Namespace(), legP).Up {
		t.Error("the primary leg of the shut port is still up")
	}
}
