package web

import (
	"slices"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/dataplane"
)

// What the hub node observed of a customer's hub, for the customer: each
// port's BGP sessions and links (a redundant port's legs with their
// carrier: a leg without one means the port has lost its redundancy) and
// the backbone sessions to the customer's other hubs. It is read from the
// node's last report, never from what was configured.

// portDataplane is one port as the node observed it.
type portDataplane struct {
	PortCode string             `json:"port_code"`
	Sessions []sessionDataplane `json:"bgp_sessions"`
	Links    []linkDataplane    `json:"links"`
}

// sessionDataplane is one BGP session: a port's (single, primary,
// secondary) or a backbone session (named after the peer hub's role).
type sessionDataplane struct {
	Name     string          `json:"name"`
	State    string          `json:"state"` // BIRD's protocol state: up, start, down
	Info     string          `json:"info"`  // Established, Active, Connect, …
	Since    time.Time       `json:"since"`
	Imported int             `json:"imported_prefixes"`
	Filtered int             `json:"filtered_prefixes"`
	Exported int             `json:"exported_prefixes"`
	Refused  []refusedPrefix `json:"refused,omitempty"`
}

// refusedPrefix is a received prefix the hub's import filter refused.
type refusedPrefix struct {
	Prefix string `json:"prefix"`
	Reason string `json:"reason"`
}

// linkDataplane is one interface of a port: the connection's (a session's
// interface) or, for a redundant on-premises port, each physical leg.
type linkDataplane struct {
	Connection string `json:"connection"`    // single | primary | secondary
	Leg        string `json:"leg,omitempty"` // primary | secondary: a redundant port's physical link
	Carrier    bool   `json:"carrier"`
	RxBytes    uint64 `json:"rx_bytes"`
	RxPackets  uint64 `json:"rx_packets"`
	RxDrops    uint64 `json:"rx_drops"`
	TxBytes    uint64 `json:"tx_bytes"`
	TxPackets  uint64 `json:"tx_packets"`
	TxDrops    uint64 `json:"tx_drops"`
}

// dataplanePortName splits a data-plane port name, p<port digits>_<initial
// of the session>, into the port code and the initial.
func dataplanePortName(name string) (code string, initial byte, ok bool) {
	digits, role, found := strings.Cut(strings.TrimPrefix(name, "p"), "_")
	if !found || !strings.HasPrefix(name, "p") || len(role) != 1 || digits == "" {
		return "", 0, false
	}
	return "shc" + digits, role[0], true
}

// hubObserved turns the data plane's status of one hub into the customer's
// view. A port's "s" session is its secondary when it also has a primary,
// otherwise its single session.
func hubObserved(st dataplane.Status) (ports []portDataplane, backbone []sessionDataplane) {
	byCode := map[string]*portDataplane{}
	var order []string
	port := func(code string) *portDataplane {
		if p, ok := byCode[code]; ok {
			return p
		}
		byCode[code] = &portDataplane{PortCode: code, Sessions: []sessionDataplane{}, Links: []linkDataplane{}}
		order = append(order, code)
		return byCode[code]
	}
	hasPrimary := map[string]bool{}
	for _, names := range [][]string{sessionNames(st), linkPorts(st)} {
		for _, n := range names {
			if code, initial, ok := dataplanePortName(n); ok && initial == 'p' {
				hasPrimary[code] = true
			}
		}
	}
	role := func(code string, initial byte) string {
		switch {
		case initial == 'p':
			return "primary"
		case hasPrimary[code]:
			return "secondary"
		}
		return "single"
	}
	for _, s := range st.Sessions {
		v := sessionDataplane{State: s.State, Info: s.Info, Since: s.Since,
			Imported: s.Routes.Imported, Filtered: s.Routes.Filtered, Exported: s.Routes.Exported}
		for _, f := range s.Filtered {
			v.Refused = append(v.Refused, refusedPrefix{Prefix: f.Prefix, Reason: f.Reason})
		}
		if peer, ok := strings.CutPrefix(s.Name, "bb_"); ok {
			v.Name = peer
			backbone = append(backbone, v)
			continue
		}
		code, initial, ok := dataplanePortName(strings.TrimPrefix(s.Name, "port_"))
		if !ok {
			continue
		}
		v.Name = role(code, initial)
		p := port(code)
		p.Sessions = append(p.Sessions, v)
	}
	for _, l := range st.Links {
		code, initial, ok := dataplanePortName(l.Port)
		if !ok {
			continue
		}
		p := port(code)
		p.Links = append(p.Links, linkDataplane{Connection: role(code, initial), Leg: l.Leg, Carrier: l.Carrier,
			RxBytes: l.RxBytes, RxPackets: l.RxPackets, RxDrops: l.RxDrops, TxBytes: l.TxBytes, TxPackets: l.TxPackets, TxDrops: l.TxDrops})
	}
	slices.Sort(order)
	for _, c := range order {
		ports = append(ports, *byCode[c])
	}
	return ports, backbone
}

func sessionNames(st dataplane.Status) []string {
	var out []string
	for _, s := range st.Sessions {
		out = append(out, strings.TrimPrefix(s.Name, "port_"))
	}
	return out
}

func linkPorts(st dataplane.Status) []string {
	var out []string
	for _, l := range st.Links {
		out = append(out, l.Port)
	}
	return out
}
