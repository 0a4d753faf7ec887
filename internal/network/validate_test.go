package network

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/fault"
)

func TestFixtureIsValid(t *testing.T) {
	cfg := fixtureConfig()
	if ps := Validate(fixtureFacts(), cfg, DefaultSettings); len(ps) != 0 {
		t.Fatalf("fixture has problems: %+v", ps)
	}
}

// port returns the fixture's configuration of a port, for mutation.
func port(c *Config, code string) *PortConfig {
	for i := range c.Ports {
		if c.Ports[i].PortCode == code {
			return &c.Ports[i]
		}
	}
	panic("no port " + code)
}

const (
	pOnPrem   = "shc00000001"
	pAPrivate = "shc00000002"
	pAPublic  = "shc00000003"
	pMPrivate = "shc00000004"
	pMPublic  = "shc00000005"
	pM2       = "shc00000006"
)

// TestValidationRules has one case per rule of the Validation list
// and the service conventions: each mutation of the valid fixture must
// produce a problem on exactly the named field.
func TestValidationRules(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		mutate func(c *Config, f *Facts)
		field  string // the problem's field
		msg    string // a part of its message
	}{
		// Overlap within a customer.
		{"hub internal overlaps on-prem link", func(c *Config, f *Facts) { c.Hubs[0].InternalNetwork = "10.0.0.0/24" },
			"ports[0].onprem.hub_address", "overlaps"},
		{"two hubs share a network", func(c *Config, f *Facts) { c.Hubs[1].InternalNetwork = "100.64.0.0/24" },
			"hubs[1].internal_network", "overlaps"},
		{"monitoring inside internal", func(c *Config, f *Facts) { c.Hubs[0].MonitoringNetwork = "100.64.0.16/28" },
			"hubs[0].monitoring_network", "overlaps"},
		{"cloud links overlap across ports", func(c *Config, f *Facts) {
			port(c, pMPrivate).Cloud.Primary = Link{HubAddress: "10.0.0.1", PeerAddress: "10.0.0.2", PrefixLength: 30}
		}, "ports[3].cloud.primary.hub_address", "overlaps"},
		{"same subnet for primary and secondary", func(c *Config, f *Facts) {
			port(c, pAPrivate).Cloud.Secondary = port(c, pAPrivate).Cloud.Primary
		}, "ports[1].cloud.secondary.hub_address", "different subnets"},
		{"link overlaps the backbone segment", func(c *Config, f *Facts) {
			port(c, pAPrivate).Cloud.Primary = Link{HubAddress: "169.254.255.249", PeerAddress: "169.254.255.250", PrefixLength: 30}
		}, "ports[1].cloud.primary.hub_address", "backbone"},
		{"internal network not a prefix", func(c *Config, f *Facts) { c.Hubs[0].InternalNetwork = "100.64.0.1/24" },
			"hubs[0].internal_network", "host bits"},
		{"internal network too large", func(c *Config, f *Facts) { c.Hubs[0].InternalNetwork = "100.0.0.0/8" },
			"hubs[0].internal_network", "/16 to /29"},
		{"internal network reserved", func(c *Config, f *Facts) { c.Hubs[0].InternalNetwork = "127.0.0.0/24" },
			"hubs[0].internal_network", "reserved"},
		{"unknown hub", func(c *Config, f *Facts) { c.Hubs[1].HubID = "hub_other" }, "hubs[1].hub_id", "no hub"},
		{"hub without networks", func(c *Config, f *Facts) { c.Hubs = c.Hubs[:1] }, "hubs", "no internal"},

		// On-premises connection.
		{"on-prem /28", func(c *Config, f *Facts) { port(c, pOnPrem).OnPrem.PrefixLength = 28 },
			"ports[0].onprem.prefix_length", "[30 29]"},
		{"on-prem /29 is fine but customer outside", func(c *Config, f *Facts) {
			o := port(c, pOnPrem).OnPrem
			o.PrefixLength, o.CustomerAddress = 29, "10.0.0.9"
		}, "ports[0].onprem.customer_address", "not in 10.0.0.0/29"},
		{"on-prem network address", func(c *Config, f *Facts) { port(c, pOnPrem).OnPrem.HubAddress = "10.0.0.0" },
			"ports[0].onprem.hub_address", "network address"},
		{"on-prem broadcast address", func(c *Config, f *Facts) { port(c, pOnPrem).OnPrem.CustomerAddress = "10.0.0.3" },
			"ports[0].onprem.hub_address", "broadcast"},
		{"on-prem same address twice", func(c *Config, f *Facts) { port(c, pOnPrem).OnPrem.CustomerAddress = "10.0.0.1" },
			"ports[0].onprem.customer_address", "different addresses"},
		{"on-prem not IPv4", func(c *Config, f *Facts) { port(c, pOnPrem).OnPrem.HubAddress = "2001:db8::1" },
			"ports[0].onprem.hub_address", "not an IPv4"},
		{"on-prem peer ASN equals hub", func(c *Config, f *Facts) { port(c, pOnPrem).OnPrem.PeerASN = 64600 },
			"ports[0].onprem.peer_asn", "differ from your hub ASN"},
		{"on-prem peer ASN reserved", func(c *Config, f *Facts) { port(c, pOnPrem).OnPrem.PeerASN = 23456 },
			"ports[0].onprem.peer_asn", "AS_TRANS"},
		{"on-prem peer ASN documentation", func(c *Config, f *Facts) { port(c, pOnPrem).OnPrem.PeerASN = 64500 },
			"ports[0].onprem.peer_asn", "documentation"},
		{"hub ASN reserved", func(c *Config, f *Facts) { c.ASN = 0 }, "asn", "reserved"},
		{"md5 with a space", func(c *Config, f *Facts) { port(c, pOnPrem).OnPrem.MD5 = "a b" },
			"ports[0].onprem.md5", "printable"},
		{"bpdu guard off", func(c *Config, f *Facts) { port(c, pOnPrem).OnPrem.L2Guard.BPDUGuard = ptr(false) },
			"ports[0].onprem.l2_guard.bpdu_guard", "always on"},
		{"mac limit 6", func(c *Config, f *Facts) { port(c, pOnPrem).OnPrem.L2Guard.MACLimit = 6 },
			"ports[0].onprem.l2_guard.mac_limit", "1 to 5"},
		{"mtu 9000", func(c *Config, f *Facts) { port(c, pOnPrem).OnPrem.L2Guard.MTU = 9000 },
			"ports[0].onprem.l2_guard.mtu", "1500"},
		{"mac ageing", func(c *Config, f *Facts) { port(c, pOnPrem).OnPrem.L2Guard.MACAgeingSeconds = 300 },
			"ports[0].onprem.l2_guard.mac_ageing_seconds", "2400"},
		{"storm control", func(c *Config, f *Facts) { port(c, pOnPrem).OnPrem.L2Guard.StormControlPPS = 1 },
			"ports[0].onprem.l2_guard.storm_control_pps", "100 to"},
		{"on-prem with cloud connection", func(c *Config, f *Facts) {
			port(c, pOnPrem).Cloud = port(c, pAPrivate).Cloud
		}, "ports[0].onprem", "no cloud"},
		{"cloud port without connection", func(c *Config, f *Facts) { port(c, pAPrivate).Cloud = nil },
			"ports[1].cloud", "needs a cloud connection"},
		{"speed not allowed for the port type", func(c *Config, f *Facts) { f.Ports[1].SpeedMbps = 300 },
			"ports[1].port_code", "does not allow"},
		{"unknown port", func(c *Config, f *Facts) { c.Ports[0].PortCode = "shc99999999" }, "ports[0].port_code", "no port"},
		{"cancelled port", func(c *Config, f *Facts) {
			c.Ports = append(c.Ports, PortConfig{PortCode: "shc00000007"})
		}, "ports[6].port_code", "cancelled"},
		{"port twice", func(c *Config, f *Facts) { c.Ports = append(c.Ports, c.Ports[0]) }, "ports[6].port_code", "twice"},

		// Provider conventions.
		{"AWS private link not link-local", func(c *Config, f *Facts) {
			port(c, pAPrivate).Cloud.Primary = Link{HubAddress: "10.30.0.1", PeerAddress: "10.30.0.2", PrefixLength: 30}
		}, "ports[1].cloud.primary.hub_address", "169.254.0.0/16"},
		{"AWS private /31", func(c *Config, f *Facts) { port(c, pAPrivate).Cloud.Primary.PrefixLength = 31 },
			"ports[1].cloud.primary.prefix_length", "[30 29]"},
		{"AWS private peer ASN public", func(c *Config, f *Facts) { port(c, pAPrivate).Cloud.PeerASN = 7224 },
			"ports[1].cloud.peer_asn", "private ASN"},
		{"AWS public peer ASN", func(c *Config, f *Facts) { port(c, pAPublic).Cloud.PeerASN = 64512 },
			"ports[2].cloud.peer_asn", "7224 or 16509"},
		{"AWS public private address", func(c *Config, f *Facts) {
			port(c, pAPublic).Cloud.Primary = Link{HubAddress: "10.40.0.0", PeerAddress: "10.40.0.1", PrefixLength: 31}
		}, "ports[2].cloud.primary.hub_address", "not public"},
		{"AWS public link-local", func(c *Config, f *Facts) {
			port(c, pAPublic).Cloud.Primary = Link{HubAddress: "169.254.1.0", PeerAddress: "169.254.1.1", PrefixLength: 31}
		}, "ports[2].cloud.primary.hub_address", "link-local"},
		{"Azure /29", func(c *Config, f *Facts) { port(c, pMPrivate).Cloud.Primary.PrefixLength = 29 },
			"ports[3].cloud.primary.prefix_length", "[30]"},
		{"Azure addresses swapped", func(c *Config, f *Facts) {
			l := &port(c, pMPrivate).Cloud.Secondary
			l.HubAddress, l.PeerAddress = l.PeerAddress, l.HubAddress
		}, "ports[3].cloud.secondary.hub_address", "first usable"},
		{"Azure peer ASN", func(c *Config, f *Facts) { port(c, pMPrivate).Cloud.PeerASN = 65010 },
			"ports[3].cloud.peer_asn", "12076"},
		{"Azure public with private address", func(c *Config, f *Facts) {
			port(c, pMPublic).Cloud.Primary = Link{HubAddress: "192.168.0.1", PeerAddress: "192.168.0.2", PrefixLength: 30}
		}, "ports[4].cloud.primary.hub_address", "not public"},
		{"M2 peer ASN", func(c *Config, f *Facts) { port(c, pM2).Cloud.PeerASN = 12076 }, "ports[5].cloud.peer_asn", "8075"},
		{"VLAN 0", func(c *Config, f *Facts) { port(c, pAPrivate).Cloud.VLAN = 0 }, "ports[1].cloud.vlan", "1 to 4094"},
		{"VLAN 4095", func(c *Config, f *Facts) { port(c, pMPublic).Cloud.VLAN = 4095 }, "ports[4].cloud.vlan", "1 to 4094"},

		// Route policy.
		{"unknown policy", func(c *Config, f *Facts) { port(c, pAPrivate).Cloud.RoutePolicy.Type = "Everything" },
			"ports[1].cloud.route_policy.type", "DefaultRoute"},
		{"prefixes with DefaultRoute", func(c *Config, f *Facts) {
			port(c, pAPrivate).Cloud.RoutePolicy.Prefixes = []string{"10.0.0.0/8"}
		}, "ports[1].cloud.route_policy.prefixes", "only with the UserDefined"},
		{"UserDefined empty", func(c *Config, f *Facts) { port(c, pAPublic).Cloud.RoutePolicy.Prefixes = nil },
			"ports[2].cloud.route_policy.prefixes", "at least one"},
		{"101 user-defined prefixes", func(c *Config, f *Facts) {
			var ps []string
			for i := range 101 {
				ps = append(ps, fmt.Sprintf("10.%d.%d.0/24", i/256, i%256))
			}
			port(c, pAPublic).Cloud.RoutePolicy.Prefixes = ps
		}, "ports[2].cloud.route_policy.prefixes", "at most 100"},
		{"user-defined prefix twice", func(c *Config, f *Facts) {
			port(c, pAPublic).Cloud.RoutePolicy.Prefixes = []string{"10.0.0.0/8", "10.0.0.0/8"}
		}, "ports[2].cloud.route_policy.prefixes[1]", "twice"},
		{"user-defined prefix malformed", func(c *Config, f *Facts) {
			port(c, pAPublic).Cloud.RoutePolicy.Prefixes = []string{"10.0.0.0/33"}
		}, "ports[2].cloud.route_policy.prefixes[0]", "not an IPv4 prefix"},

		// Firewall.
		{"firewall missing on public port", func(c *Config, f *Facts) { port(c, pMPublic).Firewall = nil },
			"ports[4].firewall", "mandatory"},
		{"rule references missing address object", func(c *Config, f *Facts) {
			port(c, pAPublic).Firewall.Rules[0].Sources = []string{"dmz"}
		}, "ports[2].firewall.rules[0].sources[0]", `no address object "dmz"`},
		{"rule references missing service", func(c *Config, f *Facts) {
			port(c, pOnPrem).Firewall.Rules[0].Services = []string{"ssh"}
		}, "ports[0].firewall.rules[0].services[0]", `no service object "ssh"`},
		{"rule references missing application", func(c *Config, f *Facts) {
			port(c, pAPublic).Firewall.Rules[0].Applications = []string{"mail"}
		}, "ports[2].firewall.rules[0].applications[0]", `no application object "mail"`},
		{"application references missing service", func(c *Config, f *Facts) {
			c.Objects.Applications[0].Services = []string{"smtp"}
		}, "objects.applications[0].services[0]", `no service object "smtp"`},
		{"rule without sources", func(c *Config, f *Facts) { port(c, pOnPrem).Firewall.Rules[0].Sources = nil },
			"ports[0].firewall.rules[0].sources", "any"},
		{"bad action", func(c *Config, f *Facts) { port(c, pOnPrem).Firewall.Rules[0].Action = "allow" },
			"ports[0].firewall.rules[0].action", "accept, drop or reject"},
		{"bad mode", func(c *Config, f *Facts) { port(c, pOnPrem).Firewall.Mode = "smart" },
			"ports[0].firewall.mode", "stateful or stateless"},
		{"object defined twice", func(c *Config, f *Facts) {
			c.Objects.Addresses = append(c.Objects.Addresses, c.Objects.Addresses[0])
		}, "objects.addresses[1].name", "twice"},
		{"object named any", func(c *Config, f *Facts) { c.Objects.Services[0].Name = "ANY" },
			"objects.services[0].name", `not "any"`},
		{"service ports backwards", func(c *Config, f *Facts) { c.Objects.Services[0].Ports = "90-80" },
			"objects.services[0].ports", "backwards"},
		{"service port 0", func(c *Config, f *Facts) { c.Objects.Services[0].Ports = "0" },
			"objects.services[0].ports", "not a port number"},
		{"icmp with ports", func(c *Config, f *Facts) { c.Objects.Services[0].Protocol = "icmp" },
			"objects.services[0].ports", "only for tcp and udp"},
		{"address object bad prefix", func(c *Config, f *Facts) { c.Objects.Addresses[0].Prefixes[1] = "10.11.0.0" },
			"objects.addresses[0].prefixes[1]", "not an IPv4 prefix"},

		// NAPT and static NAT.
		{"NAPT removed from public port", func(c *Config, f *Facts) { port(c, pAPublic).NAPT = nil },
			"ports[2].napt", "cannot be removed"},
		{"nine NAPT grades", func(c *Config, f *Facts) {
			f.Options["napt-grade"] = 20
			port(c, pAPublic).NAPT = make([]NAPTGrade, 9)
			for i := range port(c, pAPublic).NAPT {
				port(c, pAPublic).NAPT[i].Sessions = 30_000
			}
		}, "ports[2].napt", "1 to 8"},
		{"NAPT grade size", func(c *Config, f *Facts) { port(c, pAPublic).NAPT[0].Sessions = 50_000 },
			"ports[2].napt[0].sessions", "30000, 60000"},
		{"NAPT on private port", func(c *Config, f *Facts) { port(c, pAPrivate).NAPT = []NAPTGrade{{Sessions: 30_000}} },
			"ports[1].napt", "public cloud ports only"},
		{"NAPT beyond contract", func(c *Config, f *Facts) { f.Options["napt-grade"] = 3 }, "ports", "napt-grade"},
		{"static NAT on on-prem port", func(c *Config, f *Facts) {
			port(c, pOnPrem).StaticNAT = []StaticNAT{{Inside: "10.10.0.9"}}
		}, "ports[0].static_nat", "public cloud ports only"},
		{"static NAT beyond contract", func(c *Config, f *Facts) { f.Options["static-nat-address"] = 0 },
			"ports", "static-nat-address"},
		{"static NAT inside twice", func(c *Config, f *Facts) {
			port(c, pMPublic).StaticNAT = []StaticNAT{{Inside: "10.10.0.5"}}
		}, "ports[4].static_nat[0].inside", "already has"},
		{"static NAT inside not an address", func(c *Config, f *Facts) {
			port(c, pAPublic).StaticNAT[0].Inside = "10.10.0.0/24"
		}, "ports[2].static_nat[0].inside", "not an IPv4 address"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, f := fixtureConfig(), fixtureFacts()
			tc.mutate(&c, &f)
			ps := Validate(f, c, DefaultSettings)
			for _, p := range ps {
				if p.Field == tc.field && strings.Contains(p.Message, tc.msg) {
					return
				}
			}
			t.Fatalf("want a problem on %s containing %q; got %+v", tc.field, tc.msg, ps)
		})
	}
}

