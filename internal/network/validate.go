package network

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/text"
)

// Problem is one broken rule, named by the JSON path of the offending field.
type Problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Problems is the result of validation; empty means valid.
type Problems []Problem

func (ps *Problems) add(field, format string, args ...any) {
	*ps = append(*ps, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err is nil for no problems, else a field fault naming the first problem
// (and how many more there are; a review lists them all).
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	msg := ps[0].Message
	switch n := len(ps) - 1; {
	case n == 1:
		msg += " (and 1 more problem; the review lists them all)"
	case n > 1:
		msg += fmt.Sprintf(" (and %d more problems; the review lists them all)", n)
	}
	return fault.Field(ps[0].Field, "%s", msg)
}

// listPath matches the list elements that Normalize reorders, wherever a
// path to one appears (a problem's field, or another field quoted in its
// message).
var listPath = regexp.MustCompile(`\b(hubs|ports|objects\.addresses|objects\.services|objects\.applications)\[(\d+)\]`)

// Remap rewrites the list indexes in ps from a normalized configuration's
// order to the order the client sent (o from normalize). An element that
// Normalize added is named by its list alone.
func (ps Problems) Remap(o Origin) Problems {
	lists := map[string][]int{"hubs": o.Hubs, "ports": o.Ports, "objects.addresses": o.Addresses,
		"objects.services": o.Services, "objects.applications": o.Applications}
	fix := func(s string) string {
		return listPath.ReplaceAllStringFunc(s, func(m string) string {
			sub := listPath.FindStringSubmatch(m)
			i, err := strconv.Atoi(sub[2])
			org := lists[sub[1]]
			if err != nil || i >= len(org) {
				return m
			}
			if org[i] < 0 {
				return sub[1]
			}
			return sub[1] + "[" + strconv.Itoa(org[i]) + "]"
		})
	}
	out := make(Problems, len(ps))
	for i, p := range ps {
		out[i] = Problem{Field: fix(p.Field), Message: fix(p.Message)}
	}
	return out
}

// Within names the fields of the problems in the list element elem (e.g.
// "ports[1]") relative to it, for an endpoint whose body is that element
// alone; problems elsewhere in the configuration keep their whole path.
func (ps Problems) Within(elem string) Problems {
	out := make(Problems, len(ps))
	for i, p := range ps {
		if rest, ok := strings.CutPrefix(p.Field, elem+"."); ok {
			p.Field = rest
		}
		out[i] = p
	}
	return out
}

var (
	objectNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	// Addresses that are never valid anywhere in a customer configuration.
	bogons = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"), netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("224.0.0.0/4"), netip.MustParsePrefix("240.0.0.0/4"),
	}
	linkLocal = netip.MustParsePrefix("169.254.0.0/16")
	// Not public: RFC 1918, shared address space, link-local, bogons.
	nonPublic = append([]netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("100.64.0.0/10"), linkLocal,
	}, bogons...)
)

