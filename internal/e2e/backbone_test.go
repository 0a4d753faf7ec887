package e2e_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/nstest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// drCustomer is a customer with a DR group of hubs in several regions.
// Marker is a prefix only this customer's on-premises router advertises: a
// route to it anywhere in the other customer's BIRDs would be a leak.
type drCustomer struct {
	name    string
	id      catalog.CustomerID
	service string // the contract's service code
	marker  string
	hubs    map[string]*drHub // by DR priority
}

// drHub is one hub of a DR group with its one port and the router behind
// it: the on-premises router at the main hub, the cloud's at the others.
type drHub struct {
	label    string // "A main", for messages
	priority string
	n        *node
	m        *dataplane.Manager // the node's data plane
	hub      catalog.HubID
	id       string // the data plane's hub ID: its namespace is hub-<id>
	port     string // the port's code
	kind     string // the port's kind (onprem, a-private)
	phys     string // the node's physical port
	link     string // the hub's side of the port's link: 10.0.0.1, 169.254.10x.1
	peerNS   string
	peer     nstest.PeerBird
	peerLoop string // the address behind the router: 10.10.0.1, 172.31.0.1
}

func (d *drHub) bird() dataplane.BirdClient { return d.m.BirdClient(d.id) }

// TestBackboneDRGroup drives the backbone between one customer's hubs on
// three nodes through the controller: each node a namespace with its own
// enrolled agent, the nodes joined by an underlay. Customer A's DR group is
// built in two steps (main and sub, then backup); every pair of hubs runs
// an iBGP session over the customer's VNI, and adding or removing a hub
// leaves the sessions between the others untouched. The main hub prefers
// the sub hub's path to the cloud and falls back to the backup's when the
// sub region loses it. Customer B, with the same ASNs, prefixes and overlay
// addresses on the same nodes, has a backbone of its own and sees nothing
// of A's.
func TestBackboneDRGroup(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx
	t.Logf("names and run directories start with %s", h.prefix)
	h.addRegion(t, "osaka", "Osaka", "大阪")
	h.addRegion(t, "fukuoka", "Fukuoka", "福岡")
	phys := func(kind string, names ...string) []catalog.PhysicalPort {
		var out []catalog.PhysicalPort
		for _, n := range names {
			out = append(out, catalog.PhysicalPort{Name: n, SpeedMbps: 10_000, Kind: kind})
		}
		return out
	}
	tyo := h.addNode(t, "tokyo", "tyo-1", phys("onprem", "pam", "pbm"))
	// Each cloud port's secondary leg is on <its primary's>2.
	osa := h.addNode(t, "osaka", "osa-1", phys("cloud-aws", "pas", "pbs", "pas2", "pbs2"))
	fuk := h.addNode(t, "fukuoka", "fuk-1", phys("cloud-aws", "pak", "pak2"))
	nodes := []*node{tyo, osa, fuk}
	h.underlay(t, nodes...)
	ms := map[*node]*dataplane.Manager{}
	for _, n := range nodes {
		ms[n] = h.startAgent(t, n)
	}
	convergedAll := func(what string) {
		t.Helper()
		for _, n := range nodes {
			h.converged(t, n, what)
		}
	}

	// Step 1: A's and B's main and sub hubs.
	a := newDRCustomer(t, h, "A", "10.91.0.0/16")
	b := newDRCustomer(t, h, "B", "10.92.0.0/16")
	for _, c := range []*drCustomer{a, b} {
		c.addHub(t, h, "main", tyo, ms[tyo], "onprem", "p"+strings.ToLower(c.name)+"m", "10.0.0.1")
		c.addHub(t, h, "sub", osa, ms[osa], "a-private", "p"+strings.ToLower(c.name)+"s", "169.254.100.1")
		cfg := network.Config{ASN: hubASN}
		for _, p := range []string{"main", "sub"} {
			cfg.Ports = append(cfg.Ports, c.hubs[p].portConfig())
		}
		applyConfig(t, ctx, h.netSvc, c.id, cfg)
	}
	convergedAll("with A's and B's main and sub hubs")
	for _, c := range []*drCustomer{a, b} {
		waitBackbone(t, c.hubs["main"], "sub")
		waitBackbone(t, c.hubs["sub"], "main")
	}
	// Every backbone session as first established: none of them may be
	// reset by anything that follows, A's third hub included.
	before := map[*drHub]dataplane.ProtocolStatus{}
	var latest time.Time
	for _, c := range []*drCustomer{a, b} {
		before[c.hubs["main"]] = backboneSession(t, c.hubs["main"], "sub")
		before[c.hubs["sub"]] = backboneSession(t, c.hubs["sub"], "main")
		latest = later(latest, before[c.hubs["main"]].Since, before[c.hubs["sub"]].Since)
	}
	// BIRD gives "since" to the second: a reset is seen as a later one only
	// if the change that caused it comes in a later second.
	nstest.WaitFor(t, "the second the sessions came up in to pass", 5*time.Second, func() (bool, string) {
		return time.Since(latest) >= time.Second, latest.String()
	})
	for _, c := range []*drCustomer{a, b} {
		main, sub := c.hubs["main"], c.hubs["sub"]
		waitBest(t, h, main, "172.31.0.0/16", "sub")
		waitRoute(t, main.peer.NS, peerBird(main), "172.31.0.0/16", "hub")
		crossTraffic(t, main, sub)
	}
	// Same addresses and prefixes, separate VNIs: nothing crosses.
	isolated(t, h, a, b)

	// Step 2: A's backup hub on the third node. The hubs already running
	// gain a peer; their session with each other stays as it is.
	bk := a.addHub(t, h, "backup", fuk, ms[fuk], "a-private", "pak", "169.254.101.1")
	editApply(t, h, a.id, func() error {
		_, err := h.netSvc.Workflow.SavePort(ctx, tenanttest.Customer(a.id), bk.port, bk.portConfig())
		return err
	})
	convergedAll("with A's backup hub")
	for _, d := range a.hubs {
		for _, p := range catalog.Priorities {
			if p != d.priority {
				waitBackbone(t, d, p)
			}
		}
	}
	unreset(t, before, "adding A's backup hub")

	// DR preference: the sub hub's cloud path while it exists, the backup
	// hub's once the sub region loses its cloud link. Each hub gives what
	// its port learns its role's local preference (the service's: main
	// 300, sub 200, backup 100) and iBGP carries it, so while the sub hub
	// has the route the backup hub prefers it over its own cloud's and,
	// by iBGP's rule, does not pass it on.
	main, sub := a.hubs["main"], a.hubs["sub"]
	if ps, pb := localPref(t, h, main, "sub"), localPref(t, h, main, "backup"); ps <= pb {
		t.Fatalf("the controller gives the sub hub's routes local_pref %d, the backup's %d: sub must be preferred", ps, pb)
	}
	waitRoute(t, bk.label, bk.bird(), "172.31.0.0/16", "port_") // the backup's own path is ready before the failure
	waitBest(t, h, bk, "172.31.0.0/16", "sub")
	waitBest(t, h, main, "172.31.0.0/16", "sub")
	crossTraffic(t, main, sub)
	// The sub region loses its cloud links, primary and secondary: the
	// hub's side loses its carrier, and BIRD drops a directly connected
	// session at once rather than after the hold time.
	nstest.Sh(t, "ip", "-n", sub.peerNS, "link", "set", "eth0", "down")
	nstest.Sh(t, "ip", "-n", sub.peerNS, "link", "set", "eth1", "down")
	waitBest(t, h, main, "172.31.0.0/16", "backup")
	waitRoute(t, main.peer.NS, peerBird(main), "172.31.0.0/16", "hub")
	crossTraffic(t, main, bk)
	isolated(t, h, a, b)
	unreset(t, before, "the sub region's cloud failure")

	// Step 3: the backup hub goes through the controller (ending_test.go):
	// the customer removes its port over the customer API, the operator
	// the hub over the management API. The node's hub namespace goes with
	// it; main and sub keep their session and their traffic.
	removeHubThroughAPI(t, h, a, bk, convergedAll)
	if out := nstest.Sh(t, "ip", "netns", "list"); strings.Contains(out, dataplane.NamespacePrefix+bk.id) {
		t.Errorf("%s's namespace is still on %s after the hub was taken off:\n%s", bk.label, fuk.name, out)
	}
	for _, d := range []*drHub{main, sub} {
		for _, p := range protocols(t, d) {
			if p.Name == dataplane.BackboneSessionName("backup") {
				t.Errorf("%s still has a session to the removed backup hub: %+v", d.label, p)
			}
		}
	}
	unreset(t, before, "removing A's backup hub")
	if got := desiredHub(t, h, main).Backbone.Peers; len(got) != 1 || got[0].Priority != "sub" {
		t.Errorf("A main's backbone peers after the removal: %+v", got)
	}
	nstest.Sh(t, "ip", "-n", sub.peerNS, "link", "set", "eth0", "up")
	nstest.Sh(t, "ip", "-n", sub.peerNS, "link", "set", "eth1", "up")
	waitBest(t, h, main, "172.31.0.0/16", "sub")
	crossTraffic(t, main, sub)
	unreset(t, before, "the sub region's links coming back")
}

