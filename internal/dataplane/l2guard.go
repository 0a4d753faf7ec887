package dataplane

import (
	"fmt"
	"strings"
)

// Layer-2 guards of on-premises ports, in the kernel.
//
// What a frame meets is an nftables netdev table, "tsunagi_l2", with one
// ingress chain per guarded device: the port's interface, or each leg of a
// redundant port. The ingress hook runs before the bridge and the IP
// stack, so what it drops never reaches the hub. In each chain, in order:
//
//  1. BPDU guard: frames to 01:80:c2:00:00:00 (IEEE 802.1D bridge group
//     address) are counted and dropped. The count is the evidence Observe
//     and the hub's watcher act on: one BPDU shuts the port (shut.go,
//     guardwatch.go).
//  2. MAC limit: a frame's source address must be in, or fit into, the
//     port's dynamic set of at most mac_limit addresses, each forgotten
//     after mac_ageing_seconds of silence ("update" refreshes the timeout
//     of a known address). When the set is full the kernel refuses the
//     new element and the rule does not match (tested on the real
//     kernel), so the next rule counts and drops the frame.
//  3. Storm control: broadcast and multicast above storm_control_pps per
//     second are counted and dropped (a token bucket filled at that rate,
//     holding one second's worth).
//
// A redundant port's legs share one set and one rate limit (named limit
// object): the limits are the port's, whichever leg the customer's router
// is active on, and a failover does not double them.
//
// Each device chain's comment carries the port's re-enable sequence, so
// the digest of the ruleset changes with it: a re-enabled port's tables
// are replaced, which resets the BPDU count that shut it.

// bpduAddr is the destination of IEEE 802.1D BPDUs.
const bpduAddr = "01:80:c2:00:00:00"

// l2Filtered reports whether a port has a guard realised in nftables
// (flap detection and MTU are not).
func l2Filtered(p Port) bool {
	g := p.L2Guard
	return g != nil && (g.BPDUGuard || g.MACLimit > 0 || g.StormControlPPS > 0)
}

// guardChain names the ingress chain of a port's i-th device (takes(p)).
func guardChain(p Port, i int) string {
	if len(p.Legs) > 0 {
		return "in_" + p.Name + "_" + legRoles[i]
	}
	return "in_" + p.Name
}

// bpduComment is the comment of the BPDU rule of one device of a port,
// which names both: Observe finds the counter by it.
func bpduComment(p Port, dev string) string { return "port " + p.Name + " " + dev + ": bpdu" }

// renderL2Body renders the netdev table's sets, limits and chains; "" when
// no port is guarded in nftables.
func renderL2Body(h Hub) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	for _, p := range h.Ports {
		if !l2Filtered(p) {
			continue
		}
		g := p.L2Guard
		if g.MACLimit > 0 {
			w("\tset macs_%s {\n\t\ttype ether_addr\n\t\tsize %d\n\t\tflags dynamic,timeout\n\t\ttimeout %ds\n\t}\n\n",
				p.Name, g.MACLimit, g.MACAgeingSeconds)
		}
		if g.StormControlPPS > 0 {
			// The bucket holds a second's worth: a switch's storm control
			// counts per one-second interval, so a short burst of a busy
			// but healthy second passes (nft's default bucket, 5 packets,
			// would cut it), and no second passes more than twice the rate.
			w("\tlimit storm_%s {\n\t\trate over %d/second burst %d packets\n\t}\n\n", p.Name, g.StormControlPPS, g.StormControlPPS)
		}
		// After the BPDU and MAC checks a frame goes on to the port's
		// storm control, or is accepted.
		next := "accept"
		if g.StormControlPPS > 0 {
			next = "goto l2_" + p.Name
		}
		for i, dev := range takes(p) {
			w("\tchain %s {\n", guardChain(p, i))
			w("\t\tcomment %q\n", fmt.Sprintf("port %s guards, since re-enable %d", p.Name, p.ReenableSeq))
			w("\t\ttype filter hook ingress device %q priority filter; policy accept;\n", dev)
			if g.BPDUGuard {
				w("\t\tether daddr %s counter drop comment %q\n", bpduAddr, bpduComment(p, dev))
			}
			if len(p.Legs) > 0 {
				// The hub's own frames, sent out of both legs, come back
				// only through a loop on the customer's side: they are
				// dropped, and never take a place in the MAC limit.
				w("\t\tether saddr %s counter drop comment %q\n", bridgeMAC(h, p), "port "+p.Name+" "+dev+": own address looped back")
			}
			if g.MACLimit > 0 {
				w("\t\tupdate @macs_%s { ether saddr } %s\n", p.Name, next)
				w("\t\tcounter drop comment %q\n", "port "+p.Name+" "+dev+": mac limit")
			} else if g.StormControlPPS > 0 {
				w("\t\t%s\n", next)
			}
			w("\t}\n\n")
		}
		if g.StormControlPPS > 0 {
			w("\tchain l2_%s {\n", p.Name)
			w("\t\tmeta pkttype { broadcast, multicast } limit name \"storm_%s\" counter drop comment %q\n",
				p.Name, "port "+p.Name+": storm control")
			w("\t}\n\n")
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// l2ChainsPresent reports whether every guarded device's chain is in the
// listing: the kernel may have deleted one with its device.
func l2ChainsPresent(listing string, h Hub) bool {
	for _, p := range h.Ports {
		if !l2Filtered(p) {
			continue
		}
		for i := range takes(p) {
			if !strings.Contains(listing, "\tchain "+guardChain(p, i)+" {\n") {
				return false
			}
		}
	}
	return true
}
