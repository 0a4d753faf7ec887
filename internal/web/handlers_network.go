package web

import (
	"bytes"
	"net/http"
	"strconv"

	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/network"
)

// Customer-listener handlers of the hub service model. The customer is
// always the principal's own; the service filters every query by it.

// The hub service model's parts, or 503 on a controller without it.
func (s *Server) network() (*network.Workflow, error)  { return netPart(s.deps.Workflow) }
func (s *Server) netOps() (*network.Operations, error) { return netPart(s.deps.NetOps) }
func (s *Server) compiler() (*network.Compiler, error) { return netPart(s.deps.Compiler) }

func netPart[P any](p *P) (*P, error) {
	if p == nil {
		return nil, fault.New(fault.Unavailable, "the hub service model is not available on this controller")
	}
	return p, nil
}

// netDo runs fn with the customer's workflow and answers 200 with its result.
func netDo[T any](s *Server, w http.ResponseWriter, fn func(*network.Workflow) (T, error)) error {
	return partDo(w, s.deps.Workflow, fn)
}

// opsDo runs fn with the operator's side of the model and answers 200.
func opsDo[T any](s *Server, w http.ResponseWriter, fn func(*network.Operations) (T, error)) error {
	return partDo(w, s.deps.NetOps, fn)
}

func partDo[P, T any](w http.ResponseWriter, p *P, fn func(*P) (T, error)) error {
	p, err := netPart(p)
	if err != nil {
		return err
	}
	out, err := fn(p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func versionParam(r *http.Request) (int64, error) {
	n, err := strconv.ParseInt(r.PathValue("version"), 10, 64)
	if err != nil || n < 1 {
		return 0, fault.New(fault.NotFound, "version not found")
	}
	return n, nil
}

func (s *Server) netApplied(w http.ResponseWriter, r *http.Request) error {
	return netDo(s, w, func(n *network.Workflow) (network.Version, error) {
		return n.Applied(r.Context(), principal(r).Scope())
	})
}

func (s *Server) netVersions(w http.ResponseWriter, r *http.Request) error {
	var before int64
	if v := r.URL.Query().Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return fault.Field("before", "before must be a version number")
		}
		before = n
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	limit := p.Limit
	if limit == 0 {
		limit = 50
	}
	// Versions are listed newest first; the next page is ?before=<last>.
	return netDo(s, w, func(n *network.Workflow) (list[network.VersionSummary], error) {
		items, err := n.ListVersions(r.Context(), principal(r).Scope(), before, limit)
		if err != nil {
			return list[network.VersionSummary]{}, err
		}
		next := ""
		if len(items) == limit {
			next = strconv.FormatInt(items[len(items)-1].Version, 10)
		}
		return newList(items, next), nil
	})
}

func (s *Server) netVersion(w http.ResponseWriter, r *http.Request) error {
	v, err := versionParam(r)
	if err != nil {
		return err
	}
	return netDo(s, w, func(n *network.Workflow) (network.Version, error) {
		return n.GetVersion(r.Context(), principal(r).Scope(), v)
	})
}

func (s *Server) netRollback(w http.ResponseWriter, r *http.Request) error {
	v, err := versionParam(r)
	if err != nil {
		return err
	}
	return netDo(s, w, func(n *network.Workflow) (network.Draft, error) {
		return n.Rollback(r.Context(), principal(r).Scope(), v)
	})
}

func (s *Server) netLock(w http.ResponseWriter, r *http.Request) error {
	return netDo(s, w, func(n *network.Workflow) (network.Lock, error) { return n.GetLock(r.Context(), principal(r).Scope()) })
}

func (s *Server) netStartEditing(w http.ResponseWriter, r *http.Request) error {
	return netDo(s, w, func(n *network.Workflow) (network.Editing, error) {
		return n.StartEditing(r.Context(), principal(r).Scope())
	})
}

func (s *Server) netReleaseLock(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.network()
	if err != nil {
		return err
	}
	if err := svc.ReleaseLock(r.Context(), principal(r).Scope()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) netBreakLock(w http.ResponseWriter, r *http.Request) error {
	return netDo(s, w, func(n *network.Workflow) (network.Lock, error) {
		return n.BreakLock(r.Context(), principal(r).Scope())
	})
}

func (s *Server) netDraft(w http.ResponseWriter, r *http.Request) error {
	return netDo(s, w, func(n *network.Workflow) (network.Draft, error) {
		return n.GetDraft(r.Context(), principal(r).Scope())
	})
}

func (s *Server) netSaveDraft(w http.ResponseWriter, r *http.Request) error {
	var in network.Config
	if err := decode(w, r, &in); err != nil {
		return err
	}
	return netDo(s, w, func(n *network.Workflow) (network.Draft, error) {
		return n.SaveDraft(r.Context(), principal(r).Scope(), in)
	})
}

func (s *Server) netDiscardDraft(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.network()
	if err != nil {
		return err
	}
	if err := svc.DiscardDraft(r.Context(), principal(r).Scope()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) netSavePort(w http.ResponseWriter, r *http.Request) error {
	var in network.PortConfig
	if err := decode(w, r, &in); err != nil {
		return err
	}
	code := r.PathValue("code")
	if in.PortCode != "" && in.PortCode != code {
		return fault.Field("port_code", "port_code must match the path or be left out")
	}
	return netDo(s, w, func(n *network.Workflow) (network.Draft, error) {
		return n.SavePort(r.Context(), principal(r).Scope(), code, in)
	})
}

func (s *Server) netRemovePort(w http.ResponseWriter, r *http.Request) error {
	return netDo(s, w, func(n *network.Workflow) (network.Draft, error) {
		return n.RemovePort(r.Context(), principal(r).Scope(), r.PathValue("code"))
	})
}

// netSetPortSpeed asks, in the draft, for a port's contracted speed change
// (network/speedchange.go); effective_date left out is today (JST).
func (s *Server) netSetPortSpeed(w http.ResponseWriter, r *http.Request) error {
	var in network.BandwidthInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	return netDo(s, w, func(n *network.Workflow) (network.Draft, error) {
		return n.SetPortSpeed(r.Context(), principal(r).Scope(), r.PathValue("code"), in)
	})
}

func (s *Server) netRemovePortSpeed(w http.ResponseWriter, r *http.Request) error {
	return netDo(s, w, func(n *network.Workflow) (network.Draft, error) {
		return n.RemovePortSpeed(r.Context(), principal(r).Scope(), r.PathValue("code"))
	})
}

func (s *Server) netReview(w http.ResponseWriter, r *http.Request) error {
	return netDo(s, w, func(n *network.Workflow) (network.Review, error) {
		return n.Review(r.Context(), principal(r).Scope())
	})
}

func (s *Server) netApply(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.network()
	if err != nil {
		return err
	}
	// The body is optional: {"reviewed": revision} applies exactly the
	// draft that review showed.
	body, err := readJSONBody(w, r, MaxBody)
	if err != nil {
		return err
	}
	var in struct {
		Reviewed string `json:"reviewed"`
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := strictUnmarshal(body, &in); err != nil {
			return err
		}
		if len(in.Reviewed) > 64 {
			return fault.Field("reviewed", "reviewed is not a review's revision")
		}
	}
	v, err := svc.ApplyReviewed(r.Context(), principal(r).Scope(), in.Reviewed)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// natView is the customer's public addresses in a stable shape.
type natView struct {
	NAPT   map[string][]string `json:"napt"`
	Static map[string]string   `json:"static"`
}

func (s *Server) netNAT(w http.ResponseWriter, r *http.Request) error {
	return netDo(s, w, func(n *network.Workflow) (natView, error) {
		a, err := n.NAT(r.Context(), principal(r).Scope())
		return natView(a), err
	})
}

func (s *Server) netBGP(w http.ResponseWriter, r *http.Request) error {
	return netDo(s, w, func(n *network.Workflow) (network.BGPState, error) {
		return n.GetBGPState(r.Context(), principal(r).Scope(), r.PathValue("code"))
	})
}

func (s *Server) netReenable(w http.ResponseWriter, r *http.Request) error {
	return netDo(s, w, func(n *network.Workflow) (network.BGPState, error) {
		return n.Reenable(r.Context(), principal(r).Scope(), r.PathValue("code"))
	})
}

func (s *Server) netPortGuard(w http.ResponseWriter, r *http.Request) error {
	return netDo(s, w, func(n *network.Workflow) (network.PortGuardState, error) {
		return n.GetPortGuard(r.Context(), principal(r).Scope(), r.PathValue("code"))
	})
}

func (s *Server) netReenablePort(w http.ResponseWriter, r *http.Request) error {
	return netDo(s, w, func(n *network.Workflow) (network.PortGuardState, error) {
		return n.ReenablePort(r.Context(), principal(r).Scope(), r.PathValue("code"))
	})
}

func (s *Server) netBandwidthHistory(w http.ResponseWriter, r *http.Request) error {
	return netDo(s, w, func(n *network.Workflow) (list[network.BandwidthChange], error) {
		items, err := n.BandwidthHistory(r.Context(), principal(r).Scope(), r.PathValue("code"))
		return newList(items, ""), err
	})
}
