package network

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/agent"
	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
)

// TestPropertyChainAcceptsWhatValidationAccepts generates configurations
// the controller's validation accepts — every port kind, a redundant and a
// single on-premises port, firewalls with every object kind and every
// service protocol, NAPT grades 1–8, static NAT, every route policy, cloud
// ports with both links on the node (and, now and then, a cloud port placed
// before it had a secondary leg) — and sends each down the chain
// a node runs: BuildDesiredState → the document's encoding and the agent's
// strict decoding → agent.Translate → the data plane's checks (Hub.Validate,
// what Manager.ApplyAll checks of a hub before touching the kernel; whether
// the named devices exist on a node is the node's inventory, not the
// configuration, and is not part of this test). Every accepted
// configuration must be accepted all the way down, and what the data plane
// does not realise must be exactly the known gaps below, each reported or
// asserted explicitly. Every NAPT grade's public prefix and every static
// NAT mapping is on each data-plane port of its port (both links of a
// cloud port), and neither is reported as a problem.
//
//   - A cloud port placed before cloud ports had two legs has only its
//     primary leg until the operator places the secondary: its secondary
//     session is not built, and the agent reports it as a problem of the
//     hub. The test asserts which sessions became data-plane ports and the
//     problem. (A cloud port placed now has both legs, each its own
//     data-plane port: issue 10, "A cloud port's secondary link".)
//
// TSUNAGI_PROPERTY_SEED replays one run.
func TestPropertyChainAcceptsWhatValidationAccepts(t *testing.T) {
	t.Parallel()
	seed := propertySeed(t)
	t.Logf("seed %d (TSUNAGI_PROPERTY_SEED to replay)", seed)
	r := rand.New(rand.NewPCG(seed, 11))
	accepted, refused := 0, 0
	seenProto := map[string]bool{}
	seenGrades := map[int]bool{}
	for i := range 400 {
		f, cfg, nodes := genChain(r)
		Normalize(f, &cfg, DefaultSettings)
		if ps := Validate(f, cfg, DefaultSettings); len(ps) != 0 {
			refused++
			if os.Getenv("TSUNAGI_PROPERTY_DEBUG") != "" {
				t.Logf("refused: %+v", ps)
			}
			continue
		}
		accepted++
		for _, s := range cfg.Objects.Services {
			seenProto[s.Protocol] = true
		}
		for _, pc := range cfg.Ports {
			seenGrades[len(pc.NAPT)] = true
		}
		for _, in := range nodes {
			in.Hubs[0].Config = cfg
			in.Hubs[0].NAT = natFor(cfg)
			checkChain(t, fmt.Sprintf("config %d on %s", i, in.Node), in)
		}
		if t.Failed() {
			b, _ := json.Marshal(cfg)
			t.Fatalf("config %d: %s", i, b)
		}
	}
	t.Logf("%d configurations accepted, %d refused by validation", accepted, refused)
	if accepted < 100 {
		t.Fatalf("only %d configurations accepted: the generator exercises too little", accepted)
	}
	for _, p := range []string{"tcp", "udp", "icmp", "any"} {
		if !seenProto[p] {
			t.Errorf("no accepted configuration had a service of protocol %s", p)
		}
	}
	for n := 1; n <= MaxNAPTGrades; n++ {
		if !seenGrades[n] {
			t.Errorf("no accepted configuration had a port with %d NAPT grades", n)
		}
	}
}

