package observed

import "time"

// Schema names this version of the report.
const Schema = "tsunagi.node-report/v1"

// Report is one node's report.
type Report struct {
	Schema string `json:"schema"`
	// AppliedGeneration is the generation of the last desired-state
	// document the agent processed in full (every hub of it either
	// reached or reported with its Error); "" before the first.
	AppliedGeneration string `json:"applied_generation"`
	AgentVersion      string `json:"agent_version"`
	// ObservedAt is when the hubs below were observed: the end of the
	// agent's pass that read them (counters included), not when the
	// report was sent.
	ObservedAt time.Time `json:"observed_at"`
	// Error is a failure of the node's last pass outside any one hub's
	// version: the document was refused, the node's links could not be
	// listed, a hub could not be observed or removed. "" when none.
	Error string `json:"error,omitempty"`
	Hubs  []Hub  `json:"hubs"`
}

// Hub is what the node runs and observed of one customer hub.
type Hub struct {
	HubID      string `json:"hub_id"`
	CustomerID string `json:"customer_id"`
	// WantedVersion is the customer's configuration version in the
	// document the node was given; ConfigVersion the version the hub's
	// data plane truly runs (0: none yet). They differ while a version
	// cannot be realised, and Error says why.
	WantedVersion int64  `json:"wanted_version"`
	ConfigVersion int64  `json:"config_version"`
	Error         string `json:"error,omitempty"`
	// Problems are the parts of the desired state the hub did not build.
	Problems []Problem `json:"problems"`
	Ports    []Port    `json:"ports"`
	// Backbone holds the iBGP sessions to the customer's other hubs, each
	// named by the peer hub's DR priority (main, sub, backup).
	Backbone []Session `json:"backbone"`
	// Holds are the ports the node holds down (level-triggered: reported
	// on every pass while they last).
	Holds []Hold `json:"holds"`
	// Events happened since the previous report (edge-triggered).
	Events []Event `json:"events"`
	// Monitors are the reachability probes the hub sent since the
	// previous report, per monitor of the desired state (absent before
	// the hub has monitors; issue #15).
	Monitors []MonitorReport `json:"monitors,omitempty"`
}

// MonitorReport is what the hub's prober measured for one reachability
// monitor since the report before: each probe once. A report the
// controller did not take is sent again with the probes since, so the
// controller keys probes by monitor and time and takes each once.
type MonitorReport struct {
	// ID is the monitor's ID in the desired state.
	ID string `json:"id"`
	// Probes are oldest first, at most MaxProbes.
	Probes []Probe `json:"probes"`
	// Dropped counts probes the agent could not keep for a report (its
	// buffer was full while the controller was out of reach).
	Dropped int `json:"dropped,omitempty"`
}

// Probe is one probe toward a monitor's target, sent from the hub's own
// address on its monitoring network.
type Probe struct {
	At time.Time `json:"at"`
	OK bool      `json:"ok"`
	// RTTMicros is the round-trip time of an answered probe.
	RTTMicros int64 `json:"rtt_us,omitempty"`
	// Error says why a probe failed: timeout, refused, unreachable, or
	// the error's text.
	Error string `json:"error,omitempty"`
}

// Problem is one part of the desired state that the hub does not run.
type Problem struct {
	// PortCode is the customer's port, "" for a part of the hub itself
	// (its backbone, its networks).
	PortCode string `json:"port_code,omitempty"`
	// Item names the part: "session secondary", "napt grade 3",
	// "firewall rule 4", "backbone peer sub", "layer-2 guards", …
	Item   string `json:"item"`
	Reason string `json:"reason"`
}

// Port is one customer port as the node observed it.
type Port struct {
	PortCode string    `json:"port_code"`
	Sessions []Session `json:"bgp_sessions"`
	Links    []Link    `json:"links"`
	// Rules are the port's firewall counters, keyed by the customer's own
	// rule number.
	Rules []RuleCounter `json:"firewall_rules"`
}

