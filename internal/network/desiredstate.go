package network

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/tsunagi-net/tsunagi/internal/audit"
	"math/big"
	"net/netip"
	"slices"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// NodeInput is everything the desired state of one node is computed from.
// BuildDesiredState is a pure function of it, which is what makes the
// document reproducible from the applied versions.
type NodeInput struct {
	Node       string
	Region     string
	RouteLimit int
	Overlay    netip.Prefix // the backbone segment's subnet (Settings.BackboneOverlay)
	Hubs       []HubInput
}

// HubInput is one customer hub placed on the node.
type HubInput struct {
	Hub        HubFact
	CustomerID catalog.CustomerID
	Version    int64
	Config     Config
	VNI        uint32
	AllHubs    []HubFact                // every hub of the customer, this one included
	Underlays  map[catalog.HubID]string // hub → its node's tunnel endpoint ("" = unknown)
	Ports      map[string]PortFact      // the customer's ports by code
	Legs       map[string][]LegInput    // port code → legs on this node
	NAT        NATAddresses             //
	Sessions   map[string]SessionInfo   // port code → BGP session state
	// Monitors are the customer's running reachability monitors on the hub
	// (MonitorSource); one on a port the hub does not run here is left out.
	Monitors []desired.Monitor
}

// MonitorSource lists, inside the document's transaction, the running
// reachability monitors of each of hubs (not stopped, within the
// customer's quota), sorted by ID. Package monitor provides it; a hook
// keeps network from importing monitor, which imports network.
type MonitorSource func(ctx context.Context, q store.Querier, hubs []catalog.HubID) (map[catalog.HubID][]desired.Monitor, error)

// UseMonitors sets where the compiler reads the monitors from; call it
// before the compiler serves a document.
func (s *Compiler) UseMonitors(src MonitorSource) { s.monitors = src }

// LegInput is a leg of a port on a physical port of the node.
type LegInput struct {
	Role      string
	Interface string
}

// SessionInfo is a port's BGP session state as the controller knows it.
type SessionInfo struct {
	Stopped     bool
	ReenableSeq int64
	Shut        string // a layer-2 guard's reason while the port is shut
}

var localPref = map[string]int{"main": 300, "sub": 200, "backup": 100}

// BuildDesiredState computes a node's desired-state document.
func BuildDesiredState(in NodeInput) desired.State {
	st := desired.State{Schema: desired.Schema, Node: in.Node, Region: in.Region, RouteLimit: in.RouteLimit, Hubs: []desired.Hub{}}
	for _, h := range in.Hubs {
		st.Hubs = append(st.Hubs, buildHub(h, in.RouteLimit, in.Overlay))
	}
	slices.SortFunc(st.Hubs, func(a, b desired.Hub) int { return strings.Compare(a.HubID, b.HubID) })
	return st
}

// overlayIndex places each DR priority at a fixed host of the backbone
// segment; priorities are unique within a customer.
var overlayIndex = map[string]int{"main": 1, "sub": 2, "backup": 3}

func overlayAddress(overlay netip.Prefix, priority string) string {
	if !overlay.IsValid() || overlayIndex[priority] == 0 {
		return ""
	}
	a := overlay.Masked().Addr()
	for range overlayIndex[priority] {
		a = a.Next()
	}
	return netip.PrefixFrom(a, overlay.Bits()).String()
}

// DataplaneID names a hub on its node: its namespace is hub-<DataplaneID>,
// and the node's report keys what it observed of the hub by it.
func DataplaneID(hub catalog.HubID) string { return strings.TrimPrefix(string(hub), "hub_") }

