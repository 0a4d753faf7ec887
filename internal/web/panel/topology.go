package panel

import (
	"cmp"
	"slices"
	"strings"
)

// LiveState is what a hub node last reported of a port or a backbone link,
// as the panel shows it. Each state has a colour (panel.css, topo-<state>
// and state-<state>) and always a text (catalogue cat.state.<state>): the
// colour is never the only carrier of the fact.
type LiveState string

const (
	StateUp LiveState = "up"
	// StateDegraded is a redundant port or a backbone pair with one side
	// down: traffic flows, the redundancy does not.
	StateDegraded LiveState = "degraded"
	StateDown     LiveState = "down"
	// StateHeld is a port the node holds down (layer-2 guard, route limit)
	// until the customer re-enables it.
	StateHeld LiveState = "held"
	// StateUnknown is a port or link no node has reported.
	StateUnknown LiveState = "unknown"
)

// TopologyInput is what the picture shows: the customer's hubs, its ports
// with their live state and the backbone links between its hubs. Names are
// already in the viewer's language.
type TopologyInput struct {
	Hubs     []TopologyHub
	Ports    []TopologyPort
	Backbone []TopologyLink
}

// TopologyHub is one of the customer's hubs.
type TopologyHub struct {
	ID         string
	RegionName string
	Priority   string // main | sub | backup
}

// TopologyPort is one port of a hub.
type TopologyPort struct {
	Code  string
	HubID string
	Kind  string // onprem, a-private, a-public, m-private, m-public, m2-public
	State LiveState
}

// TopologyLink is the backbone between two of the customer's hubs.
type TopologyLink struct {
	A, B  string // hub IDs
	State LiveState
}

// Topology is the picture with every coordinate computed: the template
// (partials/topology.html) only draws what is here, in order.
type Topology struct {
	Width, Height int
	Hubs          []HubBox
	Ports         []PortMark
	Ends          []EndBox
	Lines         []Line
	Backbone      []BackboneArc
}

// HubBox is a hub drawn as a box with its region and DR priority.
type HubBox struct {
	X, Y, W, H int
	TextX      int
	RegionY    int // baseline of the region's name
	PriorityY  int // baseline of the priority
	ID         string
	RegionName string
	Priority   string
	ElementID  string // id of the hub's group
	// NoPortsY is the baseline of the note that the hub has no port yet,
	// 0 when it has ports.
	NoPortsY int
}

// PortMark is a port drawn as a circle under its hub, with its code and
// state written beneath.
type PortMark struct {
	CX, CY, R     int
	CodeY, StateY int
	Code, Kind    string
	HubPriority   string
	HubRegionName string
	State         LiveState
	End           string // site | aws | azure: what lies beyond the port
	ElementID     string
}

// EndBox is what lies beyond a port: the customer's on-premises site or a
// cloud, drawn under the port.
type EndBox struct {
	X, Y, W, H, RX int
	TextX, TextY   int
	Kind           string // site | aws | azure
}

// Line joins a hub to a port (Class "attach") or a port to what lies
// beyond it (Class "access"), coloured by the port's state.
type Line struct {
	X1, Y1, X2, Y2 int
	Class          string
	State          LiveState
}

// BackboneArc is the backbone between two hubs: a quadratic curve from the
// top of one box to the top of the other, or a straight line between
// neighbours (then CX, CY lie on it).
type BackboneArc struct {
	X1, Y1, CX, CY, X2, Y2 int
	A, B                   HubBox
	State                  LiveState
}

// Layout constants, in SVG user units.
const (
	topoMargin   = 20
	topoColMin   = 220 // width of a hub's column
	topoPortGap  = 130 // width a port takes in its hub's column
	topoHubW     = 180
	topoHubH     = 56
	topoArcStep  = 22 // how far above the hubs each further arc rises
	topoPortDrop = 80 // from the hub's bottom to the ports' centres
	topoPortR    = 16
	topoEndDrop  = 88 // from the ports' centres to the ends' tops
	topoEndW     = 104
	topoEndH     = 36
)

var priorityOrder = map[string]int{"main": 0, "sub": 1, "backup": 2}

// EndOf names what lies beyond a port of kind: the customer's site for an
// on-premises port, else the cloud of the port's provider (type A: AWS,
// type M and M2: Azure).
func EndOf(kind string) string {
	switch {
	case kind == "onprem":
		return "site"
	case strings.HasPrefix(kind, "a-"):
		return "aws"
	default:
		return "azure"
	}
}