// TestOtherCustomersMayOverlap: validation of one customer looks at nothing
// of another, so two customers with identical plans are both valid.
func TestOtherCustomersMayOverlap(t *testing.T) {
	a, b := fixtureFacts(), fixtureFacts()
	b.CustomerID = "cus_b"
	for _, f := range []Facts{a, b} {
		if ps := Validate(f, fixtureConfig(), DefaultSettings); len(ps) != 0 {
			t.Fatalf("%s: %+v", f.CustomerID, ps)
		}
	}
}

func TestProblemsErr(t *testing.T) {
	if (Problems{}).Err() != nil {
		t.Fatal("no problems must be no error")
	}
	err := Problems{{"a", "first"}, {"b", "second"}}.Err()
	f, ok := fault.As(err)
	if !ok || f.Kind != fault.Invalid || f.Field != "a" || !strings.Contains(f.Message, "1 more") {
		t.Fatalf("err = %v", err)
	}
}

func TestNormalizeDefaults(t *testing.T) {
	f := fixtureFacts()
	cfg := Config{Ports: []PortConfig{{PortCode: "shc00000007"}, {PortCode: pOnPrem, OnPrem: &OnPremConnection{
		HubAddress: "100.64.0.1", CustomerAddress: "100.64.0.2", PrefixLength: 30, PeerASN: 65001}}}}
	s := DefaultSettings
	s.RegionPools = map[string]netipPrefix{"osaka": mustPrefix("100.70.0.0/16")}
	Normalize(f, &cfg, s)
	if cfg.ASN != 64600 {
		t.Errorf("asn = %d", cfg.ASN)
	}
	if len(cfg.Ports) != 1 || cfg.Ports[0].PortCode != pOnPrem {
		t.Fatalf("cancelled port kept: %+v", cfg.Ports)
	}
	g := cfg.Ports[0].OnPrem.L2Guard
	if g.BPDUGuard == nil || !*g.BPDUGuard || g.MACLimit != 5 || g.MTU != 1500 || g.MACAgeingSeconds != 2400 {
		t.Errorf("l2 guard defaults: %+v", g)
	}
	// The on-prem link took 100.64.0.0/30, so the main hub's default /24
	// skips it; the sub hub draws from the osaka pool.
	want := []HubConfig{{"hub_main", "100.64.1.0/24", "100.64.0.16/28"}, {"hub_sub", "100.70.0.0/24", "100.70.1.0/28"}}
	for i, h := range cfg.Hubs {
		if h != want[i] {
			t.Errorf("hub %d = %+v, want %+v", i, h, want[i])
		}
	}
	if ps := Validate(f, cfg, s); len(ps) != 0 {
		t.Errorf("normalized config has problems: %+v", ps)
	}
}

