package web

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/agent"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/network"
)

// hubDataplane tells a customer whether its hub's data plane runs the
// configuration version it applied — the version the node last reported for
// the hub, against the customer's current version — and what the node
// observed of the hub's ports and backbone sessions.
type hubDataplane struct {
	HubID          catalog.HubID `json:"hub_id"`
	AppliedVersion int64         `json:"applied_version"`
	ReachedVersion int64         `json:"reached_version"`
	InSync         bool          `json:"in_sync"`
	ReportedAt     *time.Time    `json:"reported_at,omitempty"`
	Error          string        `json:"error,omitempty"`
	// Ports and Backbone are what the node observed at its last report.
	Ports    []portDataplane    `json:"ports"`
	Backbone []sessionDataplane `json:"backbone"`
}

func (s *Server) myHubDataplane(w http.ResponseWriter, r *http.Request) error {
	if s.deps.Workflow == nil {
		return fault.New(fault.Unavailable, "the hub service model is not available on this controller")
	}
	ctx := r.Context()
	cust := principal(r).Scope()
	hub := catalog.HubID(r.PathValue("id"))
	node, err := s.deps.Workflow.HubNode(ctx, cust, hub)
	if err != nil {
		return err
	}
	v, err := s.deps.Workflow.Applied(ctx, cust)
	if err != nil {
		return err
	}
	out := hubDataplane{HubID: hub, AppliedVersion: v.Version, Ports: []portDataplane{}, Backbone: []sessionDataplane{}}
	if node != "" && s.deps.Fleet != nil {
		if st, err := s.deps.Fleet.NodeStatus(ctx, node); err == nil {
			out.ReportedAt = &st.ReportedAt
			var rep struct {
				Observed map[string]json.RawMessage `json:"observed"`
			}
			var hubs []agent.HubReport
			if json.Unmarshal(st.Report, &rep) == nil && json.Unmarshal(rep.Observed[agent.HubsKey], &hubs) == nil {
				for _, h := range hubs {
					if h.HubID != string(hub) {
						continue
					}
					if h.Applied {
						out.ReachedVersion = h.ConfigVersion
					} else {
						out.Error = "the node could not apply the hub's configuration; the operator has been notified by the node's report"
					}
				}
			}
			var observed dataplane.Status
			if raw, ok := rep.Observed[network.DataplaneID(hub)]; ok && json.Unmarshal(raw, &observed) == nil {
				ports, backbone := hubObserved(observed)
				out.Ports = append(out.Ports, ports...)
				out.Backbone = append(out.Backbone, backbone...)
			}
		} else if !fault.Is(err, fault.NotFound) {
			return err
		}
	}
	out.InSync = out.AppliedVersion > 0 && out.ReachedVersion == out.AppliedVersion
	writeJSON(w, http.StatusOK, out)
	return nil
}
