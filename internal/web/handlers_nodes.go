package web

import (
	"net/http"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// The management listener's node lifecycle and planned migration: a node's
// state and what remains on it, drain and retire (package fleet), and the
// move of a port or a hub, previewed then carried out (package network).
// A preview changes nothing; it is a POST because it takes the move's body.
func (s *Server) nodeLifecycleRoutes() []route {
	return []route{
		{"GET", "/api/v1/nodes/{node}/lifecycle", identity.ActInventoryManage, s.nodeLifecycle},
		{"POST", "/api/v1/nodes/{node}/drain", identity.ActInventoryManage, s.drainNode},
		{"POST", "/api/v1/nodes/{node}/retire", identity.ActInventoryManage, s.retireNode},
		{"POST", "/api/v1/customers/{customer}/ports/{code}/move/preview", identity.ActCapacityRead, s.opPreviewPortMove},
		{"POST", "/api/v1/customers/{customer}/ports/{code}/move", identity.ActInventoryManage, s.opMovePort},
		{"POST", "/api/v1/customers/{customer}/hubs/{hub}/move/preview", identity.ActCapacityRead, s.opPreviewHubMove},
		{"POST", "/api/v1/customers/{customer}/hubs/{hub}/move", identity.ActInventoryManage, s.opMoveHub},
	}
}

func (s *Server) nodeLifecycle(w http.ResponseWriter, r *http.Request) error {
	l, err := s.deps.Fleet.NodeLifecycle(r.Context(), r.PathValue("node"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, l)
	return nil
}

// nodeStateInput is the body of a drain or a retire.
type nodeStateInput struct {
	Reason string `json:"reason"`
}

func (s *Server) drainNode(w http.ResponseWriter, r *http.Request) error {
	return answered(w, r, func(in nodeStateInput) (fleet.Lifecycle, error) {
		return s.deps.Fleet.Drain(r.Context(), r.PathValue("node"), in.Reason)
	})
}

func (s *Server) retireNode(w http.ResponseWriter, r *http.Request) error {
	return answered(w, r, func(in nodeStateInput) (fleet.Lifecycle, error) {
		return s.deps.Fleet.Retire(r.Context(), r.PathValue("node"), in.Reason)
	})
}

// moveDo decodes a move's body and calls do with the operator's handle on
// the customer and the service's operations.
func moveDo[In any](s *Server, do func(r *http.Request, n *network.Operations, op tenant.Operator, in In) (network.MovePlan, error)) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		return s.withCustomer(func(w http.ResponseWriter, r *http.Request, op tenant.Operator) error {
			svc, err := s.netOps()
			if err != nil {
				return err
			}
			return answered(w, r, func(in In) (network.MovePlan, error) { return do(r, svc, op, in) })
		})(w, r)
	}
}

func (s *Server) opPreviewPortMove(w http.ResponseWriter, r *http.Request) error {
	return moveDo(s, func(r *http.Request, n *network.Operations, op tenant.Operator, in network.PortMoveInput) (network.MovePlan, error) {
		return n.PreviewPortMove(r.Context(), op, r.PathValue("code"), in)
	})(w, r)
}

func (s *Server) opMovePort(w http.ResponseWriter, r *http.Request) error {
	return moveDo(s, func(r *http.Request, n *network.Operations, op tenant.Operator, in network.PortMoveInput) (network.MovePlan, error) {
		return n.MovePort(r.Context(), op, r.PathValue("code"), in)
	})(w, r)
}

func (s *Server) opPreviewHubMove(w http.ResponseWriter, r *http.Request) error {
	return moveDo(s, func(r *http.Request, n *network.Operations, op tenant.Operator, in network.HubMoveInput) (network.MovePlan, error) {
		return n.PreviewHubMove(r.Context(), op, catalog.HubID(r.PathValue("hub")), in)
	})(w, r)
}

func (s *Server) opMoveHub(w http.ResponseWriter, r *http.Request) error {
	return moveDo(s, func(r *http.Request, n *network.Operations, op tenant.Operator, in network.HubMoveInput) (network.MovePlan, error) {
		return n.MoveHub(r.Context(), op, catalog.HubID(r.PathValue("hub")), in)
	})(w, r)
}

// answered decodes the body into In, calls do, and answers 200 with the
// result: for actions on an existing object that create none.
func answered[In, Out any](w http.ResponseWriter, r *http.Request, do func(In) (Out, error)) error {
	var in In
	if err := decode(w, r, &in); err != nil {
		return err
	}
	out, err := do(in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