// TestProblemsNameTheClientsIndex: Normalize sorts the lists, but a problem
// names the element where the client sent it.
func TestProblemsNameTheClientsIndex(t *testing.T) {
	f := fixtureFacts()
	cfg := fixtureConfig()
	cfg.Objects.Services = []ServiceObject{{Name: "zz-ok", Protocol: "tcp", Ports: "80"}, {Name: "mm-ok", Protocol: "icmp"},
		{Name: "aa bad name", Protocol: "tcp", Ports: "443"}}
	cfg.Ports[0], cfg.Ports[len(cfg.Ports)-1] = cfg.Ports[len(cfg.Ports)-1], cfg.Ports[0]
	last := len(cfg.Ports) - 1
	cfg.Ports[last].OnPrem.PeerASN = 0 // the on-premises port, sent last
	org := normalize(f, &cfg, DefaultSettings)
	ps := Validate(f, cfg, DefaultSettings).Remap(org)
	fields := map[string]bool{}
	for _, p := range ps {
		fields[p.Field] = true
	}
	for _, want := range []string{"objects.services[2].name", fmt.Sprintf("ports[%d].onprem.peer_asn", last)} {
		if !fields[want] {
			t.Errorf("no problem on %s: %+v", want, ps)
		}
	}
}

// TestFirewallCommentIsOneLine: a comment is written into the nftables
// ruleset, so a line break or an escape in it is refused.
func TestFirewallCommentIsOneLine(t *testing.T) {
	for _, c := range []string{"a\";\n}\nflush ruleset\n", "esc\x1b[2J", "cr\r"} {
		cfg := fixtureConfig()
		var field string
		for i := range cfg.Ports {
			if fw := cfg.Ports[i].Firewall; fw != nil && len(fw.Rules) > 0 {
				fw.Rules[0].Comment = c
				field = fmt.Sprintf("ports[%d].firewall.rules[0].comment", i)
				break
			}
		}
		ps := Validate(fixtureFacts(), cfg, DefaultSettings)
		if len(ps) != 1 || ps[0].Field != field {
			t.Errorf("comment %q: problems %+v, want one on %s", c, ps, field)
		}
	}
}

