package web

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/disposal"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
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
		m.HandleFunc(rt.Method+" "+rt.Path, s.guarded(rt.Method+" "+rt.Path, func(w http.ResponseWriter, r *http.Request) {
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
		}))
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
		{"POST", "/agent/v1/flows", actNode, s.nodeFlows},
		{"POST", "/agent/v1/decommissioned", actNode, s.nodeDecommissioned},
		{"GET", "/agent/v1/queries", actNode, s.agentLGQueries},
		{"POST", "/agent/v1/queries/{id}", actNode, s.agentLGAnswer},
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

// nodeReport takes a node's typed report (network/observed): decoded
// strictly and checked, then stored per hub — only hubs the node's desired
// state places on it, each under its own customer. A report failing any of
// this is answered 400 with the reason and nothing of it is stored.
func (s *Server) nodeReport(w http.ResponseWriter, r *http.Request) error {
	body, err := readJSONBody(w, r, MaxReport)
	if err != nil {
		return err
	}
	rep, err := observed.Decode(body)
	if err != nil {
		return fault.Field("report", "%s", err.Error())
	}
	n := r.Context().Value(keyNode).(fleet.Node)
	placed, err := s.placedOn(r.Context(), n.Name)
	if err != nil {
		return err
	}
	if err := s.deps.Fleet.Report(r.Context(), n, rep, placed); err != nil {
		return err
	}
	s.nodeHolds(r.Context(), n, rep)
	for _, in := range s.deps.Ingesters {
		if err := in.Ingest(r.Context(), n.Name, rep); err != nil {
			s.deps.Log.ErrorContext(r.Context(), "node report: ingesting its measurements failed", "node", n.Name, "ingester", fmt.Sprintf("%T", in), "err", err)
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// nodeDecommissioned records the wipe the node's agent reports (package
// disposal); the node's certificate is revoked with it, so this is the
// last request the node makes.
func (s *Server) nodeDecommissioned(w http.ResponseWriter, r *http.Request) error {
	body, err := readJSONBody(w, r, disposal.MaxReport)
	if err != nil {
		return err
	}
	rep, err := disposal.Decode(body)
	if err != nil {
		return fault.Field("report", "%s", err.Error())
	}
	if err := s.deps.Fleet.RecordDecommission(r.Context(), r.Context().Value(keyNode).(fleet.Node), rep); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// placedOn lists the hubs the node's current desired state places on it,
// with their customers: the controller's own document, read for its hubs.
func (s *Server) placedOn(ctx context.Context, node string) (fleet.Placed, error) {
	placed := fleet.Placed{}
	if s.deps.DesiredState == nil {
		return placed, nil // no service model: a report may name no hub
	}
	doc, _, err := s.deps.DesiredState(ctx, node)
	if err != nil {
		return nil, err
	}
	var st struct {
		Hubs []struct {
			HubID      catalog.HubID      `json:"hub_id"`
			CustomerID catalog.CustomerID `json:"customer_id"`
		} `json:"hubs"`
	}
	if err := json.Unmarshal(doc, &st); err != nil {
		return nil, fmt.Errorf("node %s: desired state: %w", node, err)
	}
	for _, h := range st.Hubs {
		placed[h.HubID] = h.CustomerID
	}
	return placed, nil
}

// nodeHolds passes the ports a node holds to the service model (a session
// stopped at the route limit, an on-premises port a layer-2 guard shut),
// which records each once and tells the customer. (The route counts stay
// in the stored report, which the customer's views read.) A port the node
// does not carry is refused there and only logged here: the report itself
// was accepted.
func (s *Server) nodeHolds(ctx context.Context, n fleet.Node, rep observed.Report) {
	if s.deps.Compiler == nil {
		return
	}
	var holds []observed.Hold
	for _, h := range rep.Hubs {
		holds = append(holds, h.Holds...)
	}
	if err := s.deps.Compiler.NodeReportsHolds(ctx, n.Name, holds); err != nil {
		s.deps.Log.WarnContext(ctx, "hold report refused", "node", n.Name, "err", err)
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