func inAny(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func overlapsAny(p netip.Prefix, ps []netip.Prefix) bool {
	for _, q := range ps {
		if q.Overlaps(p) {
			return true
		}
	}
	return false
}

// ASNProblem says why an AS number cannot be used, or "" when it can: 0,
// AS_TRANS, the documentation ranges, 65535 and the reserved 65552–131071
// and 4294967295 (RFC 7607, 6793, 5398, 7300, IANA).
func ASNProblem(asn uint32) string {
	switch {
	case asn == 0:
		return "AS 0 is reserved"
	case asn == 23456:
		return "AS 23456 is AS_TRANS and reserved"
	case asn >= 64496 && asn <= 64511, asn >= 65536 && asn <= 65551:
		return fmt.Sprintf("AS %d is reserved for documentation", asn)
	case asn == 65535, asn >= 65552 && asn <= 131071, asn == 4294967295:
		return fmt.Sprintf("AS %d is reserved", asn)
	}
	return ""
}

// IsPrivateASN reports whether asn is in a private-use range (RFC 6996).
func IsPrivateASN(asn uint32) bool {
	return (asn >= 64512 && asn <= 65534) || (asn >= 4200000000 && asn <= 4294967294)
}

// providerRule is what a cloud provider requires of a cloud port's
// connection, per port kind.
type providerRule struct {
	provider  string
	lengths   []int             // allowed link prefix lengths
	linkLocal bool              // link addresses must be in 169.254.0.0/16 (AWS private VIF)
	public    bool              // link addresses must be public
	azure     bool              // hub = first usable address, peer = second (Azure convention)
	peerASN   func(uint32) bool // the provider side's ASN
	asnText   string            // what peerASN accepts, for the message
}

var providerRules = map[string]providerRule{
	"a-private": {provider: "AWS", lengths: []int{30, 29}, linkLocal: true, peerASN: IsPrivateASN,
		asnText: "a private ASN (64512–65534 or 4200000000–4294967294), the Amazon-side ASN of the virtual private gateway"},
	"a-public": {provider: "AWS", lengths: []int{30, 31}, public: true,
		peerASN: func(a uint32) bool { return a == 7224 || a == 16509 }, asnText: "7224 or 16509 (Amazon)"},
	"m-private": {provider: "Azure", lengths: []int{30}, azure: true,
		peerASN: func(a uint32) bool { return a == 12076 }, asnText: "12076 (Microsoft)"},
	"m-public": {provider: "Azure", lengths: []int{30}, azure: true, public: true,
		peerASN: func(a uint32) bool { return a == 12076 }, asnText: "12076 (Microsoft)"},
	"m2-public": {provider: "Azure Peering Service", lengths: []int{30}, azure: true, public: true,
		peerASN: func(a uint32) bool { return a == 8075 }, asnText: "8075 (Microsoft)"},
}

// netPrefix is a prefix the customer's address plan occupies, with the field
// that put it there; two of them must never overlap within one customer.
type netPrefix struct {
	p     netip.Prefix
	field string
}

type validator struct {
	facts    Facts
	cfg      Config
	settings Settings
	ps       Problems
	plan     []netPrefix
	hubs     map[catalog.HubID]HubFact
	ports    map[string]PortFact
	addrs    map[string]bool
	services map[string]bool
	apps     map[string]bool
}

// Validate checks cfg against every rule of the service model and returns all
// problems found. It reads nothing but its arguments: another customer's
// configuration never makes this one invalid (tenants may overlap).
func Validate(f Facts, cfg Config, s Settings) Problems {
	v := &validator{facts: f, cfg: cfg, settings: s, hubs: map[catalog.HubID]HubFact{}, ports: map[string]PortFact{}}
	for _, h := range f.Hubs {
		v.hubs[h.ID] = h
	}
	for _, p := range f.Ports {
		v.ports[p.Code] = p
	}
	if msg := ASNProblem(uint32(cfg.ASN)); msg != "" {
		v.ps.add("asn", "%s", msg)
	}
	v.objects()
	v.hubConfigs()
	var napt, static int64
	seenInside := map[netip.Addr]string{}
	seen := map[string]bool{}
	for i, pc := range cfg.Ports {
		field := fmt.Sprintf("ports[%d]", i)
		pf, ok := v.ports[pc.PortCode]
		switch {
		case !ok:
			v.ps.add(field+".port_code", "no port %q in your contracts", pc.PortCode)
			continue
		case !pf.Active:
			v.ps.add(field+".port_code", "port %s is cancelled", pc.PortCode)
			continue
		case seen[pc.PortCode]:
			v.ps.add(field+".port_code", "port %s is configured twice", pc.PortCode)
			continue
		}
		seen[pc.PortCode] = true
		if allowed, ok := catalog.PortKinds[pf.Kind]; !ok || !slices.Contains(allowed, pf.SpeedMbps) {
			v.ps.add(field+".port_code", "port %s is contracted at %d Mb/s, which a %s port does not allow (%v); ask for a speed change",
				pc.PortCode, pf.SpeedMbps, pf.Kind, allowed)
		}
		v.port(field, pc, pf)
		napt += int64(len(pc.NAPT))
		static += int64(len(pc.StaticNAT))
		for j, sn := range pc.StaticNAT {
			a, err := ParseAddr(sn.Inside)
			f := fmt.Sprintf("%s.static_nat[%d].inside", field, j)
			if err != nil {
				v.ps.add(f, "%s", err)
				continue
			}
			if inAny(a, bogons) {
				v.ps.add(f, "%s cannot be an inside address", a)
				continue
			}
			if prev, dup := seenInside[a]; dup {
				v.ps.add(f, "%s already has a static NAT address (%s)", a, prev)
				continue
			}
			seenInside[a] = f
		}
	}
	if n := f.Options["napt-grade"]; napt > n {
		v.ps.add("ports", "%d NAPT grades are configured but %d are contracted (option napt-grade)", napt, n)
	}
	if n := f.Options["static-nat-address"]; static > n {
		v.ps.add("ports", "%d static NAT addresses are configured but %d are contracted (option static-nat-address)", static, n)
	}
	v.overlaps()
	return v.ps
}

func (v *validator) hubConfigs() {
	seen := map[catalog.HubID]bool{}
	for i, h := range v.cfg.Hubs {
		field := fmt.Sprintf("hubs[%d]", i)
		if _, ok := v.hubs[h.HubID]; !ok {
			v.ps.add(field+".hub_id", "no hub %q in your contracts", h.HubID)
			continue
		}
		if seen[h.HubID] {
			v.ps.add(field+".hub_id", "hub %s is configured twice", h.HubID)
			continue
		}
		seen[h.HubID] = true
		v.network(field+".internal_network", h.InternalNetwork, 16, 29)
		v.network(field+".monitoring_network", h.MonitoringNetwork, 24, 29)
	}
	for _, h := range v.facts.Hubs {
		if !seen[h.ID] {
			v.ps.add("hubs", "hub %s (%s) has no internal and monitoring network", h.ID, h.Region)
		}
	}
}

func (v *validator) network(field, s string, minLen, maxLen int) {
	p, err := ParsePrefix(s)
	if err != nil {
		v.ps.add(field, "%s", err)
		return
	}
	if p.Bits() < minLen || p.Bits() > maxLen {
		v.ps.add(field, "%s must be a /%d to /%d", s, minLen, maxLen)
		return
	}
	if overlapsAny(p, bogons) || linkLocal.Overlaps(p) {
		v.ps.add(field, "%s is a reserved range", s)
		return
	}
	v.plan = append(v.plan, netPrefix{p, field})
}

func (v *validator) port(field string, pc PortConfig, pf PortFact) {
	switch {
	case pf.Kind == "onprem" && (pc.OnPrem == nil || pc.Cloud != nil):
		v.ps.add(field+".onprem", "an on-premises port needs an onprem connection and no cloud connection")
		return
	case pf.Kind != "onprem" && (pc.Cloud == nil || pc.OnPrem != nil):
		v.ps.add(field+".cloud", "a %s cloud port needs a cloud connection and no onprem connection", pf.Kind)
		return
	}
	if pc.OnPrem != nil {
		v.onprem(field+".onprem", *pc.OnPrem)
	} else {
		v.cloud(field+".cloud", pf.Kind, *pc.Cloud)
	}
	if pc.Firewall != nil {
		v.firewall(field+".firewall", *pc.Firewall)
	}
	if isPublicKind(pf.Kind) {
		if pc.Firewall == nil {
			v.ps.add(field+".firewall", "a firewall policy is mandatory on a public cloud port")
		}
		switch n := len(pc.NAPT); {
		case n < MinNAPTGrades:
			v.ps.add(field+".napt", "NAPT cannot be removed from a public cloud port: keep 1 to %d grades", MaxNAPTGrades)
		case n > MaxNAPTGrades:
			v.ps.add(field+".napt", "%d NAPT grades: a port has 1 to %d", n, MaxNAPTGrades)
		}
		for j, g := range pc.NAPT {
			if _, ok := NAPTGrades[g.Sessions]; !ok {
				v.ps.add(fmt.Sprintf("%s.napt[%d].sessions", field, j), "a NAPT grade is 30000, 60000, 120000, 240000 or 480000 sessions")
			}
		}
	} else {
		if len(pc.NAPT) > 0 {
			v.ps.add(field+".napt", "NAPT is available on public cloud ports only")
		}
		if len(pc.StaticNAT) > 0 {
			v.ps.add(field+".static_nat", "static NAT is available on public cloud ports only")
		}
	}
}

func (v *validator) peerASN(field string, asn ASN) {
	if msg := ASNProblem(uint32(asn)); msg != "" {
		v.ps.add(field, "%s", msg)
	} else if asn == v.cfg.ASN {
		v.ps.add(field, "the peer ASN must differ from your hub ASN %d", v.cfg.ASN)
	}
}

func (v *validator) md5(field, s string) {
	if s == "" {
		return
	}
	if len(s) > 80 || !utf8.ValidString(s) {
		v.ps.add(field, "an MD5 password has at most 80 characters")
		return
	}
	for _, r := range s {
		if r <= 0x20 || r >= 0x7f || r == '"' || r == '\\' {
			v.ps.add(field, "an MD5 password uses printable ASCII without spaces, quotes or backslashes")
			return
		}
	}
}

// link checks a two-address point-to-point subnet and returns it.
func (v *validator) link(field, hub, peer string, length int, lengths []int, hubName, peerName string) (netip.Prefix, netip.Addr, netip.Addr, bool) {
	a, err := ParseAddr(hub)
	if err != nil {
		v.ps.add(field+"."+hubName, "%s", err)
		return netip.Prefix{}, a, a, false
	}
	b, err := ParseAddr(peer)
	if err != nil {
		v.ps.add(field+"."+peerName, "%s", err)
		return netip.Prefix{}, a, b, false
	}
	if !slices.Contains(lengths, length) {
		v.ps.add(field+".prefix_length", "prefix_length must be one of %v", lengths)
		return netip.Prefix{}, a, b, false
	}
	p := netip.PrefixFrom(a, length).Masked()
	switch {
	case a == b:
		v.ps.add(field+"."+peerName, "the two ends of a link need different addresses")
	case !p.Contains(b):
		v.ps.add(field+"."+peerName, "%s is not in %s with %s", b, p, a)
	case length < 31 && (a == p.Addr() || b == p.Addr()):
		v.ps.add(field+"."+hubName, "the network address of %s cannot be used", p)
	case length < 31 && (a == lastAddr(p) || b == lastAddr(p)):
		v.ps.add(field+"."+hubName, "the broadcast address of %s cannot be used", p)
	case inAny(a, bogons):
		v.ps.add(field+"."+hubName, "%s is a reserved range", p)
	default:
		return p, a, b, true
	}
	return p, a, b, false
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	x := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) | host
	return netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
}

