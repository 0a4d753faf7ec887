package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// Status is what a node's agent last reported: the desired-state generation
// its data plane has reached and what it observed (BGP sessions, counters,
// errors) as a JSON object defined by the agent.
type Status struct {
	Node              string          `json:"node"`
	ReportedAt        time.Time       `json:"reported_at"`
	AppliedGeneration string          `json:"applied_generation"`
	AgentVersion      string          `json:"agent_version"`
	Report            json.RawMessage `json:"report"`
}

// StatusInput is an agent's report.
type StatusInput struct {
	AppliedGeneration string          `json:"applied_generation"`
	AgentVersion      string          `json:"agent_version"`
	Report            json.RawMessage `json:"report"`
}

var (
	generationRE = regexp.MustCompile(`^[0-9a-f]{0,64}$`)
	versionRE    = regexp.MustCompile(`^[A-Za-z0-9._+-]{1,64}$`)
)

// Report records node's status. Reports are frequent and carry no change of
// anyone's data, so they are not audited (the enrolment and revocation are).
func (f *Fleet) Report(ctx context.Context, n Node, in StatusInput) error {
	if !generationRE.MatchString(in.AppliedGeneration) {
		return fault.Field("applied_generation", "applied_generation must be a hex digest")
	}
	if !versionRE.MatchString(in.AgentVersion) {
		return fault.Field("agent_version", "agent_version must be 1–64 letters, digits or ._+-")
	}
	var obj map[string]json.RawMessage
	if len(in.Report) == 0 || json.Unmarshal(in.Report, &obj) != nil {
		return fault.Field("report", "report must be a JSON object")
	}
	now := clock.Store(clock.Now())
	return f.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE node_status SET reported_at = ?, applied_generation = ?, agent_version = ?, report = ? WHERE node_id = ?`,
			now, in.AppliedGeneration, in.AgentVersion, string(in.Report), n.ID)
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if k, _ := res.RowsAffected(); k == 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO node_status (node_id, reported_at, applied_generation, agent_version, report) VALUES (?, ?, ?, ?, ?)`,
				n.ID, now, in.AppliedGeneration, in.AgentVersion, string(in.Report)); err != nil {
				return fmt.Errorf("report: %w", err)
			}
		}
		return nil
	})
}

// NodeStatus returns the last report of the named node.
func (f *Fleet) NodeStatus(ctx context.Context, node string) (Status, error) {
	s := Status{Node: node}
	var at, report string
	err := store.Scan(f.db.QueryRow(ctx, `SELECT s.reported_at, s.applied_generation, s.agent_version, s.report
		FROM node_status s JOIN hub_nodes n ON n.id = s.node_id WHERE n.name = ?`, node), &at, &s.AppliedGeneration, &s.AgentVersion, &report)
	if errors.Is(err, store.ErrNotFound) {
		return Status{}, fault.New(fault.NotFound, "no status reported for this node")
	}
	if err != nil {
		return Status{}, fmt.Errorf("node status: %w", err)
	}
	s.ReportedAt, _ = clock.Parse(at)
	s.Report = json.RawMessage(report)
	return s, nil
}
