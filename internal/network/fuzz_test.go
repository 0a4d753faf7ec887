package network

import (
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
)

// Fuzz targets for every parser of customer input. The interesting corpus
// is kept under testdata/fuzz/<target>. Run one with e.g.
//   go test -run '^$' -fuzz '^FuzzPrefixList$' -fuzztime 60s ./internal/network/

func FuzzPrefixList(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "10.0.0.0/8, 172.16.0.0/12\n192.168.0.0/16 # rfc1918", "10.0.0.1/8", "0.0.0.0/0",
		"\n\n#only\n", "1.2.3.4/32\t5.6.7.0/24\r\n", "10.0.0.0/8,10.0.0.0/8", "::/0", "01.2.3.4/8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParsePrefixList(s)
		if err != nil {
			return
		}
		var parts []string
		seen := map[netip.Prefix]bool{}
		for _, p := range ps {
			if !p.Addr().Is4() || p.Masked() != p || seen[p] {
				t.Fatalf("accepted %v from %q", p, s)
			}
			seen[p] = true
			parts = append(parts, p.String())
		}
		again, err := ParsePrefixList(strings.Join(parts, "\n"))
		if err != nil || len(again) != len(ps) {
			t.Fatalf("canonical form %q does not parse back: %v", parts, err)
		}
		for i := range again {
			if again[i] != ps[i] {
				t.Fatalf("round trip changed %v to %v", ps[i], again[i])
			}
		}
	})
}

func FuzzASN(f *testing.F) {
	for _, s := range []string{"65001", "AS65001", "as4200000000", "1.10", "2.10", "0", "4294967295", "4294967296", "065001", "1.", ".1", "AS"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseASN(s)
		if err != nil {
			return
		}
		if w, err := ParseASN(strconv.FormatUint(uint64(v), 10)); err != nil || w != v {
			t.Fatalf("%q = %d, but its plain form reads %d, %v", s, v, w, err)
		}
		_ = ASNProblem(v)
		_ = IsPrivateASN(v)
	})
}

func FuzzPorts(f *testing.F) {
	for _, s := range []string{"443", "80,443", "8000-8080", "1-65535", "0", "65536", "90-80", " 22 , 23-25 ", "1,,2", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := ParsePorts(s)
		if err != nil {
			return
		}
		for _, r := range rs {
			if r.From == 0 || r.From > r.To {
				t.Fatalf("accepted range %+v from %q", r, s)
			}
		}
		again, err := ParsePorts(FormatPorts(rs))
		if err != nil || FormatPorts(again) != FormatPorts(rs) {
			t.Fatalf("canonical form %q does not round-trip: %v", FormatPorts(rs), err)
		}
	})
}

// FuzzLinkAddresses feeds the address fields of a port connection.
func FuzzLinkAddresses(f *testing.F) {
	f.Add("10.0.0.1", "10.0.0.2", 30)
	f.Add("169.254.0.1", "169.254.0.2", 29)
	f.Add("203.0.113.0", "203.0.113.1", 31)
	f.Add("10.0.0.0", "10.0.0.3", 30)
	f.Add("1.2.3.4", "1.2.3.4", 32)
	f.Fuzz(func(t *testing.T, hub, peer string, length int) {
		v := &validator{}
		p, a, b, ok := v.link("x", hub, peer, length, []int{29, 30, 31}, "hub_address", "peer_address")
		if ok != (len(v.ps) == 0) {
			t.Fatalf("ok=%v with problems %+v", ok, v.ps)
		}
		if ok && (!p.Contains(a) || !p.Contains(b) || a == b || p.Masked() != p) {
			t.Fatalf("accepted %s %s in %s", a, b, p)
		}
	})
}

