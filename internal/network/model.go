// Package network is the hub service model: a customer's saved data (hub
// networks, port connections, BGP and route policy, firewall, NAPT and static
// NAT) with its validation rules; the reviewed edit workflow (edit lock, draft,
// review with a risk level, apply into immutable numbered versions, rollback);
// the operator's placement of customer ports on physical ports with admission
// control, bandwidth change requests and the capacity report (ISO/IEC 27017
// 12.1.3, CLD.13.1.4, 14.2.1); and the desired-state document per hub node
// that the agent converges to.
//
// The saved data (Config) is one JSON document per customer and version. What
// the customer bought — hubs, ports, their kind and speed, options — comes from
// the catalog and is the Facts a Config is validated against. Operator data
// (placements, NAT pools and allocations, bandwidth changes, BGP session
// state) lives in tables of its own, apart from the saved data (8.1.1).
package network

import (
	"net/netip"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
)

// Config is a customer's saved data: the configuration of its hub functions.
// It is the unit of a draft and of a version. Lists are kept in a canonical
// order (Normalize) so that equal configurations encode to equal bytes.
type Config struct {
	// ASN is the BGP AS number of all the customer's hubs (one DR group);
	// left out, it is the deployment's default (Normalize).
	ASN     ASN          `json:"asn,omitempty"`
	Hubs    []HubConfig  `json:"hubs"`
	Ports   []PortConfig `json:"ports"`
	Objects Objects      `json:"objects"`
}

// HubConfig holds a hub's own networks, always advertised to every port.
type HubConfig struct {
	HubID             catalog.HubID `json:"hub_id"`
	InternalNetwork   string        `json:"internal_network"`
	MonitoringNetwork string        `json:"monitoring_network"`
}

// PortConfig is the configuration of one contracted port. A port of the
// catalog with no PortConfig is not configured yet: it carries no traffic.
type PortConfig struct {
	PortCode  string            `json:"port_code"`
	OnPrem    *OnPremConnection `json:"onprem,omitempty"`
	Cloud     *CloudConnection  `json:"cloud,omitempty"`
	Firewall  *Firewall         `json:"firewall,omitempty"`
	NAPT      []NAPTGrade       `json:"napt,omitempty"`
	StaticNAT []StaticNAT       `json:"static_nat,omitempty"`
}

// OnPremConnection is the one logical IPv4 connection of an on-premises port.
type OnPremConnection struct {
	HubAddress      string `json:"hub_address"`
	CustomerAddress string `json:"customer_address"`
	PrefixLength    int    `json:"prefix_length"` // 30 or 29
	PeerASN         ASN    `json:"peer_asn"`
	MD5             string `json:"md5,omitempty"`
	// BFD asks for Bidirectional Forwarding Detection on the session, for
	// failure detection in about a second instead of the BGP hold time.
	BFD     bool    `json:"bfd,omitempty"`
	L2Guard L2Guard `json:"l2_guard"`
}

// L2Guard records the layer-2 protections of an on-premises port. BPDU guard,
// the MAC ageing time and the MTU are service constants; the customer may
// lower the MAC limit and tune storm control and flap detection. A value
// left out takes the service default; an explicit 0 is refused (Tunable),
// and so is an explicit bpdu_guard false: nothing given is silently replaced.
type L2Guard struct {
	BPDUGuard         *bool   `json:"bpdu_guard,omitempty"`          // a BPDU shuts the port; no automatic recovery; always on (left out: on)
	StormControlPPS   Tunable `json:"storm_control_pps,omitempty"`   // broadcast+multicast packets/s above which they are dropped
	FlapLimit         Tunable `json:"flap_limit,omitempty"`          // link flaps within FlapWindowSeconds that shut the port
	FlapWindowSeconds Tunable `json:"flap_window_seconds,omitempty"` //
	MACLimit          Tunable `json:"mac_limit,omitempty"`           // at most 5 learned MAC addresses
	MACAgeingSeconds  Tunable `json:"mac_ageing_seconds,omitempty"`  // 2,400
	MTU               Tunable `json:"mtu,omitempty"`                 // 1,500
}

// Equal reports whether g and o set the same guards (bpdu_guard by value:
// it is a pointer only so that "left out" and "false" differ in input).
func (g L2Guard) Equal(o L2Guard) bool {
	on := func(b *bool) bool { return b == nil || *b }
	gb, ob := on(g.BPDUGuard), on(o.BPDUGuard)
	g.BPDUGuard, o.BPDUGuard = nil, nil
	return gb == ob && g == o
}

// Service constants and defaults of the layer-2 guards.
const (
	MaxMACLimit        = 5
	MACAgeingSeconds   = 2400
	OnPremMTU          = 1500
	DefaultStormPPS    = 1000
	DefaultFlapLimit   = 5
	DefaultFlapWindowS = 60
)

// CloudConnection is a cloud port's connection as the provider assigns it.
type CloudConnection struct {
	VLAN        int         `json:"vlan"`
	PeerASN     ASN         `json:"peer_asn"`
	MD5         string      `json:"md5,omitempty"`
	BFD         bool        `json:"bfd,omitempty"` // on both sessions, as for on-premises ports
	Primary     Link        `json:"primary"`
	Secondary   Link        `json:"secondary"`
	RoutePolicy RoutePolicy `json:"route_policy"`
}

// Link is one BGP link of a cloud port (providers give a redundant pair).
type Link struct {
	HubAddress   string `json:"hub_address"`
	PeerAddress  string `json:"peer_address"`
	PrefixLength int    `json:"prefix_length"`
}

