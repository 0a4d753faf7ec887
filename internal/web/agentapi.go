package web

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/agent"
	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
)

// The agent listener is where hub nodes' agents talk to the controller: one
// unauthenticated route to enrol with a one-time token, and the rest only
// with a node client certificate issued by the controller's node CA (mutual
// TLS). It is a third listener so that its TLS settings (client certificates
// requested, verified against the node CA only) and its exposure (the hub
// nodes' network) are set apart from the customer and operator listeners.

// DesiredStateFunc returns a node's desired-state document and its generation.
type DesiredStateFunc func(ctx context.Context, node string) (doc []byte, generation string, err error)

// AgentTLS returns the agent listener's TLS configuration: the server
// certificate of base, and client certificates requested and — when given —
// verified against the node CA. Enrolment happens before a node has one.
func AgentTLS(base *tls.Config, f *fleet.Fleet) *tls.Config {
	c := base.Clone()
	c.ClientAuth = tls.VerifyClientCertIfGiven
	c.ClientCAs = f.CA().Pool()
	return c
}

// AgentHandler serves the agent listener.
func (s *Server) AgentHandler() http.Handler {
	m := http.NewServeMux()
	for _, rt := range s.agentRoutes() {
		m.HandleFunc(rt.Method+" "+rt.Path, func(w http.ResponseWriter, r *http.Request) {
			if rt.Action != "" {
				n, err := s.authenticateNode(r)
				if err != nil {
					s.writeError(w, r, err)
					return
				}
				a := audit.ActorFrom(r.Context())
				ctx := context.WithValue(r.Context(), keyNode, n)
				ctx = audit.WithActor(ctx, audit.Actor{ID: "node:" + n.Name, Kind: "node", Name: n.Name, SourceIP: a.SourceIP, RequestID: a.RequestID})
				r = r.WithContext(ctx)
			}
			if err := rt.Handle(w, r); err != nil {
				s.writeError(w, r, err)
			}
		})
	}
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		notFound(m, w, r, s.writeError)
	})
	return s.outer("agent", m)
}

// actNode marks routes that need a node certificate.
const actNode = "node"

func (s *Server) agentRoutes() []route {
	return []route{
		{"GET", "/healthz", "", s.healthz},
		{"POST", "/agent/v1/enrol", "", s.enrolNode},
		{"GET", "/agent/v1/desired-state", actNode, s.desiredState},
		{"POST", "/agent/v1/status", actNode, s.nodeReport},
	}
}

type nodeKey struct{}

var keyNode = nodeKey{}

func (s *Server) authenticateNode(r *http.Request) (fleet.Node, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return fleet.Node{}, fault.New(fault.Unauthorized, "a node client certificate is required")
	}
	return s.deps.Fleet.Authenticate(r.Context(), r.TLS.PeerCertificates[0])
}

type enrolInput struct {
	Token string `json:"token"`
	CSR   string `json:"csr"`
}

func (s *Server) enrolNode(w http.ResponseWriter, r *http.Request) error {
	var in enrolInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	e, err := s.deps.Fleet.Enrol(r.Context(), in.Token, []byte(in.CSR))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, e)
	return nil
}

// MaxDesiredStateWait bounds a long poll.
const MaxDesiredStateWait = 60 * time.Second

// Changes is a broadcast of committed changes (store.Changes): Next returns
// a channel closed at the next one.
type Changes interface {
	Next() <-chan struct{}
}

// desiredStateRecheck is how often a held long poll re-reads the node's
// document without being woken. Every change of the document is woken
// (Deps.Changes), so this covers only what changes with time alone: a
// bandwidth change dated today takes effect at 00:00 JST (the document
// depends on the date) and reaches a held poll within this interval — and a
// wake lost to a fault. A re-read is a single-row read while nothing changed
// (the service model caches the document).
const desiredStateRecheck = 5 * time.Second

