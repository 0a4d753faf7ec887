package dataplane

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
)

// A single on-premises port with a MAC limit and a contracted speed is
// realised like a redundant port with one leg: the data plane puts a bridge
// of its own over the port's interface, and the address, session, filter
// and shaping go on the bridge while the layer-2 guards stay on the
// interface.
//
// It must: the ingress shaping steals every IPv4 unicast frame at the tc
// ingress hook of the shaped device and an ifb hands it back past the
// netfilter ingress hook (tc_ifb.go), so on the interface itself those
// frames would never meet the MAC limit, and a host over the limit could
// reach the hub with a static neighbour entry. Behind the bridge a frame
// meets the guards on the interface first (its netfilter ingress hook runs
// before the bridge takes the frame) and the shaping on the bridge after.
// Checked on the kernel, and not done instead: a netfilter egress chain on
// the ifb never sees the redirected frames (the kernel skips that hook for a
// frame redirected at tc ingress), and tc has no dynamic set to carry the
// limit itself.
//
// The bridge's address is bridgeMAC's, stable across rebuilds; frames the
// customer's router still sends to the interface's own address are the
// bridge's too (a bridge delivers its ports' addresses locally). A port
// that gains or loses its speed or its MAC limit moves its address between
// the interface and the bridge: its BGP session restarts once.

// guardBridged reports whether a port is realised behind a one-leg bridge.
func guardBridged(p Port) bool {
	return len(p.Legs) == 0 && p.SpeedMbps > 0 && p.L2Guard != nil && p.L2Guard.MACLimit > 0
}

// guardBridgeName is the bridge over a single port's interface dev: within
// IFNAMSIZ whatever dev is called, distinct from the ifb names (ifbName).
func guardBridgeName(dev string) string {
	sum := sha256.Sum256([]byte(dev))
	return "tsb" + hex.EncodeToString(sum[:6])
}

// realised is h as the kernel carries it: each guard-bridged port becomes a
// port whose one leg is its interface, under the bridge guardBridgeName.
// Every subsystem converges and reads this hub; h itself, as given, is what
// is validated and checked against the node.
func realised(h Hub) Hub {
	if !slices.ContainsFunc(h.Ports, guardBridged) {
		return h
	}
	h.Ports = slices.Clone(h.Ports)
	for i, p := range h.Ports {
		if guardBridged(p) {
			h.Ports[i].Legs = []string{p.Interface}
			h.Ports[i].Interface = guardBridgeName(p.Interface)
		}
	}
	return h
}
