package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Hub is everything the data plane needs to realise one customer hub on this
// node. It is the package's input; the agent builds it from the node's
// desired-state document. Addresses are IPv4 only, as the service is.
type Hub struct {
	// ID names the hub on this node; the namespace is hub-<ID>.
	ID string `json:"id"`
	// LocalASN is the customer's AS number, shared by all its hubs.
	LocalASN uint32 `json:"local_asn"`
	// RouterID is the BIRD router ID (any IPv4 address unique among the
	// customer's hubs).
	RouterID netip.Addr `json:"router_id"`
	// InternalNetwork and MonitoringNetwork are the hub's own networks,
	// advertised to every port and refused on import from every port.
	InternalNetwork   netip.Prefix `json:"internal_network"`
	MonitoringNetwork netip.Prefix `json:"monitoring_network"`
	Ports             []Port       `json:"ports"`
	// Backbone joins the hub to this customer's hubs on other nodes.
	Backbone *Backbone `json:"backbone,omitempty"`
	// ImportLimit is the default per-session import limit (service: 2,000)
	// used by ports that do not set their own.
	ImportLimit int `json:"import_limit,omitempty"`
}

// DefaultImportLimit is the service's limit of routes accepted from a peer.
const DefaultImportLimit = 2000

// Port is one customer port: an interface moved into the hub namespace with
// one BGP session to its peer.
type Port struct {
	// Name is a short identifier of the port, used in BIRD protocol names and
	// nftables comments ([a-z0-9_], at most 20 characters).
	Name string `json:"name"`
	// PortCode and Session are the desired state's own keys of the port
	// (the customer's port code, the session single, primary or
	// secondary): what the agent reports the port's holds and sessions
	// under. The data plane only carries them.
	PortCode string `json:"port_code,omitempty"`
	Session  string `json:"session,omitempty"`
	// Interface is the device to move into the namespace (a VLAN
	// sub-interface or NIC in production, a veth in tests), or for a
	// redundant port the bridge the data plane creates over its legs.
	Interface string `json:"interface"`
	// Legs are a redundant port's primary and secondary links, in that
	// order: one logical connection over two physical ones. Both are moved
	// into the namespace as ports of the bridge Interface, isolated from
	// each other so the hub never forwards between them; the address,
	// session, filter and shaping are on the bridge. The customer's side
	// keeps one leg active at a time and the hub answers on the leg its
	// router is heard on; a leg that loses its carrier is dropped from the
	// bridge's forwarding at once.
	Legs []string `json:"legs,omitempty"`
	// Address is the hub side address with the link's prefix length.
	Address     netip.Prefix `json:"address"`
	PeerAddress netip.Addr   `json:"peer_address"`
	PeerASN     uint32       `json:"peer_asn"`
	MD5         string       `json:"md5,omitempty"`
	BFD         bool         `json:"bfd,omitempty"`
	// ImportLimit overrides Hub.ImportLimit when positive.
	ImportLimit int         `json:"import_limit,omitempty"`
	Policy      RoutePolicy `json:"policy"`
	// SpeedMbps is the contracted speed shaped on the port's egress; zero
	// means unshaped.
	SpeedMbps int             `json:"speed_mbps,omitempty"`
	Firewall  *FirewallPolicy `json:"firewall,omitempty"`
	NAPT      *NAPT           `json:"napt,omitempty"`
	StaticNAT []StaticNAT     `json:"static_nat,omitempty"`
	// L2Guard protects an on-premises port at layer 2, on its physical
	// device(s): the interface, or each leg of a redundant port.
	L2Guard *L2Guard `json:"l2_guard,omitempty"`
	// ReenableSeq is the customer's re-enable sequence of the port. A port
	// its guards shut stays down until the sequence exceeds the one
	// recorded when it was shut: re-enabling is a deliberate act, carried
	// by the desired state, so it survives agent restarts and is never
	// taken again by a later pass.
	ReenableSeq int64 `json:"reenable_seq,omitempty"`
	// HeldShut is the reason (ShutBPDU, ShutFlap, ShutUnknown) the controller holds the
	// port shut for, "" when it does not: the port's devices stay down
	// whatever this node recorded, so a hub rebuilt on another node does not
	// bring back a port the customer has not re-enabled.
	HeldShut string `json:"held_shut,omitempty"`
	// VLANs are the VLAN sub-interfaces among the port's devices (its
	// interface or legs) that the data plane creates on the node's
	// physical port before taking them: a customer's VLAN comes and goes
	// with its port, with nothing to provision on the node by hand.
	VLANs []VLANLink `json:"vlans,omitempty"`
	// BGPDisabled keeps the port's BGP session down: the controller holds
	// it stopped after the route limit tripped, until the customer
	// re-enables it — on any node that runs the hub.
	BGPDisabled bool `json:"bgp_disabled,omitempty"`
}

