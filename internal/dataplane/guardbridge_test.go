package dataplane

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// Which ports go behind a bridge of their own: a single port with both a
// MAC limit and a speed, and no other.
func TestGuardBridged(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(*Port)
		want   bool
	}{
		{"shaped, MAC limit", func(*Port) {}, true},
		{"unshaped", func(p *Port) { p.SpeedMbps = 0 }, false},
		{"no MAC limit", func(p *Port) { p.L2Guard.MACLimit = 0 }, false},
		{"no guard", func(p *Port) { p.L2Guard = nil }, false},
		{"redundant", func(p *Port) { p.Interface, p.Legs = "bronprem", []string{"eth-on", "eth-on2"} }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := guardedHub().Ports[0]
			c.change(&p)
			if got := guardBridged(p); got != c.want {
				t.Errorf("guardBridged = %v, want %v", got, c.want)
			}
		})
	}
	if n := guardBridgeName("a-very-long-interface.4094"); len(n) > 15 || n == ifbName("a-very-long-interface.4094") {
		t.Errorf("bridge name %q", n)
	}
}

// A shaped port with a MAC limit: its interface is a leg of the port's
// bridge and keeps the guards, while the address and both directions'
// shaping are on the bridge. The hub as given is left as it was, and a
// second apply changes nothing.
func TestGuardBridge(t *testing.T) {
	f := newFakeNode(t, "eth-on", "eth-aws")
	h := guardedHub()
	br := guardBridgeName("eth-on")
	got := applyCalls(t, f, h)
	for _, want := range []string{
		"bridge add hub-c1 " + br + " " + bridgeMAC(h, h.Ports[0]).String(),
		`link master hub-c1 eth-on "` + br + `"`,
		"addr add hub-c1 " + br + " 169.254.10.1/30",
		"tc add hub-c1 " + br + " 100000000",
		"tc redirect hub-c1 " + br + " to " + ifbName(br),
	} {
		if !slices.Contains(got, want) {
			t.Errorf("no %q in %q", want, got)
		}
	}
	if slices.ContainsFunc(got, func(c string) bool { return strings.HasPrefix(c, "tc ") && strings.Contains(c, " eth-on ") }) ||
		slices.Contains(got, "addr add hub-c1 eth-on 169.254.10.1/30") {
		t.Errorf("address or shaping on the interface: %q", got)
	}
	if p := h.Ports[0]; p.Interface != "eth-on" || p.Legs != nil {
		t.Errorf("the hub given was changed: %+v", p)
	}
	script, _ := f.nft.List(context.Background(), "hub-c1")
	for _, want := range []string{
		"type filter hook ingress device \"eth-on\" priority filter;",
		"\t\tupdate @macs_onprem { ether saddr } goto l2_onprem\n\t\tcounter drop comment \"port onprem eth-on: mac limit\"\n",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q:\n%s", want, script)
		}
	}
	if got := applyCalls(t, f, h); len(got) > 0 {
		t.Errorf("re-applying made calls %q", got)
	}
}
