package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/web/panel"
)

// opcAccessPages are the ways operator staff reach past a customer's own
// administrators: a recovery of its operations administrator (requested
// here, decided by a security officer on /recoveries) and a break-glass
// grant to read its saved configuration.
func (s *Server) opcAccessPages() []pageRoute {
	const cust = "/api/v1/customers/{customer}"
	return []pageRoute{
		{"GET", "/customers/{customer}/recovery", identity.ActRecoveryRequest, nil, s.opcRecoveryForm},
		{"POST", "/customers/{customer}/recovery", identity.ActRecoveryRequest, []string{"POST " + cust + "/recoveries"}, s.opcRequestRecovery},
		{"GET", "/customers/{customer}/break-glass", identity.ActBreakGlassOpen, []string{"GET " + cust + "/network/config"}, s.opcBreakGlass},
		{"POST", "/customers/{customer}/break-glass", identity.ActBreakGlassOpen, []string{"POST " + cust + "/break-glass"}, s.opcOpenBreakGlass},
		{"POST", "/break-glass/{grant}/close", identity.ActBreakGlassOpen, []string{"DELETE /api/v1/break-glass/{grant}"}, s.opcCloseBreakGlass},
	}
}

func (s *Server) opcCustomerOnly(r *http.Request) (catalog.Customer, error) {
	op, err := s.pathCustomer(r)
	if err != nil {
		return catalog.Customer{}, err
	}
	return s.deps.Catalog.GetCustomer(r.Context(), op)
}

func (s *Server) opcRecoveryForm(w http.ResponseWriter, r *http.Request) error {
	c, err := s.opcCustomerOnly(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "opc-recovery", opcRecoveryData{c, panel.Languages})
}

type opcRecoveryData struct {
	Customer  catalog.Customer
	Languages []string
}

func (s *Server) opcRequestRecovery(w http.ResponseWriter, r *http.Request) error {
	op, err := s.pathCustomer(r)
	if err != nil {
		return err
	}
	c, err := s.deps.Catalog.GetCustomer(r.Context(), op)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	f := r.PostForm
	_, err = s.deps.Identity.RequestRecovery(r.Context(), principal(r), op, identity.RecoveryInput{Reason: f.Get("reason"),
		LoginID: f.Get("login_id"), DisplayName: f.Get("display_name"), Email: f.Get("email"), Language: f.Get("language")})
	if err != nil {
		return s.renderRefused(w, r, "opc-recovery", opcRecoveryData{c, panel.Languages}, opcSentField(r, err))
	}
	return redirect(w, r, "/customers/"+string(c.ID), "opc.flash.recovery_requested")
}

// opcBreakGlassData is a customer's break-glass page: the viewer's live
// grant and, under it, the applied configuration, read-only, as the
// customer's own readers see it (BGP passwords masked).
type opcBreakGlassData struct {
	Customer catalog.Customer
	Grant    *identity.Grant
	Config   string // the applied version, indented JSON
}

func (s *Server) opcBreakGlassData(r *http.Request) (opcBreakGlassData, error) {
	var d opcBreakGlassData
	c, err := s.opcCustomerOnly(r)
	if err != nil {
		return d, err
	}
	d.Customer = c
	if d.Grant, err = s.opcGrant(r, c.ID); err != nil || d.Grant == nil {
		return d, err
	}
	// This page shows the saved data under the live grant: it enters
	// break-glass itself (the page's own action, breakglass.open, is the
	// operator's), which gives the read-only scope of this customer and
	// records the access with the grant's reason in its audit log.
	p, err := s.breakGlass(r, principal(r))
	if err != nil {
		return d, err
	}
	if !identity.Allowed(p.Role, identity.ActNetworkRead) {
		return d, nil
	}
	wf, err := netPart(s.deps.Workflow)
	if err != nil {
		return d, err
	}
	v, err := wf.Applied(r.Context(), p.Scope())
	if err != nil {
		return d, err
	}
	d.Config, err = opcIndentJSON(v)
	return d, err
}

func opcIndentJSON(v network.Version) (string, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	return string(b), err
}

func (s *Server) opcBreakGlass(w http.ResponseWriter, r *http.Request) error {
	d, err := s.opcBreakGlassData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "opc-breakglass", d)
}

func (s *Server) opcOpenBreakGlass(w http.ResponseWriter, r *http.Request) error {
	op, err := s.pathCustomer(r)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	in := identity.BreakGlassInput{Reason: r.PostForm.Get("reason")}
	if m := strings.TrimSpace(r.PostForm.Get("minutes")); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil {
			n = -1 // refused by the service on its field, with the allowed range
		}
		in.Minutes = n
	}
	if _, err := s.deps.Identity.OpenBreakGlass(r.Context(), principal(r), op, in); err != nil {
		d, derr := s.opcBreakGlassData(r)
		if derr != nil {
			return derr
		}
		return s.renderRefused(w, r, "opc-breakglass", d, opcSentField(r, err))
	}
	return redirect(w, r, "/customers/"+r.PathValue("customer")+"/break-glass", "opc.flash.breakglass_opened")
}

// opcCloseBreakGlass closes one of the viewer's grants (the identity
// service finds only the viewer's own: another's is 404) and returns to the
// page the form named.
func (s *Server) opcCloseBreakGlass(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	if err := s.deps.Identity.CloseBreakGlass(r.Context(), principal(r), r.PathValue("grant")); err != nil {
		return err
	}
	return redirect(w, r, localPath(r.PostForm.Get("next")), "opc.flash.breakglass_closed")
}
