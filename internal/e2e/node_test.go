package e2e_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/agent"
	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/nstest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// site is one customer's side of the test: its hub's ports on the node and
// the two peer routers (on-premises, AWS) in namespaces of their own.
type site struct {
	name                           string
	cust                           catalog.CustomerID
	hub                            catalog.HubID
	onprem, cloud                  string // peer namespaces
	onIf, clIf, clIf2              string // node-side interfaces (the physical ports)
	onBird, cloudBird              nstest.PeerBird
	onLoop, cloudLoop              string
	onPort, cloudPort              string // port codes
	dataplaneID                    string
	onPhys, cloudPhysA, cloudPhysB string
	onPhysB                        string // a redundant on-premises port's secondary leg; "" for a single port
	cfg                            network.Config
}

const (
	hubASN    = 64600
	onpremASN = 65001
	awsASN    = 64512
	vlan      = 101
)

// TestNodeEndToEnd is issue 5's end-to-end test: customers A and B, with the
// same addresses and prefixes, are configured through the service model;
// the node's agent enrols, pulls its desired state over mutual TLS and builds
// both hubs; BGP comes up with each customer's routers, traffic crosses each
// hub, and the node reports the generation it reached. Then the agent is
// restarted: nothing in the data plane is reset.
func TestNodeEndToEnd(t *testing.T) {
	h := newHarness(t)
	ctx, prefix := h.ctx, h.prefix
	cat, netSvc, fl := h.cat, h.netSvc, h.fl

	// The operator's inventory: one node with a physical port per leg.
	sites := []*site{newSite(prefix, "a"), newSite(prefix, "b")}
	var phys []catalog.PhysicalPort
	// An on-premises physical port whose interface the node does not have
	// yet: a document using it must be refused whole.
	missing := "pn" + sites[0].name
	missing = strings.ToLower(missing)
	phys = append(phys, catalog.PhysicalPort{Name: missing, SpeedMbps: 10_000, Kind: "onprem"},
		catalog.PhysicalPort{Name: "pza", SpeedMbps: 10_000, Kind: "cloud-azure"}, catalog.PhysicalPort{Name: "pzb", SpeedMbps: 10_000, Kind: "cloud-azure"})
	for _, s := range sites {
		phys = append(phys,
			catalog.PhysicalPort{Name: s.onPhys, SpeedMbps: 10_000, Kind: "onprem"},
			catalog.PhysicalPort{Name: s.cloudPhysA, SpeedMbps: 10_000, Kind: "cloud-aws"},
			catalog.PhysicalPort{Name: s.cloudPhysB, SpeedMbps: 10_000, Kind: "cloud-aws"})
	}
	tyo := h.addNode(t, "tokyo", "tyo-1", phys)
	node, runDir := tyo.ns, tyo.runDir

	// Each customer: contract, hub, ports, placement, configuration, apply.
	for _, s := range sites {
		configure(t, ctx, cat, netSvc, s)
		wire(t, node, runDir, s)
	}

	// The node's agent.
	client, state := h.enrol(t, tyo)
	m := dataplane.NewManager(dataplane.Options{RunDir: runDir, NodeNamespace: node})
	t.Cleanup(func() {
		for _, s := range sites {
			_ = m.Remove(context.Background(), s.dataplaneID)
		}
	})
	stop := runAgent(t, newLoop(client, m, runDir, state))

	converged := func(what string) { t.Helper(); h.converged(t, tyo, what) }
	converged("of the first configuration")

	// The customer sees that its hub runs the version it applied.
	custSrv := h.customerAPI(t)
	token := h.customerToken(t, sites[0].cust)
	var hd struct {
		AppliedVersion int64 `json:"applied_version"`
		ReachedVersion int64 `json:"reached_version"`
		InSync         bool  `json:"in_sync"`
	}
	if code := getJSON(t, custSrv, token, "/api/v1/hubs/"+string(sites[0].hub)+"/dataplane", &hd); code != 200 || !hd.InSync || hd.ReachedVersion != hd.AppliedVersion || hd.AppliedVersion < 1 {
		t.Errorf("A's hub data-plane status: %d %+v", code, hd)
	}
	if code := getJSON(t, custSrv, token, "/api/v1/hubs/"+string(sites[1].hub)+"/dataplane", &hd); code != 404 {
		t.Errorf("A reads B's hub status: %d", code)
	}
	for _, s := range sites {
		hubBird := m.BirdClient(s.dataplaneID)
		for _, proto := range []string{onpremSession(s), cloudSession(s)} {
			nstest.WaitFor(t, s.name+" "+proto+" Established", 90*time.Second, func() (bool, string) {
				ps, err := hubBird.Protocols(ctx)
				if err != nil {
					return false, err.Error()
				}
				for _, p := range ps {
					if p.Name == proto {
						return p.Established(), fmt.Sprintf("%+v", p)
					}
				}
				return false, fmt.Sprintf("no protocol %s in %+v", proto, ps)
			})
		}
		// Each peer has learned the other side before traffic is tried.
		for _, learned := range []struct {
			bird   nstest.PeerBird
			prefix string
		}{{s.onBird, "172.31.0.0/16"}, {s.cloudBird, "0.0.0.0/0"}} {
			nstest.WaitFor(t, learned.bird.NS+" to learn "+learned.prefix, 60*time.Second, func() (bool, string) {
				rs, err := dataplane.BirdClient{Socket: learned.bird.Sock}.Routes(ctx)
				if err != nil {
					return false, err.Error()
				}
				for _, r := range rs {
					if r.Net.String() == learned.prefix {
						return true, ""
					}
				}
				return false, fmt.Sprintf("%v", rs)
			})
		}
		if err := nstest.Ping(s.onprem, s.onLoop, s.cloudLoop, 30*time.Second); err != nil {
			t.Errorf("%s: on-premises → AWS across the hub: %v", s.name, err)
		}
		if err := nstest.Ping(s.cloud, s.cloudLoop, s.onLoop, 30*time.Second); err != nil {
			t.Errorf("%s: AWS → on-premises across the hub: %v", s.name, err)
		}
		// A TCP connection from the on-premises network to AWS.
		if bps := nstest.Goodput(t, s.onprem, s.onLoop, s.cloud, s.cloudLoop+":5001", s.cloudLoop+":5001", 300*time.Millisecond); bps <= 0 {
			t.Errorf("%s: no TCP goodput", s.name)
		}
	}

	// The customer sees what the node observed of its hub: each port's
	// sessions up with routes, and its links.
	nstest.WaitFor(t, "A's hub status to show its sessions Established", 60*time.Second, func() (bool, string) {
		var st struct {
			Ports []struct {
				PortCode string `json:"port_code"`
				Sessions []struct {
					Name     string `json:"name"`
					Info     string `json:"info"`
					Imported int    `json:"imported_prefixes"`
				} `json:"bgp_sessions"`
				Links []struct {
					Carrier bool `json:"carrier"`
				} `json:"links"`
			} `json:"ports"`
		}
		code := getJSON(t, custSrv, token, "/api/v1/hubs/"+string(sites[0].hub)+"/dataplane", &st)
		up := map[string]bool{}
		for _, p := range st.Ports {
			for _, s := range p.Sessions {
				up[p.PortCode+"/"+s.Name] = s.Info == "Established" && s.Imported > 0 && len(p.Links) > 0 && p.Links[0].Carrier
			}
		}
		return code == 200 && up[sites[0].onPort+"/single"] && up[sites[0].cloudPort+"/primary"], fmt.Sprintf("%d %+v", code, st)
	})

	// B enabled BFD on its on-premises session: the hub runs it.
	nstest.WaitFor(t, "B's BFD session to come up", 30*time.Second, func() (bool, string) {
		lines, err := m.BirdClient(sites[1].dataplaneID).Command(ctx, "show bfd sessions")
		var text strings.Builder
		for _, l := range lines {
			text.WriteString(l.Text + "\n")
		}
		return err == nil && strings.Contains(text.String(), "10.0.0.2") && strings.Contains(text.String(), " Up "), text.String()
	})

	// Nothing of one customer's hub is visible in the other's.
	for i, s := range sites {
		other := sites[1-i]
		links := nstest.Sh(t, "ip", "-n", dataplane.NamespacePrefix+s.dataplaneID, "-o", "link", "show")
		for _, foreign := range []string{other.onIf, other.clIf} {
			if strings.Contains(links, foreign+"@") || strings.Contains(links, " "+foreign+":") {
				t.Errorf("%s's interface %s is in %s's hub", other.name, foreign, s.name)
			}
		}
	}

	// A firewall rule applied through the service model blocks A's flow,
	// and B, with the same addresses, is untouched; then it is lifted.
	a := sites[0]
	blocked := a.cfg
	blocked.Objects = network.Objects{Addresses: []network.AddressObject{{Name: "lan", Prefixes: []string{"10.10.0.0/16"}}}}
	blocked.Ports = append([]network.PortConfig(nil), a.cfg.Ports...)
	blocked.Ports[0].Firewall = &network.Firewall{Mode: "stateful", Rules: []network.Rule{
		{Action: "drop", Sources: []string{"lan"}, Destinations: []string{"any"}, Log: true}}}
	applyConfig(t, ctx, netSvc, a.cust, blocked)
	converged("with A's drop rule")
	if err := nstest.Ping(a.onprem, a.onLoop, a.cloudLoop, 3*time.Second); err == nil {
		out, _ := exec.Command("ip", "netns", "exec", dataplane.NamespacePrefix+a.dataplaneID, "nft", "list", "ruleset").CombinedOutput()
		t.Errorf("A's flow passes a drop rule; the hub's ruleset:\n%s", out)
	}
	if err := nstest.Ping(sites[1].onprem, sites[1].onLoop, sites[1].cloudLoop, 10*time.Second); err != nil {
		t.Errorf("B blocked by A's rule: %v", err)
	}
	allowed := blocked
	allowed.Ports = append([]network.PortConfig(nil), blocked.Ports...)
	allowed.Ports[0].Firewall = &network.Firewall{Mode: "stateful", Rules: []network.Rule{
		{Action: "accept", Sources: []string{"lan"}, Destinations: []string{"any"}}}}
	applyConfig(t, ctx, netSvc, a.cust, allowed)
	converged("with A's accept rule")
	if err := nstest.Ping(a.onprem, a.onLoop, a.cloudLoop, 30*time.Second); err != nil {
		t.Errorf("A's flow still blocked after the accept rule: %v", err)
	}

	// What the hubs were asked and what the node reports they run agree:
	// every session, link and firewall rule is observed (A's rule counted
	// by its own number) or named as a problem.
	if diffs := h.walkDesiredAndObserved(t, tyo); len(diffs) > 0 {
		t.Errorf("desired and observed differ:\n%s", strings.Join(diffs, "\n"))
	}

	// One customer can never stop a node. A's new port is placed on an
	// interface the node lacks: A's hub cannot be realised, keeps its last
	// good state (its traffic flows) and reports why, to the operator and
	// to A; B's change made meanwhile is applied and reported truly.
	var k catalog.Contract
	if ks, _, err := cat.ListContracts(ctx, tenanttest.Customer(a.cust), catalog.Page{}); err != nil || len(ks) != 1 {
		t.Fatalf("A's contracts: %v %v", ks, err)
	} else {
		k = ks[0]
	}
	extra, err := cat.CreatePort(ctx, tenanttest.Operator(a.cust), catalog.PortInput{ServiceCode: k.ServiceCode, HubID: a.hub, Kind: "onprem", SpeedMbps: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := netSvc.Operations.Place(ctx, tenanttest.Operator(a.cust), extra.PortCode, network.PlaceInput{Primary: &network.PhysRef{Node: "tyo-1", Port: missing}, Reason: "e2e"}); err != nil {
		t.Fatal(err)
	}
	withExtra := allowed
	withExtra.Ports = append(append([]network.PortConfig(nil), allowed.Ports...), network.PortConfig{PortCode: extra.PortCode,
		OnPrem: &network.OnPremConnection{HubAddress: "10.0.1.1", CustomerAddress: "10.0.1.2", PrefixLength: 30, PeerASN: onpremASN + 1}})
	b := sites[1]
	aGood := h.appliedVersion(t, a.cust)
	applyConfig(t, ctx, netSvc, a.cust, withExtra)
	bTrail := b.cfg
	bTrail.Objects = network.Objects{Addresses: []network.AddressObject{{Name: "lan", Prefixes: []string{"10.10.0.0/16"}}}}
	bTrail.Ports = append([]network.PortConfig(nil), b.cfg.Ports...)
	bTrail.Ports[0].Firewall = &network.Firewall{Mode: "stateful", Rules: []network.Rule{
		{Action: "accept", Sources: []string{"lan"}, Destinations: []string{"any"}}}}
	applyConfig(t, ctx, netSvc, b.cust, bTrail)
	aWanted, bWanted := h.appliedVersion(t, a.cust), h.appliedVersion(t, b.cust)
	bHub := h.waitHub(t, tyo, b.cust, b.hub, "B's new version", func(o observed.Hub) bool {
		return o.ConfigVersion == bWanted && o.WantedVersion == bWanted && o.Error == ""
	})
	if fw := portOf(bHub, bTrail.Ports[0].PortCode); len(fw.Rules) == 0 || fw.Rules[0].Rule != 0 {
		t.Errorf("B's firewall counters by its own rule number: %+v", bHub.Ports)
	}
	h.waitHub(t, tyo, a.cust, a.hub, "its last good version and why", func(o observed.Hub) bool {
		return o.ConfigVersion == aGood && o.WantedVersion == aWanted && strings.Contains(o.Error, missing)
	})
	if out := nstest.Sh(t, "ip", "netns", "exec", dataplane.NamespacePrefix+b.dataplaneID, "nft", "list", "ruleset"); !strings.Contains(out, "10.10.0.0/16") {
		t.Errorf("B's new rule is not in B's hub:\n%s", out)
	}
	if err := nstest.Ping(a.onprem, a.onLoop, a.cloudLoop, 10*time.Second); err != nil {
		t.Errorf("A's hub stopped forwarding its last good state: %v", err)
	}
	var aView struct {
		AppliedVersion int64              `json:"applied_version"`
		ReachedVersion int64              `json:"reached_version"`
		InSync         bool               `json:"in_sync"`
		Error          string             `json:"error"`
		Problems       []observed.Problem `json:"problems"`
	}
	if code := getJSON(t, custSrv, token, "/api/v1/hubs/"+string(a.hub)+"/dataplane", &aView); code != 200 || aView.InSync ||
		aView.AppliedVersion != aWanted || aView.ReachedVersion != aGood || !strings.Contains(aView.Error, missing) {
		t.Errorf("A's view of its hub kept at its last good state: %d %+v", code, aView)
	}
	if st, err := fl.NodeStatus(ctx, "tyo-1"); err != nil || !slices.ContainsFunc(st.Hubs, func(hs fleet.HubStatus) bool {
		return hs.HubID == a.hub && strings.Contains(hs.Error, missing) && hs.ConfigVersion == aGood
	}) {
		t.Errorf("the operator's node status does not show A's hub error: %+v, %v", st, err)
	}
	// Once the interface exists, A's version is applied.
	nstest.Sh(t, "ip", "-n", node, "link", "add", missing, "type", "veth", "peer", "name", missing+"x")
	converged("once the missing interface exists")
	h.waitHub(t, tyo, a.cust, a.hub, "its new version", func(o observed.Hub) bool { return o.ConfigVersion == aWanted && o.Error == "" })

	// Then A's physical port disappears from the node: A's hub keeps what
	// it runs (the rest of it forwards) and says why; B's next version is
	// applied all the same.
	nstest.Sh(t, "ip", "-n", node, "link", "del", missing+"x")
	bTrail.Ports[0].Firewall.Rules = append(bTrail.Ports[0].Firewall.Rules, network.Rule{Action: "accept", Sources: []string{"any"}, Destinations: []string{"lan"}})
	applyConfig(t, ctx, netSvc, b.cust, bTrail)
	bWanted = h.appliedVersion(t, b.cust)
	h.waitHub(t, tyo, b.cust, b.hub, "B's next version with A's port gone", func(o observed.Hub) bool {
		return o.ConfigVersion == bWanted && o.Error == "" && len(portOf(o, bTrail.Ports[0].PortCode).Rules) == 3
	})
	h.waitHub(t, tyo, a.cust, a.hub, "its port gone", func(o observed.Hub) bool {
		return o.ConfigVersion == aWanted && strings.Contains(o.Error, missing)
	})
	if err := nstest.Ping(a.onprem, a.onLoop, a.cloudLoop, 10*time.Second); err != nil {
		t.Errorf("A's hub stopped forwarding when one of its ports disappeared: %v", err)
	}
	nstest.Sh(t, "ip", "-n", node, "link", "add", missing, "type", "veth", "peer", "name", missing+"x")
	h.waitHub(t, tyo, a.cust, a.hub, "its port back", func(o observed.Hub) bool { return o.ConfigVersion == aWanted && o.Error == "" })

	// A public cloud port contracted at 100 Mbit/s (Azure Peering Service,
	// with its mandatory firewall and NAPT): iperf3 from the on-premises
	// network to the Azure side gets 90–101 % of the contracted rate.
	if _, err := netSvc.Operations.CreatePool(ctx, network.PoolInput{Region: "tokyo", Prefix: "203.0.113.0/26", Purpose: "napt"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cat.SetOption(ctx, tenanttest.Operator(a.cust), k.ServiceCode, catalog.OptionInput{Name: "napt-grade", Quantity: 1}); err != nil {
		t.Fatal(err)
	}
	aps, err := cat.CreatePort(ctx, tenanttest.Operator(a.cust), catalog.PortInput{ServiceCode: k.ServiceCode, HubID: a.hub, Kind: "m2-public", SpeedMbps: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := netSvc.Operations.Place(ctx, tenanttest.Operator(a.cust), aps.PortCode, network.PlaceInput{Primary: &network.PhysRef{Node: "tyo-1", Port: "pza"},
		Secondary: &network.PhysRef{Node: "tyo-1", Port: "pzb"}, Reason: "e2e"}); err != nil {
		t.Fatal(err)
	}
	azure, azureLoop := a.onprem[:len(a.onprem)-3]+"-aza", "20.1.0.1"
	nstest.AddNamespace(t, azure)
	nstest.Sh(t, "ip", "-n", node, "link", "add", "pza.201", "type", "veth", "peer", "name", "eth0", "netns", azure)
	nstest.Sh(t, "ip", "-n", node, "link", "add", "pzb.201", "type", "veth", "peer", "name", "eth1", "netns", azure)
	nstest.IPBatch(t, azure, []string{"addr add 192.0.2.2/30 dev eth0", "addr add 192.0.2.6/30 dev eth1", "addr add " + azureLoop + "/32 dev lo",
		"link set eth0 up", "link set eth1 up"})
	nstest.StartPeerBird(t, azure, runDir, nstest.PeerConf{Local: "192.0.2.2", Hub: "192.0.2.1", ASN: 8075, HubASN: hubASN,
		Prefixes: []string{"20.1.0.0/16"}, Loopback: azureLoop, Second: &nstest.PeerLink{Local: "192.0.2.6", Hub: "192.0.2.5"}})
	withM2 := withExtra
	withM2.Objects = network.Objects{Addresses: []network.AddressObject{{Name: "lan", Prefixes: []string{"10.10.0.0/16"}}}}
	withM2.Ports = append(append([]network.PortConfig(nil), withExtra.Ports...), network.PortConfig{PortCode: aps.PortCode,
		Cloud: &network.CloudConnection{VLAN: 201, PeerASN: 8075,
			RoutePolicy: network.RoutePolicy{Type: network.PolicyUserDefined, Prefixes: []string{"192.0.2.128/25"}},
			Primary:     network.Link{HubAddress: "192.0.2.1", PeerAddress: "192.0.2.2", PrefixLength: 30},
			Secondary:   network.Link{HubAddress: "192.0.2.5", PeerAddress: "192.0.2.6", PrefixLength: 30}},
		Firewall: &network.Firewall{Mode: "stateful", Rules: []network.Rule{{Action: "accept", Sources: []string{"lan"}, Destinations: []string{"any"}}}},
		NAPT:     []network.NAPTGrade{{Sessions: 30_000}}})
	applyConfig(t, ctx, netSvc, a.cust, withM2)
	converged("with A's Azure Peering Service port")
	nstest.WaitFor(t, "A's on-premises router to learn the Azure prefix", 60*time.Second, func() (bool, string) {
		rs, err := dataplane.BirdClient{Socket: a.onBird.Sock}.Routes(ctx)
		for _, r := range rs {
			if r.Net.String() == "20.1.0.0/16" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%v %v", rs, err)
	})
	if bps := nstest.Iperf3(t, azure, azureLoop, a.onprem, a.onLoop, "5203", 2); bps < 90e6 || bps > 101e6 {
		t.Errorf("iperf3 through A's hub at a contracted 100 Mbit/s: %.1f Mbit/s", bps/1e6)
	} else {
		t.Logf("iperf3 through A's hub at a contracted 100 Mbit/s: %.1f Mbit/s", bps/1e6)
	}
	// The speed goes to 300 Mbit/s during a ping every 10 ms: nothing lost.
	azStop := make(chan struct{})
	azPinged := make(chan [2]int, 1)
	go func() {
		sent, lost, _ := nstest.PingStream(a.onprem, a.onLoop, azureLoop, 10*time.Millisecond, azStop)
		azPinged <- [2]int{sent, lost}
	}()
	time.Sleep(300 * time.Millisecond)
	if _, err := netSvc.Operations.RequestBandwidthChange(ctx, tenanttest.Operator(a.cust), aps.PortCode, network.BandwidthInput{SpeedMbps: 300, EffectiveDate: clock.Today()}); err != nil {
		t.Fatal(err)
	}
	converged("after the Azure port's change to 300 Mbit/s")
	time.Sleep(300 * time.Millisecond)
	close(azStop)
	if r := <-azPinged; r[0] < 20 || r[1] != 0 {
		t.Errorf("ping across the change to 300 Mbit/s: sent %d, lost %d", r[0], r[1])
	}
	if out := nstest.Sh(t, "tc", "-n", dataplane.NamespacePrefix+a.dataplaneID, "class", "show", "dev", "pza.201"); !strings.Contains(out, "rate 300Mbit") {
		t.Errorf("the Azure port is not shaped at 300 Mbit/s:\n%s", out)
	}

	// A speed change (an item change on the contract, effective today) is
	// applied in place: a ping every 10 ms loses nothing and the BGP
	// session is not reset.
	before := protocol(t, m, a.dataplaneID, cloudSession(a))
	speedStop := make(chan struct{})
	speedPinged := make(chan [2]int, 1)
	go func() {
		sent, lost, _ := nstest.PingStream(a.onprem, a.onLoop, a.cloudLoop, 10*time.Millisecond, speedStop)
		speedPinged <- [2]int{sent, lost}
	}()
	time.Sleep(300 * time.Millisecond)
	if _, err := netSvc.Operations.RequestBandwidthChange(ctx, tenanttest.Operator(a.cust), a.cloudPort, network.BandwidthInput{SpeedMbps: 2_000, EffectiveDate: clock.Today()}); err != nil {
		t.Fatal(err)
	}
	converged("after A's speed change")
	time.Sleep(300 * time.Millisecond)
	close(speedStop)
	if r := <-speedPinged; r[0] < 20 || r[1] != 0 {
		t.Errorf("ping across the speed change: sent %d, lost %d", r[0], r[1])
	}
	if out := nstest.Sh(t, "tc", "-n", dataplane.NamespacePrefix+a.dataplaneID, "class", "show", "dev", a.clIf); !strings.Contains(out, "rate 2Gbit") {
		t.Errorf("the port is not shaped at the new speed:\n%s", out)
	}
	if after := protocol(t, m, a.dataplaneID, cloudSession(a)); !after.Established() || !after.Since.Equal(before.Since) {
		t.Errorf("the speed change reset BGP: %+v → %+v", before, after)
	}

	// A restarted agent adopts the running data plane: BIRD keeps its
	// process, and a ping every 10 ms across the hub loses nothing.
	pidBefore := birdPID(t, runDir, a.dataplaneID)
	pingStop := make(chan struct{})
	type pingResult struct {
		sent, lost int
		err        error
	}
	pinged := make(chan pingResult, 1)
	go func() {
		sent, lost, err := nstest.PingStream(a.onprem, a.onLoop, a.cloudLoop, 10*time.Millisecond, pingStop)
		pinged <- pingResult{sent, lost, err}
	}()
	time.Sleep(500 * time.Millisecond)
	stop()
	m.Close() // as the agent does on exit: its guard watchers stop
	m2 := dataplane.NewManager(dataplane.Options{RunDir: runDir, NodeNamespace: node})
	stop2 := runAgent(t, newLoop(client, m2, runDir, state))
	defer stop2()
	time.Sleep(6 * time.Second) // beyond a resync of the new agent
	close(pingStop)
	r := <-pinged
	if r.err != nil || r.sent < 100 || r.lost != 0 {
		t.Errorf("ping across the agent restart: sent %d, lost %d, %v", r.sent, r.lost, r.err)
	}
	if pid := birdPID(t, runDir, a.dataplaneID); pid != pidBefore {
		t.Errorf("BIRD restarted by an agent restart: pid %s → %s", pidBefore, pid)
	}

	// A's AWS router advertises 2,001 prefixes: that session alone stops;
	// A's on-premises session and B's sessions stay up.
	many := []string{"172.31.0.0/16"}
	for i := 0; len(many) < 2_001; i++ {
		many = append(many, fmt.Sprintf("11.%d.%d.0/24", i/256, i%256))
	}
	a.cloudBird.Reconfigure(t, nstest.PeerConf{Local: "169.254.100.2", Hub: "169.254.100.1", ASN: awsASN, HubASN: hubASN,
		Prefixes: many, Loopback: a.cloudLoop})
	// BIRD stops the session at the limit; once the controller has
	// recorded the stop, the desired state holds the session disabled in
	// BIRD's configuration, and BIRD shows it down without the reason.
	// BIRD's own count for the stop, read while it still shows the reason:
	// the figure the customer's audit entry and mail must carry.
	birdHit := 0
	nstest.WaitFor(t, "A's AWS session to stop at the route limit", 60*time.Second, func() (bool, string) {
		p := protocol(t, m2, a.dataplaneID, cloudSession(a))
		if strings.Contains(strings.ToLower(p.Info), "limit") && birdHit == 0 {
			if rc, err := m2.BirdClient(a.dataplaneID).Counts(ctx, cloudSession(a)); err == nil {
				birdHit = rc.LimitHit
			}
		}
		return p.State == "down" || strings.Contains(strings.ToLower(p.Info), "limit"), fmt.Sprintf("%+v", p)
	})
	for _, c := range []struct {
		s    *site
		name string
	}{{a, onpremSession(a)}, {sites[1], onpremSession(sites[1])}, {sites[1], cloudSession(sites[1])}} {
		if p := protocol(t, m2, c.s.dataplaneID, c.name); !p.Established() {
			t.Errorf("%s %s went down with A's route limit: %+v", c.s.name, c.name, p)
		}
	}
	// The node's report reaches the service model: the stop is recorded for
	// the customer (who is told by mail), and stays until the customer
	// re-enables the session after fixing the peer.
	nstest.WaitFor(t, "the controller to record A's route-limit stop", 60*time.Second, func() (bool, string) {
		st, err := netSvc.Workflow.GetBGPState(ctx, tenanttest.Customer(a.cust), a.cloudPort)
		return err == nil && st.State == "stopped-limit", fmt.Sprintf("%+v %v", st, err)
	})
	// The count in the customer's audit entry and in the session view is
	// the one BIRD reported for the stop, not the limit plus one.
	entries, err := h.audit.List(ctx, audit.OfChain(string(a.cust)))
	if err != nil {
		t.Fatal(err)
	}
	var stops []audit.Entry
	for _, e := range entries {
		if e.Action == "bgp.route_limit.exceeded" {
			stops = append(stops, e)
		}
	}
	t.Logf("BIRD reported %d prefixes at the route-limit stop", birdHit)
	st, err := netSvc.Workflow.GetBGPState(ctx, tenanttest.Customer(a.cust), a.cloudPort)
	if err != nil || len(stops) != 1 || birdHit == 0 || stops[0].Detail["prefixes"] != float64(birdHit) ||
		st.StoppedPrefixes == nil || *st.StoppedPrefixes != int64(birdHit) {
		t.Errorf("BIRD reported %d prefixes at the stop; the audit log has %v, the session view %+v (%v)", birdHit, stops, st, err)
	}
	a.cloudBird.Reconfigure(t, nstest.PeerConf{Local: "169.254.100.2", Hub: "169.254.100.1", ASN: awsASN, HubASN: hubASN,
		Prefixes: []string{"172.31.0.0/16"}, Loopback: a.cloudLoop})
	if _, err := netSvc.Workflow.Reenable(ctx, tenanttest.Customer(a.cust), a.cloudPort); err != nil {
		t.Fatal(err)
	}
	nstest.WaitFor(t, "A's AWS session to come back after the re-enable", 90*time.Second, func() (bool, string) {
		p := protocol(t, m2, a.dataplaneID, cloudSession(a))
		return p.Established(), fmt.Sprintf("%+v", p)
	})
	// The session view's prefix count is the node's latest observation: it
	// shows the route the session holds again, not 0.
	nstest.WaitFor(t, "the session view to count the route the session holds again", 60*time.Second, func() (bool, string) {
		st, err := netSvc.Workflow.GetBGPState(ctx, tenanttest.Customer(a.cust), a.cloudPort)
		return err == nil && st.State == "enabled" && st.Received == 1, fmt.Sprintf("%+v %v", st, err)
	})

	// A switch on B's premises sends a BPDU into its on-premises port: the
	// node shuts that port, the controller records it for B, and it stays
	// shut until B re-enables it. A is untouched.
	b = sites[1]
	raw := nstest.OpenRaw(t, b.onprem, "eth0")
	sent := time.Now()
	if err := raw.Send(nstest.BPDUFrame(raw.MAC)); err != nil {
		t.Fatal(err)
	}
	nstest.WaitFor(t, "the controller to record B's port shut by the BPDU guard", 60*time.Second, func() (bool, string) {
		st, err := netSvc.Workflow.GetPortGuard(ctx, tenanttest.Customer(b.cust), b.onPort)
		return err == nil && st.State == "shut" && st.Reason == network.ShutBPDU, fmt.Sprintf("%+v %v", st, err)
	})
	// The node's guard watcher shuts the port and wakes the agent, which
	// reports at once rather than at its next resync (5 s here).
	t.Logf("BPDU sent → shut recorded by the controller: %v", time.Since(sent).Round(time.Millisecond))
	if err := nstest.Ping(b.onprem, b.onLoop, b.cloudLoop, time.Second); err == nil {
		t.Error("B's shut port still forwards")
	}
	if p := protocol(t, m2, a.dataplaneID, onpremSession(a)); !p.Established() {
		t.Errorf("A's on-premises session went down with B's shut port: %+v", p)
	}
	if _, err := netSvc.Workflow.ReenablePort(ctx, tenanttest.Customer(b.cust), b.onPort); err != nil {
		t.Fatal(err)
	}
	// B's router saw its link go down and, like BIRD, waits a minute
	// after such an error before it accepts the hub's connection again;
	// B restarts its session, as a customer does after fixing the cause.
	nstest.Sh(t, "birdc", "-s", b.onBird.Sock, "restart", "hub")
	nstest.WaitFor(t, "B's on-premises session to come back after the re-enable", 90*time.Second, func() (bool, string) {
		p := protocol(t, m2, b.dataplaneID, onpremSession(b))
		return p.Established(), fmt.Sprintf("%+v", p)
	})
	nstest.WaitFor(t, "B's on-premises router to learn AWS again", 60*time.Second, func() (bool, string) {
		rs, err := dataplane.BirdClient{Socket: b.onBird.Sock}.Routes(ctx)
		for _, r := range rs {
			if r.Net.String() == "172.31.0.0/16" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%v %v", rs, err)
	})
	if err := nstest.Ping(b.onprem, b.onLoop, b.cloudLoop, 30*time.Second); err != nil {
		t.Errorf("B's port after the re-enable: %v", err)
	}
	if st, err := netSvc.Workflow.GetPortGuard(ctx, tenanttest.Customer(b.cust), b.onPort); err != nil || st.State != "active" {
		t.Errorf("after the re-enable the controller shows %+v (%v)", st, err)
	}
}

// protocol returns the hub BIRD's view of one session.
func protocol(t *testing.T, m *dataplane.Manager, id, name string) dataplane.ProtocolStatus {
	t.Helper()
	ps, err := m.BirdClient(id).Protocols(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("hub %s has no protocol %s", id, name)
	return dataplane.ProtocolStatus{}
}

func onpremSession(s *site) string {
	return dataplane.SessionName("p" + strings.TrimPrefix(s.onPort, "shc") + "_s")
}
func cloudSession(s *site) string {
	return dataplane.SessionName("p" + strings.TrimPrefix(s.cloudPort, "shc") + "_p")
}

func newSite(prefix, x string) *site {
	return &site{
		name:   strings.ToUpper(x),
		onprem: prefix + "-on" + x, cloud: prefix + "-aws" + x,
		onPhys: "po" + x, cloudPhysA: "pw" + x, cloudPhysB: "px" + x,
		onLoop: "10.10.0.1", cloudLoop: "172.31.0.1",
	}
}

// configure makes the customer's contract, hub and ports, places them on the
// node's physical ports and applies a configuration — the same for A and B.
// With onPhysB the on-premises port is redundant, its secondary leg there.
func configure(t testing.TB, ctx context.Context, cat *catalog.Catalog, svc *network.Service, s *site) {
	t.Helper()
	cu, err := cat.CreateCustomer(ctx, catalog.CustomerInput{Name: "Customer " + s.name})
	if err != nil {
		t.Fatal(err)
	}
	s.cust = cu.ID
	k, err := cat.CreateContract(ctx, tenanttest.Operator(cu.ID), catalog.ContractInput{Plan: "smart-hub"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := cat.CreateHub(ctx, tenanttest.Operator(cu.ID), catalog.HubInput{ServiceCode: k.ServiceCode, Region: "tokyo", Priority: "main"})
	if err != nil {
		t.Fatal(err)
	}
	s.hub = h.ID
	s.dataplaneID = strings.TrimPrefix(string(h.ID), "hub_") // the desired state's namespace is hub-<this>
	on, err := cat.CreatePort(ctx, tenanttest.Operator(cu.ID), catalog.PortInput{ServiceCode: k.ServiceCode, HubID: h.ID, Kind: "onprem", SpeedMbps: 10_000,
		Redundant: s.onPhysB != ""})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := cat.CreatePort(ctx, tenanttest.Operator(cu.ID), catalog.PortInput{ServiceCode: k.ServiceCode, HubID: h.ID, Kind: "a-private", SpeedMbps: 1_000})
	if err != nil {
		t.Fatal(err)
	}
	s.onPort, s.cloudPort = on.PortCode, cl.PortCode
	onPlace := network.PlaceInput{Primary: &network.PhysRef{Node: "tyo-1", Port: s.onPhys}, Reason: "e2e"}
	if s.onPhysB != "" {
		onPlace.Secondary = &network.PhysRef{Node: "tyo-1", Port: s.onPhysB}
	}
	if _, err := svc.Operations.Place(ctx, tenanttest.Operator(cu.ID), on.PortCode, onPlace); err != nil {
		t.Fatal(err)
	}
	// A cloud port's two links: the primary on one physical port, the
	// secondary on the other.
	if _, err := svc.Operations.Place(ctx, tenanttest.Operator(cu.ID), cl.PortCode, network.PlaceInput{Primary: &network.PhysRef{Node: "tyo-1", Port: s.cloudPhysA},
		Secondary: &network.PhysRef{Node: "tyo-1", Port: s.cloudPhysB}, Reason: "e2e"}); err != nil {
		t.Fatal(err)
	}
	cfg := network.Config{ASN: hubASN, Ports: []network.PortConfig{
		{PortCode: on.PortCode, OnPrem: &network.OnPremConnection{HubAddress: "10.0.0.1", CustomerAddress: "10.0.0.2", PrefixLength: 30, PeerASN: onpremASN,
			BFD:     s.name == "B", // B asks for BFD on its on-premises session
			L2Guard: network.L2Guard{BPDUGuard: ptrTrue(), StormControlPPS: 1000, FlapLimit: 5, FlapWindowSeconds: 60, MACLimit: 5, MACAgeingSeconds: 2400, MTU: 1500}}},
		{PortCode: cl.PortCode, Cloud: &network.CloudConnection{VLAN: vlan, PeerASN: awsASN, RoutePolicy: network.RoutePolicy{Type: network.PolicyDefaultRoute},
			Primary:   network.Link{HubAddress: "169.254.100.1", PeerAddress: "169.254.100.2", PrefixLength: 30},
			Secondary: network.Link{HubAddress: "169.254.100.5", PeerAddress: "169.254.100.6", PrefixLength: 30}}},
	}}
	s.cfg = cfg
	applyConfig(t, ctx, svc, s.cust, cfg)
}

// applyConfig goes through the edit workflow: lock, draft, review, apply.
func applyConfig(t testing.TB, ctx context.Context, svc *network.Service, cust catalog.CustomerID, cfg network.Config) {
	t.Helper()
	if _, err := svc.Workflow.StartEditing(ctx, tenanttest.Customer(cust)); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Workflow.SaveDraft(ctx, tenanttest.Customer(cust), cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Workflow.Review(ctx, tenanttest.Customer(cust)); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Workflow.Apply(ctx, tenanttest.Customer(cust)); err != nil {
		t.Fatal(err)
	}
}

// wire builds the customer's side of the node: veth pairs whose node ends
// carry the names the desired state gives the legs (the VLAN as a name
// suffix: this kernel has no VLAN sub-interfaces), and the peer routers.
func wire(t *testing.T, node, runDir string, s *site) {
	t.Helper()
	s.onIf = s.onPhys
	nstest.AddNamespace(t, s.onprem)
	nstest.Sh(t, "ip", "-n", node, "link", "add", s.onIf, "type", "veth", "peer", "name", "eth0", "netns", s.onprem)
	nstest.IPBatch(t, s.onprem, []string{"addr add 10.0.0.2/30 dev eth0", "addr add " + s.onLoop + "/32 dev lo", "link set eth0 up"})
	s.onBird = nstest.StartPeerBird(t, s.onprem, runDir, nstest.PeerConf{Local: "10.0.0.2", Hub: "10.0.0.1", ASN: onpremASN, HubASN: hubASN,
		Prefixes: []string{"10.10.0.0/16"}, Loopback: s.onLoop, BFD: s.name == "B"})
	wireCloud(t, node, runDir, s)
}

// wireCloud builds the AWS router behind the site's cloud port: its eth0
// on the primary link (the leg on cloudPhysA), its eth1 on the secondary
// (the leg on cloudPhysB), each with its /30 and its BGP session with the
// hub, as a cloud provider's redundant pair is.
func wireCloud(t *testing.T, node, runDir string, s *site) {
	t.Helper()
	s.clIf = fmt.Sprintf("%s.%d", s.cloudPhysA, vlan)
	s.clIf2 = fmt.Sprintf("%s.%d", s.cloudPhysB, vlan)
	nstest.AddNamespace(t, s.cloud)
	nstest.Sh(t, "ip", "-n", node, "link", "add", s.clIf, "type", "veth", "peer", "name", "eth0", "netns", s.cloud)
	nstest.Sh(t, "ip", "-n", node, "link", "add", s.clIf2, "type", "veth", "peer", "name", "eth1", "netns", s.cloud)
	nstest.IPBatch(t, s.cloud, []string{"addr add 169.254.100.2/30 dev eth0", "addr add 169.254.100.6/30 dev eth1",
		"addr add " + s.cloudLoop + "/32 dev lo", "link set eth0 up", "link set eth1 up"})
	s.cloudBird = nstest.StartPeerBird(t, s.cloud, runDir, nstest.PeerConf{Local: "169.254.100.2", Hub: "169.254.100.1", ASN: awsASN, HubASN: hubASN,
		Prefixes: []string{"172.31.0.0/16"}, Loopback: s.cloudLoop, Second: &nstest.PeerLink{Local: "169.254.100.6", Hub: "169.254.100.5"}})
}

// newLoop is the agent's loop with short waits, so the test converges fast.
func newLoop(c *agent.Client, m *dataplane.Manager, runDir, state string) *agent.Loop {
	return &agent.Loop{Client: c, Applier: &agent.DataplaneApplier{M: m, RunDir: runDir, StateDir: state}, Dir: state, Version: "e2e",
		Wait: 2 * time.Second, Resync: 5 * time.Second, MaxBackoff: time.Second, Wake: m.Tripped()}
}

func birdPID(t *testing.T, runDir, id string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(runDir, dataplane.NamespacePrefix+id, "bird.pid"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func ptrTrue() *bool { on := true; return &on }

// portOf is the observed port of the given code ("" and no rules when the
// hub has none): the report lists a hub's ports by port code, and codes
// are drawn at random.
func portOf(h observed.Hub, code string) observed.Port {
	for _, p := range h.Ports {
		if p.PortCode == code {
			return p
		}
	}
	return observed.Port{}
}
