package web

import (
	"net/http"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Handlers of ending ports and hubs (network/ending.go): the customer's
// removal of a port in the draft, the operator's dated end of a port and
// removal of a hub.

func (s *Server) netMarkPortRemoval(w http.ResponseWriter, r *http.Request) error {
	return netDo(s, w, func(n *network.Workflow) (network.Draft, error) {
		return n.MarkPortRemoval(r.Context(), principal(r).Scope(), r.PathValue("code"))
	})
}

func (s *Server) netUnmarkPortRemoval(w http.ResponseWriter, r *http.Request) error {
	return netDo(s, w, func(n *network.Workflow) (network.Draft, error) {
		return n.UnmarkPortRemoval(r.Context(), principal(r).Scope(), r.PathValue("code"))
	})
}

func (s *Server) opPortEnd(w http.ResponseWriter, r *http.Request) error {
	return s.withCustomer(func(w http.ResponseWriter, r *http.Request, op tenant.Operator) error {
		return opsDo(s, w, func(n *network.Operations) (list[network.PortEnd], error) {
			items, err := n.PortEnds(r.Context(), op, r.PathValue("code"))
			return newList(items, ""), err
		})
	})(w, r)
}

func (s *Server) opEndPort(w http.ResponseWriter, r *http.Request) error {
	return s.withCustomer(func(w http.ResponseWriter, r *http.Request, op tenant.Operator) error {
		svc, err := s.netOps()
		if err != nil {
			return err
		}
		return created(w, r, func(in network.PortEndInput) (network.PortEnd, error) {
			return svc.EndPortOn(r.Context(), op, r.PathValue("code"), in)
		})
	})(w, r)
}

func (s *Server) opCancelPortEnd(w http.ResponseWriter, r *http.Request) error {
	return s.withCustomer(func(w http.ResponseWriter, r *http.Request, op tenant.Operator) error {
		return opsDo(s, w, func(n *network.Operations) (network.PortEnd, error) {
			return n.CancelPortEnd(r.Context(), op, r.PathValue("code"))
		})
	})(w, r)
}

func (s *Server) opRemoveHub(w http.ResponseWriter, r *http.Request) error {
	return s.withCustomer(func(w http.ResponseWriter, r *http.Request, op tenant.Operator) error {
		svc, err := s.netOps()
		if err != nil {
			return err
		}
		if err := svc.RemoveHub(r.Context(), op, catalog.HubID(r.PathValue("hub"))); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})(w, r)
}
