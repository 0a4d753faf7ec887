package notice

import "time"

// Kinds of notice.
const (
	Announcement = "announcement"
	Incident     = "incident"
)

// Statuses. An announcement is a draft, then published, and may be
// cancelled; an incident is a draft, then investigating, identified,
// monitoring and resolved (in any order the facts dictate), and may be
// cancelled (opened in error).
const (
	StatusDraft         = "draft"
	StatusPublished     = "published"
	StatusInvestigating = "investigating"
	StatusIdentified    = "identified"
	StatusMonitoring    = "monitoring"
	StatusResolved      = "resolved"
	StatusCancelled     = "cancelled"
)

// Sources of a notice: the operator, or a condition the platform saw that
// opened an automatic draft.
const (
	SourceOperator      = "operator"
	SourceNodeSilent    = "node-silent"
	SourceHubUnrealised = "hub-unrealised"
)

// Scope is what a notice concerns, as the operator chose it. A customer is
// affected when any of its hubs or ports sits in the scope: a hub placed on
// a named node or in a named region, a port with a leg on a named physical
// port or node, a named hub, or the customer named itself.
type Scope struct {
	Regions       []string       `json:"regions"`        // region names
	Nodes         []string       `json:"nodes"`          // hub node names
	PhysicalPorts []PhysicalPort `json:"physical_ports"` // a node's physical port
	Hubs          []string       `json:"hubs"`           // hub IDs
	Customers     []string       `json:"customers"`      // customer IDs
}

// PhysicalPort names one physical port of a hub node.
type PhysicalPort struct {
	Node string `json:"node"`
	Port string `json:"port"`
}

// Notice is an announcement or an incident as the operator sees it.
type Notice struct {
	ID                string     `json:"id"`
	Kind              string     `json:"kind"`
	Category          string     `json:"category"`
	Severity          string     `json:"severity,omitempty"` // incidents: critical | major | minor
	Status            string     `json:"status"`
	TitleJA           string     `json:"title_ja"`
	TitleEN           string     `json:"title_en"`
	BodyJA            string     `json:"body_ja"`
	BodyEN            string     `json:"body_en"`
	StartsAt          *time.Time `json:"starts_at,omitempty"`
	EndsAt            *time.Time `json:"ends_at,omitempty"`
	Scope             Scope      `json:"scope"`
	AffectsForwarding bool       `json:"affects_forwarding"`
	Security          bool       `json:"security"`
	DataAffected      string     `json:"data_affected,omitempty"`
	Source            string     `json:"source"`
	ApprovedBy        string     `json:"approved_by,omitempty"`
	ApprovalReason    string     `json:"approval_reason,omitempty"`
	ApprovedAt        *time.Time `json:"approved_at,omitempty"`
	CreatedBy         string     `json:"created_by"`
	CreatedAt         time.Time  `json:"created_at"`
	PublishedAt       *time.Time `json:"published_at,omitempty"`
	UpdatedAt         time.Time  `json:"updated_at"`
	Revision          int64      `json:"revision"`
}

// Update is one step of a notice's history, with its text as it was then.
type Update struct {
	Seq     int64     `json:"seq"`
	Kind    string    `json:"kind"` // create | edit | publish | update | status | cancel
	Status  string    `json:"status"`
	TitleJA string    `json:"title_ja"`
	TitleEN string    `json:"title_en"`
	BodyJA  string    `json:"body_ja"`
	BodyEN  string    `json:"body_en"`
	At      time.Time `json:"at"`
	By      string    `json:"by"`
}

// AffectedCustomer is one customer a scope resolves to, with why.
type AffectedCustomer struct {
	CustomerID string   `json:"customer_id"`
	Name       string   `json:"name"`
	Reasons    []Reason `json:"reasons"`
}

// Reason is one way a scope reaches a customer: which of its hubs or
// ports sits on what the operator named. It is data, not words, so that
// every reader sees it in its own language (mails, pages).
type Reason struct {
	Kind         string `json:"kind"`                    // Reason* below
	Hub          string `json:"hub,omitempty"`           // hub ID (hub-node, hub-region, hub)
	Port         string `json:"port,omitempty"`          // port code (port-node, port-physical)
	Node         string `json:"node,omitempty"`          // hub node name (hub-node, port-node, port-physical)
	PhysicalPort string `json:"physical_port,omitempty"` // the node's physical port (port-node, port-physical)
	Region       string `json:"region,omitempty"`        // region code (hub-region)
}

// Kinds of Reason.
const (
	ReasonHubNode      = "hub-node"      // a hub placed on a named node
	ReasonHubRegion    = "hub-region"    // a hub in a named region
	ReasonHub          = "hub"           // a named hub
	ReasonPortNode     = "port-node"     // a port with a leg on a named node
	ReasonPortPhysical = "port-physical" // a port with a leg on a named physical port
	ReasonCustomer     = "customer"      // the customer named itself
)
