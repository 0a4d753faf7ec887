package dataplane

import (
	"net/netip"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Hub)
		wantErr string // "" for valid
	}{
		{"valid", func(*Hub) {}, ""},
		{"bad id", func(h *Hub) { h.ID = "Bad/ID" }, "hub id"},
		{"no ASN", func(h *Hub) { h.LocalASN = 0 }, "local ASN"},
		{"unmasked internal network", func(h *Hub) { h.InternalNetwork = mustPrefix("10.100.0.1/24") }, "internal network"},
		{"duplicate port name", func(h *Hub) { h.Ports[1].Name = h.Ports[0].Name }, "duplicate name"},
		{"interface twice", func(h *Hub) { h.Ports[1].Interface = h.Ports[0].Interface }, "used twice"},
		{"interface name too long", func(h *Hub) { h.Ports[0].Interface = "averyveryverylongname" }, "not a valid device name"},
		{"peer off the link", func(h *Hub) { h.Ports[0].PeerAddress = netip.MustParseAddr("10.0.0.1") }, "peer 10.0.0.1"},
		{"peer is the hub", func(h *Hub) { h.Ports[0].PeerAddress = h.Ports[0].Address.Addr() }, "is not another address"},
		{"md5 with a quote", func(h *Hub) { h.Ports[0].MD5 = `a"b` }, "MD5"},
		{"unknown policy", func(h *Hub) { h.Ports[0].Policy.Kind = "Everything" }, "unknown route policy"},
		{"user defined empty", func(h *Hub) { h.Ports[0].Policy = RoutePolicy{Kind: PolicyUserDefined} }, "no prefixes"},
		{"prefixes on aggregate", func(h *Hub) {
			h.Ports[0].Policy = RoutePolicy{Kind: PolicyAggregateRFC1918, Prefixes: []netip.Prefix{mustPrefix("10.0.0.0/8")}}
		}, "prefixes given"},
		{"rule bad action", func(h *Hub) { h.Ports[0].Firewall = &FirewallPolicy{Rules: []Rule{{Action: "allow"}}} }, "action"},
		{"rule ports without protocol", func(h *Hub) {
			h.Ports[0].Firewall = &FirewallPolicy{Rules: []Rule{{Action: Accept, Ports: []string{"80"}}}}
		}, "ports need protocol"},
		{"rule port out of range", func(h *Hub) {
			h.Ports[0].Firewall = &FirewallPolicy{Rules: []Rule{{Action: Accept, Protocol: "tcp", Ports: []string{"90-80"}}}}
		}, "within 1-65535"},
		{"napt without inside", func(h *Hub) { h.Ports[1].NAPT = &NAPT{Public: mustPrefix("203.0.113.8/30")} }, "NAPT"},
		{"backbone VNI zero", func(h *Hub) {
			h.Backbone = []BackbonePeer{{Name: "x", Device: "bb-x", DR: DRMain,
				LocalUnderlay: netip.MustParseAddr("10.255.0.1"), RemoteUnderlay: netip.MustParseAddr("10.255.0.2"),
				Address: mustPrefix("10.254.0.1/30"), Neighbor: netip.MustParseAddr("10.254.0.2")}}
		}, "VNI 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := testHub()
			tt.change(&h)
			err := h.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