// VLANLink is a VLAN sub-interface Name with tag ID on the node's
// physical port Parent (802.1Q).
type VLANLink struct {
	Name   string `json:"name"`
	Parent string `json:"parent"`
	ID     int    `json:"id"`
}

// L2Guard are the layer-2 guards of an on-premises port. A zero field
// turns its guard off, except that MACAgeingSeconds is required with a
// MAC limit.
type L2Guard struct {
	// BPDUGuard shuts the port on the first BPDU it receives (frames to
	// 01:80:c2:00:00:00, dropped in any case while the guard is on).
	BPDUGuard bool `json:"bpdu_guard"`
	// StormControlPPS bounds the broadcast and multicast frames accepted
	// per second; the excess is dropped.
	StormControlPPS int `json:"storm_control_pps,omitempty"`
	// FlapLimit carrier losses within FlapWindowSeconds shut the port.
	FlapLimit         int `json:"flap_limit,omitempty"`
	FlapWindowSeconds int `json:"flap_window_seconds,omitempty"`
	// MACLimit is how many source MAC addresses the port admits; frames
	// from further addresses are dropped until one has been silent for
	// MACAgeingSeconds.
	MACLimit         int `json:"mac_limit,omitempty"`
	MACAgeingSeconds int `json:"mac_ageing_seconds,omitempty"`
	// MTU is set on the port's devices (and a redundant port's bridge).
	MTU int `json:"mtu,omitempty"`
}

// Limits of L2Guard values: what the kernel and nftables take, not the
// service's rules (the controller's business).
const (
	maxStormPPS   = 100_000_000
	maxFlapLimit  = 10_000
	maxFlapWindow = 86_400
	maxMACLimit   = 65_535
	maxMACAgeing  = 1_000_000
	minMTU        = 68 // IPv4's minimum
	maxMTU        = 65_535
)

// Validate refuses guard values the data plane cannot realise.
func (g L2Guard) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if g.StormControlPPS < 0 || g.StormControlPPS > maxStormPPS {
		bad("storm control %d pps: want 0 (off) to %d", g.StormControlPPS, maxStormPPS)
	}
	if g.FlapLimit < 0 || g.FlapLimit > maxFlapLimit {
		bad("flap limit %d: want 0 (off) to %d", g.FlapLimit, maxFlapLimit)
	} else if g.FlapLimit > 0 && (g.FlapWindowSeconds < 1 || g.FlapWindowSeconds > maxFlapWindow) {
		bad("flap window %d s: want 1 to %d with a flap limit", g.FlapWindowSeconds, maxFlapWindow)
	}
	if g.MACLimit < 0 || g.MACLimit > maxMACLimit {
		bad("MAC limit %d: want 0 (off) to %d", g.MACLimit, maxMACLimit)
	} else if g.MACLimit > 0 && (g.MACAgeingSeconds < 1 || g.MACAgeingSeconds > maxMACAgeing) {
		// Without ageing a customer who replaces a router would be locked
		// out for good.
		bad("MAC ageing %d s: want 1 to %d with a MAC limit", g.MACAgeingSeconds, maxMACAgeing)
	}
	if g.MTU != 0 && (g.MTU < minMTU || g.MTU > maxMTU) {
		bad("MTU %d: want 0 (unchanged) or %d to %d", g.MTU, minMTU, maxMTU)
	}
	return errors.Join(errs...)
}

