package network

import (
	"net/netip"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
)

// fixtureFacts is a customer with a main and a sub hub, an on-premises port
// and one port of every cloud kind.
func fixtureFacts() Facts {
	return Facts{
		CustomerID: "cus_a",
		Hubs:       []HubFact{{ID: "hub_main", Region: "tokyo", Priority: "main"}, {ID: "hub_sub", Region: "osaka", Priority: "sub"}},
		Ports: []PortFact{
			{Code: "shc00000001", HubID: "hub_main", Kind: "onprem", SpeedMbps: 10_000, Redundant: true, Active: true},
			{Code: "shc00000002", HubID: "hub_main", Kind: "a-private", SpeedMbps: 1_000, Active: true},
			{Code: "shc00000003", HubID: "hub_main", Kind: "a-public", SpeedMbps: 1_000, Active: true},
			{Code: "shc00000004", HubID: "hub_main", Kind: "m-private", SpeedMbps: 2_000, Active: true},
			{Code: "shc00000005", HubID: "hub_sub", Kind: "m-public", SpeedMbps: 2_000, Active: true},
			{Code: "shc00000006", HubID: "hub_sub", Kind: "m2-public", SpeedMbps: 300, Active: true},
			{Code: "shc00000007", HubID: "hub_sub", Kind: "onprem", SpeedMbps: 10_000, Active: false},
		},
		Options: map[string]int64{"napt-grade": 8, "static-nat-address": 4},
	}
}

func publicFirewall() *Firewall {
	return &Firewall{Mode: "stateful", Rules: []Rule{
		{Action: "accept", Sources: []string{"lan"}, Destinations: []string{"any"}, Applications: []string{"web"}, Log: true},
		{Action: "drop", Sources: []string{"any"}, Destinations: []string{"any"}},
	}}
}

// fixtureConfig is a valid configuration of fixtureFacts.
func fixtureConfig() Config {
	return Config{
		ASN: 64600,
		Hubs: []HubConfig{
			{HubID: "hub_main", InternalNetwork: "100.64.0.0/24", MonitoringNetwork: "100.64.1.0/28"},
			{HubID: "hub_sub", InternalNetwork: "100.65.0.0/24", MonitoringNetwork: "100.65.1.0/28"},
		},
		Ports: []PortConfig{
			{PortCode: "shc00000001", OnPrem: &OnPremConnection{HubAddress: "10.0.0.1", CustomerAddress: "10.0.0.2", PrefixLength: 30,
				PeerASN: 65001, MD5: "s3cret", L2Guard: L2Guard{BPDUGuard: ptr(true), StormControlPPS: 1000, FlapLimit: 5, FlapWindowSeconds: 60,
					MACLimit: 5, MACAgeingSeconds: 2400, MTU: 1500}},
				Firewall: &Firewall{Mode: "stateless", Rules: []Rule{{Action: "accept", Sources: []string{"any"}, Destinations: []string{"any"}}}}},
			{PortCode: "shc00000002", Cloud: &CloudConnection{VLAN: 101, PeerASN: 64512,
				Primary:     Link{HubAddress: "169.254.10.1", PeerAddress: "169.254.10.2", PrefixLength: 30},
				Secondary:   Link{HubAddress: "169.254.10.5", PeerAddress: "169.254.10.6", PrefixLength: 30},
				RoutePolicy: RoutePolicy{Type: PolicyDefaultRoute}}},
			{PortCode: "shc00000003", Cloud: &CloudConnection{VLAN: 102, PeerASN: 7224,
				Primary:     Link{HubAddress: "203.0.113.0", PeerAddress: "203.0.113.1", PrefixLength: 31},
				Secondary:   Link{HubAddress: "203.0.113.2", PeerAddress: "203.0.113.3", PrefixLength: 31},
				RoutePolicy: RoutePolicy{Type: PolicyUserDefined, Prefixes: []string{"198.51.100.0/24"}}},
				Firewall: publicFirewall(), NAPT: []NAPTGrade{{Sessions: 30_000}}, StaticNAT: []StaticNAT{{Inside: "10.10.0.5"}}},
			{PortCode: "shc00000004", Cloud: &CloudConnection{VLAN: 103, PeerASN: 12076,
				Primary:     Link{HubAddress: "10.20.0.1", PeerAddress: "10.20.0.2", PrefixLength: 30},
				Secondary:   Link{HubAddress: "10.20.0.5", PeerAddress: "10.20.0.6", PrefixLength: 30},
				RoutePolicy: RoutePolicy{Type: PolicyAggregateRFC1918}}},
			{PortCode: "shc00000005", Cloud: &CloudConnection{VLAN: 104, PeerASN: 12076,
				Primary:     Link{HubAddress: "198.51.100.129", PeerAddress: "198.51.100.130", PrefixLength: 30},
				Secondary:   Link{HubAddress: "198.51.100.133", PeerAddress: "198.51.100.134", PrefixLength: 30},
				RoutePolicy: RoutePolicy{Type: PolicyDefaultRoute}},
				Firewall: publicFirewall(), NAPT: []NAPTGrade{{Sessions: 60_000}, {Sessions: 480_000}}},
			{PortCode: "shc00000006", Cloud: &CloudConnection{VLAN: 105, PeerASN: 8075,
				Primary:     Link{HubAddress: "198.51.100.137", PeerAddress: "198.51.100.138", PrefixLength: 30},
				Secondary:   Link{HubAddress: "198.51.100.141", PeerAddress: "198.51.100.142", PrefixLength: 30},
				RoutePolicy: RoutePolicy{Type: PolicyDefaultRoute}},
				Firewall: publicFirewall(), NAPT: []NAPTGrade{{Sessions: 30_000}}},
		},
		Objects: Objects{
			Addresses:    []AddressObject{{Name: "lan", Prefixes: []string{"10.10.0.0/16", "10.11.0.0/16"}}},
			Services:     []ServiceObject{{Name: "http", Protocol: "tcp", Ports: "80,8080-8081"}, {Name: "https", Protocol: "tcp", Ports: "443"}},
			Applications: []ApplicationObject{{Name: "web", Services: []string{"http", "https"}}},
		},
	}
}

var _ = catalog.HubID("")

type netipPrefix = netip.Prefix

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func ptr[T any](v T) *T { return &v }