func newDRCustomer(t *testing.T, h *harness, name, marker string) *drCustomer {
	t.Helper()
	cu, err := h.cat.CreateCustomer(h.ctx, catalog.CustomerInput{Name: "Customer " + name})
	if err != nil {
		t.Fatal(err)
	}
	k, err := h.cat.CreateContract(h.ctx, tenanttest.Operator(cu.ID), catalog.ContractInput{Plan: "smart-hub"})
	if err != nil {
		t.Fatal(err)
	}
	return &drCustomer{name: name, id: cu.ID, service: k.ServiceCode, marker: marker, hubs: map[string]*drHub{}}
}

// addHub orders a hub of the given priority in the node's region with one
// port of the given kind, places the port on the node's physical port
// (which places the hub on the node) and wires the router behind it.
func (c *drCustomer) addHub(t *testing.T, h *harness, priority string, n *node, m *dataplane.Manager, kind, phys, link string) *drHub {
	t.Helper()
	hub, err := h.cat.CreateHub(h.ctx, tenanttest.Operator(c.id), catalog.HubInput{ServiceCode: c.service, Region: n.region, Priority: priority})
	if err != nil {
		t.Fatal(err)
	}
	speed := int64(1_000)
	if kind == "onprem" {
		speed = 10_000
	}
	p, err := h.cat.CreatePort(h.ctx, tenanttest.Operator(c.id), catalog.PortInput{ServiceCode: c.service, HubID: hub.ID, Kind: kind, SpeedMbps: speed})
	if err != nil {
		t.Fatal(err)
	}
	place := network.PlaceInput{Primary: &network.PhysRef{Node: n.name, Port: phys}, Reason: "e2e"}
	if kind != "onprem" {
		place.Secondary = &network.PhysRef{Node: n.name, Port: phys + "2"}
	}
	if _, err := h.netSvc.Operations.Place(h.ctx, tenanttest.Operator(c.id), p.PortCode, place); err != nil {
		t.Fatal(err)
	}
	d := &drHub{label: c.name + " " + priority, priority: priority, n: n, m: m, hub: hub.ID,
		id: strings.TrimPrefix(string(hub.ID), "hub_"), port: p.PortCode, kind: kind, phys: phys, link: link,
		peerNS: h.prefix + "-" + strings.ToLower(c.name) + priority[:1]}
	c.hubs[priority] = d
	d.wire(t, c.marker)
	return d
}