func (v *validator) onprem(field string, c OnPremConnection) {
	p, _, _, ok := v.link(field, c.HubAddress, c.CustomerAddress, c.PrefixLength, []int{30, 29}, "hub_address", "customer_address")
	if ok {
		if linkLocal.Overlaps(p) {
			v.ps.add(field+".hub_address", "link-local addresses are for cloud ports")
		} else {
			v.plan = append(v.plan, netPrefix{p, field + ".hub_address"})
		}
	}
	v.peerASN(field+".peer_asn", c.PeerASN)
	v.md5(field+".md5", c.MD5)
	g := c.L2Guard
	switch {
	case g.BPDUGuard != nil && !*g.BPDUGuard:
		v.ps.add(field+".l2_guard.bpdu_guard", "BPDU guard is always on: a received BPDU shuts the port")
	case g.MACLimit < 1 || g.MACLimit > MaxMACLimit:
		v.ps.add(field+".l2_guard.mac_limit", "mac_limit must be 1 to %d", MaxMACLimit)
	case g.MACAgeingSeconds != MACAgeingSeconds:
		v.ps.add(field+".l2_guard.mac_ageing_seconds", "MAC ageing is %d seconds", MACAgeingSeconds)
	case g.MTU != OnPremMTU:
		v.ps.add(field+".l2_guard.mtu", "the MTU of an on-premises port is %d", OnPremMTU)
	case g.StormControlPPS < 100 || g.StormControlPPS > 1_000_000:
		v.ps.add(field+".l2_guard.storm_control_pps", "storm_control_pps must be 100 to 1000000")
	case g.FlapLimit < 1 || g.FlapLimit > 100:
		v.ps.add(field+".l2_guard.flap_limit", "flap_limit must be 1 to 100")
	case g.FlapWindowSeconds < 1 || g.FlapWindowSeconds > 3600:
		v.ps.add(field+".l2_guard.flap_window_seconds", "flap_window_seconds must be 1 to 3600")
	}
}