func buildHub(h HubInput, limit int, overlay netip.Prefix) desired.Hub {
	cfg := h.Config
	out := desired.Hub{HubID: string(h.Hub.ID), CustomerID: string(h.CustomerID),
		Namespace: "hub-" + DataplaneID(h.Hub.ID), ConfigVersion: h.Version, Priority: h.Hub.Priority,
		ASN: uint32(cfg.ASN), Backbone: desired.Backbone{VNI: h.VNI, LocalPreference: localPref[h.Hub.Priority],
			OverlayAddress: overlayAddress(overlay, h.Hub.Priority), LocalUnderlay: h.Underlays[h.Hub.ID], Peers: []desired.BackbonePeer{}},
		Ports: []desired.Port{}, StaticNAT: []desired.StaticNAT{}}
	for _, hc := range cfg.Hubs {
		if hc.HubID == h.Hub.ID {
			out.InternalNetwork, out.MonitoringNetwork = hc.InternalNetwork, hc.MonitoringNetwork
		}
	}
	for _, o := range h.AllHubs {
		// A hub not placed on any node runs nowhere: it is no one's peer
		// (Underlays holds the placed hubs, "" for a node without an
		// underlay address yet).
		if _, placed := h.Underlays[o.ID]; placed && o.ID != h.Hub.ID {
			out.Backbone.Peers = append(out.Backbone.Peers, desired.BackbonePeer{HubID: string(o.ID), Region: o.Region,
				Priority: o.Priority, LocalPreference: localPref[o.Priority], OverlayAddress: overlayAddress(overlay, o.Priority),
				Underlay: h.Underlays[o.ID]})
		}
	}
	slices.SortFunc(out.Backbone.Peers, func(a, b desired.BackbonePeer) int { return strings.Compare(a.HubID, b.HubID) })
	objs := indexObjects(cfg.Objects)
	for _, pc := range cfg.Ports {
		for _, sn := range pc.StaticNAT {
			if pub, ok := h.NAT.Static[sn.Inside]; ok {
				out.StaticNAT = append(out.StaticNAT, desired.StaticNAT{Public: pub, Inside: sn.Inside, PortCode: pc.PortCode})
			}
		}
		pf, ok := h.Ports[pc.PortCode]
		legs := h.Legs[pc.PortCode]
		if !ok || pf.HubID != h.Hub.ID || len(legs) == 0 {
			continue
		}
		out.Ports = append(out.Ports, buildPort(pc, pf, legs, h, objs, limit))
	}
	slices.SortFunc(out.StaticNAT, func(a, b desired.StaticNAT) int { return strings.Compare(a.Public, b.Public) })
	for _, m := range h.Monitors {
		if slices.ContainsFunc(out.Ports, func(p desired.Port) bool { return p.PortCode == m.PortCode }) {
			out.Monitors = append(out.Monitors, m)
		}
	}
	slices.SortFunc(out.Monitors, func(a, b desired.Monitor) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func buildPort(pc PortConfig, pf PortFact, legs []LegInput, h HubInput, objs objectIndex, limit int) desired.Port {
	sess := h.Sessions[pc.PortCode]
	p := desired.Port{PortCode: pc.PortCode, Kind: pf.Kind, SpeedMbps: pf.SpeedMbps, BGPEnabled: !sess.Stopped,
		ReenableSeq: sess.ReenableSeq, Shut: sess.Shut, Legs: []desired.Leg{}, Sessions: []desired.Session{}, NAPT: []desired.NAPT{}}
	vlan := 0
	if pc.OnPrem != nil {
		o := pc.OnPrem
		p.Sessions = append(p.Sessions, desired.Session{Name: "single", LocalAddress: o.HubAddress, PeerAddress: o.CustomerAddress,
			PrefixLength: o.PrefixLength, PeerASN: uint32(o.PeerASN), MD5: o.MD5, BFD: o.BFD, ImportLimit: limit})
		g := o.L2Guard
		p.L2Guard = &desired.L2Guard{BPDUGuard: g.BPDUGuard == nil || *g.BPDUGuard, StormControlPPS: int(g.StormControlPPS), FlapLimit: int(g.FlapLimit),
			FlapWindowSeconds: int(g.FlapWindowSeconds), MACLimit: int(g.MACLimit), MACAgeingSeconds: int(g.MACAgeingSeconds), MTU: int(g.MTU)}
		p.RoutePolicy = desired.RoutePolicy{Type: "All", Prefixes: []string{}}
	}
	if c := pc.Cloud; c != nil {
		vlan = c.VLAN
		for _, l := range []struct {
			name string
			link Link
		}{{"primary", c.Primary}, {"secondary", c.Secondary}} {
			p.Sessions = append(p.Sessions, desired.Session{Name: l.name, LocalAddress: l.link.HubAddress, PeerAddress: l.link.PeerAddress,
				PrefixLength: l.link.PrefixLength, PeerASN: uint32(c.PeerASN), MD5: c.MD5, BFD: c.BFD, ImportLimit: limit})
		}
		p.RoutePolicy = desired.RoutePolicy{Type: c.RoutePolicy.Type, Prefixes: []string{}}
		switch c.RoutePolicy.Type {
		case PolicyDefaultRoute:
			p.RoutePolicy.Prefixes = []string{"0.0.0.0/0"}
		case PolicyAggregateRFC1918:
			p.RoutePolicy.Prefixes = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}
		default:
			p.RoutePolicy.Prefixes = slices.Clone(c.RoutePolicy.Prefixes)
		}
	}
	for _, l := range legs {
		p.Legs = append(p.Legs, desired.Leg{Role: l.Role, Interface: l.Interface, VLAN: vlan})
	}
	slices.SortFunc(p.Legs, func(a, b desired.Leg) int { return strings.Compare(a.Role, b.Role) })
	if pc.Firewall != nil {
		p.Firewall = expandFirewall(*pc.Firewall, objs)
	}
	pubs := h.NAT.NAPT[pc.PortCode]
	for i, g := range pc.NAPT {
		n := desired.NAPT{Sessions: g.Sessions}
		if i < len(pubs) {
			n.PublicPrefix = pubs[i]
		}
		p.NAPT = append(p.NAPT, n)
	}
	return p
}

type objectIndex struct {
	addrs    map[string][]string
	services map[string]desired.Service
	apps     map[string][]string
}

func indexObjects(o Objects) objectIndex {
	x := objectIndex{addrs: map[string][]string{}, services: map[string]desired.Service{}, apps: map[string][]string{}}
	for _, a := range o.Addresses {
		x.addrs[a.Name] = a.Prefixes
	}
	for _, s := range o.Services {
		ds := desired.Service{Protocol: s.Protocol}
		if rs, err := ParsePorts(s.Ports); err == nil && (s.Protocol == "tcp" || s.Protocol == "udp") {
			ds.Ports = FormatPorts(rs)
		}
		x.services[s.Name] = ds
	}
	for _, a := range o.Applications {
		x.apps[a.Name] = a.Services
	}
	return x
}

// expandFirewall replaces object names by what they hold, so that the agent
// needs no object model: "any" is 0.0.0.0/0, applications become their
// services, duplicates are dropped keeping the first occurrence.
func expandFirewall(fw Firewall, x objectIndex) *desired.Firewall {
	out := &desired.Firewall{Mode: fw.Mode, DefaultAction: "drop", Rules: []desired.Rule{}}
	addrs := func(names []string) []string {
		var ps []string
		for _, n := range names {
			if n == "any" {
				ps = append(ps, "0.0.0.0/0")
				continue
			}
			ps = append(ps, x.addrs[n]...)
		}
		return dedup(ps)
	}
	for i, r := range fw.Rules {
		dr := desired.Rule{Index: i, Action: r.Action, Sources: addrs(r.Sources), Destinations: addrs(r.Destinations),
			Services: []desired.Service{}, Log: r.Log}
		names := slices.Clone(r.Services)
		for _, a := range r.Applications {
			names = append(names, x.apps[a]...)
		}
		for _, n := range dedup(names) {
			dr.Services = append(dr.Services, x.services[n])
		}
		out.Rules = append(out.Rules, dr)
	}
	return out
}

func dedup(xs []string) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// DesiredState computes the document of the named node from the applied
// versions of the customers whose hubs are placed on it, and returns its
// canonical encoding. Hubs whose customer has applied no version yet are
// left out: there is nothing to realise.
func (s *Compiler) DesiredState(ctx context.Context, node string) ([]byte, desired.State, error) {
	var in NodeInput
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		in, err = s.nodeInput(ctx, tx, node)
		return err
	})
	if err != nil {
		return nil, desired.State{}, err
	}
	st := BuildDesiredState(in)
	b, err := desired.Encode(&st)
	return b, st, err
}

