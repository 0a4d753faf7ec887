package agent

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
)

// Translate turns the node's desired-state document into the data plane's
// per-hub input. What the data plane cannot yet realise faithfully is not
// approximated: the hub is still built without it and the gap is returned as
// a problem of that hub (problems[i] are hubs[i]'s), which the agent
// reports to the controller for the operator and the hub's customer.
func Translate(s desired.State) (hubs []dataplane.Hub, problems [][]observed.Problem) {
	for _, h := range s.Hubs {
		dh, ps := translateHub(s, h)
		hubs = append(hubs, dh)
		problems = append(problems, ps)
	}
	return hubs, problems
}

// problem turns a gap found by the translation, written "item: reason"
// ("firewall rule 3: prefixes unparsable"), into a report's problem. The
// translation's helpers write their gaps as text in that form; a gap
// without a reason part is reported with its text as the item.
func problem(portCode, gap string) observed.Problem {
	item, reason, ok := strings.Cut(gap, ": ")
	if !ok {
		item, reason = gap, "not realised"
	}
	return observed.Problem{PortCode: portCode, Item: observed.Clip(item), Reason: observed.Clip(reason)}
}

func translateHub(s desired.State, h desired.Hub) (dataplane.Hub, []observed.Problem) {
	var gaps []string // of the hub itself; a port's are added as problems of the port
	var problems []observed.Problem
	internal, err1 := netip.ParsePrefix(h.InternalNetwork)
	monitoring, err2 := netip.ParsePrefix(h.MonitoringNetwork)
	if err1 != nil || err2 != nil {
		gaps = append(gaps, "internal or monitoring network unparsable")
	}
	dh := dataplane.Hub{
		ID:                strings.TrimPrefix(h.Namespace, dataplane.NamespacePrefix),
		LocalASN:          h.ASN,
		RouterID:          internal.Addr().Next(), // the hub's own address on its internal network
		InternalNetwork:   internal,
		MonitoringNetwork: monitoring,
		ImportLimit:       s.RouteLimit,
	}
	bb, bbProblems := translateBackbone(h.Backbone)
	dh.Backbone = bb
	gaps = append(gaps, bbProblems...)
	static := map[string][]dataplane.StaticNAT{}
	for _, n := range h.StaticNAT {
		in, e1 := netip.ParseAddr(n.Inside)
		pub, e2 := netip.ParseAddr(n.Public)
		if e1 != nil || e2 != nil {
			gaps = append(gaps, fmt.Sprintf("static NAT %s↔%s unparsable", n.Public, n.Inside))
			continue
		}
		static[n.PortCode] = append(static[n.PortCode], dataplane.StaticNAT{Inside: in, Public: pub})
	}
	for _, p := range h.Ports {
		ports, ps := translatePort(p, internal)
		// A port's static NAT, like its NAPT, is on each of its data-plane
		// ports: a cloud port's primary and secondary links both carry it,
		// so the mapping survives either link's failure.
		for i := range ports {
			ports[i].StaticNAT = static[p.PortCode]
		}
		dh.Ports = append(dh.Ports, ports...)
		for _, q := range ps {
			problems = append(problems, problem(p.PortCode, q))
		}
	}
	for _, g := range gaps {
		problems = append(problems, problem("", g))
	}
	return dh, problems
}

// BackboneDevice names the hub's VXLAN device on its customer's backbone
// segment.
const BackboneDevice = "backbone"

// translateBackbone puts the hub on its customer's backbone segment: one
// VXLAN device, flooding to each peer hub's node, and an iBGP session per
// peer hub. The hub's own DR preference goes with every route it learns
// from a port, so routes from a main hub are preferred over a sub's.
func translateBackbone(b desired.Backbone) (*dataplane.Backbone, []string) {
	if len(b.Peers) == 0 {
		return nil, nil
	}
	local, errL := netip.ParseAddr(b.LocalUnderlay)
	overlay, errO := netip.ParsePrefix(b.OverlayAddress)
	if errL != nil || errO != nil {
		return nil, []string{fmt.Sprintf("backbone to %d peer hub(s) not built: this node's underlay address or the hub's overlay address is not set", len(b.Peers))}
	}
	out := &dataplane.Backbone{VNI: b.VNI, Device: BackboneDevice, LocalUnderlay: local, Address: overlay, LocalPreference: b.LocalPreference}
	var problems []string
	for _, p := range b.Peers {
		remote, e1 := netip.ParseAddr(p.Underlay)
		neighbor, e2 := netip.ParsePrefix(p.OverlayAddress)
		if e1 != nil || e2 != nil {
			problems = append(problems, fmt.Sprintf("backbone peer %s (%s) not built: its node's underlay address is not set", p.HubID, p.Priority))
			continue
		}
		out.Peers = append(out.Peers, dataplane.BackbonePeer{
			Name:           p.Priority,
			RemoteUnderlay: remote,
			Neighbor:       neighbor.Addr(),
			DR:             p.Priority,
		})
	}
	if len(out.Peers) == 0 {
		return nil, problems
	}
	return out, problems
}

