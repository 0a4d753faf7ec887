package network

import (
	"fmt"
	"strings"
	"testing"
)

// TestRiskClassification has one case per classification rule: a mutation
// of the applied fixture, the review's risk and impact, and a reason text.
func TestRiskClassification(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		mutate func(c *Config)
		risk   string
		impact string
		reason string
		port   string // an affected port, when one is expected
	}{
		{"no change", func(c *Config) {}, "none", "none", "", ""},
		{"removes the only default route", func(c *Config) {
			for _, code := range []string{pAPrivate, pMPublic, pM2} {
				port(c, code).Cloud.RoutePolicy = RoutePolicy{Type: PolicyAggregateRFC1918}
			}
		}, "high", "brief-loss", "removes the only default route", pAPrivate},
		{"one of several default routes", func(c *Config) {
			port(c, pAPrivate).Cloud.RoutePolicy = RoutePolicy{Type: PolicyAggregateRFC1918}
		}, "medium", "brief-loss", "changes the route policy toward port " + pAPrivate, pAPrivate},
		{"user-defined prefix added", func(c *Config) {
			rp := &port(c, pAPublic).Cloud.RoutePolicy
			rp.Prefixes = append(rp.Prefixes, "192.0.2.0/24")
		}, "medium", "none", "advertised routes change", pAPublic},
		{"BGP peer ASN", func(c *Config) { port(c, pOnPrem).OnPrem.PeerASN = 65002 }, "medium", "session-reset",
			"changes a BGP peer on port " + pOnPrem + ": session reset expected", pOnPrem},
		{"BGP MD5", func(c *Config) { port(c, pAPrivate).Cloud.MD5 = "newkey" }, "medium", "session-reset", "changes a BGP peer", pAPrivate},
		{"cloud link address", func(c *Config) {
			port(c, pMPrivate).Cloud.Primary = Link{HubAddress: "10.21.0.1", PeerAddress: "10.21.0.2", PrefixLength: 30}
		}, "medium", "session-reset", "changes a BGP peer", pMPrivate},
		{"firewall on a public port", func(c *Config) { port(c, pMPublic).Firewall.Rules[0].Log = false }, "medium", "none",
			"firewall change on a public port " + pMPublic, pMPublic},
		{"firewall on a private port", func(c *Config) { port(c, pOnPrem).Firewall.Rules[0].Action = "drop" }, "low", "none",
			"firewall change on port " + pOnPrem, pOnPrem},
		{"firewall mode", func(c *Config) { port(c, pOnPrem).Firewall.Mode = "stateful" }, "low", "brief-loss", "firewall change", pOnPrem},
		{"object used by public ports", func(c *Config) {
			c.Objects.Services[1].Ports = "443,8443"
		}, "medium", "none", "firewall change on a public port " + pAPublic, pM2},
		{"L2 guard", func(c *Config) { port(c, pOnPrem).OnPrem.L2Guard.MACLimit = 2 }, "low", "none", "layer-2 guards", pOnPrem},
		{"NAPT grade removed", func(c *Config) { port(c, pMPublic).NAPT = port(c, pMPublic).NAPT[:1] }, "medium", "session-reset",
			"sessions through its public addresses are dropped", pMPublic},
		{"NAPT grade resized", func(c *Config) { port(c, pM2).NAPT[0].Sessions = 60_000 }, "medium", "session-reset", "resizes", pM2},
		{"NAPT grade added", func(c *Config) { port(c, pM2).NAPT = append(port(c, pM2).NAPT, NAPTGrade{30_000}) }, "low", "none",
			"adds NAPT grades", pM2},
		{"static NAT removed", func(c *Config) { port(c, pAPublic).StaticNAT = nil }, "medium", "brief-loss", "removes static NAT for 10.10.0.5", pAPublic},
		{"static NAT added", func(c *Config) {
			port(c, pMPublic).StaticNAT = []StaticNAT{{Inside: "10.10.0.9"}}
		}, "low", "none", "adds static NAT", pMPublic},
		{"port removed", func(c *Config) { c.Ports = c.Ports[1:] }, "high", "session-reset", "removes the configuration of port " + pOnPrem, pOnPrem},
		{"hub internal network", func(c *Config) { c.Hubs[0].InternalNetwork = "100.66.0.0/24" }, "high", "brief-loss",
			"changes the internal network of hub hub_main", ""},
		{"hub ASN", func(c *Config) { c.ASN = 64700 }, "high", "session-reset", "every BGP session resets", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			old, new := fixtureConfig(), fixtureConfig()
			tc.mutate(&new)
			r := BuildReview(fixtureFacts(), old, new, DefaultSettings)
			if r.Risk != tc.risk || r.Impact != tc.impact {
				t.Errorf("risk, impact = %s, %s; want %s, %s; reasons %+v", r.Risk, r.Impact, tc.risk, tc.impact, r.Reasons)
			}
			if tc.reason != "" && !strings.Contains(reasonsText(r), tc.reason) {
				t.Errorf("no reason %q in %s", tc.reason, reasonsText(r))
			}
			if tc.port != "" && !contains(r.AffectedPorts, tc.port) {
				t.Errorf("affected ports %v lack %s", r.AffectedPorts, tc.port)
			}
			if tc.risk == "none" && len(r.Changes) != 0 {
				t.Errorf("changes without a change: %+v", r.Changes)
			}
			if tc.risk != "none" && len(r.Changes) == 0 {
				t.Errorf("no diff for a change")
			}
		})
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func TestDiffPathsAndSecrets(t *testing.T) {
	old, new := fixtureConfig(), fixtureConfig()
	port(&new, pOnPrem).OnPrem.MD5 = "other"
	port(&new, pOnPrem).Firewall.Rules = append(port(&new, pOnPrem).Firewall.Rules, Rule{Action: "drop", Sources: []string{"any"}, Destinations: []string{"lan"}})
	// A whole added port carries its password masked too.
	for _, c := range Diff(Config{}, old) {
		if strings.Contains(fmt.Sprint(c.After), "s3cret") {
			t.Fatalf("password in an added object: %+v", c)
		}
	}
	ch := Diff(old, new)
	want := map[string]Change{
		"ports[" + pOnPrem + "].onprem.md5":        {Op: "changed", Before: "(set)", After: "(set)"},
		"ports[" + pOnPrem + "].firewall.rules[1]": {Op: "added"},
	}
	if len(ch) != len(want) {
		t.Fatalf("changes = %+v", ch)
	}
	for _, c := range ch {
		w, ok := want[c.Path]
		if !ok || w.Op != c.Op {
			t.Errorf("unexpected change %+v", c)
		}
		if strings.Contains(c.Path, "md5") && (c.Before != "(set)" || c.After != "(set)") {
			t.Errorf("secret shown: %+v", c)
		}
	}
}