// The error text gave "1.10" (= 65546) as its asdot example, a number the
// validation refuses as reserved for documentation: every example that
// ASN's text names is one a customer can use.
func TestASNExamplesUsable(t *testing.T) {
	form := ASN(0).JSONForm()
	examples := []string{"65001"}
	for _, f := range strings.Split(form, `"`)[1:] {
		if f != "" && !strings.ContainsAny(f, " ,:") {
			examples = append(examples, f)
		}
	}
	if len(examples) < 3 {
		t.Fatalf("no examples found in %q", form)
	}
	for _, ex := range examples {
		v, err := ParseASN(ex)
		if err != nil {
			t.Errorf("%s: %v", ex, err)
			continue
		}
		if p := ASNProblem(v); p != "" {
			t.Errorf("the example %s (= %d) is refused: %s", ex, v, p)
		}
	}
}

// "(and 1 more problems; …)": the count of further problems is in the
// right number.
func TestProblemsErrCountsFurther(t *testing.T) {
	for n, want := range map[int]string{1: "first", 2: "first (and 1 more problem; ", 3: "first (and 2 more problems; "} {
		var ps Problems
		ps.add("a", "first")
		for i := 1; i < n; i++ {
			ps.add("b", "another")
		}
		f, _ := fault.As(ps.Err())
		if !strings.HasPrefix(f.Message, want) || (n == 1 && f.Message != want) {
			t.Errorf("%d problems: %q, want it to start with %q", n, f.Message, want)
		}
	}
}
