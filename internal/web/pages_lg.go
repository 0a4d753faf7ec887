package web

import (
	"net/http"
	"slices"

	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/lookingglass"
	"github.com/tsunagi-net/tsunagi/internal/network"
)

// lgPages are the customer's looking-glass page: one session of a port
// read live from the hub's BIRD, with the port's route quota.
func (s *Server) lgPages() []pageRoute {
	return []pageRoute{
		{"GET", "/ports/{code}/looking-glass", identity.ActNetworkRead,
			[]string{"GET /api/v1/ports/{code}/looking-glass", "GET /api/v1/ports/{code}/route-quota"}, s.lgPage},
	}
}

// lgPageData is what the page shows. Problem is set instead of View when
// the node could not be asked or did not answer (a catalogue key): the
// page still shows the route quota, and the customer may try again.
type lgPageData struct {
	PortCode string
	Sessions []string
	Session  string
	Quota    network.PortQuota
	View     *lookingglass.View
	Problem  string
	// ReasonKeys names the catalogue entry of each refusal reason.
	ReasonKeys map[string]string
}

var lgReasonKeys = map[string]string{"bogon": "lg.reason.bogon", "hub's own network": "lg.reason.own_network",
	"not in the route policy": "lg.reason.policy"}

func (s *Server) lgPage(w http.ResponseWriter, r *http.Request) error {
	g, err := s.lookingGlass()
	if err != nil {
		return err
	}
	if s.deps.Workflow == nil {
		return fault.New(fault.Unavailable, "the hub service model is not available on this controller")
	}
	sc, code := principal(r).Scope(), r.PathValue("code")
	sessions, err := g.SessionsOf(r.Context(), sc, code)
	if err != nil {
		return err
	}
	pg := lgPageData{PortCode: code, Sessions: sessions, Session: r.URL.Query().Get("session"), ReasonKeys: lgReasonKeys}
	if pg.Session == "" {
		pg.Session = sessions[0]
	}
	if !slices.Contains(sessions, pg.Session) {
		return fault.Field("session", "port %s has the sessions %v", code, sessions)
	}
	if pg.Quota, err = s.deps.Workflow.GetRouteQuota(r.Context(), sc, code); err != nil {
		return err
	}
	v, err := g.Ask(r.Context(), sc, code, pg.Session)
	switch f, _ := fault.As(err); {
	case err == nil:
		pg.View = &v
	case f != nil && f.Code == lookingglass.CodeNodeTimeout:
		pg.Problem = "lg.problem.timeout"
	case f != nil && f.Code == lookingglass.CodeNoAgent:
		pg.Problem = "lg.problem.no_agent"
	case f != nil && f.Kind == fault.RateLimited:
		pg.Problem = "lg.problem.rate_limited"
	case f != nil && f.Kind == fault.Conflict:
		pg.Problem = "lg.problem.not_running"
	default:
		return err
	}
	return s.render(w, r, "lg-port", pg)
}