// Session is one BGP session.
type Session struct {
	// Name is single, primary or secondary for a port's session; the peer
	// hub's priority for a backbone session.
	Name  string    `json:"name"`
	State string    `json:"state"` // BIRD's protocol state: up, start, down
	Info  string    `json:"info"`  // Established, Active, Connect, …
	Since time.Time `json:"since"`
	// The route counts BIRD reports for the session: the one source of
	// these figures for the panel, the API, notices and the audit log.
	Imported int `json:"imported_prefixes"`
	Filtered int `json:"filtered_prefixes"`
	Exported int `json:"exported_prefixes"`
	// Refused lists received prefixes the import filter refused (at most
	// MaxRefused).
	Refused []Refused `json:"refused"`
}

// MaxRefused bounds the refused prefixes listed per session.
const MaxRefused = 100

// Refused is a received prefix the hub refused, and why.
type Refused struct {
	Prefix string `json:"prefix"`
	Reason string `json:"reason"`
}

// Link is one interface of a port: a session's connection or, for a
// redundant on-premises port, each physical leg.
type Link struct {
	Connection string `json:"connection"`    // single | primary | secondary
	Leg        string `json:"leg,omitempty"` // primary | secondary: a redundant port's physical link
	Carrier    bool   `json:"carrier"`
	RxBytes    uint64 `json:"rx_bytes"`
	RxPackets  uint64 `json:"rx_packets"`
	RxDrops    uint64 `json:"rx_drops"`
	TxBytes    uint64 `json:"tx_bytes"`
	TxPackets  uint64 `json:"tx_packets"`
	TxDrops    uint64 `json:"tx_drops"`
	// IfIndex is the interface's index in its namespace: the counters
	// above count from the interface's creation, so another index means
	// they started again from zero (0: not reported).
	IfIndex int `json:"ifindex,omitempty"`
}

// RuleCounter counts what one of the customer's firewall rules matched on
// a port (all the data-plane rules a customer rule expands into, summed).
type RuleCounter struct {
	// Rule is the customer's rule number (the index in its policy);
	// DefaultRule for the final default deny.
	Rule    int    `json:"rule"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// DefaultRule numbers the policy's final default action in RuleCounter.
const DefaultRule = -1

// Hold kinds.
const (
	HoldL2Guard    = "l2_guard"
	HoldRouteLimit = "route_limit"
)

// Hold is a port the node holds down until the customer re-enables it.
type Hold struct {
	Kind     string `json:"kind"` // l2_guard | route_limit
	PortCode string `json:"port_code"`
	// Session is the held BGP session (route_limit), "" for the port.
	Session string `json:"session,omitempty"`
	// Reason is bpdu or flap (l2_guard; unknown when the node cannot read
	// its record), limit (route_limit).
	Reason string    `json:"reason"`
	Detail string    `json:"detail,omitempty"`
	Since  time.Time `json:"since"`
	// Prefixes is, for a route limit, the count of prefixes BIRD reported
	// when it stopped the session, and Limit the limit in force.
	Prefixes int `json:"prefixes,omitempty"`
	Limit    int `json:"limit,omitempty"`
	// ReenableSeq is the port's re-enable sequence in force when the hold
	// began: a report below the customer's latest re-enable is stale.
	ReenableSeq int64 `json:"reenable_seq"`
}

// Event kinds.
const (
	EventSession = "session" // a BGP session changed state
	EventHold    = "hold"    // the node began holding a port
)

// Event is something that happened on the hub since the previous report.
type Event struct {
	Kind     string    `json:"kind"`
	At       time.Time `json:"at"`
	PortCode string    `json:"port_code,omitempty"`
	// Session names the session of a session event (as Session.Name).
	Session string `json:"session,omitempty"`
	From    string `json:"from,omitempty"` // session event: previous Info
	To      string `json:"to,omitempty"`   // session event: new Info
	// Hold is set on a hold event.
	Hold *Hold `json:"hold,omitempty"`
}
