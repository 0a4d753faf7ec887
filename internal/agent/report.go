package agent

import (
	"fmt"
	"slices"

	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
)

// hubKeys are the names the translation gave one hub's data-plane parts,
// mapped back to the desired state's own keys: the report is keyed by port
// code and session name, never by taking a BIRD protocol or nftables
// comment apart.
type hubKeys struct {
	// sessions: BIRD protocol name → the port code and session name.
	sessions map[string]sessionKey
	// backbone: BIRD protocol name → the peer hub's priority.
	backbone map[string]string
	// ports: data-plane port name → the port code and session name of
	// the connection it carries.
	ports map[string]sessionKey
	// rules: nftables counter comment → the port code and the customer's
	// rule number (observed.DefaultRule for the final deny).
	rules map[string]ruleKey
}

type sessionKey struct{ code, session string }

type ruleKey struct {
	code string
	rule int
}

// keysOf names what the translation made of dh from the desired hub h.
func keysOf(h desired.Hub, dh dataplane.Hub) hubKeys {
	k := hubKeys{sessions: map[string]sessionKey{}, backbone: map[string]string{}, ports: map[string]sessionKey{}, rules: map[string]ruleKey{}}
	for _, p := range h.Ports {
		for _, s := range p.Sessions {
			if s.Name == "" {
				continue
			}
			name := portName(p.PortCode, s.Name)
			key := sessionKey{p.PortCode, s.Name}
			k.ports[name] = key
			k.sessions[dataplane.SessionName(name)] = key
		}
	}
	for _, p := range dh.Ports {
		key, ok := k.ports[p.Name]
		if !ok || p.Firewall == nil {
			continue
		}
		for i, r := range p.Firewall.Rules {
			k.rules[dataplane.RuleComment(p.Name, i)] = ruleKey{key.code, r.Index}
		}
		k.rules[dataplane.DefaultDenyComment(p.Name)] = ruleKey{key.code, observed.DefaultRule}
	}
	if dh.Backbone != nil {
		for _, peer := range dh.Backbone.Peers {
			k.backbone[dataplane.BackboneSessionName(peer.Name)] = peer.Name
		}
	}
	return k
}

// observedHub maps the data plane's status of a hub into the report's
// hub, in the desired state's order of ports. The hub's holds are the
// applier's to add: a guard's from the data plane's shut records
// (guardHolds), a route limit's from the agent's hold records (holds.go).
func observedHub(h desired.Hub, k hubKeys, st dataplane.Status) observed.Hub {
	out := observed.Hub{HubID: h.HubID, CustomerID: h.CustomerID, WantedVersion: h.ConfigVersion,
		Problems: []observed.Problem{}, Ports: []observed.Port{}, Backbone: []observed.Session{}, Holds: []observed.Hold{}, Events: []observed.Event{}}
	ports := map[string]*observed.Port{}
	for _, p := range h.Ports {
		out.Ports = append(out.Ports, observed.Port{PortCode: p.PortCode, Sessions: []observed.Session{}, Links: []observed.Link{}, Rules: []observed.RuleCounter{}})
	}
	for i := range out.Ports {
		ports[out.Ports[i].PortCode] = &out.Ports[i]
	}
	for _, s := range st.Sessions {
		v := observed.Session{State: s.State, Info: observed.Clip(s.Info), Since: s.Since,
			Imported: s.Routes.Imported, Filtered: s.Routes.Filtered, Exported: s.Routes.Exported, Refused: []observed.Refused{}}
		for _, f := range s.Filtered {
			if len(v.Refused) < observed.MaxRefused {
				v.Refused = append(v.Refused, observed.Refused{Prefix: f.Prefix, Reason: f.Reason})
			}
		}
		if peer, ok := k.backbone[s.Name]; ok {
			v.Name = peer
			out.Backbone = append(out.Backbone, v)
			continue
		}
		key, ok := k.sessions[s.Name]
		if !ok || ports[key.code] == nil {
			continue // not a session this agent named
		}
		v.Name = key.session
		p := ports[key.code]
		p.Sessions = append(p.Sessions, v)
	}
	for _, l := range st.Links {
		key, ok := k.ports[l.Port]
		if !ok || ports[key.code] == nil {
			continue
		}
		p := ports[key.code]
		p.Links = append(p.Links, observed.Link{Connection: key.session, Leg: l.Leg, Carrier: l.Carrier,
			RxBytes: l.RxBytes, RxPackets: l.RxPackets, RxDrops: l.RxDrops, TxBytes: l.TxBytes, TxPackets: l.TxPackets, TxDrops: l.TxDrops,
			IfIndex: l.IfIndex})
	}
	// A customer rule expands into a rule per service, and a port with two
	// sessions carries its policy on each: their counters are summed.
	for _, c := range st.Rules {
		key, ok := k.rules[c.Comment]
		if !ok || ports[key.code] == nil {
			continue
		}
		p := ports[key.code]
		i := slices.IndexFunc(p.Rules, func(r observed.RuleCounter) bool { return r.Rule == key.rule })
		if i < 0 {
			p.Rules = append(p.Rules, observed.RuleCounter{Rule: key.rule})
			i = len(p.Rules) - 1
		}
		p.Rules[i].Packets += c.Packets
		p.Rules[i].Bytes += c.Bytes
	}
	for _, p := range out.Ports {
		slices.SortFunc(p.Rules, func(a, b observed.RuleCounter) int { return ruleOrder(a.Rule) - ruleOrder(b.Rule) })
	}
	return out
}

