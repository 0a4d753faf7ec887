package web

import (
	"net/http"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Customer-listener handlers: the customer is always the principal's own.

func (s *Server) listRegions(w http.ResponseWriter, r *http.Request) error {
	return listed(w, r, func(p catalog.Page) ([]catalog.Region, string, error) {
		return s.deps.Catalog.ListRegions(r.Context(), p)
	})
}

func (s *Server) myCustomer(w http.ResponseWriter, r *http.Request) error {
	cu, err := s.deps.Catalog.OwnCustomer(r.Context(), principal(r).Scope())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, cu)
	return nil
}

func (s *Server) myContracts(w http.ResponseWriter, r *http.Request) error {
	return s.contracts(w, r, principal(r).Scope())
}

func (s *Server) myContract(w http.ResponseWriter, r *http.Request) error {
	return s.contract(w, r, principal(r).Scope())
}

func (s *Server) myHubs(w http.ResponseWriter, r *http.Request) error {
	return s.hubs(w, r, principal(r).Scope())
}

func (s *Server) myHub(w http.ResponseWriter, r *http.Request) error {
	h, err := s.deps.Catalog.GetHub(r.Context(), principal(r).Scope(), catalog.HubID(r.PathValue("id")))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h)
	return nil
}

func (s *Server) myPorts(w http.ResponseWriter, r *http.Request) error {
	return s.ports(w, r, principal(r).Scope())
}

func (s *Server) myPort(w http.ResponseWriter, r *http.Request) error {
	pt, err := s.deps.Catalog.GetPort(r.Context(), principal(r).Scope(), r.PathValue("code"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pt)
	return nil
}

func (s *Server) myAccounts(w http.ResponseWriter, r *http.Request) error {
	return s.accounts(w, r, principal(r).Scope())
}

// Shared by both listeners once the customer is known.

func (s *Server) contracts(w http.ResponseWriter, r *http.Request, who tenant.Holder) error {
	return listed(w, r, func(p catalog.Page) ([]catalog.Contract, string, error) {
		return s.deps.Catalog.ListContracts(r.Context(), who, p)
	})
}

func (s *Server) contract(w http.ResponseWriter, r *http.Request, who tenant.Holder) error {
	k, err := s.deps.Catalog.GetContract(r.Context(), who, r.PathValue("code"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, k)
	return nil
}

func (s *Server) hubs(w http.ResponseWriter, r *http.Request, who tenant.Holder) error {
	return listed(w, r, func(p catalog.Page) ([]catalog.Hub, string, error) {
		return s.deps.Catalog.ListHubs(r.Context(), who, p)
	})
}

func (s *Server) ports(w http.ResponseWriter, r *http.Request, who tenant.Holder) error {
	return listed(w, r, func(p catalog.Page) ([]catalog.Port, string, error) {
		return s.deps.Catalog.ListPorts(r.Context(), who, r.URL.Query().Get("service_code"), p)
	})
}

func (s *Server) accounts(w http.ResponseWriter, r *http.Request, who tenant.Holder) error {
	return listed(w, r, func(p catalog.Page) ([]identity.Account, string, error) {
		return s.deps.Identity.ListAccounts(r.Context(), who, p)
	})
}

// created decodes the body into In, calls do, and answers 201 with the result.
func created[In, Out any](w http.ResponseWriter, r *http.Request, do func(In) (Out, error)) error {
	var in In
	if err := decode(w, r, &in); err != nil {
		return err
	}
	out, err := do(in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}
