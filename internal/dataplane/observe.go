package dataplane

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Status is what the agent's observe step reports of one hub: read from
// BIRD's control socket, the hub's nftables table and the kernel's link
// counters, never from what was last applied.
type Status struct {
	Sessions []SessionStatus
	Rules    []RuleCounter
	Links    []LinkCounters
	// Shut lists the ports the layer-2 guards have shut, including any
	// this Observe shut.
	Shut []PortShut `json:",omitempty"`
}

// SessionStatus is one BGP session with its route counts.
type SessionStatus struct {
	ProtocolStatus
	Routes RouteCounts
	// Filtered lists received prefixes the import filter refused, with the
	// reason, for the customer's looking glass (at most MaxFiltered).
	Filtered []FilteredRoute `json:",omitempty"`
}

// FilteredRoute is a refused prefix and why.
type FilteredRoute struct {
	Prefix string
	Reason string // "bogon", "hub's own network", "not in the route policy"
}

// MaxFiltered bounds the filtered prefixes listed per session in a report.
const MaxFiltered = 100

// filterReason says why the hub's import filter refuses p, by the same
// rules the filter applies: bogons, then the hub's own networks; anything
// else a filter refuses is outside what the port may send.
func filterReason(p netip.Prefix, h Hub) string {
	for _, b := range bogons {
		if bp, err := netip.ParsePrefix(strings.TrimSuffix(b, "+")); err == nil && bp.Overlaps(p) && bp.Bits() <= p.Bits() {
			return "bogon"
		}
	}
	for _, own := range []netip.Prefix{h.InternalNetwork, h.MonitoringNetwork} {
		if own.IsValid() && own.Overlaps(p) {
			return "hub's own network"
		}
	}
	return "not in the route policy"
}

// RuleCounter is the counter of one commented nftables rule ("port onprem
// rule 3", "port pub: napt, flow opened from outside", …).
type RuleCounter struct {
	Comment        string
	Packets, Bytes uint64
}

// LinkCounters are a port interface's kernel counters. A redundant port
// has three: its bridge (the logical connection) and each leg, whose
// carrier says whether the port is still redundant.
type LinkCounters struct {
	Name                        string
	Port                        string
	Leg                         string `json:",omitempty"` // primary | secondary, for a leg
	Carrier                     bool
	RxBytes, RxPackets, RxDrops uint64
	TxBytes, TxPackets, TxDrops uint64
	// IfIndex is the interface's index: the counters count from the
	// interface's creation, so a new index tells the controller they
	// started again from zero.
	IfIndex int `json:",omitempty"`
}

// legRoles name a redundant port's legs in the order Port.Legs gives them.
var legRoles = []string{"primary", "secondary"}

var ruleCounterRe = regexp.MustCompile(`counter packets (\d+) bytes (\d+).* comment "([^"]*)"`)

// parseRuleCounters reads the counters of commented rules from "nft list
// table" output.
func parseRuleCounters(listing string) []RuleCounter {
	var out []RuleCounter
	for _, line := range strings.Split(listing, "\n") {
		m := ruleCounterRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		p, _ := strconv.ParseUint(m[1], 10, 64)
		b, _ := strconv.ParseUint(m[2], 10, 64)
		out = append(out, RuleCounter{Comment: m[3], Packets: p, Bytes: b})
	}
	return out
}

// Observe reads the state of a hub. Parts that cannot be read are left
// empty and their errors joined, so that a BIRD restart does not hide the
// interface counters. It changes one thing: it shuts the ports whose
// layer-2 guards' evidence it reads.
func (m *Manager) Observe(ctx context.Context, h Hub) (Status, error) {
	given := h
	h = realised(h)
	var st Status
	var errs []error
	c := m.BirdClient(h.ID)
	ps, err := c.Protocols(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	for _, p := range ps {
		if p.Proto != "BGP" {
			continue
		}
		rc, err := c.Counts(ctx, p.Name)
		if err != nil && p.State == "up" {
			errs = append(errs, err)
		}
		ss := SessionStatus{ProtocolStatus: p, Routes: rc}
		if rc.Filtered > 0 {
			rs, err := c.FilteredRoutes(ctx, p.Name)
			if err != nil {
				errs = append(errs, err)
			}
			for _, r := range rs {
				if len(ss.Filtered) == MaxFiltered {
					break
				}
				ss.Filtered = append(ss.Filtered, FilteredRoute{Prefix: r.Net.String(), Reason: filterReason(r.Net, h)})
			}
		}
		st.Sessions = append(st.Sessions, ss)
	}
	listing, err := m.nft.ops.List(ctx, h.Namespace())
	if err != nil {
		errs = append(errs, err)
	}
	st.Rules = parseRuleCounters(listing)
	// The guards act here, where their evidence is read: a port whose
	// BPDU counter moved, or whose carrier flaps, is shut (shut.go). With
	// no listing there is no BPDU evidence, only flaps.
	shut, err := m.guard(h, st.Rules)
	if err != nil {
		errs = append(errs, err)
	}
	st.Shut = shut
	if m.counters != nil {
		// The devices as the hub was given: a guard-bridged port's
		// interface, not its bridge, is the port's link.
		for _, p := range given.Ports {
			for i, dev := range append([]string{p.Interface}, p.Legs...) {
				lc, err := m.counters(h.Namespace(), dev)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				lc.Port = p.Name
				if i > 0 {
					lc.Leg = legRoles[i-1]
				}
				st.Links = append(st.Links, lc)
			}
		}
	}
	return st, errors.Join(errs...)
}

// linkCounters reads a link's statistics through netlink.
func (o netlinkOps) linkCounters(ns, dev string) (LinkCounters, error) {
	lc := LinkCounters{Name: dev}
	err := o.link(ns, dev, func(_ *netlink.Handle, l netlink.Link) error {
		s := l.Attrs().Statistics
		if s == nil {
			return fmt.Errorf("no statistics for %s", dev)
		}
		lc.Carrier = l.Attrs().RawFlags&unix.IFF_LOWER_UP != 0
		lc.IfIndex = l.Attrs().Index
		lc.RxBytes, lc.RxPackets, lc.RxDrops = s.RxBytes, s.RxPackets, s.RxDropped
		lc.TxBytes, lc.TxPackets, lc.TxDrops = s.TxBytes, s.TxPackets, s.TxDropped
		return nil
	})
	return lc, err
}

// Enable restarts a BGP session that BIRD disabled, e.g. after its import
// limit tripped. BIRD keeps such a session down across reconfigurations
// with an unchanged configuration: re-enabling is a deliberate act.
func (c BirdClient) Enable(ctx context.Context, protocol string) error {
	_, err := c.Command(ctx, "enable "+protocol)
	return err
}