// Route policy types toward a cloud port.
const (
	PolicyDefaultRoute     = "DefaultRoute"
	PolicyAggregateRFC1918 = "AggregateRFC1918"
	PolicyUserDefined      = "UserDefined"
)

// MaxUserPrefixes bounds a UserDefined route policy.
const MaxUserPrefixes = 100

// RoutePolicy says what the hub advertises to a cloud port.
type RoutePolicy struct {
	Type     string   `json:"type"`
	Prefixes []string `json:"prefixes,omitempty"` // UserDefined only
}

// Firewall is a port's policy: ordered rules, first match wins, and an
// implicit final deny.
type Firewall struct {
	Mode  string `json:"mode"` // stateful | stateless
	Rules []Rule `json:"rules"`
}

// MaxRules bounds one firewall policy.
const MaxRules = 500

// Rule is one firewall rule. Sources and destinations name address objects
// ("any" matches everything); services and applications name service and
// application objects, and both empty means any service.
type Rule struct {
	Action       string   `json:"action"` // accept | drop | reject
	Sources      []string `json:"sources"`
	Destinations []string `json:"destinations"`
	Services     []string `json:"services,omitempty"`
	Applications []string `json:"applications,omitempty"`
	Log          bool     `json:"log"`
	Comment      string   `json:"comment,omitempty"`
}

// Objects are the customer's named firewall objects, shared by all its ports.
type Objects struct {
	Addresses    []AddressObject     `json:"addresses"`
	Services     []ServiceObject     `json:"services"`
	Applications []ApplicationObject `json:"applications"`
}

// AddressObject is a named list of IPv4 prefixes.
type AddressObject struct {
	Name     string   `json:"name"`
	Prefixes []string `json:"prefixes"`
}

// ServiceObject is a protocol with ports, e.g. tcp "80,443,8000-8080".
type ServiceObject struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol"` // tcp | udp | icmp | any
	Ports    string `json:"ports,omitempty"`
}

// ApplicationObject is a named group of service objects (e.g. "web").
type ApplicationObject struct {
	Name     string   `json:"name"`
	Services []string `json:"services"`
}

// NAPTGrade is one NAPT grade bought for a public cloud port.
type NAPTGrade struct {
	Sessions int `json:"sessions"` // 30000 | 60000 | 120000 | 240000 | 480000
}

// NAPTGrades maps the session count of a grade to the length of the public
// prefix it uses.
var NAPTGrades = map[int]int{30_000: 32, 60_000: 31, 120_000: 30, 240_000: 29, 480_000: 28}

// NAPT grade count bounds per port.
const (
	MinNAPTGrades = 1
	MaxNAPTGrades = 8
)

// StaticNAT maps one bought public /32 to an inside address the customer
// chooses; the public address is allocated by the system.
type StaticNAT struct {
	Inside string `json:"inside"`
}

// Facts are what the catalog and the operator say about a customer: the
// hubs and ports it bought and the options on its contracts. A Config is
// valid only against its Facts.
type Facts struct {
	CustomerID catalog.CustomerID
	Hubs       []HubFact
	Ports      []PortFact
	Options    map[string]int64 // summed over the customer's active contracts
	// RemovedHubs are the hubs the operator removed (ending.go): a
	// configuration of one, kept in an older version, is dropped.
	RemovedHubs []catalog.HubID
}

// HubFact is a hub as bought.
type HubFact struct {
	ID       catalog.HubID
	Region   string
	Priority string
}

// PortFact is a port as bought.
type PortFact struct {
	Code      string
	HubID     catalog.HubID
	Kind      string
	SpeedMbps int64
	Redundant bool
	Active    bool
}

// Settings are the deployment's choices for the service model.
type Settings struct {
	// RouteLimit is the maximum number of prefixes accepted from one BGP
	// peer; exceeding it stops that session until the customer re-enables it.
	RouteLimit int
	// DefaultASN is the hub ASN a customer starts with.
	DefaultASN uint32
	// RegionPools give each region the pool its hubs' default internal and
	// monitoring networks are drawn from; DefaultPool serves other regions.
	RegionPools map[string]netip.Prefix
	DefaultPool netip.Prefix
	// LockIdle is how long an edit lock survives without activity.
	LockIdle time.Duration
	// CapacityThreshold flags physical ports for augmentation (0.70 = 70 %).
	CapacityThreshold float64
	// ForecastDays is the horizon of the capacity forecast.
	ForecastDays int
	// BackboneOverlay is the subnet of every customer's VXLAN backbone
	// segment (each customer's is isolated by its VNI, so all share the
	// range); a hub's address in it follows its DR priority. Customers
	// cannot use it in their own address plan.
	BackboneOverlay netip.Prefix
}

// DefaultSettings are the documented defaults.
var DefaultSettings = Settings{
	RouteLimit:        2000,
	DefaultASN:        64600,
	RegionPools:       map[string]netip.Prefix{},
	DefaultPool:       netip.MustParsePrefix("100.64.0.0/16"),
	LockIdle:          30 * time.Minute,
	CapacityThreshold: 0.70,
	ForecastDays:      90,
	BackboneOverlay:   netip.MustParsePrefix("169.254.255.248/29"),
}

// isPublicKind reports whether a port kind is a public cloud port, where a
// firewall and NAPT are mandatory and NAT is available.
func isPublicKind(kind string) bool {
	return kind == "a-public" || kind == "m-public" || kind == "m2-public"
}

func isCloudKind(kind string) bool { return kind != "onprem" }
