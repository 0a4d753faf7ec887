package network

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/text"
)

// What operator staff see of a node's desired state. The agent's document
// holds every customer's saved data on the node; staff have no access to
// saved data except through a break-glass grant for one customer (docs/
// roles.md). So a customer's section is shown in full only while the reader
// holds a live grant for that customer; otherwise it is cut down to what
// running the node needs, all of it operator data or the data plane's own
// state, none of it the customer's configuration:
//
//   - the hub: its ID, customer, namespace, applied version number, DR
//     priority, and its backbone membership (VNI, overlay address,
//     tunnel endpoints of the customer's other hubs) — allocated by the
//     system from the placement, not written by the customer;
//   - each port placed here: code, kind, contracted speed, its legs
//     (physical interface, role, VLAN) and whether BGP is enabled or a
//     layer-2 guard holds it shut, and how many BGP sessions it has.
//
// Left out: the hub ASN, internal and monitoring networks, BGP peer
// addresses, ASNs, BFD and (always) passwords, route policies, layer-2 guard
// settings, firewall policies, NAPT and static NAT — the customer's saved
// data (DESIGN principle 2).

// StaffSchema names the shape of the staff view.
const StaffSchema = "tsunagi.desired-state.staff/v1"

// Access levels of a customer's section in the staff view.
const (
	AccessPlacement  = "placement"   // no grant: what running the node needs
	AccessBreakGlass = "break-glass" // a live grant: the whole section
)

// StaffGrant is a reader's live break-glass grant for one customer, as the
// identity service found it.
type StaffGrant struct {
	ID     string
	Reason string
}

// StaffState is a node's desired state as operator staff see it.
type StaffState struct {
	Schema string `json:"schema"`
	// Generation identifies this view (the ETag); AgentGeneration is that
	// of the agent's document, which the node reports having reached.
	Generation      string     `json:"generation"`
	AgentGeneration string     `json:"agent_generation"`
	Node            string     `json:"node"`
	Region          string     `json:"region"`
	RouteLimit      int        `json:"route_limit"`
	Hubs            []StaffHub `json:"hubs"`
}

// StaffHub is one customer hub on the node.
type StaffHub struct {
	HubID         string           `json:"hub_id"`
	CustomerID    string           `json:"customer_id"`
	Namespace     string           `json:"namespace"`
	ConfigVersion int64            `json:"config_version"`
	Priority      string           `json:"priority"`
	Access        string           `json:"access"` // placement | break-glass
	Backbone      desired.Backbone `json:"backbone"`
	Ports         []StaffPort      `json:"ports"`
	// Config is the hub's whole section of the agent's document, BGP
	// passwords masked; only under a break-glass grant.
	Config *desired.Hub `json:"config,omitempty"`
}

// StaffPort is a customer port placed on the node.
type StaffPort struct {
	PortCode    string        `json:"port_code"`
	Kind        string        `json:"kind"`
	SpeedMbps   int64         `json:"speed_mbps"`
	Legs        []desired.Leg `json:"legs"`
	BGPSessions int           `json:"bgp_session_count"`
	BGPEnabled  bool          `json:"bgp_enabled"`
	Shut        string        `json:"shut,omitempty"`
}

// StaffView cuts st down for staff: the sections of customers in grants in
// full (passwords masked), the others to placement. It is pure; the caller
// records the accesses.
func StaffView(st desired.State, grants map[catalog.CustomerID]StaffGrant) StaffState {
	out := StaffState{Schema: StaffSchema, AgentGeneration: st.Generation, Node: st.Node, Region: st.Region,
		RouteLimit: st.RouteLimit, Hubs: []StaffHub{}}
	for _, h := range st.Hubs {
		sh := StaffHub{HubID: h.HubID, CustomerID: h.CustomerID, Namespace: h.Namespace, ConfigVersion: h.ConfigVersion,
			Priority: h.Priority, Access: AccessPlacement, Backbone: h.Backbone, Ports: []StaffPort{}}
		for _, p := range h.Ports {
			sh.Ports = append(sh.Ports, StaffPort{PortCode: p.PortCode, Kind: p.Kind, SpeedMbps: p.SpeedMbps, Legs: p.Legs,
				BGPSessions: len(p.Sessions), BGPEnabled: p.BGPEnabled, Shut: p.Shut})
		}
		if _, ok := grants[catalog.CustomerID(h.CustomerID)]; ok {
			full := maskHub(h)
			sh.Access, sh.Config = AccessBreakGlass, &full
		}
		out.Hubs = append(out.Hubs, sh)
	}
	return out
}

// maskHub copies h with its BGP passwords masked: staff read the
// configuration, never its secrets, even under a grant.
func maskHub(h desired.Hub) desired.Hub {
	ports := make([]desired.Port, len(h.Ports))
	for i, p := range h.Ports {
		p.Sessions = append([]desired.Session(nil), p.Sessions...)
		for k := range p.Sessions {
			if p.Sessions[k].MD5 != "" {
				p.Sessions[k].MD5 = SecretMask
			}
		}
		ports[i] = p
	}
	h.Ports = ports
	return h
}

// encodeStaff sets v.Generation (a hash of the view without it) and
// returns the encoding.
func encodeStaff(v *StaffState) ([]byte, error) {
	v.Generation = ""
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	v.Generation = hex.EncodeToString(sum[:])
	return json.MarshalIndent(v, "", "  ")
}

// DesiredStateForStaff is a node's desired state for operator staff
// (StaffView), read with a stated reason. The read is recorded, in the same
// transaction, in the audit log (the operator's record: node, reason, which
// customers were shown in full) and, for each customer shown in full, in
// that customer's own log with the grant's reason.
func (s *Compiler) DesiredStateForStaff(ctx context.Context, node, reason string, grants map[catalog.CustomerID]StaffGrant) ([]byte, StaffState, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" || len(reason) > 500 {
		return nil, StaffState{}, fault.Field("reason", "state why you read the node's desired state (reason, at most 500 characters)")
	}
	if msg := text.SingleLine(reason); msg != "" {
		return nil, StaffState{}, fault.Field("reason", "reason %s", msg)
	}
	var v StaffState
	var b []byte
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		in, err := s.nodeInput(ctx, tx, node)
		if err != nil {
			return err
		}
		st := BuildDesiredState(in)
		if _, err := desired.Encode(&st); err != nil {
			return err
		}
		v = StaffView(st, grants)
		if b, err = encodeStaff(&v); err != nil {
			return err
		}
		full := []string{}
		seen := map[string]bool{}
		for _, h := range v.Hubs {
			if h.Access != AccessBreakGlass || seen[h.CustomerID] {
				continue
			}
			seen[h.CustomerID] = true
			full = append(full, h.CustomerID)
			g := grants[catalog.CustomerID(h.CustomerID)]
			a := audit.ActorFrom(ctx)
			a.OnBehalfOf = h.CustomerID
			if err := s.audit.RecordTx(audit.WithActor(ctx, a), tx, audit.Event{Action: "breakglass.access",
				Target: "node:" + node + "/desired-state", CustomerID: h.CustomerID, Reason: g.Reason,
				Detail: map[string]any{"grant": g.ID, "stated_reason": reason, "generation": v.Generation}}); err != nil {
				return err
			}
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "desired_state.read", Target: "node:" + node + "/desired-state",
			Reason: reason, Detail: map[string]any{"generation": v.Generation, "customers_in_full": full}})
	})
	return b, v, err
}
