package dataplane

import (
	"bytes"
	_ "embed"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"text/template"
)

// The BIRD configuration is built in Go as a typed view model (birdConfig)
// and rendered by a template that does no lookups and no string surgery:
// every set, name and number is computed here, where it is tested.

//go:embed bird.conf.tmpl
var birdTemplateText string

var birdTemplate = template.Must(template.New("bird.conf").Option("missingkey=error").Parse(birdTemplateText))

// bogons are refused on import from every session: addresses that are never
// routed between customer sites. RFC 1918 space is the customers' own and is
// not here.
var bogons = []string{
	"0.0.0.0/8+", "100.64.0.0/10+", "127.0.0.0/8+", "169.254.0.0/16+",
	"192.0.0.0/24+", "192.0.2.0/24+", "198.18.0.0/15+", "198.51.100.0/24+",
	"203.0.113.0/24+", "224.0.0.0/4+", "240.0.0.0/4+",
}

type birdConfig struct {
	Namespace     string
	RouterID      string
	LogFile       string
	Bogons        string // a BIRD prefix set body
	HubOwn        string // a BIRD prefix set body: hub networks and NAT publics, and longer
	HubNetworks   []string
	PolicyRoutes  []string
	BFDInterfaces []string
	Sessions      []birdSession
}

type birdSession struct {
	Name            string // BIRD protocol name; also names the filters
	Description     string
	LocalAddress    string
	LocalASN        uint32
	NeighborAddress string
	NeighborASN     uint32
	Direct          bool
	// RejectBogons refuses bogons on import: on every port. The backbone
	// carries only what the customer's other hubs accepted from their
	// ports, plus their own networks, which may be in bogon space (the
	// default pool is 100.64.0.0/16).
	RejectBogons bool
	NextHopSelf  bool
	Password     string
	BFD          bool
	ImportLimit  int
	LocalPref    int // set on import; 0: leave as received
	MarkASN      uint32
	MarkValue    uint32
	// Disabled keeps the session down: the controller holds it stopped
	// (the route limit) until the customer re-enables it.
	Disabled bool
	// StripMark removes the backbone's mark (MarkASN, 1, *) from what a
	// port is sent: it is the hub's own bookkeeping, and names the VNI.
	StripMark     bool
	ExportNets    string // a BIRD prefix set body of exact nets sent; "" for none
	ExportLearned bool   // send every BGP-learned route as well
}

// Route is one route in BIRD's table, as the control socket lists it.
type Route struct {
	Net      netip.Prefix
	Protocol string
	Primary  bool
}

// SessionName is the BIRD protocol name of a port's BGP session.
func SessionName(port string) string { return "port_" + port }

// BackboneSessionName is the BIRD protocol name of a backbone session.
func BackboneSessionName(peer string) string { return "bb_" + peer }