// checkChain runs one node's input down the chain.
func checkChain(t *testing.T, where string, in NodeInput) {
	t.Helper()
	st := BuildDesiredState(in)
	b, err := desired.Encode(&st)
	if err != nil {
		t.Fatalf("%s: the controller cannot encode its document: %v", where, err)
	}
	got, err := desired.Decode(b)
	if err != nil {
		t.Fatalf("%s: the agent refuses the controller's document: %v", where, err)
	}
	hubs, perHub := agent.Translate(got)
	var problems []string // "hub: port code: item: reason"
	for i, ps := range perHub {
		for _, p := range ps {
			problems = append(problems, got.Hubs[i].HubID+": "+p.PortCode+": "+p.Item+": "+p.Reason)
		}
	}
	if len(hubs) != len(got.Hubs) {
		t.Fatalf("%s: %d hubs translated from %d", where, len(hubs), len(got.Hubs))
	}
	var want []string
	for i, h := range got.Hubs {
		dh := hubs[i]
		if err := dh.Validate(); err != nil {
			t.Errorf("%s: the data plane refuses hub %s: %v", where, h.HubID, err)
		}
		byCode := map[string][]dataplane.Port{}
		for _, p := range dh.Ports {
			code := "shc" + strings.TrimPrefix(p.Name[:strings.IndexByte(p.Name, '_')], "p")
			byCode[code] = append(byCode[code], p)
		}
		static := map[string]int{}
		for _, s := range h.StaticNAT {
			static[s.PortCode]++
		}
		for _, p := range h.Ports {
			dps := byCode[p.PortCode]
			// Sessions realised: an on-premises port is one session over
			// its leg(s); each session of a cloud port is a data-plane port
			// on its own leg (the secondary's is missing only for a port
			// placed with one leg, above).
			wantPorts := len(p.Legs)
			if p.Kind == "onprem" {
				wantPorts = 1
			}
			if p.Kind != "onprem" && len(p.Sessions) != 2 {
				t.Errorf("%s: cloud port %s has sessions %+v, want primary and secondary", where, p.PortCode, p.Sessions)
			}
			if len(dps) != wantPorts {
				t.Errorf("%s: port %s (%s) with %d legs became %d data-plane ports", where, p.PortCode, p.Kind, len(p.Legs), len(dps))
				continue
			}
			rules := 0
			if p.Firewall != nil {
				for _, r := range p.Firewall.Rules {
					rules += max(1, len(r.Services))
				}
			}
			for j, dp := range dps {
				switch {
				case p.Firewall == nil && dp.Firewall != nil, p.Firewall != nil && (dp.Firewall == nil || len(dp.Firewall.Rules) != rules):
					t.Errorf("%s: port %s: firewall of %v rules realised as %+v", where, p.PortCode, rules, dp.Firewall)
				}
				var publics []string
				for _, g := range p.NAPT {
					publics = append(publics, g.PublicPrefix)
				}
				if len(p.NAPT) == 0 && dp.NAPT != nil || len(p.NAPT) > 0 && (dp.NAPT == nil || fmt.Sprint(dp.NAPT.Public) != fmt.Sprint(publics)) {
					t.Errorf("%s: port %s: NAPT %+v realised as %+v", where, p.PortCode, p.NAPT, dp.NAPT)
				}
				if len(dp.StaticNAT) != static[p.PortCode] {
					t.Errorf("%s: port %s leg %d: %d static NAT mappings, want %d", where, p.PortCode, j, len(dp.StaticNAT), static[p.PortCode])
				}
				if p.L2Guard != nil && dp.L2Guard == nil {
					t.Errorf("%s: port %s: layer-2 guards not realised", where, p.PortCode)
				}
			}
			if p.Kind != "onprem" && len(p.Legs) == 1 {
				want = append(want, fmt.Sprintf("%s: %s: secondary session not realised", h.HubID, p.PortCode))
			}
			for k, dp := range dps {
				if p.Kind != "onprem" && dp.Address.String() != fmt.Sprintf("%s/%d", p.Sessions[k].LocalAddress, p.Sessions[k].PrefixLength) {
					t.Errorf("%s: port %s: data-plane port %s has %s, want session %s's address", where, p.PortCode, dp.Name, dp.Address, p.Sessions[k].Name)
				}
			}
		}
	}
	// The problems reported are exactly the secondary sessions of cloud
	// ports placed with one leg.
	if len(problems) != len(want) {
		t.Errorf("%s: problems %q, want exactly the known gaps: %q", where, problems, want)
		return
	}
	for i := range want {
		if !strings.HasPrefix(problems[i], want[i]) {
			t.Errorf("%s: problem %q, want %q…", where, problems[i], want[i])
		}
	}
}

