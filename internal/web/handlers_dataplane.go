package web

import (
	"context"
	"net/http"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// hubDataplane tells a customer whether its hub's data plane runs the
// configuration version it applied — the version the hub's node reports
// the hub truly runs, against the customer's current version — why not,
// what of the hub the node did not build, and what it observed of the
// hub's ports and backbone sessions. It is read from the hub's own rows of
// the nodes' reports (network/observed), never from what was configured
// nor from any other customer's.
type hubDataplane struct {
	HubID          catalog.HubID `json:"hub_id"`
	AppliedVersion int64         `json:"applied_version"`
	// ReachedVersion is the version the hub's data plane truly runs; with
	// the hub on two nodes (a redundant port's second leg), the lower.
	ReachedVersion int64      `json:"reached_version"`
	InSync         bool       `json:"in_sync"`
	ReportedAt     *time.Time `json:"reported_at,omitempty"`
	// Error says why the hub does not run the applied version; it keeps
	// its last good state meanwhile.
	Error    string             `json:"error,omitempty"`
	Problems []observed.Problem `json:"problems"`
	Ports    []observed.Port    `json:"ports"`
	Backbone []observed.Session `json:"backbone"`
}

func (s *Server) myHubDataplane(w http.ResponseWriter, r *http.Request) error {
	out, err := s.hubDataplane(r.Context(), principal(r).Scope(), catalog.HubID(r.PathValue("id")))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// hubDataplane is the customer's hub's data-plane state; the API and the
// panel's configuration page both show it.
func (s *Server) hubDataplane(ctx context.Context, cust tenant.Scope, hub catalog.HubID) (hubDataplane, error) {
	if s.deps.Workflow == nil {
		return hubDataplane{}, fault.New(fault.Unavailable, "the hub service model is not available on this controller")
	}
	// The hub's node is asked first: it answers NotFound for a hub that is
	// not the customer's.
	if _, err := s.deps.Workflow.HubNode(ctx, cust, hub); err != nil {
		return hubDataplane{}, err
	}
	v, err := s.deps.Workflow.Applied(ctx, cust)
	if err != nil {
		return hubDataplane{}, err
	}
	out := hubDataplane{HubID: hub, AppliedVersion: v.Version, Problems: []observed.Problem{}, Ports: []observed.Port{}, Backbone: []observed.Session{}}
	if s.deps.Fleet != nil {
		obs, err := s.deps.Fleet.HubObservations(ctx, cust, hub)
		if err != nil {
			return hubDataplane{}, err
		}
		for i, o := range obs {
			if i == 0 || o.Hub.ConfigVersion < out.ReachedVersion {
				out.ReachedVersion = o.Hub.ConfigVersion
			}
			if out.ReportedAt == nil || o.ReportedAt.Before(*out.ReportedAt) {
				at := o.ReportedAt
				out.ReportedAt = &at
			}
			if out.Error == "" {
				out.Error = o.Hub.Error
			}
			out.Problems = append(out.Problems, o.Hub.Problems...)
			out.Ports = append(out.Ports, o.Hub.Ports...)
			out.Backbone = append(out.Backbone, o.Hub.Backbone...)
		}
	}
	out.InSync = out.AppliedVersion > 0 && out.ReachedVersion == out.AppliedVersion && out.Error == ""
	return out, nil
}
