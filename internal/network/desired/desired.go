package desired

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
)

// Schema names this version of the document.
const Schema = "tsunagi.desired-state/v2"

//go:embed desiredstate.schema.json
var SchemaJSON []byte

// State is the desired state of one hub node.
type State struct {
	Schema     string `json:"schema"`
	Generation string `json:"generation"`
	Node       string `json:"node"`
	Region     string `json:"region"`
	// RouteLimit is the deployment's maximum of prefixes accepted per peer.
	RouteLimit int   `json:"route_limit"`
	Hubs       []Hub `json:"hubs"`
}

// Hub is one customer hub on the node: one network namespace.
type Hub struct {
	HubID             string   `json:"hub_id"`
	CustomerID        string   `json:"customer_id"`
	Namespace         string   `json:"namespace"`
	ConfigVersion     int64    `json:"config_version"`
	Priority          string   `json:"priority"` // main | sub | backup
	ASN               uint32   `json:"asn"`
	InternalNetwork   string   `json:"internal_network"`
	MonitoringNetwork string   `json:"monitoring_network"`
	Backbone          Backbone `json:"backbone"`
	Ports             []Port   `json:"ports"`
	// Monitors are the customer's running reachability monitors on this
	// hub, sorted by ID; a stopped monitor is absent (the node probes
	// nothing for it). Absent when none, so that a document without
	// monitors is what it was before monitors existed.
	Monitors  []Monitor   `json:"monitors,omitempty"`
	StaticNAT []StaticNAT `json:"static_nat"`
}

// Monitor is one reachability monitor: probes from the hub's own address
// on its monitoring network toward a customer address behind one of the
// hub's ports, every interval.
type Monitor struct {
	ID       string `json:"id"`
	PortCode string `json:"port_code"`
	Target   string `json:"target"`
	Probe    string `json:"probe"` // icmp | tcp
	TCPPort  int    `json:"tcp_port,omitempty"`
	// IntervalSeconds is the time between probes (10–300).
	IntervalSeconds int `json:"interval_seconds"`
	// FailAfter is how many consecutive failed probes make the monitor
	// down (1–10); the agent reports a change at once instead of waiting
	// for its next report.
	FailAfter int `json:"fail_after"`
}

// Bounds of a monitor.
const (
	MinMonitorInterval = 10
	MaxMonitorInterval = 300
	MaxFailAfter       = 10
)

// Backbone is the hub's membership of its customer's backbone: a VXLAN
// segment (VNI) between the customer's hubs, with an iBGP session over it.
type Backbone struct {
	VNI             uint32 `json:"vni"`
	LocalPreference int    `json:"local_preference"` // main 300, sub 200, backup 100
	// OverlayAddress is the hub's address on the VXLAN segment (prefix
	// form); it is fixed by the hub's DR priority.
	OverlayAddress string `json:"overlay_address"`
	// LocalUnderlay is this node's tunnel endpoint ("" when the operator
	// has not set it: the backbone cannot be built yet).
	LocalUnderlay string         `json:"local_underlay"`
	Peers         []BackbonePeer `json:"peers"`
}

// BackbonePeer is another hub of the same customer: where to reach it
// (its node's tunnel endpoint, "" when not placed or not set) and its
// address on the segment.
type BackbonePeer struct {
	HubID           string `json:"hub_id"`
	Region          string `json:"region"`
	Priority        string `json:"priority"`
	LocalPreference int    `json:"local_preference"`
	OverlayAddress  string `json:"overlay_address"`
	Underlay        string `json:"underlay"`
}

// Port is one customer port with the legs placed on this node.
type Port struct {
	PortCode    string    `json:"port_code"`
	Kind        string    `json:"kind"`
	SpeedMbps   int64     `json:"speed_mbps"`
	Legs        []Leg     `json:"legs"`
	Sessions    []Session `json:"bgp_sessions"`
	BGPEnabled  bool      `json:"bgp_enabled"`  // false while stopped by the route limit
	ReenableSeq int64     `json:"reenable_seq"` // bumped when the customer re-enables
	// Shut is set while a layer-2 guard holds the port shut (bpdu, flap, or
	// unknown when the node could not read its record of why):
	// its links stay down, wherever the hub runs, until the customer
	// re-enables it.
	Shut        string      `json:"shut,omitempty"`
	RoutePolicy RoutePolicy `json:"route_policy"`
	L2Guard     *L2Guard    `json:"l2_guard,omitempty"`
	Firewall    *Firewall   `json:"firewall,omitempty"`
	NAPT        []NAPT      `json:"napt"`
}