// LayoutTopology computes the picture: hubs left to right in DR order
// (main, sub, backup, then by ID), each hub's ports under it by code, what
// lies beyond each port under the port, and the backbone above. The same
// input always gives the same picture.
func LayoutTopology(in TopologyInput) Topology {
	hubs := slices.Clone(in.Hubs)
	slices.SortFunc(hubs, func(a, b TopologyHub) int {
		return cmp.Or(cmp.Compare(rank(a.Priority), rank(b.Priority)), cmp.Compare(a.ID, b.ID))
	})
	ports := map[string][]TopologyPort{}
	for _, p := range in.Ports {
		ports[p.HubID] = append(ports[p.HubID], p)
	}
	arcs := max(0, len(hubs)-2) // arcs between non-neighbours rise above the boxes
	hubY := topoMargin + topoArcStep*arcs/2 + 8
	portY := hubY + topoHubH + topoPortDrop
	endY := portY + topoEndDrop
	t := Topology{Height: endY + topoEndH + topoMargin}
	x := topoMargin
	index := map[string]int{}
	for i, h := range hubs {
		ps := ports[h.ID]
		slices.SortFunc(ps, func(a, b TopologyPort) int { return cmp.Compare(a.Code, b.Code) })
		colW := max(topoColMin, len(ps)*topoPortGap)
		box := HubBox{X: x + (colW-topoHubW)/2, Y: hubY, W: topoHubW, H: topoHubH, ID: h.ID,
			RegionName: h.RegionName, Priority: h.Priority, ElementID: "topo-hub-" + idPart(h.ID)}
		box.TextX, box.RegionY, box.PriorityY = box.X+box.W/2, hubY+24, hubY+44
		if len(ps) == 0 {
			box.NoPortsY = portY
		}
		index[h.ID] = i
		t.Hubs = append(t.Hubs, box)
		first := x + (colW-len(ps)*topoPortGap)/2 + topoPortGap/2
		for j, p := range ps {
			cx := first + j*topoPortGap
			end := EndOf(p.Kind)
			t.Ports = append(t.Ports, PortMark{CX: cx, CY: portY, R: topoPortR, CodeY: portY + topoPortR + 16,
				StateY: portY + topoPortR + 32, Code: p.Code, Kind: p.Kind, HubPriority: h.Priority, HubRegionName: h.RegionName,
				State: p.State, End: end, ElementID: "topo-port-" + idPart(p.Code)})
			t.Lines = append(t.Lines,
				Line{X1: box.TextX, Y1: hubY + topoHubH, X2: cx, Y2: portY - topoPortR, Class: "attach", State: p.State},
				Line{X1: cx, Y1: portY + topoPortR + 38, X2: cx, Y2: endY, Class: "access", State: p.State})
			e := EndBox{X: cx - topoEndW/2, Y: endY, W: topoEndW, H: topoEndH, TextX: cx, TextY: endY + 23, Kind: end}
			if end != "site" {
				e.RX = topoEndH / 2 // clouds are rounded
			}
			t.Ends = append(t.Ends, e)
		}
		x += colW
	}
	t.Width = x + topoMargin
	links := slices.Clone(in.Backbone)
	for i := range links {
		if index[links[i].A] > index[links[i].B] {
			links[i].A, links[i].B = links[i].B, links[i].A
		}
	}
	slices.SortFunc(links, func(a, b TopologyLink) int {
		return cmp.Or(cmp.Compare(index[a.A], index[b.A]), cmp.Compare(index[a.B], index[b.B]))
	})
	for _, l := range links {
		ia, okA := index[l.A]
		ib, okB := index[l.B]
		if !okA || !okB || ia == ib {
			continue // a link to a hub not in the picture is not drawn
		}
		a, b := t.Hubs[ia], t.Hubs[ib]
		arc := BackboneArc{A: a, B: b, State: l.State}
		if ib-ia == 1 {
			y := a.Y + a.H/2
			arc.X1, arc.Y1, arc.X2, arc.Y2 = a.X+a.W, y, b.X, y
			arc.CX, arc.CY = (arc.X1+arc.X2)/2, y
		} else {
			arc.X1, arc.Y1, arc.X2, arc.Y2 = a.TextX, a.Y, b.TextX, b.Y
			arc.CX, arc.CY = (a.TextX+b.TextX)/2, a.Y-topoArcStep*(ib-ia)
		}
		t.Backbone = append(t.Backbone, arc)
	}
	return t
}

func rank(priority string) int {
	if r, ok := priorityOrder[priority]; ok {
		return r
	}
	return len(priorityOrder)
}

// idPart keeps the characters of an ID that are safe in an element id.
func idPart(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}