// PolicyKind says which routes a port is sent.
type PolicyKind string

// Route policy kinds. All is what an on-premises port gets (every learned
// route); the other three are the service's cloud port policies.
const (
	PolicyAll              PolicyKind = "All"
	PolicyDefaultRoute     PolicyKind = "DefaultRoute"
	PolicyAggregateRFC1918 PolicyKind = "AggregateRFC1918"
	PolicyUserDefined      PolicyKind = "UserDefined"
)

// RoutePolicy is what the hub advertises on a port, besides the hub's own
// networks which every port is always sent.
type RoutePolicy struct {
	Kind     PolicyKind     `json:"kind"`
	Prefixes []netip.Prefix `json:"prefixes,omitempty"` // UserDefined only
}

// RFC1918 are the aggregates of the AggregateRFC1918 policy.
var RFC1918 = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
}

// FirewallPolicy filters the flows entering the hub through a port: ordered
// rules, first match wins, default deny. Stateful policies accept the
// packets of flows already accepted (conntrack) before the rules.
type FirewallPolicy struct {
	Stateful bool   `json:"stateful"`
	Rules    []Rule `json:"rules"`
}

// Action is what a matching rule does.
type Action string

// Rule actions.
const (
	Accept Action = "accept"
	Drop   Action = "drop"
	Reject Action = "reject"
)

// Rule is one firewall rule. Empty Sources or Destinations match any
// address; Protocol is tcp, udp, icmp or "" (any); Ports are destination
// ports or ranges ("443", "8000-8080") and need tcp or udp.
type Rule struct {
	// Index is the customer's own number of the rule this one comes from
	// (one customer rule expands into a rule per service). The data plane
	// does not use it; the agent reports the rules' counters by it.
	Index        int            `json:"index,omitempty"`
	Action       Action         `json:"action"`
	Sources      []netip.Prefix `json:"sources,omitempty"`
	Destinations []netip.Prefix `json:"destinations,omitempty"`
	Protocol     string         `json:"protocol,omitempty"`
	Ports        []string       `json:"ports,omitempty"`
	Log          bool           `json:"log,omitempty"`
}

// NAPT translates flows that inside hosts open toward the port's peer to
// the addresses of the public prefixes, one prefix per grade the customer
// bought. Every address of every prefix takes an equal share of the flows
// (a hash of the flow's inside source and destination addresses picks
// one), so a grade's share is its number of addresses, as the service
// sizes grades (30,000 sessions per address). The hub's own traffic is
// never translated, and flows the peer opens are not translated and are
// dropped unless a static NAT maps them.
type NAPT struct {
	Inside []netip.Prefix `json:"inside"`
	Public []netip.Prefix `json:"public"`
}

// MaxNAPTAddresses bounds the public addresses of one port's NAPT: eight
// grades of the data plane's largest prefix, /24.
const MaxNAPTAddresses = 8 * 256

// addresses lists every address of the public prefixes, in order.
func (n NAPT) addresses() []netip.Addr {
	var out []netip.Addr
	for _, p := range n.Public {
		a := p.Masked().Addr()
		for range 1 << (32 - p.Bits()) {
			out = append(out, a)
			a = a.Next()
		}
	}
	return out
}

// validate refuses a NAPT the data plane cannot realise: no inside or no
// public prefix, a public prefix outside /24–/32, or public prefixes that
// overlap (an address listed twice would take two shares).
func (n NAPT) validate() error {
	var errs []error
	if len(n.Inside) == 0 || len(n.Public) == 0 {
		errs = append(errs, errors.New("NAPT needs inside prefixes and at least one public prefix"))
	}
	for _, q := range n.Inside {
		if !validNet4(q) {
			errs = append(errs, fmt.Errorf("NAPT inside %v: want a masked IPv4 prefix", q))
		}
	}
	total := 0
	for i, q := range n.Public {
		if !validNet4(q) || q.Bits() < 24 {
			errs = append(errs, fmt.Errorf("NAPT public %v: want a masked IPv4 prefix of /24 to /32", q))
			continue
		}
		total += 1 << (32 - q.Bits())
		for _, o := range n.Public[:i] {
			if o.IsValid() && o.Overlaps(q) {
				errs = append(errs, fmt.Errorf("NAPT public %v overlaps %v", q, o))
			}
		}
	}
	if total > MaxNAPTAddresses {
		errs = append(errs, fmt.Errorf("NAPT public prefixes hold %d addresses: at most %d", total, MaxNAPTAddresses))
	}
	return errors.Join(errs...)
}

