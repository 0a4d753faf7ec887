package web

import (
	"context"
	"slices"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/web/panel"
)

// liveView is what the hub nodes last reported of the customer's hubs, read
// once per page from the hubs' own rows (fleet.HubObservations, the source
// of GET /api/v1/hubs/{id}/dataplane) and reduced to what the catalog pages
// show: each port's state and holds, each backbone pair's state.
type liveView struct {
	ports map[string]*livePort // by port code
	// backbone holds, per hub, its sessions to the other hubs, named by the
	// peer hub's priority (observed.Hub.Backbone).
	backbone map[catalog.HubID][]observed.Session
}

// livePort is one port as its hub's nodes last reported it.
type livePort struct {
	Sessions []observed.Session
	Links    []observed.Link
	Holds    []observed.Hold
}

// state reduces a port's report to one state: held while the node holds
// it, unknown when no node reported it, else up when every session and
// link is up, down when none is, degraded in between (one leg of a pair).
func (p *livePort) state() panel.LiveState {
	if p == nil {
		return panel.StateUnknown
	}
	if len(p.Holds) > 0 {
		return panel.StateHeld
	}
	var up, down int
	for _, s := range p.Sessions {
		if s.State == "up" {
			up++
		} else {
			down++
		}
	}
	for _, l := range p.Links {
		if l.Carrier {
			up++
		} else {
			down++
		}
	}
	return upDown(up, down)
}

func upDown(up, down int) panel.LiveState {
	switch {
	case up == 0 && down == 0:
		return panel.StateUnknown
	case down == 0:
		return panel.StateUp
	case up == 0:
		return panel.StateDown
	}
	return panel.StateDegraded
}

// readLive reads the reports of the given hubs. A viewer who may not read
// the customer's network, or a controller without the fleet, sees every
// state unknown: the catalog pages still show what was bought.
func (s *Server) readLive(ctx context.Context, sc tenant.Scope, hubs []catalog.HubID) (liveView, error) {
	lv := liveView{ports: map[string]*livePort{}, backbone: map[catalog.HubID][]observed.Session{}}
	if s.deps.Fleet == nil || !sc.Can(identity.ActNetworkRead) {
		return lv, nil
	}
	for _, h := range hubs {
		obs, err := s.deps.Fleet.HubObservations(ctx, sc, h)
		if err != nil {
			return lv, err
		}
		lv.add(h, obs)
	}
	return lv, nil
}

func (lv liveView) add(hub catalog.HubID, obs []fleet.HubObservation) {
	for _, o := range obs {
		for _, p := range o.Hub.Ports {
			lp := lv.port(p.PortCode)
			lp.Sessions = append(lp.Sessions, p.Sessions...)
			lp.Links = append(lp.Links, p.Links...)
		}
		for _, h := range o.Hub.Holds {
			lp := lv.port(h.PortCode)
			lp.Holds = append(lp.Holds, h)
		}
		lv.backbone[hub] = append(lv.backbone[hub], o.Hub.Backbone...)
	}
}

func (lv liveView) port(code string) *livePort {
	lp := lv.ports[code]
	if lp == nil {
		lp = &livePort{}
		lv.ports[code] = lp
	}
	return lp
}

// holdKinds lists the kinds of the port's holds, once each, sorted.
func (p *livePort) holdKinds() []string {
	if p == nil {
		return nil
	}
	var out []string
	for _, h := range p.Holds {
		if !slices.Contains(out, h.Kind) {
			out = append(out, h.Kind)
		}
	}
	slices.Sort(out)
	return out
}

// backboneState is the state of the backbone between hubs a and b: the
// sessions each side reported toward the other (named by the peer's
// priority), all up, all down, or some of each.
func (lv liveView) backboneState(a, b catalog.Hub) panel.LiveState {
	var up, down int
	count := func(from catalog.HubID, peerPriority string) {
		for _, s := range lv.backbone[from] {
			if s.Name != peerPriority {
				continue
			}
			if s.State == "up" {
				up++
			} else {
				down++
			}
		}
	}
	count(a.ID, b.Priority)
	count(b.ID, a.Priority)
	return upDown(up, down)
}

// topology builds the picture's input: every hub, every port with its live
// state, and the backbone between every two hubs (it joins all of a
// customer's hubs).
func (lv liveView) topology(hubs []catalog.Hub, ports []catalog.Port, regionName func(string) string) panel.Topology {
	var in panel.TopologyInput
	for i, h := range hubs {
		in.Hubs = append(in.Hubs, panel.TopologyHub{ID: string(h.ID), RegionName: regionName(h.Region), Priority: h.Priority})
		for _, o := range hubs[i+1:] {
			in.Backbone = append(in.Backbone, panel.TopologyLink{A: string(h.ID), B: string(o.ID), State: lv.backboneState(h, o)})
		}
	}
	for _, p := range ports {
		in.Ports = append(in.Ports, panel.TopologyPort{Code: p.PortCode, HubID: string(p.HubID), Kind: p.Kind, State: lv.ports[p.PortCode].state()})
	}
	return panel.LayoutTopology(in)
}