// buildBirdConfig turns a hub into the view model. learned is BIRD's table
// as last observed: an RFC 1918 aggregate is advertised on a port only while
// a route equal to or inside it is learned over another BGP session, so
// the aggregate set follows the table and the agent's resync re-renders it.
func buildBirdConfig(h Hub, paths birdPaths, learned []Route) birdConfig {
	c := birdConfig{
		Namespace: h.Namespace(),
		RouterID:  h.RouterID.String(),
		LogFile:   paths.Log,
		Bogons:    strings.Join(bogons, ", "),
	}
	hubNets := []netip.Prefix{h.InternalNetwork, h.MonitoringNetwork}
	own := []string{}
	for _, n := range hubNets {
		c.HubNetworks = append(c.HubNetworks, n.String())
		own = append(own, n.String()+"+")
	}
	// NAT public prefixes are the hub's too: advertised only on their port,
	// never accepted from anywhere.
	publics := map[string][]string{}
	for _, p := range h.Ports {
		for _, n := range natPublics(p) {
			c.HubNetworks = append(c.HubNetworks, n.String())
			own = append(own, n.String()+"+")
			publics[p.Name] = append(publics[p.Name], n.String())
		}
	}
	c.HubNetworks = sortedUnique(c.HubNetworks)
	c.HubOwn = strings.Join(sortedUnique(own), ", ")
	hubNetStrs := []string{h.InternalNetwork.String(), h.MonitoringNetwork.String()}
	// In a DR group every route carries the preference of the hub that
	// learned it from a port — its DR role's — and iBGP carries it
	// unchanged, so each hub of the group, the learning one included,
	// prefers the route of the highest-priority hub that has it.
	ownPref := 0
	if h.Backbone != nil {
		ownPref = h.Backbone.LocalPreference
	}

	var policyRoutes []string
	for _, p := range h.Ports {
		name := SessionName(p.Name)
		exports := slices.Clone(hubNetStrs)
		exports = append(exports, publics[p.Name]...)
		s := birdSession{
			Name:            name,
			Description:     fmt.Sprintf("port %s (%s), policy %s", p.Name, p.Interface, p.Policy.Kind),
			LocalAddress:    p.Address.Addr().String(),
			LocalASN:        h.LocalASN,
			NeighborAddress: p.PeerAddress.String(),
			NeighborASN:     p.PeerASN,
			Password:        p.MD5,
			BFD:             p.BFD,
			ImportLimit:     h.importLimit(p),
			LocalPref:       ownPref,
			RejectBogons:    true,
			MarkASN:         h.LocalASN,
			StripMark:       h.Backbone != nil,
			Disabled:        p.BGPDisabled,
		}
		switch p.Policy.Kind {
		case PolicyAll:
			s.ExportLearned = true
		case PolicyDefaultRoute:
			exports = append(exports, "0.0.0.0/0")
			policyRoutes = append(policyRoutes, "0.0.0.0/0")
		case PolicyAggregateRFC1918:
			for _, agg := range activeAggregates(name, learned) {
				exports = append(exports, agg.String())
				policyRoutes = append(policyRoutes, agg.String())
			}
		case PolicyUserDefined:
			for _, q := range p.Policy.Prefixes {
				exports = append(exports, q.String())
				policyRoutes = append(policyRoutes, q.String())
			}
		}
		s.ExportNets = strings.Join(sortedUnique(exports), ", ")
		if p.BFD {
			c.BFDInterfaces = append(c.BFDInterfaces, p.Interface)
		}
		c.Sessions = append(c.Sessions, s)
	}
	for _, b := range backbonePeers(h) {
		c.Sessions = append(c.Sessions, birdSession{
			Name:            BackboneSessionName(b.Name),
			Description:     fmt.Sprintf("backbone %s (VNI %d, %s hub)", b.Name, h.Backbone.VNI, b.DR),
			LocalAddress:    h.Backbone.Address.Addr().String(),
			LocalASN:        h.LocalASN,
			NeighborAddress: b.Neighbor.String(),
			NeighborASN:     h.LocalASN,
			Direct:          true,
			NextHopSelf:     true,
			ImportLimit:     h.importLimit(Port{}),
			MarkASN:         h.LocalASN,
			MarkValue:       h.Backbone.VNI,
			ExportNets:      strings.Join(sortedUnique(hubNetStrs), ", "),
			ExportLearned:   true,
		})
	}
	c.PolicyRoutes = sortedUnique(policyRoutes)
	c.BFDInterfaces = sortedUnique(c.BFDInterfaces)
	return c
}

// activeAggregates are the RFC 1918 aggregates that cover a route learned
// over a BGP session other than self (sessions are named port_* or bb_*).
// The aggregate's own static route does not count.
func activeAggregates(self string, learned []Route) []netip.Prefix {
	var out []netip.Prefix
	for _, agg := range RFC1918 {
		for _, r := range learned {
			if r.Protocol == self || !(strings.HasPrefix(r.Protocol, "port_") || strings.HasPrefix(r.Protocol, "bb_")) {
				continue
			}
			if r.Net.Bits() >= agg.Bits() && agg.Contains(r.Net.Addr()) {
				out = append(out, agg)
				break
			}
		}
	}
	return out
}

// natPublics are the public prefixes a port's NAT uses.
func natPublics(p Port) []netip.Prefix {
	var out []netip.Prefix
	if p.NAPT != nil {
		out = append(out, p.NAPT.Public...)
	}
	for _, s := range p.StaticNAT {
		out = append(out, netip.PrefixFrom(s.Public, 32))
	}
	return out
}

func sortedUnique(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

// renderBird renders the BIRD configuration of a hub. learned is the table
// as observed (nil before BIRD runs).
func renderBird(h Hub, paths birdPaths, learned []Route) ([]byte, error) {
	var b bytes.Buffer
	if err := birdTemplate.Execute(&b, buildBirdConfig(h, paths, learned)); err != nil {
		return nil, fmt.Errorf("render bird config: %w", err)
	}
	return b.Bytes(), nil
}