// FuzzConfigDocument decodes, normalizes and validates a whole
// configuration (the draft a customer PUTs), and requires that a valid one
// always yields a desired-state document the agent accepts.
func FuzzConfigDocument(f *testing.F) {
	b, _ := json.Marshal(fixtureConfig())
	f.Add(b)
	f.Add([]byte(`{"asn":65000,"hubs":[],"ports":[],"objects":{"addresses":[],"services":[],"applications":[]}}`))
	f.Add([]byte(`{"ports":[{"port_code":"shc00000001","onprem":{"hub_address":"10.0.0.1","customer_address":"10.0.0.2","prefix_length":30,"peer_asn":65001}}]}`))
	f.Add([]byte(`{"ports":[{"port_code":"shc00000002","cloud":{"vlan":1,"peer_asn":64512,"primary":{"hub_address":"169.254.0.1","peer_address":"169.254.0.2","prefix_length":30},"secondary":{"hub_address":"169.254.0.5","peer_address":"169.254.0.6","prefix_length":30},"route_policy":{"type":"UserDefined","prefixes":["10.0.0.0/8"]}}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := DecodeConfig(b)
		if err != nil {
			return
		}
		facts := fixtureFacts()
		Normalize(facts, &cfg, DefaultSettings)
		if ps := Validate(facts, cfg, DefaultSettings); len(ps) > 0 {
			return
		}
		_ = BuildReview(facts, fixtureConfig(), cfg, DefaultSettings)
		in := fixtureNode()
		h := &in.Hubs[0]
		h.Config = cfg
		h.NAT = NATAddresses{NAPT: map[string][]string{}, Static: map[string]string{}}
		for i, pc := range cfg.Ports {
			h.Legs[pc.PortCode] = []LegInput{{"primary", "eth" + strconv.Itoa(i)}}
			for range pc.NAPT {
				h.NAT.NAPT[pc.PortCode] = append(h.NAT.NAPT[pc.PortCode], "203.0.113.1/32")
			}
			for j, sn := range pc.StaticNAT {
				h.NAT.Static[sn.Inside] = "203.0.113." + strconv.Itoa(100+j)
			}
		}
		st := BuildDesiredState(in)
		doc, err := desired.Encode(&st)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := desired.Decode(doc); err != nil {
			t.Fatalf("a valid configuration gave a document the agent refuses: %v", err)
		}
	})
}

// FuzzFirewall validates firewall objects and a policy and checks that an
// accepted policy expands into prefixes and services only.
func FuzzFirewall(f *testing.F) {
	cfg := fixtureConfig()
	b, _ := json.Marshal(struct {
		Objects  Objects   `json:"objects"`
		Firewall *Firewall `json:"firewall"`
	}{cfg.Objects, cfg.Ports[2].Firewall})
	f.Add(b)
	f.Add([]byte(`{"objects":{"addresses":[{"name":"a","prefixes":["10.0.0.0/8"]}],"services":[{"name":"s","protocol":"icmp"}],"applications":[]},"firewall":{"mode":"stateless","rules":[{"action":"reject","sources":["a"],"destinations":["any"],"services":["s"],"log":true}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var in struct {
			Objects  Objects   `json:"objects"`
			Firewall *Firewall `json:"firewall"`
		}
		if err := json.Unmarshal(b, &in); err != nil || in.Firewall == nil {
			return
		}
		v := &validator{cfg: Config{Objects: in.Objects}}
		v.objects()
		v.firewall("firewall", *in.Firewall)
		if len(v.ps) > 0 {
			return
		}
		out := expandFirewall(*in.Firewall, indexObjects(in.Objects))
		if len(out.Rules) != len(in.Firewall.Rules) || out.DefaultAction != "drop" {
			t.Fatalf("expanded %d rules from %d", len(out.Rules), len(in.Firewall.Rules))
		}
		for _, r := range out.Rules {
			for _, p := range append(append([]string{}, r.Sources...), r.Destinations...) {
				if _, err := ParsePrefix(p); err != nil {
					t.Fatalf("rule expanded to %q: %v", p, err)
				}
			}
			for _, s := range r.Services {
				if s.Protocol == "" {
					t.Fatalf("rule with an unresolved service: %+v", r)
				}
			}
		}
	})
}

// FuzzConfigEdits drives the property test's mutations from the fuzzer's
// bytes, which reaches far more valid-but-unusual configurations than
// mutating JSON text does, and checks that normalization is idempotent,
// validation deterministic, and that a valid result always renders to a
// document the agent accepts.
func FuzzConfigEdits(f *testing.F) {
	f.Add(uint64(1), uint64(2), uint8(3))
	f.Add(uint64(42), uint64(7), uint8(10))
	f.Fuzz(func(t *testing.T, s1, s2 uint64, n uint8) {
		r := rand.New(rand.NewPCG(s1, s2))
		c := customer{codes: map[string]string{}, hubs: map[catalog.HubID]catalog.HubID{}}
		for _, p := range fixtureFacts().Ports {
			c.codes[p.Code] = p.Code
		}
		cfg := fixtureConfig()
		facts := fixtureFacts()
		for range n % 16 {
			mutate(r, c, &cfg)
		}
		Normalize(facts, &cfg, DefaultSettings)
		again := cfg
		again.Ports = append([]PortConfig(nil), cfg.Ports...)
		Normalize(facts, &again, DefaultSettings)
		a, _ := json.Marshal(cfg)
		b, _ := json.Marshal(again)
		if string(a) != string(b) {
			t.Fatalf("Normalize is not idempotent:\n%s\n%s", a, b)
		}
		ps := Validate(facts, cfg, DefaultSettings)
		if ps2 := Validate(facts, cfg, DefaultSettings); len(ps) != len(ps2) {
			t.Fatal("Validate is not deterministic")
		}
		_ = BuildReview(facts, fixtureConfig(), cfg, DefaultSettings)
		if len(ps) > 0 {
			return
		}
		in := fixtureNode()
		h := &in.Hubs[0]
		h.Config = cfg
		for _, pc := range cfg.Ports {
			h.Legs[pc.PortCode] = []LegInput{{"primary", "eth1"}}
			h.NAT.NAPT[pc.PortCode] = nil
			for range pc.NAPT {
				h.NAT.NAPT[pc.PortCode] = append(h.NAT.NAPT[pc.PortCode], "203.0.113.1/32")
			}
		}
		st := BuildDesiredState(in)
		doc, err := desired.Encode(&st)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := desired.Decode(doc); err != nil {
			t.Fatalf("a valid configuration gave a document the agent refuses: %v", err)
		}
	})
}