// Leg is a physical attachment: an interface of this node and a VLAN (0 =
// untagged).
type Leg struct {
	Role      string `json:"role"` // primary | secondary
	Interface string `json:"interface"`
	VLAN      int    `json:"vlan"`
}

// Session is one BGP session of a port.
type Session struct {
	Name         string `json:"name"` // primary | secondary | single
	LocalAddress string `json:"local_address"`
	PeerAddress  string `json:"peer_address"`
	PrefixLength int    `json:"prefix_length"`
	PeerASN      uint32 `json:"peer_asn"`
	MD5          string `json:"md5,omitempty"`
	BFD          bool   `json:"bfd,omitempty"`
	ImportLimit  int    `json:"import_limit"`
}

// RoutePolicy is what the hub advertises on the port. Type "All" (on-premises
// ports) advertises every route; the others as in the service model, with
// Prefixes spelled out (DefaultRoute: 0.0.0.0/0; AggregateRFC1918: the three
// aggregates, each advertised only while a matching or longer route exists).
type RoutePolicy struct {
	Type     string   `json:"type"`
	Prefixes []string `json:"prefixes"`
}

// L2Guard mirrors the on-premises port's layer-2 guards.
type L2Guard struct {
	BPDUGuard         bool `json:"bpdu_guard"`
	StormControlPPS   int  `json:"storm_control_pps"`
	FlapLimit         int  `json:"flap_limit"`
	FlapWindowSeconds int  `json:"flap_window_seconds"`
	MACLimit          int  `json:"mac_limit"`
	MACAgeingSeconds  int  `json:"mac_ageing_seconds"`
	MTU               int  `json:"mtu"`
}

// Firewall is a port's policy with objects expanded; the final action is
// always drop.
type Firewall struct {
	Mode          string `json:"mode"`
	Rules         []Rule `json:"rules"`
	DefaultAction string `json:"default_action"`
}

// Rule is an expanded rule: prefixes and services, no object names.
type Rule struct {
	Index        int       `json:"index"`
	Action       string    `json:"action"`
	Sources      []string  `json:"sources"`
	Destinations []string  `json:"destinations"`
	Services     []Service `json:"services"` // empty = any
	Log          bool      `json:"log"`
}

// Service is a protocol with ports ("" for icmp and any).
type Service struct {
	Protocol string `json:"protocol"`
	Ports    string `json:"ports,omitempty"`
}

// NAPT is one grade with its public prefix.
type NAPT struct {
	Sessions     int    `json:"sessions"`
	PublicPrefix string `json:"public_prefix"`
}

// StaticNAT maps a public address to an inside one. The table is the
// customer's, shared by its main, sub and backup hubs.
type StaticNAT struct {
	Public   string `json:"public"`
	Inside   string `json:"inside"`
	PortCode string `json:"port_code"`
}

// emptyGeneration is how the encoding with an empty generation begins; the
// field order of State fixes it.
var emptyGeneration = []byte("{\n  \"schema\": \"" + Schema + "\",\n  \"generation\": \"\",")

// Encode sets s.Generation and returns the canonical encoding. The document
// is encoded once: the hash is taken over the encoding with an empty
// generation, which is then written into that same place.
func Encode(s *State) ([]byte, error) {
	schema := s.Schema
	s.Generation = ""
	b, err := marshal(s)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	s.Generation = hex.EncodeToString(sum[:])
	if schema != Schema || !bytes.HasPrefix(b, emptyGeneration) {
		return marshal(s) // not the canonical prefix (a foreign schema): encode again
	}
	at := len(emptyGeneration) - 2 // between the quotes
	out := make([]byte, 0, len(b)+len(s.Generation))
	out = append(out, b[:at]...)
	out = append(out, s.Generation...)
	return append(out, b[at:]...), nil
}

