package dataplane

import (
	"context"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestEndToEndMACLimitShaped: the MAC limit holds on a single on-premises
// port shaped in both directions, for the frames the ingress shaping takes
// (IPv4 to a unicast address) as for the others. The sixth host sends only
// such frames: it has a static neighbour entry for the hub and the hub one
// for it, so no ARP of its own is ever needed; the first five still pass.
// The port starts as an older tsunagi realised it (address and shaping on
// the interface) and moves behind its bridge with nothing of the old
// shaping left; its link is still reported as the interface; unshaped, it
// goes back onto the interface. (The contracted rate through the same
// realisation is measured by TestEndToEndShapingBothWays.)
func TestEndToEndMACLimitShaped(t *testing.T) {
	prefix, runDir := kernelTest(t)
	ctx := context.Background()
	node, cust := prefix+"-node", prefix+"-cu"
	addNamespace(t, node)
	addNamespace(t, cust)
	noIPv6(t, cust)
	port := prefix + "o"
	sh(t, "ip", "-n", node, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", cust)
	sh(t, "ip", "-n", cust, "addr", "add", "169.254.10.2/28", "dev", "eth0")
	sh(t, "ip", "-n", cust, "link", "set", "eth0", "up")

	h := Hub{
		ID: prefix + "-g", LocalASN: 65100, RouterID: netip.MustParseAddr("10.100.0.1"),
		InternalNetwork: mustPrefix("10.100.0.0/24"), MonitoringNetwork: mustPrefix("10.200.0.0/24"),
		Ports: []Port{{Name: "onprem", Interface: port, Address: mustPrefix("169.254.10.1/28"),
			PeerAddress: netip.MustParseAddr("169.254.10.2"), PeerASN: 65001, Policy: RoutePolicy{Kind: PolicyAll},
			SpeedMbps: 100, L2Guard: serviceGuard()}},
	}
	ns := h.Namespace()
	nl := netlinkOps{nodeNS: node}
	m, _ := recordingManager(runDir, nl, nftCLI{}, netlinkTC{ops: nl}, birdDaemon{})
	m.counters = nl.linkCounters
	t.Cleanup(func() {
		defer m.Close()
		if err := m.Remove(ctx, h.ID); err != nil {
			t.Errorf("remove: %v", err)
		}
		killPidFile(pathsFor(runDir, ns).PID)
		_ = nl.DeleteNamespace(ns)
	})
	hub := "169.254.10.1"
	// First as a hub of an older tsunagi was realised: address and shaping
	// on the interface (no MAC limit, so no bridge, gives the same kernel
	// state). The next apply moves the port behind its bridge and leaves
	// nothing of the old shaping on the interface.
	unlimited := h
	unlimited.Ports = slices.Clone(h.Ports)
	g := *serviceGuard()
	g.MACLimit = 0
	unlimited.Ports[0].L2Guard = &g
	if err := m.Apply(ctx, unlimited); err != nil {
		t.Fatal(err)
	}
	if to, ok, err := (netlinkTC{ops: nl}).Redirect(ns, port); err != nil || !ok || to != ifbName(port) {
		t.Fatalf("before: ingress of %s redirected to %q (%v, %v)", port, to, ok, err)
	}
	if err := ping(cust, "169.254.10.2", hub, 5*time.Second); err != nil {
		t.Fatalf("customer router → hub, before: %v", err)
	}
	// The address the customer's router has heard for the hub so far:
	// the interface's own.
	oldMAC := neighbourMAC(t, cust, hub)
	if err := m.Apply(ctx, h); err != nil {
		t.Fatal(err)
	}
	bridge := guardBridgeName(port)
	if l := linkOf(t, nl, ns, port); l.Master != bridge || len(l.Addrs) != 0 {
		t.Errorf("the port's interface behind the bridge: %+v", l)
	}
	if q := sh(t, "tc", "-n", ns, "qdisc", "show", "dev", port); strings.Contains(q, "htb") || strings.Contains(q, "ingress") {
		t.Errorf("the old shaping left on the interface: %s", q)
	}
	ifbs := sh(t, "ip", "-n", ns, "-o", "link", "show", "type", "ifb")
	if strings.Contains(ifbs, ifbName(port)) || !strings.Contains(ifbs, ifbName(bridge)) {
		t.Errorf("ifbs after the move to the bridge: %s", ifbs)
	}
	if to, ok, err := (netlinkTC{ops: nl}).Redirect(ns, bridge); err != nil || !ok || to != ifbName(bridge) {
		t.Errorf("ingress of the bridge redirected to %q (%v, %v)", to, ok, err)
	}
	// A router that still sends to the interface's address reaches the
	// hub: the bridge delivers its port's address locally.
	sh(t, "ip", "-n", cust, "neigh", "replace", hub, "lladdr", oldMAC, "dev", "eth0", "nud", "permanent")
	if err := ping(cust, "169.254.10.2", hub, 5*time.Second); err != nil {
		t.Errorf("customer router → hub at the interface's address: %v", err)
	}
	sh(t, "ip", "-n", cust, "neigh", "del", hub, "dev", "eth0")
	if err := ping(cust, "169.254.10.2", hub, 5*time.Second); err != nil {
		t.Fatalf("customer router → hub: %v", err)
	}
	// The hub's address, as its customer hears it, and the device it is on.
	hubMAC := neighbourMAC(t, cust, hub)
	hubDev := strings.Fields(sh(t, "ip", "-n", ns, "-o", "-4", "addr", "show", "to", hub+"/32"))[1]

	// The customer's router is the first address; hosts 2 to 5 fill the
	// port's five, host 6 is one too many.
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
		if i == 6 {
			mac := strings.Fields(sh(t, "ip", "-n", host, "-o", "link", "show", mv))
			sh(t, "ip", "-n", host, "neigh", "replace", hub, "lladdr", hubMAC, "dev", mv, "nud", "permanent")
			sh(t, "ip", "-n", ns, "neigh", "replace", addr, "lladdr", fieldAfter(t, mac, "link/ether"), "dev", hubDev, "nud", "permanent")
		}
		err := ping(host, addr, hub, 3*time.Second)
		if i <= 5 && err != nil {
			t.Errorf("host %d (address %d of 5) → hub: %v", i, i, err)
		}
		if i == 6 && err == nil {
			t.Error("host 6, a sixth MAC address sending only IPv4 unicast, reaches the hub through the shaped port")
		}
	}
	for _, c := range [][2]string{{cust, "169.254.10.2"}, {prefix + "-h2", "169.254.10.3"}, {prefix + "-h5", "169.254.10.6"}} {
		if err := ping(c[0], c[1], hub, 3*time.Second); err != nil {
			t.Errorf("%s, one of the five, → hub after the sixth: %v", c[1], err)
		}
	}
	st, err := m.Observe(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if n := counterOf(st.Rules, "port onprem "+port+": mac limit"); n == 0 {
		t.Errorf("no frame counted at the MAC limit: %+v", st.Rules)
	}
	if len(st.Shut) > 0 {
		t.Errorf("shut by the MAC limit: %+v", st.Shut)
	}
	// The port's link is reported as given: its interface, not the bridge.
	if len(st.Links) != 1 || st.Links[0].Name != port || st.Links[0].Leg != "" {
		t.Errorf("links observed: %+v", st.Links)
	}

	// Unshaped, the port goes back onto its interface, and the bridge and
	// ifb go.
	unshaped := h
	unshaped.Ports = slices.Clone(h.Ports)
	unshaped.Ports[0].SpeedMbps = 0
	if err := m.Apply(ctx, unshaped); err != nil {
		t.Fatal(err)
	}
	if l := linkOf(t, nl, ns, port); l.Master != "" || !slices.Contains(l.Addrs, h.Ports[0].Address) {
		t.Errorf("the interface after unshaping: %+v", l)
	}
	if links := sh(t, "ip", "-n", ns, "-o", "link", "show"); strings.Contains(links, bridge) || strings.Contains(links, ifbPrefix) {
		t.Errorf("links after unshaping: %s", links)
	}
	if err := ping(cust, "169.254.10.2", hub, 5*time.Second); err != nil {
		t.Errorf("customer router → hub after unshaping: %v", err)
	}
}

// neighbourMAC is the link-layer address ns has for addr.
func neighbourMAC(t *testing.T, ns, addr string) string {
	t.Helper()
	return fieldAfter(t, strings.Fields(sh(t, "ip", "-n", ns, "neigh", "show", addr)), "lladdr")
}

// fieldAfter is the field following key in fields.
func fieldAfter(t *testing.T, fields []string, key string) string {
	t.Helper()
	for i, f := range fields {
		if f == key && i+1 < len(fields) {
			return fields[i+1]
		}
	}
	t.Fatalf("no %s in %q", key, fields)
	return ""
}
