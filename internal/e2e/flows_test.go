package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/agent"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/flows"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/nstest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// TestFlowRecordThroughNAPTEndToEnd: a TCP connection from the customer's
// on-premises network through its hub's public cloud port with NAPT
// (Azure Peering Service) ends, and the controller holds its flow record —
// sent by the agent's collector from the hub namespace's connection
// tracking — with the bytes each way (the payload plus the TCP/IP headers
// of the packets counted) and the translation: the inside address as the
// original source, an address of the NAPT pool as the reply's destination.
func TestFlowRecordThroughNAPTEndToEnd(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx
	s := newSite(h.prefix, "f")
	tyo := h.addNode(t, "tokyo", "tyo-1", []catalog.PhysicalPort{
		{Name: s.onPhys, SpeedMbps: 10_000, Kind: "onprem"},
		{Name: s.cloudPhysA, SpeedMbps: 10_000, Kind: "cloud-aws"}, {Name: s.cloudPhysB, SpeedMbps: 10_000, Kind: "cloud-aws"},
		{Name: "pza", SpeedMbps: 10_000, Kind: "cloud-azure"}, {Name: "pzb", SpeedMbps: 10_000, Kind: "cloud-azure"}})
	configure(t, ctx, h.cat, h.netSvc, s)
	wire(t, tyo.ns, tyo.runDir, s)

	// The public port with NAPT, placed on pza and pzb, behind it the
	// Azure router with its loopback 20.1.0.1.
	pool := netip.MustParsePrefix("203.0.113.0/26")
	if _, err := h.netSvc.Operations.CreatePool(ctx, network.PoolInput{Region: "tokyo", Prefix: pool.String(), Purpose: "napt"}); err != nil {
		t.Fatal(err)
	}
	hub, err := h.cat.GetHub(ctx, tenanttest.Operator(s.cust), s.hub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.cat.SetOption(ctx, tenanttest.Operator(s.cust), hub.ServiceCode, catalog.OptionInput{Name: "napt-grade", Quantity: 1}); err != nil {
		t.Fatal(err)
	}
	pub, err := h.cat.CreatePort(ctx, tenanttest.Operator(s.cust), catalog.PortInput{ServiceCode: hub.ServiceCode, HubID: s.hub, Kind: "m2-public", SpeedMbps: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.netSvc.Operations.Place(ctx, tenanttest.Operator(s.cust), pub.PortCode, network.PlaceInput{Primary: &network.PhysRef{Node: "tyo-1", Port: "pza"},
		Secondary: &network.PhysRef{Node: "tyo-1", Port: "pzb"}, Reason: "e2e"}); err != nil {
		t.Fatal(err)
	}
	azure, azureLoop := h.prefix+"-azf", "20.1.0.1"
	nstest.AddNamespace(t, azure)
	nstest.Sh(t, "ip", "-n", tyo.ns, "link", "add", "pza.201", "type", "veth", "peer", "name", "eth0", "netns", azure)
	nstest.Sh(t, "ip", "-n", tyo.ns, "link", "add", "pzb.201", "type", "veth", "peer", "name", "eth1", "netns", azure)
	nstest.IPBatch(t, azure, []string{"addr add 192.0.2.2/30 dev eth0", "addr add 192.0.2.6/30 dev eth1", "addr add " + azureLoop + "/32 dev lo",
		"link set eth0 up", "link set eth1 up"})
	nstest.StartPeerBird(t, azure, tyo.runDir, nstest.PeerConf{Local: "192.0.2.2", Hub: "192.0.2.1", ASN: 8075, HubASN: hubASN,
		Prefixes: []string{"20.1.0.0/16"}, Loopback: azureLoop, Second: &nstest.PeerLink{Local: "192.0.2.6", Hub: "192.0.2.5"}})
	cfg := s.cfg
	cfg.Objects = network.Objects{Addresses: []network.AddressObject{{Name: "lan", Prefixes: []string{"10.10.0.0/16"}}}}
	cfg.Ports = append(append([]network.PortConfig(nil), s.cfg.Ports...), network.PortConfig{PortCode: pub.PortCode,
		Cloud: &network.CloudConnection{VLAN: 201, PeerASN: 8075,
			RoutePolicy: network.RoutePolicy{Type: network.PolicyUserDefined, Prefixes: []string{"192.0.2.128/25"}},
			Primary:     network.Link{HubAddress: "192.0.2.1", PeerAddress: "192.0.2.2", PrefixLength: 30},
			Secondary:   network.Link{HubAddress: "192.0.2.5", PeerAddress: "192.0.2.6", PrefixLength: 30}},
		Firewall: &network.Firewall{Mode: "stateful", Rules: []network.Rule{{Action: "accept", Sources: []string{"lan"}, Destinations: []string{"any"}}}},
		NAPT:     []network.NAPTGrade{{Sessions: 30_000}}})
	applyConfig(t, ctx, h.netSvc, s.cust, cfg)

	// The agent, with its flow collector sending every second.
	client, state := h.enrol(t, tyo)
	m := dataplane.NewManager(dataplane.Options{RunDir: tyo.runDir, NodeNamespace: tyo.ns})
	t.Cleanup(func() { removeHubs(m, tyo.runDir) })
	fc := &agent.FlowCollector{Send: client, Every: time.Second}
	fctx, stopFlows := context.WithCancel(context.Background())
	go fc.Run(fctx)
	t.Cleanup(func() {
		stopFlows()
		if err := fc.Close(); err != nil {
			t.Errorf("closing the flow streams: %v", err)
		}
	})
	loop := newLoop(client, m, tyo.runDir, state)
	loop.Applier = agent.WithFlows(loop.Applier.(agent.ChangeApplier), fc)
	runAgent(t, loop) // stopped before the collector is closed and the hubs removed (cleanups run last first)
	h.converged(t, tyo, "with the public port and its NAPT")
	hubNS := dataplane.NamespacePrefix + s.dataplaneID
	for _, k := range []string{"nf_conntrack_acct", "nf_conntrack_timestamp"} {
		if v := nstest.Sh(t, "ip", "netns", "exec", hubNS, "sysctl", "-n", "net.netfilter."+k); v != "1\n" && v != "1" {
			t.Errorf("the hub's net.netfilter.%s is %q, want 1", k, v)
		}
	}
	// A closed connection's entry outlives it by TIME_WAIT (2 minutes by
	// default) before the kernel reports its end: shortened in this hub
	// only, so the test does not wait.
	nstest.Sh(t, "ip", "netns", "exec", hubNS, "sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_timeout_time_wait=1")
	nstest.WaitFor(t, "the on-premises router to learn the Azure prefix", 60*time.Second, func() (bool, string) {
		rs, err := dataplane.BirdClient{Socket: s.onBird.Sock}.Routes(ctx)
		for _, r := range rs {
			if r.Net.String() == "20.1.0.0/16" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%v %v", rs, err)
	})

	// One TCP connection: 100,000 bytes from the on-premises host to the
	// Azure side, which answers nothing and closes.
	const payload = 100_000
	var ln net.Listener
	if err := nstest.InNamespace(azure, func() (err error) { ln, err = net.Listen("tcp4", azureLoop+":5301"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	received := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			received <- -1
			return
		}
		n, _ := io.Copy(io.Discard, c)
		c.Close()
		received <- n
	}()
	began := clock.Now()
	var conn net.Conn
	if err := nstest.InNamespace(s.onprem, func() (err error) {
		conn, err = (&net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(s.onLoop)}}).Dial("tcp4", azureLoop+":5301")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(make([]byte, payload)); err != nil {
		t.Fatal(err)
	}
	conn.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, conn) // until the server's FIN
	conn.Close()
	if n := <-received; n != payload {
		t.Fatalf("the server received %d bytes, want %d", n, payload)
	}

	var f flows.Flow
	nstest.WaitFor(t, "the connection's flow record at the controller", 60*time.Second, func() (bool, string) {
		p, err := h.flows.Read(ctx, tenanttest.Customer(s.cust), flows.Query{From: began.Add(-time.Minute), To: clock.Now().Add(time.Minute),
			Address: netip.MustParseAddr(azureLoop)}, flows.MaxLimit)
		if err != nil || len(p.Flows) == 0 {
			return false, fmt.Sprintf("%+v %v", p, err)
		}
		f = p.Flows[0]
		return true, ""
	})
	t.Logf("flow record: %+v", f)
	if f.Protocol != 6 || f.OrigSrc != s.onLoop || f.OrigDst != azureLoop || f.OrigDstPort != 5301 || f.ReplySrc != azureLoop || f.ReplySrcPort != 5301 {
		t.Errorf("the record's addresses: %+v", f)
	}
	if public := netip.MustParseAddr(f.ReplyDst); f.Translated != "source" || !pool.Contains(public) {
		t.Errorf("the translation: %s, reply to %s; want source, to an address of the NAPT pool %s", f.Translated, f.ReplyDst, pool)
	}
	if f.Start.Before(began.Add(-time.Second)) || f.End.Before(f.Start) || f.End.After(clock.Now()) {
		t.Errorf("the record's times %s–%s, the connection began %s", f.Start, f.End, began)
	}
	// Each packet the hub counted carries a 20-byte IPv4 header and a TCP
	// header of 20 bytes plus options (at most 40: a SYN's are 20, a data
	// segment's timestamps 12); a segment the kernel coalesced (GRO)
	// counts once with one header. So the originator's bytes are the
	// payload plus 40 to 80 bytes per packet counted, and the answer —
	// no payload — 40 to 80 bytes per packet.
	if lo, hi := int64(payload)+40*f.OrigPackets, int64(payload)+80*f.OrigPackets; f.OrigPackets < 3 || f.OrigBytes < lo || f.OrigBytes > hi {
		t.Errorf("originator: %d bytes in %d packets, want %d–%d", f.OrigBytes, f.OrigPackets, lo, hi)
	}
	if lo, hi := 40*f.ReplyPackets, 80*f.ReplyPackets; f.ReplyPackets < 2 || f.ReplyBytes < lo || f.ReplyBytes > hi {
		t.Errorf("answer: %d bytes in %d packets, want %d–%d", f.ReplyBytes, f.ReplyPackets, lo, hi)
	}
}