// portConfig is the hub's port in the customer's configuration: BGP with
// the on-premises router (everything learned is sent to it), or with the
// cloud's over both links (the cloud gets a default route on each).
func (d *drHub) portConfig() network.PortConfig {
	hub, peer := d.link, addrPlus(d.link, 1)
	if d.kind == "onprem" {
		return network.PortConfig{PortCode: d.port, OnPrem: &network.OnPremConnection{HubAddress: hub, CustomerAddress: peer,
			PrefixLength: 30, PeerASN: onpremASN}}
	}
	return network.PortConfig{PortCode: d.port, Cloud: &network.CloudConnection{VLAN: vlan, PeerASN: awsASN,
		RoutePolicy: network.RoutePolicy{Type: network.PolicyDefaultRoute},
		Primary:     network.Link{HubAddress: hub, PeerAddress: peer, PrefixLength: 30},
		Secondary:   network.Link{HubAddress: addrPlus(d.link, 4), PeerAddress: addrPlus(d.link, 5), PrefixLength: 30}}}
}

// wire builds the router behind the hub's port: a veth pair whose node end
// has the name the desired state gives the leg (the VLAN as a suffix, as in
// TestNodeEndToEnd), and the router's BIRD. The on-premises router
// advertises 10.10.0.0/16 and the customer's marker; every cloud router,
// in whichever region, 172.31.0.0/16: one cloud network reached from two.
func (d *drHub) wire(t *testing.T, marker string) {
	t.Helper()
	ifname, conf := d.phys, nstest.PeerConf{Local: addrPlus(d.link, 1), Hub: d.link, ASN: onpremASN, HubASN: hubASN,
		Prefixes: []string{"10.10.0.0/16", marker}, Loopback: "10.10.0.1"}
	if d.kind != "onprem" {
		ifname = fmt.Sprintf("%s.%d", d.phys, vlan)
		conf.ASN, conf.Prefixes, conf.Loopback = awsASN, []string{"172.31.0.0/16"}, "172.31.0.1"
	}
	d.peerLoop = conf.Loopback
	nstest.AddNamespace(t, d.peerNS)
	nstest.Sh(t, "ip", "-n", d.n.ns, "link", "add", ifname, "type", "veth", "peer", "name", "eth0", "netns", d.peerNS)
	nstest.IPBatch(t, d.peerNS, []string{"addr add " + conf.Local + "/30 dev eth0", "addr add " + conf.Loopback + "/32 dev lo", "link set eth0 up"})
	if d.kind != "onprem" {
		// The cloud router's secondary link, on the leg <phys>2.
		nstest.Sh(t, "ip", "-n", d.n.ns, "link", "add", fmt.Sprintf("%s2.%d", d.phys, vlan), "type", "veth", "peer", "name", "eth1", "netns", d.peerNS)
		nstest.IPBatch(t, d.peerNS, []string{"addr add " + addrPlus(d.link, 5) + "/30 dev eth1", "link set eth1 up"})
		conf.Second = &nstest.PeerLink{Local: addrPlus(d.link, 5), Hub: addrPlus(d.link, 4)}
	}
	d.peer = nstest.StartPeerBird(t, d.peerNS, d.n.runDir, conf)
}

