package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
	"github.com/tsunagi-net/tsunagi/internal/lookingglass"
	"github.com/tsunagi-net/tsunagi/internal/network"
	lgc "github.com/tsunagi-net/tsunagi/internal/network/lookingglass"
)

func (s *Server) lookingGlass() (*lookingglass.Service, error) {
	if s.deps.LookingGlass == nil {
		return nil, fault.New(fault.Unavailable, "the looking glass is not available on this controller")
	}
	return s.deps.LookingGlass, nil
}

// lgRead asks the node that runs the port's hub for one session, fresh
// from its BIRD (GET /api/v1/ports/{code}/looking-glass?session=…). The
// session defaults to the port's first (single, or primary).
func (s *Server) lgRead(w http.ResponseWriter, r *http.Request) error {
	g, err := s.lookingGlass()
	if err != nil {
		return err
	}
	sc, code := principal(r).Scope(), r.PathValue("code")
	session := r.URL.Query().Get("session")
	if session == "" {
		sessions, err := g.SessionsOf(r.Context(), sc, code)
		if err != nil {
			return err
		}
		session = sessions[0]
	}
	v, err := g.Ask(r.Context(), sc, code, session)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) lgRouteQuota(w http.ResponseWriter, r *http.Request) error {
	return netDo(s, w, func(n *network.Workflow) (network.PortQuota, error) {
		return n.GetRouteQuota(r.Context(), principal(r).Scope(), r.PathValue("code"))
	})
}

// Agent routes: the node's long poll for looking-glass queries and its
// answers. Only queries for hubs placed on the node are handed out; an
// answer is taken only from the node the query was queued for.

func (s *Server) agentLGQueries(w http.ResponseWriter, r *http.Request) error {
	g, err := s.lookingGlass()
	if err != nil {
		return err
	}
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		sec, err := strconv.Atoi(v)
		if err != nil || sec < 0 || time.Duration(sec)*time.Second > lookingglass.MaxTakeWait {
			return fault.Field("wait", "wait must be 0 to %d seconds", int(lookingglass.MaxTakeWait/time.Second))
		}
		wait = time.Duration(sec) * time.Second
	}
	n := r.Context().Value(keyNode).(fleet.Node)
	qs, err := g.Take(r.Context(), n.Name, wait)
	if err != nil {
		return err
	}
	body, err := lgc.EncodeQueries(lgc.Queries{Queries: qs})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(body)
	return err
}

func (s *Server) agentLGAnswer(w http.ResponseWriter, r *http.Request) error {
	g, err := s.lookingGlass()
	if err != nil {
		return err
	}
	body, err := readJSONBody(w, r, lgc.MaxAnswer)
	if err != nil {
		return err
	}
	a, err := lgc.DecodeAnswer(body)
	if err != nil {
		return fault.Field("answer", "%s", err.Error())
	}
	if err := g.Answer(r.Context(), r.Context().Value(keyNode).(fleet.Node).Name, r.PathValue("id"), a); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