func (v *validator) cloud(field, kind string, c CloudConnection) {
	rule := providerRules[kind]
	if c.VLAN < 1 || c.VLAN > 4094 {
		v.ps.add(field+".vlan", "vlan must be 1 to 4094 as %s assigned it", rule.provider)
	}
	if msg := ASNProblem(uint32(c.PeerASN)); msg != "" {
		v.ps.add(field+".peer_asn", "%s", msg)
	} else if !rule.peerASN(uint32(c.PeerASN)) {
		v.ps.add(field+".peer_asn", "the %s side's ASN of a %s port is %s", rule.provider, kind, rule.asnText)
	} else if c.PeerASN == v.cfg.ASN {
		v.ps.add(field+".peer_asn", "the peer ASN must differ from your hub ASN %d", v.cfg.ASN)
	}
	v.md5(field+".md5", c.MD5)
	var subnets []netip.Prefix
	for _, l := range []struct {
		name string
		link Link
	}{{"primary", c.Primary}, {"secondary", c.Secondary}} {
		f := field + "." + l.name
		p, a, b, ok := v.link(f, l.link.HubAddress, l.link.PeerAddress, l.link.PrefixLength, rule.lengths, "hub_address", "peer_address")
		if !ok {
			continue
		}
		switch {
		case rule.linkLocal && !linkLocal.Contains(a):
			v.ps.add(f+".hub_address", "%s link addresses must be in 169.254.0.0/16", rule.provider)
		case !rule.linkLocal && linkLocal.Contains(a):
			v.ps.add(f+".hub_address", "a %s port does not use link-local addresses", kind)
		case rule.public && inAny(a, nonPublic):
			v.ps.add(f+".hub_address", "a %s port needs public addresses; %s is not public", kind, p)
		case rule.azure && (a != p.Addr().Next() || b != p.Addr().Next().Next()):
			v.ps.add(f+".hub_address", "on %s the hub uses the first usable address of the /30 (%s) and Microsoft the second (%s)",
				rule.provider, p.Addr().Next(), p.Addr().Next().Next())
		default:
			subnets = append(subnets, p)
			v.plan = append(v.plan, netPrefix{p, f + ".hub_address"})
		}
	}
	if len(subnets) == 2 && subnets[0] == subnets[1] {
		// The overlap check reports it too; say it plainly here.
		v.ps.add(field+".secondary.hub_address", "the primary and secondary links need different subnets")
		v.plan = v.plan[:len(v.plan)-1]
	}
	v.routePolicy(field+".route_policy", c.RoutePolicy)
}