// StaticNAT maps one public address 1:1 to one inside address on a port,
// both directions.
type StaticNAT struct {
	Inside netip.Addr `json:"inside"`
	Public netip.Addr `json:"public"`
}

// Backbone disaster-recovery roles, most preferred first.
const (
	DRMain   = "main"
	DRSub    = "sub"
	DRBackup = "backup"
)

// Backbone is the hub's place on its customer's backbone segment: one
// VXLAN device on the customer's VNI whose broadcast and unknown traffic is
// sent to every peer hub's node (head-end replication; unicast follows the
// addresses the device learns), and one iBGP session per peer hub. Peers
// come and go as entries of the device's flood list: the device, and the
// sessions to the other peers, stay as they are.
type Backbone struct {
	VNI uint32 `json:"vni"`
	// Device is the VXLAN device in the namespace (at most 15 characters).
	Device string `json:"device"`
	// LocalUnderlay is this node's address carrying the VXLAN packets.
	LocalUnderlay netip.Addr `json:"local_underlay"`
	// Address is this hub's address on the segment, with its length.
	Address netip.Prefix `json:"address"`
	// LocalPreference is this hub's DR role as a BGP local preference
	// (the service: main 300, sub 200, backup 100), given to every route
	// it learns from a port and carried to the peers with it.
	LocalPreference int            `json:"local_preference"`
	Peers           []BackbonePeer `json:"peers"`
}

// BackbonePeer is one of the customer's hubs on another node.
type BackbonePeer struct {
	Name string `json:"name"`
	// RemoteUnderlay is the peer's node address.
	RemoteUnderlay netip.Addr `json:"remote_underlay"`
	// Neighbor is the peer hub's address on the segment.
	Neighbor netip.Addr `json:"neighbor"`
	// DR is the peer hub's role (main, sub, backup), for the record:
	// preference comes with each route.
	DR string `json:"dr"`
}

// backbonePeers are the hub's peer hubs, none without a backbone.
func backbonePeers(h Hub) []BackbonePeer {
	if h.Backbone == nil {
		return nil
	}
	return h.Backbone.Peers
}

// Namespace is the name of the hub's network namespace.
func (h Hub) Namespace() string { return NamespacePrefix + h.ID }

// NamespacePrefix starts the name of every namespace this package owns.
const NamespacePrefix = "hub-"

var (
	hubIDRe    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,30}$`)
	portNameRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,19}$`)
	ifNameRe   = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)
	portSpecRe = regexp.MustCompile(`^[0-9]{1,5}(-[0-9]{1,5})?$`)
	md5Re      = regexp.MustCompile(`^[\x21-\x7e]{1,80}$`)
)

