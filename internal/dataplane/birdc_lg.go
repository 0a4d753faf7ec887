package dataplane

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
)

// Reads for the customer's looking glass (internal/agent/lookingglass.go):
// one BGP session's state, timers and routes with their attributes, read
// from BIRD when the customer asks, never from the last observation.

// SessionDetail is one BGP session from "show protocols all".
type SessionDetail struct {
	ProtocolStatus
	// HoldTime and KeepaliveTime are the negotiated timers in seconds,
	// as BIRD reports them ("Hold timer: 184.586/240": 240); 0 while the
	// session is not established.
	HoldTime, KeepaliveTime int
	// Source is the session's own address (what the hub advertises as
	// the next hop on an eBGP session); invalid while it is down.
	Source netip.Addr
}

// RouteDetail is one route of "show route … all" with its BGP attributes.
type RouteDetail struct {
	Net     netip.Prefix
	NextHop netip.Addr // BGP.next_hop; invalid for a route BGP did not bring
	ASPath  []int64    // BGP.as_path; AS sets are left out
}

// Session reads one protocol's state and timers.
func (c BirdClient) Session(ctx context.Context, protocol string) (SessionDetail, error) {
	lines, err := c.Command(ctx, "show protocols all "+protocol)
	if err != nil {
		return SessionDetail{}, err
	}
	return parseSessionDetail(lines), nil
}

func parseSessionDetail(lines []ReplyLine) SessionDetail {
	var d SessionDetail
	if ps := parseProtocols(lines); len(ps) > 0 {
		d.ProtocolStatus = ps[0]
	}
	for _, l := range lines {
		key, val, ok := strings.Cut(strings.TrimSpace(l.Text), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "Hold timer":
			d.HoldTime = negotiated(val)
		case "Keepalive timer":
			d.KeepaliveTime = negotiated(val)
		case "Source address":
			d.Source, _ = netip.ParseAddr(val)
		}
	}
	return d
}

// negotiated reads "left/negotiated" (BIRD 2.0) or a bare number.
func negotiated(v string) int {
	if _, after, ok := strings.Cut(v, "/"); ok {
		v = after
	}
	n, _ := strconv.Atoi(strings.TrimSpace(v))
	return n
}

// ImportedRoutes lists the routes protocol received and its import filter
// accepted.
func (c BirdClient) ImportedRoutes(ctx context.Context, protocol string) ([]RouteDetail, error) {
	return c.routeDetails(ctx, "show route protocol "+protocol+" all")
}

// RefusedRoutes lists the routes protocol received and its import filter
// refused, which BIRD keeps ("import keep filtered").
func (c BirdClient) RefusedRoutes(ctx context.Context, protocol string) ([]RouteDetail, error) {
	return c.routeDetails(ctx, "show route filtered protocol "+protocol+" all")
}

// ExportedRoutes lists the routes protocol's export filter sends the peer,
// with their attributes as BIRD holds them before the session adds its own
// (its AS prepended on eBGP, its next hop).
func (c BirdClient) ExportedRoutes(ctx context.Context, protocol string) ([]RouteDetail, error) {
	return c.routeDetails(ctx, "show route export "+protocol+" all")
}

func (c BirdClient) routeDetails(ctx context.Context, cmd string) ([]RouteDetail, error) {
	lines, err := c.Command(ctx, cmd)
	if err != nil {
		return nil, err
	}
	return parseRouteDetails(lines), nil
}

// parseRouteDetails reads "show route … all": a route line as parseRoutes
// reads it, then its attribute lines ("BGP.as_path: 65001 65002",
// "BGP.next_hop: 192.0.2.1"), which belong to the route line before them.
func parseRouteDetails(lines []ReplyLine) []RouteDetail {
	var out []RouteDetail
	var cur netip.Prefix
	for _, l := range lines {
		text := strings.TrimSpace(l.Text)
		if l.Code == 1007 {
			if rs := parseRoutes([]ReplyLine{l}); len(rs) == 1 {
				cur = rs[0].Net
				out = append(out, RouteDetail{Net: cur})
			} else if open := strings.IndexByte(text, '['); open > 0 && cur.IsValid() && len(strings.Fields(text[:open])) == 1 {
				out = append(out, RouteDetail{Net: cur}) // a further route of the same network
			}
			continue
		}
		if len(out) == 0 {
			continue
		}
		last := &out[len(out)-1]
		if v, ok := strings.CutPrefix(text, "BGP.as_path:"); ok {
			for _, f := range strings.Fields(v) {
				if n, err := strconv.ParseInt(f, 10, 64); err == nil {
					last.ASPath = append(last.ASPath, n)
				}
			}
		} else if v, ok := strings.CutPrefix(text, "BGP.next_hop:"); ok {
			if f := strings.Fields(v); len(f) > 0 {
				last.NextHop, _ = netip.ParseAddr(f[0])
			}
		}
	}
	return out
}

// RefusalReason says why the hub's import filter refuses p, by the rules
// the filter applies (the reasons of a report's refused prefixes).
func RefusalReason(p netip.Prefix, h Hub) string { return filterReason(p, realised(h)) }