func (s *core) nodeInput(ctx context.Context, q store.Querier, node string) (NodeInput, error) {
	in := NodeInput{Node: node, RouteLimit: s.settings.RouteLimit, Overlay: s.settings.BackboneOverlay}
	var nodeID string
	if err := store.Scan(q.QueryRow(ctx, `SELECT n.id, r.code FROM hub_nodes n JOIN regions r ON r.id = n.region_id WHERE n.name = ?`, node),
		&nodeID, &in.Region); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return in, fault.New(fault.NotFound, "no hub node %q", node)
		}
		return in, err
	}
	const onNode = `(SELECT customer_id FROM hub_placements WHERE node_id = ?)`
	type custData struct {
		version int64
		cfg     Config
		vni     uint32
		hubs    []HubFact
		ports   map[string]PortFact
		legs    map[string][]LegInput
		nat     NATAddresses
		sess    map[string]SessionInfo
		// underlay maps each of the customer's placed hubs to its node's
		// tunnel endpoint.
		underlay map[catalog.HubID]string
	}
	cust := map[catalog.CustomerID]*custData{}
	get := func(id catalog.CustomerID) *custData {
		if c, ok := cust[id]; ok {
			return c
		}
		c := &custData{ports: map[string]PortFact{}, legs: map[string][]LegInput{}, sess: map[string]SessionInfo{}, underlay: map[catalog.HubID]string{},
			nat: NATAddresses{NAPT: map[string][]string{}, Static: map[string]string{}}}
		cust[id] = c
		return c
	}
	each := func(query string, scan func(func(...any) error) error, args ...any) error {
		rows, err := q.Query(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("desired state: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows.Scan); err != nil {
				return fmt.Errorf("desired state: %w", err)
			}
		}
		return rows.Err()
	}
	err := each(`SELECT v.customer_id, v.version, v.config FROM net_versions v WHERE v.customer_id IN `+onNode+`
		AND v.version = (SELECT MAX(w.version) FROM net_versions w WHERE w.customer_id = v.customer_id)`, func(scan func(...any) error) error {
		var id catalog.CustomerID
		var n int64
		var raw string
		if err := scan(&id, &n, &raw); err != nil {
			return err
		}
		cfg, err := storedConfig(q, id, raw)
		if err != nil {
			return fmt.Errorf("customer %s version %d: %w", id, n, err)
		}
		c := get(id)
		c.version, c.cfg = n, cfg
		return nil
	}, nodeID)
	if err != nil {
		return in, err
	}
	err = each(`SELECT h.id, h.customer_id, h.priority, r.code FROM hubs h JOIN regions r ON r.id = h.region_id
		WHERE h.ended_at IS NULL AND h.customer_id IN `+onNode+` ORDER BY h.id`, func(scan func(...any) error) error {
		var h HubFact
		var id catalog.CustomerID
		if err := scan(&h.ID, &id, &h.Priority, &h.Region); err != nil {
			return err
		}
		get(id).hubs = append(get(id).hubs, h)
		return nil
	}, nodeID)
	if err != nil {
		return in, err
	}
	speeds, err := s.allSpeedsAt(ctx, q, s.today())
	if err != nil {
		return in, err
	}
	err = each(`SELECT p.id, p.customer_id, p.port_code, p.hub_id, p.kind, p.speed_mbps, p.redundant, p.status FROM ports p
		WHERE p.customer_id IN `+onNode, func(scan func(...any) error) error {
		var pid, status string
		var id catalog.CustomerID
		var p PortFact
		if err := scan(&pid, &id, &p.Code, &p.HubID, &p.Kind, &p.SpeedMbps, &p.Redundant, &status); err != nil {
			return err
		}
		if sp, ok := speeds[pid]; ok {
			p.SpeedMbps = sp
		}
		p.Active = status == "active"
		if p.Active {
			get(id).ports[p.Code] = p
		}
		return nil
	}, nodeID)
	if err != nil {
		return in, err
	}
	err = each(`SELECT pl.customer_id, p.port_code, pl.leg, pp.name FROM port_placements pl JOIN ports p ON p.id = pl.port_id
		JOIN physical_ports pp ON pp.id = pl.physical_port_id WHERE pp.node_id = ?`, func(scan func(...any) error) error {
		var id catalog.CustomerID
		var code string
		var l LegInput
		if err := scan(&id, &code, &l.Role, &l.Interface); err != nil {
			return err
		}
		get(id).legs[code] = append(get(id).legs[code], l)
		return nil
	}, nodeID)
	if err != nil {
		return in, err
	}
	err = each(`SELECT customer_id, purpose, prefix, port_code, slot, inside FROM nat_allocations WHERE customer_id IN `+onNode+`
		ORDER BY customer_id, port_code, slot`, func(scan func(...any) error) error {
		var id catalog.CustomerID
		var purpose, prefix string
		var port, inside *string
		var slot *int64
		if err := scan(&id, &purpose, &prefix, &port, &slot, &inside); err != nil {
			return err
		}
		c := get(id)
		switch {
		case purpose == "napt" && port != nil:
			c.nat.NAPT[*port] = append(c.nat.NAPT[*port], prefix)
		case purpose == "static" && inside != nil:
			c.nat.Static[*inside] = strings.TrimSuffix(prefix, "/32")
		}
		return nil
	}, nodeID)
	if err != nil {
		return in, err
	}
	// Held ports (hold.go): the desired state's held fields derive from
	// port_holds, the sequence from port_reenables.
	err = each(`SELECT r.customer_id, p.port_code, r.seq FROM port_reenables r JOIN ports p ON p.id = r.port_id
		WHERE r.customer_id IN `+onNode, func(scan func(...any) error) error {
		var id catalog.CustomerID
		var code string
		var seq int64
		if err := scan(&id, &code, &seq); err != nil {
			return err
		}
		si := get(id).sess[code]
		si.ReenableSeq = seq
		get(id).sess[code] = si
		return nil
	}, nodeID)
	if err != nil {
		return in, err
	}
	err = each(`SELECT h.customer_id, p.port_code, h.kind, h.reason FROM port_holds h JOIN ports p ON p.id = h.port_id
		WHERE h.customer_id IN `+onNode, func(scan func(...any) error) error {
		var id catalog.CustomerID
		var code, kind, reason string
		if err := scan(&id, &code, &kind, &reason); err != nil {
			return err
		}
		si := get(id).sess[code]
		switch kind {
		case observed.HoldL2Guard:
			si.Shut = reason
		case observed.HoldRouteLimit:
			si.Stopped = true
		}
		get(id).sess[code] = si
		return nil
	}, nodeID)
	if err != nil {
		return in, err
	}
	err = each(`SELECT hp.customer_id, hp.hub_id, COALESCE(u.address, '') FROM hub_placements hp LEFT JOIN node_underlay u ON u.node_id = hp.node_id
		WHERE hp.customer_id IN `+onNode, func(scan func(...any) error) error {
		var id catalog.CustomerID
		var hub catalog.HubID
		var addr string
		if err := scan(&id, &hub, &addr); err != nil {
			return err
		}
		get(id).underlay[hub] = addr
		return nil
	}, nodeID)
	if err != nil {
		return in, err
	}
	err = each(`SELECT customer_id, vni FROM backbone_vnis WHERE customer_id IN `+onNode, func(scan func(...any) error) error {
		var id catalog.CustomerID
		var vni int64
		if err := scan(&id, &vni); err != nil {
			return err
		}
		get(id).vni = uint32(vni)
		return nil
	}, nodeID)
	if err != nil {
		return in, err
	}
	err = each(`SELECT hp.hub_id, hp.customer_id, h.priority, r.code FROM hub_placements hp JOIN hubs h ON h.id = hp.hub_id
		JOIN regions r ON r.id = h.region_id WHERE hp.node_id = ? ORDER BY hp.hub_id`, func(scan func(...any) error) error {
		var h HubFact
		var id catalog.CustomerID
		if err := scan(&h.ID, &id, &h.Priority, &h.Region); err != nil {
			return err
		}
		c := get(id)
		if c.version == 0 {
			return nil
		}
		in.Hubs = append(in.Hubs, HubInput{Hub: h, CustomerID: id, Version: c.version, Config: c.cfg, VNI: c.vni, AllHubs: c.hubs, Underlays: c.underlay,
			Ports: c.ports, Legs: c.legs, NAT: c.nat, Sessions: c.sess})
		return nil
	}, nodeID)
	if err != nil || s.monitors == nil || len(in.Hubs) == 0 {
		return in, err
	}
	hubs := make([]catalog.HubID, len(in.Hubs))
	for i, h := range in.Hubs {
		hubs[i] = h.Hub.ID
	}
	mons, err := s.monitors(ctx, q, hubs)
	if err != nil {
		return in, fmt.Errorf("desired state: monitors: %w", err)
	}
	for i := range in.Hubs {
		in.Hubs[i].Monitors = mons[in.Hubs[i].Hub.ID]
	}
	return in, nil
}