// Validate refuses a hub the data plane cannot realise faithfully. It
// checks only what the kernel and BIRD need; service rules (prefix lengths
// a customer may buy, grades) are the controller's business.
func (h Hub) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if !hubIDRe.MatchString(h.ID) {
		bad("hub id %q: want [a-z0-9-], at most 31 characters", h.ID)
	}
	if h.LocalASN == 0 {
		bad("local ASN missing")
	}
	if !h.RouterID.Is4() {
		bad("router id %v: want an IPv4 address", h.RouterID)
	}
	for _, n := range []struct {
		what string
		p    netip.Prefix
	}{{"internal network", h.InternalNetwork}, {"monitoring network", h.MonitoringNetwork}} {
		if !n.p.IsValid() || !n.p.Addr().Is4() || n.p.Masked() != n.p || n.p.Bits() > 30 {
			bad("%s %v: want an IPv4 network of /30 or shorter", n.what, n.p)
		}
	}
	names := map[string]bool{}
	ifaces := map[string]bool{}
	for i, p := range h.Ports {
		where := fmt.Sprintf("port %d (%s)", i, p.Name)
		if !portNameRe.MatchString(p.Name) {
			bad("%s: name: want [a-z][a-z0-9_], at most 20 characters", where)
		}
		if names[p.Name] {
			bad("%s: duplicate name", where)
		}
		names[p.Name] = true
		if !ifNameRe.MatchString(p.Interface) || p.Interface == "lo" {
			bad("%s: interface %q is not a valid device name", where, p.Interface)
		}
		if ifaces[p.Interface] {
			bad("%s: interface %q used twice", where, p.Interface)
		}
		ifaces[p.Interface] = true
		if len(p.Legs) != 0 && len(p.Legs) != 2 {
			bad("%s: %d legs: a redundant port has a primary and a secondary", where, len(p.Legs))
		}
		for _, l := range p.Legs {
			if !ifNameRe.MatchString(l) || l == "lo" || ifaces[l] {
				bad("%s: leg %q is not a valid device name or is used twice", where, l)
			}
			ifaces[l] = true
		}
		if !p.Address.Addr().Is4() || p.Address.Bits() < 8 || p.Address.Bits() > 31 {
			bad("%s: address %v: want IPv4 with a /8 to /31 link", where, p.Address)
		} else if !p.PeerAddress.Is4() || !p.Address.Masked().Contains(p.PeerAddress) || p.PeerAddress == p.Address.Addr() {
			bad("%s: peer %v is not another address of %v", where, p.PeerAddress, p.Address.Masked())
		}
		if p.PeerASN == 0 {
			bad("%s: peer ASN missing", where)
		}
		if p.MD5 != "" && (!md5Re.MatchString(p.MD5) || strings.ContainsAny(p.MD5, `"\`)) {
			bad("%s: MD5 password: printable ASCII without quotes or backslashes, at most 80", where)
		}
		if p.ImportLimit < 0 || p.SpeedMbps < 0 || p.SpeedMbps > 100_000 {
			bad("%s: negative import limit or speed out of range", where)
		}
		switch p.Policy.Kind {
		case PolicyAll, PolicyDefaultRoute, PolicyAggregateRFC1918:
			if len(p.Policy.Prefixes) > 0 {
				bad("%s: prefixes given for policy %s", where, p.Policy.Kind)
			}
		case PolicyUserDefined:
			if len(p.Policy.Prefixes) == 0 {
				bad("%s: UserDefined policy with no prefixes", where)
			}
			for _, q := range p.Policy.Prefixes {
				if !validNet4(q) {
					bad("%s: user prefix %v: want a masked IPv4 prefix", where, q)
				}
			}
		default:
			bad("%s: unknown route policy %q", where, p.Policy.Kind)
		}
		if p.Firewall != nil {
			for j, r := range p.Firewall.Rules {
				if err := r.validate(); err != nil {
					bad("%s: rule %d: %w", where, j, err)
				}
			}
		}
		if p.NAPT != nil {
			if err := p.NAPT.validate(); err != nil {
				bad("%s: %w", where, err)
			}
		}
		for _, s := range p.StaticNAT {
			if !s.Inside.Is4() || !s.Public.Is4() {
				bad("%s: static NAT %v↔%v: want IPv4 addresses", where, s.Inside, s.Public)
			}
		}
		if p.L2Guard != nil {
			if err := p.L2Guard.Validate(); err != nil {
				bad("%s: layer-2 guard: %w", where, err)
			}
		}
		if p.ReenableSeq < 0 {
			bad("%s: negative re-enable sequence", where)
		}
		for _, v := range p.VLANs {
			if !slices.Contains(takes(p), v.Name) || !ifNameRe.MatchString(v.Parent) || v.Parent == v.Name || v.ID < 1 || v.ID > 4094 {
				bad("%s: VLAN %s: want one of the port's devices on another device, tag 1-4094", where, v.Name)
			}
		}
		if p.HeldShut != "" && p.HeldShut != ShutBPDU && p.HeldShut != ShutFlap && p.HeldShut != ShutUnknown {
			bad("%s: held shut for %q: want %s, %s or %s", where, p.HeldShut, ShutBPDU, ShutFlap, ShutUnknown)
		}
	}
	if b := h.Backbone; b != nil {
		if !ifNameRe.MatchString(b.Device) || ifaces[b.Device] {
			bad("backbone: device %q invalid or used by a port", b.Device)
		}
		if b.VNI == 0 || b.VNI >= 1<<24 {
			bad("backbone: VNI %d out of range", b.VNI)
		}
		if !b.LocalUnderlay.Is4() || !b.Address.Addr().Is4() || b.Address.Bits() < 8 || b.Address.Bits() > 30 {
			bad("backbone: underlay %v or segment address %v invalid", b.LocalUnderlay, b.Address)
		}
		if len(b.Peers) == 0 {
			bad("backbone: no peer hubs")
		}
		if b.LocalPreference < 1 || b.LocalPreference > 1_000_000 {
			bad("backbone: local preference %d out of range", b.LocalPreference)
		}
		remotes := map[netip.Addr]bool{}
		for i, p := range b.Peers {
			where := fmt.Sprintf("backbone peer %d (%s)", i, p.Name)
			if !portNameRe.MatchString(p.Name) || names[p.Name] {
				bad("%s: name invalid or used twice", where)
			}
			names[p.Name] = true
			if !p.RemoteUnderlay.Is4() || p.RemoteUnderlay == b.LocalUnderlay || remotes[p.RemoteUnderlay] {
				bad("%s: underlay %v: want another node's IPv4 address, one per peer", where, p.RemoteUnderlay)
			}
			remotes[p.RemoteUnderlay] = true
			if !b.Address.Masked().Contains(p.Neighbor) || p.Neighbor == b.Address.Addr() {
				bad("%s: neighbor %v is not another address of %v", where, p.Neighbor, b.Address.Masked())
			}
			if !slices.Contains([]string{DRMain, DRSub, DRBackup}, p.DR) {
				bad("%s: DR role %q: want main, sub or backup", where, p.DR)
			}
		}
	}
	return errors.Join(errs...)
}

func validNet4(p netip.Prefix) bool {
	return p.IsValid() && p.Addr().Is4() && p.Masked() == p
}

func (r Rule) validate() error {
	switch r.Action {
	case Accept, Drop, Reject:
	default:
		return fmt.Errorf("action %q: want accept, drop or reject", r.Action)
	}
	for _, p := range append(slices.Clone(r.Sources), r.Destinations...) {
		if !validNet4(p) {
			return fmt.Errorf("prefix %v: want a masked IPv4 prefix", p)
		}
	}
	switch r.Protocol {
	case "", "icmp":
		if len(r.Ports) > 0 {
			return errors.New("ports need protocol tcp or udp")
		}
	case "tcp", "udp":
	default:
		return fmt.Errorf("protocol %q: want tcp, udp, icmp or empty", r.Protocol)
	}
	for _, s := range r.Ports {
		lo, hi, isRange := strings.Cut(s, "-")
		if !isRange {
			hi = lo
		}
		a, errA := strconv.Atoi(lo)
		b, errB := strconv.Atoi(hi)
		if !portSpecRe.MatchString(s) || errA != nil || errB != nil || a < 1 || b > 65535 || a > b {
			return fmt.Errorf("port %q: want N or N-M within 1-65535", s)
		}
	}
	return nil
}

// importLimit is the port's effective import limit.
// SessionImportLimit is the route limit BIRD enforces on port p's session:
// the port's own, else the hub's, else the service's default.
func (h Hub) SessionImportLimit(p Port) int { return h.importLimit(p) }

func (h Hub) importLimit(p Port) int {
	switch {
	case p.ImportLimit > 0:
		return p.ImportLimit
	case h.ImportLimit > 0:
		return h.ImportLimit
	}
	return DefaultImportLimit
}
