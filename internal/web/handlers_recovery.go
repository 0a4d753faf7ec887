package web

import (
	"net/http"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// The recovery of a locked-out customer's operations administrator
// (identity/recovery.go): an operator requests, a security officer who is
// not the requester approves or rejects. The identity service checks the
// roles and the separation of duties.

func (s *Server) requestRecovery(w http.ResponseWriter, r *http.Request) error {
	return s.withCustomer(func(w http.ResponseWriter, r *http.Request, op tenant.Operator) error {
		var in identity.RecoveryInput
		if err := s.decodeText(w, r, &in); err != nil {
			return err
		}
		rec, err := s.deps.Identity.RequestRecovery(r.Context(), principal(r), op, in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, rec)
		return nil
	})(w, r)
}

func (s *Server) listRecoveries(w http.ResponseWriter, r *http.Request) error {
	return listed(w, r, func(p catalog.Page) ([]identity.Recovery, string, error) {
		return s.deps.Identity.ListRecoveries(r.Context(), principal(r), p)
	})
}

func (s *Server) approveRecovery(w http.ResponseWriter, r *http.Request) error {
	rec, err := s.deps.Identity.ApproveRecovery(r.Context(), principal(r), r.PathValue("recovery"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

func (s *Server) rejectRecovery(w http.ResponseWriter, r *http.Request) error {
	var in identity.RecoveryDecision
	if err := s.decodeText(w, r, &in); err != nil {
		return err
	}
	rec, err := s.deps.Identity.RejectRecovery(r.Context(), principal(r), r.PathValue("recovery"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}