func (v *validator) routePolicy(field string, rp RoutePolicy) {
	switch rp.Type {
	case PolicyDefaultRoute, PolicyAggregateRFC1918:
		if len(rp.Prefixes) > 0 {
			v.ps.add(field+".prefixes", "prefixes are given only with the UserDefined policy")
		}
	case PolicyUserDefined:
		if len(rp.Prefixes) == 0 {
			v.ps.add(field+".prefixes", "a UserDefined policy needs at least one prefix")
		}
		if len(rp.Prefixes) > MaxUserPrefixes {
			v.ps.add(field+".prefixes", "%d prefixes: a UserDefined policy has at most %d", len(rp.Prefixes), MaxUserPrefixes)
			return
		}
		seen := map[netip.Prefix]bool{}
		for i, s := range rp.Prefixes {
			p, err := ParsePrefix(s)
			f := fmt.Sprintf("%s.prefixes[%d]", field, i)
			switch {
			case err != nil:
				v.ps.add(f, "%s", err)
			case seen[p]:
				v.ps.add(f, "%s is listed twice", p)
			case overlapsAny(p, bogons) && p.Bits() > 0:
				v.ps.add(f, "%s is a reserved range", p)
			}
			seen[p] = true
		}
	default:
		v.ps.add(field+".type", "type must be DefaultRoute, AggregateRFC1918 or UserDefined")
	}
}