// translatePort makes one data-plane port per BGP session. A cloud port's
// primary and secondary legs each carry their own session (its own /30 on
// its own VLAN sub-interface); a redundant on-premises port is one session
// over both legs, which the data plane bridges.
func translatePort(p desired.Port, internal netip.Prefix) ([]dataplane.Port, []string) {
	var problems []string
	policy, err := translatePolicy(p.RoutePolicy)
	if err != nil {
		problems = append(problems, err.Error())
	}
	fw, fwProblems := translateFirewall(p.Firewall)
	problems = append(problems, fwProblems...)
	guard, guardProblems := translateGuard(p.L2Guard)
	problems = append(problems, guardProblems...)
	napt, naptProblems := translateNAPT(p.NAPT)
	problems = append(problems, naptProblems...)
	legs := map[string]desired.Leg{}
	for _, l := range p.Legs {
		legs[l.Role] = l
	}
	ifname := func(l desired.Leg) string {
		if l.VLAN > 0 {
			return fmt.Sprintf("%s.%d", l.Interface, l.VLAN)
		}
		return l.Interface
	}
	var out []dataplane.Port
	used := map[string]bool{}
	for _, s := range p.Sessions {
		if s.Name != "single" && s.Name != "primary" && s.Name != "secondary" {
			problems = append(problems, fmt.Sprintf("session %q not realised: a session is single, primary or secondary", s.Name))
			continue
		}
		leg, ok := legs[s.Name]
		if s.Name == "single" {
			leg, ok = legs["primary"]
		}
		used[leg.Role] = ok
		if !ok {
			// A hub runs on one node, so every leg of its ports is here: a
			// session without its leg is one the hub does not run (a cloud
			// port placed before it had a secondary leg).
			problems = append(problems, fmt.Sprintf("%s session not realised: the port has no %s leg on this node", s.Name, s.Name))
			continue
		}
		dev, bridged := ifname(leg), []string(nil)
		taken := []desired.Leg{leg}
		if second, ok := legs["secondary"]; ok && s.Name == "single" {
			dev, bridged = "br"+strings.TrimPrefix(p.PortCode, "shc"), []string{ifname(leg), ifname(second)}
			used[second.Role] = true
			taken = append(taken, second)
		}
		// A leg on a VLAN is a sub-interface the data plane makes on the
		// node's physical port.
		var vlans []dataplane.VLANLink
		for _, l := range taken {
			if l.VLAN > 0 {
				vlans = append(vlans, dataplane.VLANLink{Name: ifname(l), Parent: l.Interface, ID: l.VLAN})
			}
		}
		local, e1 := netip.ParseAddr(s.LocalAddress)
		peer, e2 := netip.ParseAddr(s.PeerAddress)
		if e1 != nil || e2 != nil {
			problems = append(problems, "session "+s.Name+": addresses unparsable")
			continue
		}
		out = append(out, dataplane.Port{
			Name:        portName(p.PortCode, s.Name),
			PortCode:    p.PortCode,
			Session:     s.Name,
			Interface:   dev,
			Legs:        bridged,
			VLANs:       vlans,
			Address:     netip.PrefixFrom(local, s.PrefixLength),
			PeerAddress: peer,
			PeerASN:     s.PeerASN,
			MD5:         s.MD5,
			BFD:         s.BFD,
			ImportLimit: s.ImportLimit,
			Policy:      policy,
			SpeedMbps:   int(p.SpeedMbps),
			Firewall:    fw,
			NAPT:        napt,
			L2Guard:     guard,
			// The sequence that re-enables a route-limited session also
			// brings back a port its guards shut.
			ReenableSeq: p.ReenableSeq,
			HeldShut:    p.Shut,
			BGPDisabled: !p.BGPEnabled,
		})
	}
	for _, l := range p.Legs {
		if !used[l.Role] {
			problems = append(problems, fmt.Sprintf("%s leg %s not realised: no session of this node runs on it", l.Role, l.Interface))
		}
	}
	return out, problems
}

