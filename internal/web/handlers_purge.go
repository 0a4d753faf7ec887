package web

import (
	"fmt"
	"net/http"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/lifecycle"
	"github.com/tsunagi-net/tsunagi/internal/signing"
)

// purgeMgmtRoutes are the management listener's routes of the erasure
// after termination (internal/lifecycle) and of the signing keyring.
func (s *Server) purgeMgmtRoutes() []route {
	return []route{
		{"POST", "/api/v1/signing-keys/rotate", identity.ActKeysRotate, s.rotateSigningKey},
		{"GET", "/api/v1/erasures", identity.ActErasuresRead, s.listErasures},
		{"GET", "/api/v1/customers/{customer}/deletion-certificate", identity.ActErasuresRead, s.deletionCertificate},
	}
}

func (s *Server) keyring() (*signing.Keyring, error) {
	if s.deps.Keys == nil {
		return nil, fault.New(fault.Unavailable, "the signing keyring is not available on this controller")
	}
	return s.deps.Keys, nil
}

func (s *Server) purger() (*lifecycle.Purger, error) {
	if s.deps.Purger == nil {
		return nil, fault.New(fault.Unavailable, "the erasure of terminated customers is not available on this controller")
	}
	return s.deps.Purger, nil
}

// signingKeys publishes the controller's public signing keys, current and
// retired, to anyone (both listeners, no sign-in): a deletion certificate
// is checked with them by whoever holds it, a former customer included.
func (s *Server) signingKeys(w http.ResponseWriter, r *http.Request) error {
	k, err := s.keyring()
	if err != nil {
		return err
	}
	keys, err := k.PublicKeys(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(keys, ""))
	return nil
}

// rotateSigningKey retires the current signing key and makes a new one
// (security officer, audited by the keyring); it answers the new key.
func (s *Server) rotateSigningKey(w http.ResponseWriter, r *http.Request) error {
	k, err := s.rotate(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, k)
	return nil
}

// rotate rotates the keyring and returns the new key; the API and the
// keys page both rotate through it.
func (s *Server) rotate(r *http.Request) (signing.PublicKey, error) {
	k, err := s.keyring()
	if err != nil {
		return signing.PublicKey{}, err
	}
	id, err := k.Rotate(r.Context())
	if err != nil {
		return signing.PublicKey{}, err
	}
	keys, err := k.PublicKeys(r.Context())
	if err != nil {
		return signing.PublicKey{}, err
	}
	for _, pk := range keys {
		if pk.ID == id {
			return pk, nil
		}
	}
	return signing.PublicKey{}, fmt.Errorf("rotate: the new signing key %s is not listed", id)
}

// listErasures lists erasures, newest first, a page at a time: platform
// records naming customers and what classes went, never erased data.
func (s *Server) listErasures(w http.ResponseWriter, r *http.Request) error {
	es, next, err := s.erasures(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(es, next))
	return nil
}

func (s *Server) erasures(r *http.Request) ([]lifecycle.Erasure, string, error) {
	p, err := s.purger()
	if err != nil {
		return nil, "", err
	}
	pg, err := page(r)
	if err != nil {
		return nil, "", err
	}
	return p.List(r.Context(), lifecycle.Query{After: pg.After, Limit: pg.Limit})
}

// deletionCertificate answers a customer's signed deletion certificate
// exactly as stored: the bytes the signature covers must not be
// re-encoded on the way.
func (s *Server) deletionCertificate(w http.ResponseWriter, r *http.Request) error {
	doc, err := s.certificate(r)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(doc)
	return err
}

func (s *Server) certificate(r *http.Request) ([]byte, error) {
	p, err := s.purger()
	if err != nil {
		return nil, err
	}
	cust := catalog.CustomerID(r.PathValue("customer"))
	if cust == "" {
		return nil, fault.New(fault.NotFound, "customer not found")
	}
	return p.Certificate(r.Context(), cust)
}
