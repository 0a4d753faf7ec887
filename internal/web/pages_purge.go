package web

import (
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/lifecycle"
)

// purgePages are the operator console's pages of the erasure after
// termination: the list of erasures, one customer's erasure with its steps
// and its certificate, and the signing keys with their rotation.
func (s *Server) purgePages() []pageRoute {
	return []pageRoute{
		{"GET", "/erasures", identity.ActErasuresRead, []string{"GET /api/v1/erasures"}, s.purgeList},
		// The certificate's download is the API's own answer (the
		// session cookie admits the browser there): the bytes as signed.
		{"GET", "/erasures/{customer}", identity.ActErasuresRead, []string{"GET /api/v1/customers/{customer}/deletion-certificate"}, s.purgeErasure},
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
	lifecycle.Status
	Certificate *lifecycle.Certificate // nil until the erasure finished
	Pending     []string               // the steps not done yet, in order
}

// purgeErasure is the certificate page: where the customer stands (due
// when, or started), the erasure's steps, and once it finished the
// certificate's figures, its signing key and its download.
func (s *Server) purgeErasure(w http.ResponseWriter, r *http.Request) error {
	p, err := s.purger()
	if err != nil {
		return err
	}
	cust := catalog.CustomerID(r.PathValue("customer"))
	st, err := p.Status(r.Context(), cust)
	if err != nil {
		return err
	}
	d := purgeErasureData{Status: st}
	if st.Erasure == nil {
		return s.render(w, r, "purge-erasure", d)
	}
	done := map[string]bool{}
	for _, c := range st.Erasure.Steps {
		done[c.Class] = true
	}
	for _, class := range lifecycle.Classes() {
		if !done[class] {
			d.Pending = append(d.Pending, class)
		}
	}
	if st.Erasure.FinishedAt != nil {
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

// purgeCustomerErasure is where a customer stands in its erasure, for the
// operator's customer page; nil for a viewer without erasures.read or
// when the erasure service is not wired.
func (s *Server) purgeCustomerErasure(r *http.Request, cust catalog.CustomerID) (*lifecycle.Status, error) {
	if s.deps.Purger == nil || !identity.Allowed(principal(r).Role, identity.ActErasuresRead) {
		return nil, nil
	}
	st, err := s.deps.Purger.Status(r.Context(), cust)
	if err != nil {
		return nil, err
	}
	return &st, nil
}