// genChain is a random configuration of the fixture customer (mostly
// valid), its facts, and the inputs of the two nodes its hubs are on:
// tyo-1 with the main hub, osa-1 with the sub hub.
func genChain(r *rand.Rand) (Facts, Config, []NodeInput) {
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	f := fixtureFacts()
	f.Options = map[string]int64{"napt-grade": 3 * MaxNAPTGrades, "static-nat-address": 8}
	redundant := r.IntN(2) == 0
	f.Ports[0].Redundant = redundant
	cfg := fixtureConfig()
	// Objects: addresses, services of every protocol, applications.
	cfg.Objects = Objects{}
	addrPool := []string{"10.10.0.0/16", "10.11.0.0/16", "192.168.1.0/24", "172.16.5.0/24", "10.200.0.0/16", "192.168.7.8/30"}
	var addrNames, svcNames, appNames []string
	for i := range 1 + r.IntN(3) {
		n := fmt.Sprintf("net%d", i)
		a := AddressObject{Name: n}
		for _, j := range r.Perm(len(addrPool))[:1+r.IntN(3)] {
			a.Prefixes = append(a.Prefixes, addrPool[j])
		}
		cfg.Objects.Addresses = append(cfg.Objects.Addresses, a)
		addrNames = append(addrNames, n)
	}
	for i := range 1 + r.IntN(5) {
		n := fmt.Sprintf("svc%d", i)
		s := ServiceObject{Name: n, Protocol: pick("tcp", "udp", "icmp", "any")}
		if s.Protocol == "tcp" || s.Protocol == "udp" {
			s.Ports = pick("443", "80,8080-8081", "53", "1-65535", "8000-8080,9000", "22,25,110-111")
		}
		cfg.Objects.Services = append(cfg.Objects.Services, s)
		svcNames = append(svcNames, n)
	}
	for i := range r.IntN(3) {
		n := fmt.Sprintf("app%d", i)
		a := ApplicationObject{Name: n}
		for range 1 + r.IntN(2) {
			a.Services = append(a.Services, svcNames[r.IntN(len(svcNames))])
		}
		cfg.Objects.Applications = append(cfg.Objects.Applications, a)
		appNames = append(appNames, n)
	}
	some := func(names []string, max int, withAny bool) []string {
		var out []string
		if len(names) == 0 && !withAny {
			return nil
		}
		for range r.IntN(max + 1) {
			if withAny && r.IntN(4) == 0 || len(names) == 0 {
				out = append(out, "any")
				continue
			}
			out = append(out, names[r.IntN(len(names))])
		}
		return out
	}
	firewall := func() *Firewall {
		fw := &Firewall{Mode: pick("stateful", "stateless")}
		for range r.IntN(7) {
			rule := Rule{Action: pick("accept", "drop", "reject"), Sources: some(addrNames, 2, true), Destinations: some(addrNames, 2, true),
				Services: some(svcNames, 2, false), Applications: some(appNames, 1, false), Log: r.IntN(2) == 0,
				Comment: pick("", "web to the cloud", "ｗｅｂ 通信")}
			if len(rule.Sources) == 0 {
				rule.Sources = []string{"any"}
			}
			if len(rule.Destinations) == 0 {
				rule.Destinations = []string{"any"}
			}
			fw.Rules = append(fw.Rules, rule)
		}
		return fw
	}
	grades := []int{30_000, 60_000, 120_000, 240_000, 480_000}
	insides := []string{"10.10.0.5", "10.10.0.6", "10.11.0.9", "192.168.1.20"}
	taken := map[string]bool{}
	for i := range cfg.Ports {
		pc := &cfg.Ports[i]
		pc.Firewall = nil
		if r.IntN(3) > 0 {
			pc.Firewall = firewall()
		}
		if o := pc.OnPrem; o != nil {
			o.BFD = r.IntN(2) == 0
			o.MD5 = pick("", "s3cret", "a-long_Passw0rd!")
			g := &o.L2Guard
			g.StormControlPPS = Tunable(pick2(r, 0, 100, 1000, 1_000_000))
			g.FlapLimit, g.FlapWindowSeconds = Tunable(pick2(r, 0, 1, 5, 100)), Tunable(pick2(r, 1, 60, 3600))
			if g.FlapLimit == 0 {
				g.FlapWindowSeconds = 0
			}
		}
		if c := pc.Cloud; c != nil {
			c.BFD = r.IntN(2) == 0
			c.MD5 = pick("", "s3cret")
			switch pick(PolicyDefaultRoute, PolicyAggregateRFC1918, PolicyUserDefined) {
			case PolicyDefaultRoute:
				c.RoutePolicy = RoutePolicy{Type: PolicyDefaultRoute}
			case PolicyAggregateRFC1918:
				c.RoutePolicy = RoutePolicy{Type: PolicyAggregateRFC1918}
			default:
				c.RoutePolicy = RoutePolicy{Type: PolicyUserDefined}
				userPool := []string{"10.10.0.0/16", "10.11.0.0/16", "192.168.1.0/24", "100.64.0.0/24", "10.10.0.0/24"}
				for _, j := range r.Perm(len(userPool))[:1+r.IntN(3)] {
					c.RoutePolicy.Prefixes = append(c.RoutePolicy.Prefixes, userPool[j])
				}
			}
		}
		pf := f.Ports[i]
		if isPublicKind(pf.Kind) {
			if pc.Firewall == nil {
				pc.Firewall = firewall()
			}
			pc.NAPT = nil
			for range 1 + r.IntN(MaxNAPTGrades) {
				pc.NAPT = append(pc.NAPT, NAPTGrade{Sessions: grades[r.IntN(len(grades))]})
			}
			pc.StaticNAT = nil
			for range r.IntN(3) {
				if in := insides[r.IntN(len(insides))]; !taken[in] {
					taken[in] = true
					pc.StaticNAT = append(pc.StaticNAT, StaticNAT{Inside: in})
				}
			}
		}
	}
	// The nodes: the on-premises port's legs follow its redundancy; a
	// cloud port has both legs here, and now and then only its primary (a
	// port placed before cloud ports had two legs).
	legs := func(primary, secondary string, both bool) []LegInput {
		if both {
			return []LegInput{{"primary", primary}, {"secondary", secondary}}
		}
		return []LegInput{{"primary", primary}}
	}
	var nodes []NodeInput
	for i, n := range []struct{ node, region string }{{"tyo-1", "tokyo"}, {"osa-1", "osaka"}} {
		base := fixtureNode()
		base.Node, base.Region = n.node, n.region
		h := &base.Hubs[0]
		h.Hub = f.Hubs[i]
		h.Ports = map[string]PortFact{}
		for _, p := range f.Ports {
			if p.Active {
				h.Ports[p.Code] = p
			}
		}
		h.Sessions = map[string]SessionInfo{}
		if r.IntN(4) == 0 {
			h.Sessions[pick(pAPrivate, pMPublic, pOnPrem)] = SessionInfo{Stopped: true, ReenableSeq: int64(r.IntN(3))}
		}
		h.Legs = map[string][]LegInput{
			pOnPrem:   legs("eth1", "eth2", redundant),
			pAPrivate: legs("eth3", "eth5", r.IntN(5) > 0), pAPublic: legs("eth3", "eth5", r.IntN(5) > 0),
			pMPrivate: legs("eth4", "eth6", r.IntN(5) > 0),
			pMPublic:  legs("eth3", "eth5", r.IntN(5) > 0), pM2: legs("eth4", "eth6", r.IntN(5) > 0),
		}
		nodes = append(nodes, base)
	}
	return f, cfg, nodes
}

func pick2(r *rand.Rand, xs ...int) int { return xs[r.IntN(len(xs))] }

// natFor allocates public addresses as the controller's pools would: an
// aligned block per NAPT grade, a /32 per static NAT.
func natFor(cfg Config) NATAddresses {
	out := NATAddresses{NAPT: map[string][]string{}, Static: map[string]string{}}
	next := netip.MustParseAddr("203.0.113.0")
	for _, pc := range cfg.Ports {
		for _, g := range pc.NAPT {
			bits := NAPTGrades[g.Sessions]
			size := 1 << (32 - bits)
			a := next.As4()
			off := int(a[3]) % size
			for range (size - off) % size {
				next = next.Next()
			}
			out.NAPT[pc.PortCode] = append(out.NAPT[pc.PortCode], netip.PrefixFrom(next, bits).String())
			for range size {
				next = next.Next()
			}
		}
	}
	pub := netip.MustParseAddr("198.51.100.200")
	for _, pc := range cfg.Ports {
		for _, s := range pc.StaticNAT {
			out.Static[s.Inside] = pub.String()
			pub = pub.Next()
		}
	}
	return out
}
