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
		{"napt without inside", func(h *Hub) { h.Ports[1].NAPT = &NAPT{Public: []netip.Prefix{mustPrefix("203.0.113.8/30")}} }, "NAPT"},
		{"napt without public", func(h *Hub) { h.Ports[1].NAPT = &NAPT{Inside: []netip.Prefix{mustPrefix("10.0.0.0/8")}} }, "at least one public prefix"},
		{"napt public too large", func(h *Hub) { h.Ports[1].NAPT = napt("10.0.0.0/8", "203.0.112.0/23") }, "/24 to /32"},
		{"napt public unmasked", func(h *Hub) { h.Ports[1].NAPT = napt("10.0.0.0/8", "203.0.113.9/30") }, "masked"},
		{"napt grades overlap", func(h *Hub) { h.Ports[1].NAPT = napt("10.0.0.0/8", "203.0.113.8/30", "203.0.113.10/31") }, "overlaps"},
		{"napt too many addresses", func(h *Hub) {
			h.Ports[1].NAPT = napt("10.0.0.0/8", "10.200.0.0/24", "10.200.1.0/24", "10.200.2.0/24", "10.200.3.0/24",
				"10.200.4.0/24", "10.200.5.0/24", "10.200.6.0/24", "10.200.7.0/24", "10.200.8.0/32")
		}, "at most 2048"},
		{"napt eight grades", func(h *Hub) {
			h.Ports[1].NAPT = napt("10.0.0.0/8", "203.0.113.0/32", "203.0.113.2/31", "203.0.113.4/30", "203.0.113.8/29",
				"203.0.113.16/28", "203.0.113.32/28", "203.0.113.48/28", "203.0.113.64/28")
		}, ""},
		{"backbone VNI zero", func(h *Hub) { h.Backbone = testBackbone(); h.Backbone.VNI = 0 }, "VNI 0"},
		{"backbone without peers", func(h *Hub) { h.Backbone = testBackbone(); h.Backbone.Peers = nil }, "no peer hubs"},
		{"backbone device is a port's", func(h *Hub) { h.Backbone = testBackbone(); h.Backbone.Device = h.Ports[0].Interface }, "used by a port"},
		{"backbone two peers on one node", func(h *Hub) {
			h.Backbone = testBackbone()
			h.Backbone.Peers[1].RemoteUnderlay = h.Backbone.Peers[0].RemoteUnderlay
		}, "one per peer"},
		{"backbone peer on this node", func(h *Hub) {
			h.Backbone = testBackbone()
			h.Backbone.Peers[0].RemoteUnderlay = h.Backbone.LocalUnderlay
		}, "another node"},
		{"backbone neighbor off the segment", func(h *Hub) {
			h.Backbone = testBackbone()
			h.Backbone.Peers[0].Neighbor = netip.MustParseAddr("10.254.1.2")
		}, "is not another address"},
		{"backbone neighbor is the hub", func(h *Hub) {
			h.Backbone = testBackbone()
			h.Backbone.Peers[0].Neighbor = h.Backbone.Address.Addr()
		}, "is not another address"},
		{"backbone peer name twice", func(h *Hub) {
			h.Backbone = testBackbone()
			h.Backbone.Peers[1].Name = h.Backbone.Peers[0].Name
		}, "used twice"},
		{"backbone bad DR role", func(h *Hub) { h.Backbone = testBackbone(); h.Backbone.Peers[0].DR = "primary" }, "DR role"},
		{"backbone of three", func(h *Hub) { h.Backbone = testBackbone() }, ""},
		{"redundant port", func(h *Hub) { h.Ports[0].Interface, h.Ports[0].Legs = "br1", []string{"eth-on", "eth-on2"} }, ""},
		{"redundant port with one leg", func(h *Hub) { h.Ports[0].Interface, h.Ports[0].Legs = "br1", []string{"eth-on"} }, "1 legs"},
		{"redundant port leg twice", func(h *Hub) { h.Ports[0].Interface, h.Ports[0].Legs = "br1", []string{"eth-on", "eth-on"} }, "used twice"},
		{"redundant port leg is another port's", func(h *Hub) {
			h.Ports[0].Interface, h.Ports[0].Legs = "br1", []string{"eth-on", h.Ports[1].Interface}
		}, "used twice"},
		{"redundant port leg is its bridge", func(h *Hub) { h.Ports[0].Legs = []string{h.Ports[0].Interface, "eth-on2"} }, "used twice"},
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

// napt is a NAPT of one inside prefix to public prefixes, one per grade.
func napt(inside string, public ...string) *NAPT {
	n := &NAPT{Inside: []netip.Prefix{mustPrefix(inside)}}
	for _, p := range public {
		n.Public = append(n.Public, mustPrefix(p))
	}
	return n
}