// ruleOrder sorts the default deny after the customer's rules.
func ruleOrder(rule int) int {
	if rule == observed.DefaultRule {
		return 1 << 30
	}
	return rule
}

// gaps compares what the desired hub asks of this node with what the
// hub's data plane was observed to run, and names each part it does not
// run: a BGP session BIRD does not have, a connection without a link, a
// customer firewall rule without a rule in the ruleset, a backbone peer
// without its session. The translation's own problems name what it left
// out on purpose; this catches what was built and is not there.
func gaps(dh dataplane.Hub, k hubKeys, o observed.Hub) []observed.Problem {
	var out []observed.Problem
	has := map[string]bool{}
	for _, p := range o.Ports {
		for _, s := range p.Sessions {
			has["session "+p.PortCode+" "+s.Name] = true
		}
		for _, l := range p.Links {
			has["link "+p.PortCode+" "+l.Connection] = true
		}
		for _, r := range p.Rules {
			has[fmt.Sprintf("rule %s %d", p.PortCode, r.Rule)] = true
		}
	}
	for _, s := range o.Backbone {
		has["backbone "+s.Name] = true
	}
	missingRule := map[ruleKey]bool{} // named once for a port's sessions
	for _, p := range dh.Ports {
		key, ok := k.ports[p.Name]
		if !ok {
			continue
		}
		if !has["session "+key.code+" "+key.session] {
			out = append(out, observed.Problem{PortCode: key.code, Item: "session " + key.session, Reason: "the hub's BIRD runs no such BGP session"})
		}
		if !has["link "+key.code+" "+key.session] {
			out = append(out, observed.Problem{PortCode: key.code, Item: "link " + key.session, Reason: "the hub has no such interface"})
		}
		if p.Firewall == nil {
			continue
		}
		for _, r := range p.Firewall.Rules {
			rk := ruleKey{key.code, r.Index}
			if !missingRule[rk] && !has[fmt.Sprintf("rule %s %d", key.code, r.Index)] {
				out = append(out, observed.Problem{PortCode: key.code, Item: fmt.Sprintf("firewall rule %d", r.Index), Reason: "not in the hub's ruleset"})
				missingRule[rk] = true
			}
		}
	}
	if dh.Backbone != nil {
		for _, peer := range dh.Backbone.Peers {
			if !has["backbone "+peer.Name] {
				out = append(out, observed.Problem{Item: "backbone peer " + peer.Name, Reason: "the hub's BIRD runs no session to it"})
			}
		}
	}
	return out
}