// Backbone VNIs are drawn uniformly at random from [MinVNI, MaxVNI]. The
// low values are left out because underlay switches commonly map VLAN IDs
// 1–4094 one to one onto VNIs, and 0 is not a VNI; the all-ones value
// 16,777,215 is left out as some implementations reserve it. Random rather
// than sequential so that one customer's VNI says nothing about another's;
// isolation itself rests on the node's underlay filter (dataplane), which
// drops VXLAN packets with a hub's VNI from addresses other than its peers.
const (
	MinVNI = 4096
	MaxVNI = 1<<24 - 2
)

// vniAttempts bounds the draws of one allocation: with even a million
// customers the chance that all of them collide is negligible.
const vniAttempts = 32

// randomVNI draws a VNI from the operating system's random source.
func randomVNI() int64 {
	n, err := rand.Int(rand.Reader, big.NewInt(MaxVNI-MinVNI+1))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return MinVNI + n.Int64()
}

// ensureVNI gives the customer a backbone VNI on its first apply; an
// existing VNI stays.
func (s *core) ensureVNI(ctx context.Context, tx *store.Tx, cust catalog.CustomerID) error {
	return allocateVNI(ctx, tx, cust, randomVNI)
}

// allocateVNI draws VNIs until one is free. Uniqueness is the table's:
// INSERT … ON CONFLICT DO NOTHING inserts nothing when the VNI (or the
// customer) is taken — on PostgreSQL after waiting for a concurrent
// transaction that holds the same VNI, without aborting this one — so a
// draw that collides, even with an allocation not yet committed, is simply
// drawn again.
func allocateVNI(ctx context.Context, tx *store.Tx, cust catalog.CustomerID, draw func() int64) error {
	for range vniAttempts {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM backbone_vnis WHERE customer_id = ?`, cust).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		res, err := tx.Exec(ctx, `INSERT INTO backbone_vnis (customer_id, vni) VALUES (?, ?) ON CONFLICT DO NOTHING`, cust, draw())
		if err != nil {
			return err
		}
		if added, err := res.RowsAffected(); err != nil || added == 1 {
			return err
		}
	}
	return fault.New(fault.Conflict, "no free backbone VNI was found; apply again")
}

// DesiredStateDoc is DesiredState in the shape the agent listener wants —
// the document and its generation (the ETag) — and cached: agents long-poll
// it every second, so it is recomputed only when something could have
// changed it. Every change the document depends on (apply, placement, NAT
// pools, bandwidth changes, BGP session state, the catalog's hubs and ports)
// records an audit event in its own transaction, which moves the change
// counter (audit.Changes); speeds also change with the calendar date. The key
// is therefore (change counter, JST date), read in the same transaction as
// the document.
func (s *Compiler) DesiredStateDoc(ctx context.Context, node string) ([]byte, string, error) {
	seq, err := audit.Changes(ctx, s.db)
	if err != nil {
		return nil, "", fmt.Errorf("desired state: %w", err)
	}
	today := s.today()
	s.cacheMu.Lock()
	c, ok := s.cache[node]
	s.cacheMu.Unlock()
	if ok && c.seq == seq && c.date == today {
		return c.doc, c.generation, nil
	}
	var in NodeInput
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if seq, err = audit.Changes(ctx, tx); err != nil {
			return err
		}
		var err error
		in, err = s.nodeInput(ctx, tx, node)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	st := BuildDesiredState(in)
	b, err := desired.Encode(&st)
	if err != nil {
		return nil, "", err
	}
	s.cacheMu.Lock()
	if s.cache == nil {
		s.cache = map[string]cachedDoc{}
	}
	s.cache[node] = cachedDoc{seq: seq, date: today, doc: b, generation: st.Generation}
	s.cacheMu.Unlock()
	return b, st.Generation, nil
}

// cachedDoc is a node's last computed document and what it was computed at.
type cachedDoc struct {
	seq        int64
	date       string
	doc        []byte
	generation string
}
