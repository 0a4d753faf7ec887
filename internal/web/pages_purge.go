package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/lifecycle"
)

// purgePages are the operator console's pages of the erasure after
// termination: the list of erasures, one erasure with its steps and its
// certificate (and the certificate's download), and the signing keys with
// their rotation.
func (s *Server) purgePages() []pageRoute {
	return []pageRoute{
		{"GET", "/erasures", identity.ActErasuresRead, []string{"GET /api/v1/erasures"}, s.purgeList},
		{"GET", "/erasures/{customer}", identity.ActErasuresRead, []string{"GET /api/v1/customers/{customer}/deletion-certificate"}, s.purgeErasure},
		{"GET", "/erasures/{customer}/certificate.json", identity.ActErasuresRead, nil, s.purgeDownload},
		{"GET", "/signing-keys", identity.ActSelf, []string{"GET /api/v1/signing-keys"}, s.purgeKeys},
		{"POST", "/signing-keys/rotate", identity.ActKeysRotate, []string{"POST /api/v1/signing-keys/rotate"}, s.purgeRotate},
	}
}

// purgeCustomerPages are the customer listener's: the published signing
// keys, linked from the service documents, to check a deletion
// certificate with.
func (s *Server) purgeCustomerPages() []pageRoute {
	return []pageRoute{
		{"GET", "/signing-keys", identity.ActSelf, []string{"GET /api/v1/signing-keys"}, s.purgeKeys},
	}
}

type purgeListData struct {
	Erasures []lifecycle.Erasure
	NextHref string
}

func (s *Server) purgeList(w http.ResponseWriter, r *http.Request) error {
	es, next, err := s.erasures(r)
	if err != nil {
		return err
	}
	d := purgeListData{Erasures: es}
	if next != "" {
		q := url.Values{"after": {next}}
		if l := r.URL.Query().Get("limit"); l != "" {
			q.Set("limit", l)
		}
		d.NextHref = "/erasures?" + q.Encode()
	}
	return s.render(w, r, "purge-list", d)
}

type purgeErasureData struct {
	Erasure     lifecycle.Erasure
	Certificate *lifecycle.Certificate // nil until the erasure finished
	Pending     []string               // the steps not done yet, in order
}

// purgeErasure is the certificate page: the erasure's state and steps,
// and once it finished the certificate's figures, its signing key and
// its download.
func (s *Server) purgeErasure(w http.ResponseWriter, r *http.Request) error {
	p, err := s.purger()
	if err != nil {
		return err
	}
	cust := catalog.CustomerID(r.PathValue("customer"))
	e, err := p.Get(r.Context(), cust)
	if errors.Is(err, lifecycle.ErrNoErasure) {
		return fault.New(fault.NotFound, "no erasure of this customer")
	}
	if err != nil {
		return err
	}
	d := purgeErasureData{Erasure: e}
	done := map[string]bool{}
	for _, st := range e.Steps {
		done[st.Class] = true
	}
	for _, class := range lifecycle.Classes() {
		if !done[class] {
			d.Pending = append(d.Pending, class)
		}
	}
	if e.FinishedAt != nil {
		doc, err := p.Certificate(r.Context(), cust)
		if err != nil {
			return err
		}
		var c lifecycle.Certificate
		if err := json.Unmarshal(doc, &c); err != nil {
			return err
		}
		d.Certificate = &c
	}
	return s.render(w, r, "purge-erasure", d)
}

// purgeDownload is the certificate as a file, byte for byte as signed.
func (s *Server) purgeDownload(w http.ResponseWriter, r *http.Request) error {
	doc, err := s.certificate(r)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="deletion-certificate-`+url.PathEscape(r.PathValue("customer"))+`.json"`)
	_, err = w.Write(doc)
	return err
}

func (s *Server) purgeKeys(w http.ResponseWriter, r *http.Request) error {
	k, err := s.keyring()
	if err != nil {
		return err
	}
	keys, err := k.PublicKeys(r.Context())
	if err != nil {
		return err
	}
	return s.render(w, r, "purge-keys", keys)
}

// purgeRotate rotates the signing key once the officer ticked the
// confirmation: a rotation cannot be undone.
func (s *Server) purgeRotate(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	if r.PostForm.Get("confirm") != "yes" {
		k, err := s.keyring()
		if err != nil {
			return err
		}
		keys, err := k.PublicKeys(r.Context())
		if err != nil {
			return err
		}
		return s.renderRefused(w, r, "purge-keys", keys, fault.Field("confirm", "tick the box to confirm the rotation of the signing key"))
	}
	if _, err := s.rotate(r); err != nil {
		return err
	}
	return redirect(w, r, "/signing-keys", "purge.keys.rotated")
}

// purgeCustomerErasure is a customer's erasure for the operator's customer
// page, or nil when none started (or the erasure service is not wired).
func (s *Server) purgeCustomerErasure(r *http.Request, cust catalog.CustomerID) (*lifecycle.Erasure, error) {
	if s.deps.Purger == nil || !identity.Allowed(principal(r).Role, identity.ActErasuresRead) {
		return nil, nil
	}
	e, err := s.deps.Purger.Get(r.Context(), cust)
	if errors.Is(err, lifecycle.ErrNoErasure) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &e, nil
}