// addrPlus is the address n after a.
func addrPlus(a string, n int) string {
	ip := netip.MustParseAddr(a)
	for range n {
		ip = ip.Next()
	}
	return ip.String()
}

// editApply goes through the edit workflow with one edit of the draft
// (which starts from the applied configuration, so that the hubs' networks
// and with them their BIRDs' router IDs stay as they are).
func editApply(t *testing.T, h *harness, cust catalog.CustomerID, edit func() error) {
	t.Helper()
	if _, err := h.netSvc.Workflow.StartEditing(h.ctx, tenanttest.Customer(cust)); err != nil {
		t.Fatal(err)
	}
	if err := edit(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.netSvc.Workflow.Review(h.ctx, tenanttest.Customer(cust)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.netSvc.Workflow.Apply(h.ctx, tenanttest.Customer(cust)); err != nil {
		t.Fatal(err)
	}
}

func protocols(t *testing.T, d *drHub) []dataplane.ProtocolStatus {
	t.Helper()
	ps, err := d.bird().Protocols(context.Background())
	if err != nil {
		t.Fatalf("%s: %v", d.label, err)
	}
	return ps
}

// backboneSession is the hub's iBGP session to the customer's hub of the
// given priority.
func backboneSession(t *testing.T, d *drHub, peer string) dataplane.ProtocolStatus {
	t.Helper()
	return protocol(t, d.m, d.id, dataplane.BackboneSessionName(peer))
}

func waitBackbone(t *testing.T, d *drHub, peer string) {
	t.Helper()
	name := dataplane.BackboneSessionName(peer)
	nstest.WaitFor(t, d.label+"'s "+name+" to be Established", 90*time.Second, func() (bool, string) {
		ps, err := d.bird().Protocols(context.Background())
		if err != nil {
			return false, err.Error()
		}
		for _, p := range ps {
			if p.Name == name {
				return p.Established(), fmt.Sprintf("%+v", p)
			}
		}
		return false, fmt.Sprintf("no protocol %s in %+v", name, ps)
	})
}

// unreset checks that no session of before went down since: BIRD's
// "since" is the time of a protocol's last state change, to the second,
// and the test makes its first change in a later second than any of them.
func unreset(t *testing.T, before map[*drHub]dataplane.ProtocolStatus, what string) {
	t.Helper()
	for d, was := range before {
		if now := protocol(t, d.m, d.id, was.Name); !now.Established() || !now.Since.Equal(was.Since) {
			t.Errorf("%s reset %s's %s: %+v → %+v", what, d.label, was.Name, was, now)
		}
	}
}

// waitBest waits until the hub's best route to prefix is the one from its
// peer hub of the given priority, with the local preference the controller
// gives that hub's role.
func waitBest(t *testing.T, h *harness, d *drHub, prefix, peer string) {
	t.Helper()
	want := []string{"[" + dataplane.BackboneSessionName(peer) + " ", fmt.Sprintf("BGP.local_pref: %d\n", localPref(t, h, d, peer))}
	nstest.WaitFor(t, fmt.Sprintf("%s's best route to %s to be from the %s hub (%s)", d.label, prefix, peer, strings.TrimSpace(want[1])), 90*time.Second, func() (bool, string) {
		text, err := birdText(d.bird(), "show route "+prefix+" primary all")
		return err == nil && strings.Contains(text, want[0]) && strings.Contains(text, want[1]), fmt.Sprintf("%v\n%s", err, text)
	})
}

func birdText(c dataplane.BirdClient, cmd string) (string, error) {
	lines, err := c.Command(context.Background(), cmd)
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.Text + "\n")
	}
	return b.String(), err
}