func marshal(s *State) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// MaxDocument bounds what Decode reads.
const MaxDocument = 64 << 20

// Decode reads a document strictly (unknown fields refused), checks it, and
// verifies its generation.
func Decode(b []byte) (State, error) {
	if len(b) > MaxDocument {
		return State{}, errors.New("desired state: document too large")
	}
	var s State
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return State{}, fmt.Errorf("desired state: %w", err)
	}
	if dec.More() {
		return State{}, errors.New("desired state: trailing data")
	}
	if err := s.Check(); err != nil {
		return State{}, err
	}
	gen := s.Generation
	c := s
	if _, err := Encode(&c); err != nil {
		return State{}, err
	}
	if c.Generation != gen {
		return State{}, errors.New("desired state: generation does not match the content")
	}
	return s, nil
}

var (
	monRE  = regexp.MustCompile(`^mon_[a-z0-9]{1,64}$`)
	nsRE   = regexp.MustCompile(`^hub-[a-z0-9_]{1,40}$`)
	ifRE   = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._/-]{0,14}$`)
	codeRE = regexp.MustCompile(`^shc[0-9]{8}$`)
)

// Check validates what an agent relies on: names it will use as namespace
// and interface names, addresses and prefixes it will program, unique hubs
// and namespaces. A document failing Check is refused whole.
func (s State) Check() error {
	if s.Schema != Schema {
		return fmt.Errorf("desired state: schema %q, want %q", s.Schema, Schema)
	}
	if s.RouteLimit < 1 {
		return errors.New("desired state: route_limit must be positive")
	}
	seen := map[string]bool{}
	for i, h := range s.Hubs {
		at := fmt.Sprintf("hubs[%d]", i)
		if !nsRE.MatchString(h.Namespace) || seen[h.Namespace] {
			return fmt.Errorf("desired state: %s.namespace %q is invalid or repeated", at, h.Namespace)
		}
		seen[h.Namespace] = true
		for _, p := range []string{h.InternalNetwork, h.MonitoringNetwork} {
			if q, err := netip.ParsePrefix(p); err != nil || !q.Addr().Is4() || q.Masked() != q {
				return fmt.Errorf("desired state: %s: %q is not an IPv4 prefix", at, p)
			}
		}
		if h.Backbone.VNI == 0 || h.Backbone.VNI >= 1<<24 {
			return fmt.Errorf("desired state: %s.backbone.vni out of range", at)
		}
		if q, err := netip.ParsePrefix(h.Backbone.OverlayAddress); h.Backbone.OverlayAddress != "" && (err != nil || !q.Addr().Is4()) {
			return fmt.Errorf("desired state: %s.backbone.overlay_address %q", at, h.Backbone.OverlayAddress)
		}
		for _, a := range append([]string{h.Backbone.LocalUnderlay}, peerUnderlays(h.Backbone.Peers)...) {
			if ip, err := netip.ParseAddr(a); a != "" && (err != nil || !ip.Is4()) {
				return fmt.Errorf("desired state: %s.backbone: underlay %q is not an IPv4 address", at, a)
			}
		}
		for j, p := range h.Ports {
			pat := fmt.Sprintf("%s.ports[%d]", at, j)
			if !codeRE.MatchString(p.PortCode) {
				return fmt.Errorf("desired state: %s.port_code %q", pat, p.PortCode)
			}
			if p.SpeedMbps <= 0 || len(p.Legs) == 0 {
				return fmt.Errorf("desired state: %s needs a speed and a leg", pat)
			}
			if p.Shut != "" && ((p.Shut != "bpdu" && p.Shut != "flap" && p.Shut != "unknown") || p.Kind != "onprem") {
				return fmt.Errorf("desired state: %s: shut %q: want bpdu, flap or unknown, on an on-premises port", pat, p.Shut)
			}
			for _, l := range p.Legs {
				if !ifRE.MatchString(l.Interface) || l.VLAN < 0 || l.VLAN > 4094 {
					return fmt.Errorf("desired state: %s: interface %q vlan %d", pat, l.Interface, l.VLAN)
				}
			}
			for _, se := range p.Sessions {
				a, err1 := netip.ParseAddr(se.LocalAddress)
				b, err2 := netip.ParseAddr(se.PeerAddress)
				if err1 != nil || err2 != nil || !a.Is4() || !b.Is4() || se.PrefixLength < 8 || se.PrefixLength > 31 || se.PeerASN == 0 ||
					se.ImportLimit < 1 {
					return fmt.Errorf("desired state: %s: bad BGP session %q", pat, se.Name)
				}
			}
			for _, pr := range p.RoutePolicy.Prefixes {
				if q, err := netip.ParsePrefix(pr); err != nil || !q.Addr().Is4() {
					return fmt.Errorf("desired state: %s: route policy prefix %q", pat, pr)
				}
			}
			if p.Firewall != nil {
				for _, r := range p.Firewall.Rules {
					for _, pr := range append(append([]string{}, r.Sources...), r.Destinations...) {
						if q, err := netip.ParsePrefix(pr); err != nil || !q.Addr().Is4() {
							return fmt.Errorf("desired state: %s: firewall prefix %q", pat, pr)
						}
					}
					if r.Action != "accept" && r.Action != "drop" && r.Action != "reject" {
						return fmt.Errorf("desired state: %s: firewall action %q", pat, r.Action)
					}
				}
			}
			for _, n := range p.NAPT {
				if q, err := netip.ParsePrefix(n.PublicPrefix); err != nil || !q.Addr().Is4() {
					return fmt.Errorf("desired state: %s: NAPT prefix %q", pat, n.PublicPrefix)
				}
			}
		}
		if err := checkMonitors(at, h); err != nil {
			return err
		}
		for _, sn := range h.StaticNAT {
			a, err1 := netip.ParseAddr(sn.Public)
			b, err2 := netip.ParseAddr(sn.Inside)
			if err1 != nil || err2 != nil || !a.Is4() || !b.Is4() {
				return fmt.Errorf("desired state: %s: static NAT %q → %q", at, sn.Public, sn.Inside)
			}
		}
	}
	return nil
}

func peerUnderlays(ps []BackbonePeer) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.Underlay)
	}
	return out
}

// checkMonitors checks a hub's monitors: unique IDs in order, each on a
// port of the hub, an IPv4 target, a known probe and bounds kept.
func checkMonitors(at string, h Hub) error {
	ports := map[string]bool{}
	for _, p := range h.Ports {
		ports[p.PortCode] = true
	}
	prev := ""
	for i, m := range h.Monitors {
		mat := fmt.Sprintf("%s.monitors[%d]", at, i)
		if !monRE.MatchString(m.ID) || m.ID <= prev {
			return fmt.Errorf("desired state: %s.id %q is invalid, repeated or out of order", mat, m.ID)
		}
		prev = m.ID
		if !ports[m.PortCode] {
			return fmt.Errorf("desired state: %s: port %q is not a port of the hub", mat, m.PortCode)
		}
		if a, err := netip.ParseAddr(m.Target); err != nil || !a.Is4() {
			return fmt.Errorf("desired state: %s: target %q is not an IPv4 address", mat, m.Target)
		}
		switch {
		case m.Probe == "icmp" && m.TCPPort == 0:
		case m.Probe == "tcp" && m.TCPPort >= 1 && m.TCPPort <= 65535:
		default:
			return fmt.Errorf("desired state: %s: probe %q with tcp_port %d (icmp without a port, or tcp with one)", mat, m.Probe, m.TCPPort)
		}
		if m.IntervalSeconds < MinMonitorInterval || m.IntervalSeconds > MaxMonitorInterval || m.FailAfter < 1 || m.FailAfter > MaxFailAfter {
			return fmt.Errorf("desired state: %s: interval %d s (%d–%d) or fail_after %d (1–%d) out of bounds", mat,
				m.IntervalSeconds, MinMonitorInterval, MaxMonitorInterval, m.FailAfter, MaxFailAfter)
		}
	}
	return nil
}