func (v *validator) objects() {
	o := v.cfg.Objects
	v.addrs, v.services, v.apps = map[string]bool{}, map[string]bool{}, map[string]bool{}
	name := func(field, n string, seen map[string]bool) bool {
		switch {
		case !objectNameRE.MatchString(n) || strings.EqualFold(n, "any"):
			v.ps.add(field, "an object name is 1–63 letters, digits, '_', '.' or '-' and not \"any\"")
		case seen[n]:
			v.ps.add(field, "%s is defined twice", n)
		default:
			seen[n] = true
			return true
		}
		return false
	}
	for i, a := range o.Addresses {
		f := fmt.Sprintf("objects.addresses[%d]", i)
		name(f+".name", a.Name, v.addrs)
		if len(a.Prefixes) == 0 || len(a.Prefixes) > 256 {
			v.ps.add(f+".prefixes", "an address object has 1 to 256 prefixes")
		}
		for j, s := range a.Prefixes {
			if _, err := ParsePrefix(s); err != nil {
				v.ps.add(fmt.Sprintf("%s.prefixes[%d]", f, j), "%s", err)
			}
		}
	}
	for i, s := range o.Services {
		f := fmt.Sprintf("objects.services[%d]", i)
		name(f+".name", s.Name, v.services)
		switch s.Protocol {
		case "tcp", "udp":
			if _, err := ParsePorts(s.Ports); err != nil {
				v.ps.add(f+".ports", "%s", err)
			}
		case "icmp", "any":
			if s.Ports != "" {
				v.ps.add(f+".ports", "ports are given only for tcp and udp")
			}
		default:
			v.ps.add(f+".protocol", "protocol must be tcp, udp, icmp or any")
		}
	}
	for i, a := range o.Applications {
		f := fmt.Sprintf("objects.applications[%d]", i)
		name(f+".name", a.Name, v.apps)
		if len(a.Services) == 0 {
			v.ps.add(f+".services", "an application object groups at least one service object")
		}
		for j, s := range a.Services {
			if !v.services[s] {
				v.ps.add(fmt.Sprintf("%s.services[%d]", f, j), "no service object %q", s)
			}
		}
	}
}

func (v *validator) firewall(field string, fw Firewall) {
	if fw.Mode != "stateful" && fw.Mode != "stateless" {
		v.ps.add(field+".mode", "mode must be stateful or stateless")
	}
	if len(fw.Rules) > MaxRules {
		v.ps.add(field+".rules", "%d rules: a policy has at most %d", len(fw.Rules), MaxRules)
		return
	}
	for i, r := range fw.Rules {
		f := fmt.Sprintf("%s.rules[%d]", field, i)
		if r.Action != "accept" && r.Action != "drop" && r.Action != "reject" {
			v.ps.add(f+".action", "action must be accept, drop or reject")
		}
		for _, ref := range []struct {
			name  string
			list  []string
			known map[string]bool
			any   bool
			what  string
		}{{"sources", r.Sources, v.addrs, true, "address"}, {"destinations", r.Destinations, v.addrs, true, "address"},
			{"services", r.Services, v.services, false, "service"}, {"applications", r.Applications, v.apps, false, "application"}} {
			if ref.any && len(ref.list) == 0 {
				v.ps.add(f+"."+ref.name, "%s name address objects or \"any\"", ref.name)
			}
			for j, n := range ref.list {
				if ref.any && n == "any" {
					continue
				}
				if !ref.known[n] {
					v.ps.add(fmt.Sprintf("%s.%s[%d]", f, ref.name, j), "no %s object %q", ref.what, n)
				}
			}
		}
		if msg := text.SingleLine(r.Comment); msg != "" {
			// The comment is written into the node's nftables ruleset.
			v.ps.add(f+".comment", "a comment %s", msg)
		} else if utf8.RuneCountInString(r.Comment) > 200 {
			v.ps.add(f+".comment", "a comment has at most 200 characters")
		}
	}
}

// overlaps reports every pair of overlapping prefixes in the customer's
// address plan: sorted by first address, a prefix overlaps an earlier one
// exactly when it starts before the furthest end seen so far.
func (v *validator) overlaps() {
	plan := slices.Clone(v.plan)
	slices.SortStableFunc(plan, func(a, b netPrefix) int {
		if c := a.p.Addr().Compare(b.p.Addr()); c != 0 {
			return c
		}
		return a.p.Bits() - b.p.Bits()
	})
	if o := v.settings.BackboneOverlay; o.IsValid() {
		for _, np := range plan {
			if np.p.Overlaps(o) {
				v.ps.add(np.field, "%s overlaps %s, which the backbone between your hubs uses", np.p, o)
			}
		}
	}
	var widest netPrefix
	for i, np := range plan {
		if i > 0 && widest.p.Overlaps(np.p) {
			v.ps.add(np.field, "%s overlaps %s (%s); prefixes within one customer must not overlap", np.p, widest.p, widest.field)
		}
		if i == 0 || lastAddr(np.p).Compare(lastAddr(widest.p)) > 0 {
			widest = np
		}
	}
}