// waitRoute waits until the BIRD has a route to prefix from a protocol
// whose name starts with from.
func waitRoute(t *testing.T, who string, c dataplane.BirdClient, prefix, from string) {
	t.Helper()
	nstest.WaitFor(t, fmt.Sprintf("%s to learn %s from %s*", who, prefix, from), 60*time.Second, func() (bool, string) {
		rs, err := c.Routes(context.Background())
		for _, r := range rs {
			if r.Net.String() == prefix && strings.HasPrefix(r.Protocol, from) {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%v %v", rs, err)
	})
}

func hasRoute(rs []dataplane.Route, prefix string) bool {
	for _, r := range rs {
		if r.Net.String() == prefix {
			return true
		}
	}
	return false
}

// peerBird is the control client of the router behind the hub.
func peerBird(d *drHub) dataplane.BirdClient { return dataplane.BirdClient{Socket: d.peer.Sock} }

func later(ts ...time.Time) time.Time {
	var l time.Time
	for _, t := range ts {
		if t.After(l) {
			l = t
		}
	}
	return l
}

// crossTraffic sends a ping and a TCP stream from the network behind the
// on-premises router at hub from to the cloud network behind hub to. The
// TCP listener is in to's cloud namespace only: if the flow reached another
// namespace with the same addresses, it would be refused.
func crossTraffic(t *testing.T, from, to *drHub) {
	t.Helper()
	if err := nstest.Ping(from.peerNS, from.peerLoop, to.peerLoop, 30*time.Second); err != nil {
		t.Errorf("%s → %s across the backbone: %v", from.label, to.label, err)
	}
	if bps := nstest.Goodput(t, from.peerNS, from.peerLoop, to.peerNS, to.peerLoop+":5001", to.peerLoop+":5001", 300*time.Millisecond); bps <= 0 {
		t.Errorf("%s → %s: no TCP goodput", from.label, to.label)
	}
}

// isolated checks both customers' BIRDs, hubs and routers: each has the
// routes of its own customer (its marker has crossed its backbone) and none
// of the other's, neither the other's marker nor a route marked with the
// other's VNI by a backbone session.
func isolated(t *testing.T, h *harness, x, y *drCustomer) {
	t.Helper()
	hx, hy := desiredHub(t, h, x.hubs["main"]).Backbone, desiredHub(t, h, y.hubs["main"]).Backbone
	if hx.VNI == hy.VNI {
		t.Fatalf("customers %s and %s share the VNI %d", x.name, y.name, hx.VNI)
	}
	if hx.OverlayAddress != hy.OverlayAddress {
		t.Fatalf("the test wants both customers on the same overlay addresses: %s, %s", hx.OverlayAddress, hy.OverlayAddress)
	}
	vni := map[*drCustomer]uint32{x: hx.VNI, y: hy.VNI}
	for _, pair := range [][2]*drCustomer{{x, y}, {y, x}} {
		own, other := pair[0], pair[1]
		for _, d := range own.hubs {
			waitRoute(t, d.label, d.bird(), own.marker, "")
			text, err := birdText(d.bird(), "show route all")
			if err != nil {
				t.Fatalf("%s: %v", d.label, err)
			}
			if strings.Contains(text, other.marker) {
				t.Errorf("%s has %s's route to %s:\n%s", d.label, other.name, other.marker, text)
			}
			if mark := fmt.Sprintf("(%d, 1, %d)", hubASN, vni[other]); strings.Contains(text, mark) {
				t.Errorf("%s has routes marked %s by %s's backbone:\n%s", d.label, mark, other.name, text)
			}
			rs, err := peerBird(d).Routes(context.Background())
			if err != nil {
				t.Fatalf("%s's router: %v", d.label, err)
			}
			if hasRoute(rs, other.marker) {
				t.Errorf("the router behind %s learned %s's %s: %v", d.label, other.name, other.marker, rs)
			}
		}
	}
}

// localPref is the local preference the controller gives the routes of
// the hub's peer of the given priority.
func localPref(t *testing.T, h *harness, d *drHub, peer string) int {
	t.Helper()
	for _, p := range desiredHub(t, h, d).Backbone.Peers {
		if p.Priority == peer {
			return p.LocalPreference
		}
	}
	t.Fatalf("%s has no %s peer in its desired state", d.label, peer)
	return 0
}

// desiredHub is the hub in its node's desired state.
func desiredHub(t *testing.T, h *harness, d *drHub) desired.Hub {
	t.Helper()
	_, st, err := h.netSvc.Compiler.DesiredState(h.ctx, d.n.name)
	if err != nil {
		t.Fatal(err)
	}
	for _, dh := range st.Hubs {
		if dh.HubID == string(d.hub) {
			return dh
		}
	}
	t.Fatalf("%s is not in %s's desired state", d.label, d.n.name)
	return desired.Hub{}
}