// desiredState answers the node's desired-state document. With If-None-Match
// naming the current generation and ?wait=N (seconds, ≤ 60) it holds the
// request until the generation changes or the time is up (304).
func (s *Server) desiredState(w http.ResponseWriter, r *http.Request) error {
	if s.deps.DesiredState == nil {
		return fault.New(fault.Unavailable, "desired state is not available on this controller")
	}
	n := r.Context().Value(keyNode).(fleet.Node)
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		sec, err := strconv.Atoi(v)
		if err != nil || sec < 0 || time.Duration(sec)*time.Second > MaxDesiredStateWait {
			return fault.Field("wait", "wait must be 0 to 60 seconds")
		}
		wait = time.Duration(sec) * time.Second
	}
	have := strings.Trim(r.Header.Get("If-None-Match"), `"`)
	deadline := time.Now().Add(wait)
	timer := time.NewTimer(desiredStateRecheck)
	defer timer.Stop()
	for {
		// Taken before the read: a change committed after it closes the
		// channel, so none can fall between the read and the wait.
		var woken <-chan struct{}
		if s.deps.Changes != nil {
			woken = s.deps.Changes.Next()
		}
		doc, gen, err := s.deps.DesiredState(r.Context(), n.Name)
		if err != nil {
			return err
		}
		if gen != have {
			w.Header().Set("ETag", `"`+gen+`"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, err := w.Write(doc)
			return err
		}
		left := time.Until(deadline)
		if left <= 0 {
			w.Header().Set("ETag", `"`+gen+`"`)
			w.WriteHeader(http.StatusNotModified)
			return nil
		}
		timer.Reset(min(left, desiredStateRecheck))
		select {
		case <-r.Context().Done():
			// The agent went away, or the controller is stopping: never an
			// empty 200, which an agent would read as a document.
			return fault.New(fault.Unavailable, "the request ended before the desired state changed; retry")
		case <-woken:
		case <-timer.C:
		}
	}
}

func (s *Server) nodeReport(w http.ResponseWriter, r *http.Request) error {
	var in fleet.StatusInput
	if err := decodeLimit(w, r, &in, MaxReport); err != nil {
		return err
	}
	n := r.Context().Value(keyNode).(fleet.Node)
	if err := s.deps.Fleet.Report(r.Context(), n, in); err != nil {
		return err
	}
	s.nodeEvents(r.Context(), n, in.Report)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// nodeEvents passes what a node saw happen to customers' ports to the
// service model, which records each event once and tells the customer:
// sessions stopped at the route limit (kept down until the customer
// re-enables them) and on-premises ports a layer-2 guard shut (likewise).
// A port the node does not carry is refused there and only logged here: the
// report itself was accepted.
func (s *Server) nodeEvents(ctx context.Context, n fleet.Node, report json.RawMessage) {
	if s.deps.Compiler == nil {
		return
	}
	var r struct {
		Observed map[string]json.RawMessage `json:"observed"`
	}
	if json.Unmarshal(report, &r) != nil {
		return
	}
	var limits []agent.LimitReport
	if raw, ok := r.Observed[agent.RouteLimitKey]; ok && json.Unmarshal(raw, &limits) == nil {
		limit := s.deps.Compiler.Settings().RouteLimit
		for _, l := range limits {
			if _, err := s.deps.Compiler.NodeReportsRouteLimit(ctx, n.Name, l.PortCode, limit+1, l.ReenableSeq); err != nil {
				s.deps.Log.WarnContext(ctx, "route-limit report refused", "node", n.Name, "port", l.PortCode, "err", err)
			}
		}
	}
	var shut []agent.ShutReport
	if raw, ok := r.Observed[agent.ShutKey]; ok && json.Unmarshal(raw, &shut) == nil {
		for _, p := range shut {
			if _, err := s.deps.Compiler.NodeReportsPortShut(ctx, n.Name, p.PortCode, p.Reason, p.ReenableSeq); err != nil {
				s.deps.Log.WarnContext(ctx, "port shutdown report refused", "node", n.Name, "port", p.PortCode, "err", err)
			}
		}
	}
}

// Operator routes for nodes' identities (management listener).

func (s *Server) issueEnrolToken(w http.ResponseWriter, r *http.Request) error {
	t, err := s.deps.Fleet.IssueEnrolToken(r.Context(), r.PathValue("node"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, t)
	return nil
}

type revokeInput struct {
	Reason string `json:"reason"`
}

func (s *Server) revokeNode(w http.ResponseWriter, r *http.Request) error {
	var in revokeInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	n, err := s.deps.Fleet.Revoke(r.Context(), r.PathValue("node"), in.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"node": r.PathValue("node"), "certificates_revoked": n})
	return nil
}

func (s *Server) nodeStatus(w http.ResponseWriter, r *http.Request) error {
	st, err := s.deps.Fleet.NodeStatus(r.Context(), r.PathValue("node"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}