// translateNAPT translates hub-to-cloud flows from anywhere behind the hub
// to the public prefixes of all the port's grades (flows the cloud opens
// never are). A grade whose prefix does not parse is left out and
// reported; the others are realised.
func translateNAPT(grades []desired.NAPT) (*dataplane.NAPT, []string) {
	if len(grades) == 0 {
		return nil, nil
	}
	var problems []string
	n := &dataplane.NAPT{Inside: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}
	for i, g := range grades {
		pub, err := netip.ParsePrefix(g.PublicPrefix)
		if err != nil {
			problems = append(problems, fmt.Sprintf("NAPT grade %d: public prefix %q unparsable; the grade is left out", i+1, g.PublicPrefix))
			continue
		}
		n.Public = append(n.Public, pub)
	}
	if len(n.Public) == 0 {
		return nil, problems
	}
	return n, problems
}

// translateGuard carries an on-premises port's layer-2 guards to the data
// plane. A guard the data plane would refuse would refuse the node's
// whole document; it is left out instead and the gap reported, like any
// other part the data plane cannot realise.
func translateGuard(g *desired.L2Guard) (*dataplane.L2Guard, []string) {
	if g == nil {
		return nil, nil
	}
	out := &dataplane.L2Guard{
		BPDUGuard:         g.BPDUGuard,
		StormControlPPS:   g.StormControlPPS,
		FlapLimit:         g.FlapLimit,
		FlapWindowSeconds: g.FlapWindowSeconds,
		MACLimit:          g.MACLimit,
		MACAgeingSeconds:  g.MACAgeingSeconds,
		MTU:               g.MTU,
	}
	if err := out.Validate(); err != nil {
		return nil, []string{"layer-2 guards not realised: " + strings.ReplaceAll(err.Error(), "\n", "; ")}
	}
	return out, nil
}

// portName is "p" + the port code's digits + the leg's initial, e.g.
// p12345678_p: unique per hub, within the data plane's 20 characters.
func portName(code, session string) string {
	return "p" + strings.TrimPrefix(code, "shc") + "_" + session[:1]
}

func translatePolicy(p desired.RoutePolicy) (dataplane.RoutePolicy, error) {
	switch p.Type {
	case "All":
		return dataplane.RoutePolicy{Kind: dataplane.PolicyAll}, nil
	case "DefaultRoute":
		return dataplane.RoutePolicy{Kind: dataplane.PolicyDefaultRoute}, nil
	case "AggregateRFC1918":
		return dataplane.RoutePolicy{Kind: dataplane.PolicyAggregateRFC1918}, nil
	case "UserDefined":
		rp := dataplane.RoutePolicy{Kind: dataplane.PolicyUserDefined}
		for _, s := range p.Prefixes {
			q, err := netip.ParsePrefix(s)
			if err != nil {
				return dataplane.RoutePolicy{Kind: dataplane.PolicyDefaultRoute}, fmt.Errorf("user-defined prefix %q unparsable", s)
			}
			rp.Prefixes = append(rp.Prefixes, q)
		}
		return rp, nil
	}
	return dataplane.RoutePolicy{Kind: dataplane.PolicyDefaultRoute}, fmt.Errorf("unknown route policy %q", p.Type)
}

// translateFirewall expands each rule's services into data-plane rules (one
// protocol each), keeping the order; the data plane's default is deny.
func translateFirewall(f *desired.Firewall) (*dataplane.FirewallPolicy, []string) {
	if f == nil {
		return nil, nil
	}
	var problems []string
	fp := &dataplane.FirewallPolicy{Stateful: f.Mode == "stateful"}
	for _, r := range f.Rules {
		base := dataplane.Rule{Index: r.Index, Action: dataplane.Action(r.Action), Log: r.Log}
		var bad bool
		for _, list := range []struct {
			in  []string
			out *[]netip.Prefix
		}{{r.Sources, &base.Sources}, {r.Destinations, &base.Destinations}} {
			for _, s := range list.in {
				q, err := netip.ParsePrefix(s)
				if err != nil {
					bad = true
					break
				}
				*list.out = append(*list.out, q)
			}
		}
		if bad {
			problems = append(problems, fmt.Sprintf("firewall rule %d: prefixes unparsable; the rule is left out (default deny applies)", r.Index))
			continue
		}
		if len(r.Services) == 0 {
			fp.Rules = append(fp.Rules, base)
			continue
		}
		for _, sv := range r.Services {
			rule := base
			// A service of protocol "any" is every protocol: the data
			// plane's rule without a protocol match.
			if sv.Protocol != "any" {
				rule.Protocol = sv.Protocol
			}
			if sv.Ports != "" {
				rule.Ports = strings.Split(sv.Ports, ",")
			}
			fp.Rules = append(fp.Rules, rule)
		}
	}
	return fp, problems
}
