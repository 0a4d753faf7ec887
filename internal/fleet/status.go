package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Status is what a node's agent last reported, for the operator: the
// desired-state generation it processed in full, a node-wide error, and
// per hub the version it truly runs against the one it was given, with
// why not and what of the hub it did not build.
type Status struct {
	Node              string      `json:"node"`
	ReportedAt        time.Time   `json:"reported_at"`
	AppliedGeneration string      `json:"applied_generation"`
	AgentVersion      string      `json:"agent_version"`
	Error             string      `json:"error,omitempty"`
	Hubs              []HubStatus `json:"hubs"`
}

// HubStatus is one hub of a node's report, for the operator.
type HubStatus struct {
	HubID         catalog.HubID      `json:"hub_id"`
	CustomerID    catalog.CustomerID `json:"customer_id"`
	WantedVersion int64              `json:"wanted_version"`
	ConfigVersion int64              `json:"config_version"`
	Error         string             `json:"error,omitempty"`
	Problems      []observed.Problem `json:"problems"`
	Holds         []observed.Hold    `json:"holds"`
}

// Ingester takes what a node's accepted report measured, besides the
// status Report stores: probes (package monitor), traffic counters (usage),
// route counts (route quota), session events and versions reached
// (webhook). It is called after Report accepted and stored the report,
// whose hubs are then known to be placed on the node under their
// customers; an ingester still checks every port and monitor the report
// names against that hub. An ingester's failure does not refuse the
// report: cumulative counters and probes sent again make up for it, and
// the failure is logged.
type Ingester interface {
	Ingest(ctx context.Context, node string, r observed.Report) error
}

// Placed is what the desired state places on a node: each hub with the
// customer it belongs to. A node's report may name only these.
type Placed map[catalog.HubID]catalog.CustomerID

// Report records a node's report: the node's own row, and one row per hub
// it names (rows of hubs it no longer names go). A report naming a hub the
// desired state does not place on the node, or a hub under another
// customer, is refused whole and changes nothing: a node writes only its
// own hubs. Reports are frequent and carry no change of anyone's data, so
// they are not audited (the enrolment and revocation are).
func (f *Fleet) Report(ctx context.Context, n Node, r observed.Report, placed Placed) error {
	if err := r.Check(); err != nil {
		return fault.Field("report", "%s", err.Error())
	}
	r = r.WithLists()
	bodies := make([][]byte, len(r.Hubs))
	for i, h := range r.Hubs {
		cust, ok := placed[catalog.HubID(h.HubID)]
		if !ok || cust != catalog.CustomerID(h.CustomerID) {
			return fault.Field("hubs", "hub %s of customer %s is not placed on node %s", h.HubID, h.CustomerID, n.Name)
		}
		b, err := json.Marshal(h)
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		bodies[i] = b
	}
	node, err := json.Marshal(nodeReport{Error: r.Error})
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	now := clock.Store(clock.Now())
	return f.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO node_status (node_id, reported_at, applied_generation, agent_version, report) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (node_id) DO UPDATE SET reported_at = excluded.reported_at, applied_generation = excluded.applied_generation,
			agent_version = excluded.agent_version, report = excluded.report`,
			n.ID, now, r.AppliedGeneration, r.AgentVersion, string(node)); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM hub_observations WHERE node_id = ?`, n.ID); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		for i, h := range r.Hubs {
			if _, err := tx.Exec(ctx, `INSERT INTO hub_observations (hub_id, node_id, customer_id, reported_at, wanted_version, config_version, error, problems, body)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				h.HubID, n.ID, h.CustomerID, now, h.WantedVersion, h.ConfigVersion, h.Error, len(h.Problems), string(bodies[i])); err != nil {
				return fmt.Errorf("report: hub %s: %w", h.HubID, err)
			}
		}
		return nil
	})
}

// nodeReport is what node_status keeps of a report besides its columns.
type nodeReport struct {
	Error string `json:"error,omitempty"`
}

// NodeStatus returns the last report of the named node.
func (f *Fleet) NodeStatus(ctx context.Context, node string) (Status, error) {
	s := Status{Node: node, Hubs: []HubStatus{}}
	var id, at, report string
	err := store.Scan(f.db.QueryRow(ctx, `SELECT n.id, s.reported_at, s.applied_generation, s.agent_version, s.report
		FROM node_status s JOIN hub_nodes n ON n.id = s.node_id WHERE n.name = ?`, node), &id, &at, &s.AppliedGeneration, &s.AgentVersion, &report)
	if errors.Is(err, store.ErrNotFound) {
		return Status{}, fault.New(fault.NotFound, "no status reported for this node")
	}
	if err != nil {
		return Status{}, fmt.Errorf("node status: %w", err)
	}
	s.ReportedAt, _ = clock.Parse(at)
	var nr nodeReport
	if json.Unmarshal([]byte(report), &nr) == nil { // rows from before typed reports hold other objects
		s.Error = nr.Error
	}
	rows, err := f.db.Query(ctx, `SELECT body FROM hub_observations WHERE node_id = ? ORDER BY hub_id`, id)
	if err != nil {
		return Status{}, fmt.Errorf("node status: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return Status{}, fmt.Errorf("node status: %w", err)
		}
		h, err := decodeHub(body)
		if err != nil {
			return Status{}, err
		}
		s.Hubs = append(s.Hubs, HubStatus{HubID: catalog.HubID(h.HubID), CustomerID: catalog.CustomerID(h.CustomerID),
			WantedVersion: h.WantedVersion, ConfigVersion: h.ConfigVersion, Error: h.Error, Problems: h.Problems, Holds: h.Holds})
	}
	if err := rows.Err(); err != nil {
		return Status{}, fmt.Errorf("node status: %w", err)
	}
	return s, nil
}

// HubObservation is what one node last reported of a customer's hub.
type HubObservation struct {
	Node       string
	ReportedAt time.Time
	Hub        observed.Hub
}

// HubObservations returns what the nodes carrying the customer's hub last
// reported of it, one per node (a hub whose redundant port has its second
// leg on another node is on two), by node name. It reads the customer's
// own rows only, for a caller who may read its network: a hub of another
// customer has none.
func (f *Fleet) HubObservations(ctx context.Context, sc tenant.Scope, hub catalog.HubID) ([]HubObservation, error) {
	cust, err := sc.Authorize(identity.ActNetworkRead)
	if err != nil {
		return nil, err
	}
	rows, err := f.db.Query(ctx, `SELECT n.name, o.reported_at, o.body FROM hub_observations o JOIN hub_nodes n ON n.id = o.node_id
		WHERE o.customer_id = ? AND o.hub_id = ? ORDER BY n.name`, cust, hub)
	if err != nil {
		return nil, fmt.Errorf("hub observations: %w", err)
	}
	defer rows.Close()
	var out []HubObservation
	for rows.Next() {
		var o HubObservation
		var at, body string
		if err := rows.Scan(&o.Node, &at, &body); err != nil {
			return nil, fmt.Errorf("hub observations: %w", err)
		}
		o.ReportedAt, _ = clock.Parse(at)
		if o.Hub, err = decodeHub(body); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// decodeHub reads a stored hub observation, written by Report from a
// checked report.
func decodeHub(body string) (observed.Hub, error) {
	var h observed.Hub
	dec := json.NewDecoder(bytes.NewReader([]byte(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return observed.Hub{}, fmt.Errorf("stored hub observation: %w", err)
	}
	return h, nil
}
