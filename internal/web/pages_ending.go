package web

import (
	"net/http"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// The panel's pages for ending ports and hubs (network/ending.go). The
// customer marks a port for removal from the draft's port page and sees
// what stops on the review page (both existing pages include the end-
// partials); the operator ends a port on a date from its own page, linked
// from the customer's port page, and removes a hub from the customer's hub
// list.

// endingPages are the customer's forms of a port's removal.
func (s *Server) endingPages() []pageRoute {
	const base = "/network/draft/ports/{code}/end-removal"
	return []pageRoute{
		{"POST", base, identity.ActNetworkEdit, []string{"PUT /api/v1/network/draft/ports/{code}/removal"}, s.endMarkRemovalPage},
		{"POST", base + "/withdraw", identity.ActNetworkEdit, []string{"DELETE /api/v1/network/draft/ports/{code}/removal"}, s.endUnmarkRemovalPage},
	}
}

// opEndingPages are the operator's pages: a port's dated end and a hub's
// removal.
func (s *Server) opEndingPages() []pageRoute {
	const (
		api  = "/api/v1/customers/{customer}/ports/{code}/end"
		page = "/customers/{customer}/ports/{code}/end"
	)
	return []pageRoute{
		{"GET", page, identity.ActCatalogManage, []string{"GET " + api}, s.endPortPage},
		{"POST", page, identity.ActCatalogManage, []string{"POST " + api}, s.endPortForm},
		{"POST", page + "/cancel", identity.ActCatalogManage, []string{"POST " + api + "/cancel"}, s.endPortCancelForm},
		{"POST", "/customers/{customer}/hubs/{hub}/remove", identity.ActCatalogManage,
			[]string{"DELETE /api/v1/customers/{customer}/hubs/{hub}"}, s.endHubRemoveForm},
	}
}

func (s *Server) endMarkRemovalPage(w http.ResponseWriter, r *http.Request) error {
	return s.netPortAction("end-removal", func(r *http.Request, n *network.Workflow, code string) error {
		_, err := n.MarkPortRemoval(r.Context(), principal(r).Scope(), code)
		return err
	}, "/network/review", "end.flash.marked")(w, r)
}

func (s *Server) endUnmarkRemovalPage(w http.ResponseWriter, r *http.Request) error {
	return s.netPortAction("end-removal", func(r *http.Request, n *network.Workflow, code string) error {
		_, err := n.UnmarkPortRemoval(r.Context(), principal(r).Scope(), code)
		return err
	}, "/network/draft/ports/{code}#end-removal", "end.flash.withdrawn")(w, r)
}

// endPortData is the operator's page of a port's dated end.
type endPortData struct {
	Customer catalog.Customer
	Port     catalog.Port
	Pending  *network.PortEnd
	Ends     []network.PortEnd // every dated end, newest first
	Today    string
}

func (s *Server) endPortData(r *http.Request) (endPortData, tenant.Operator, *network.Operations, error) {
	var d endPortData
	op, err := s.pathCustomer(r)
	if err != nil {
		return d, op, nil, err
	}
	ops, err := s.netOps()
	if err != nil {
		return d, op, nil, err
	}
	ctx := r.Context()
	if d.Customer, err = s.deps.Catalog.GetCustomer(ctx, op); err != nil {
		return d, op, nil, err
	}
	if d.Port, err = s.deps.Catalog.GetPort(ctx, op, r.PathValue("code")); err != nil {
		return d, op, nil, err
	}
	if d.Ends, err = ops.PortEnds(ctx, op, d.Port.PortCode); err != nil {
		return d, op, nil, err
	}
	for i := range d.Ends {
		if d.Ends[i].State == "pending" {
			d.Pending = &d.Ends[i]
		}
	}
	d.Today = clock.Today()
	return d, op, ops, nil
}

func (s *Server) endPortPage(w http.ResponseWriter, r *http.Request) error {
	d, _, _, err := s.endPortData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "end-port", d)
}

// endPortAction runs a form of the dated-end page; a refusal shows the page
// again with the message next to the field sent.
func (s *Server) endPortAction(w http.ResponseWriter, r *http.Request, flash string,
	do func(ops *network.Operations, op tenant.Operator, code string) error) error {
	d, op, ops, err := s.endPortData(r)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	if err := do(ops, op, d.Port.PortCode); err != nil {
		return s.renderRefused(w, r, "end-port", d, opcSentField(r, err))
	}
	return redirect(w, r, "/customers/"+string(d.Customer.ID)+"/ports/"+d.Port.PortCode+"/end", flash)
}

func (s *Server) endPortForm(w http.ResponseWriter, r *http.Request) error {
	return s.endPortAction(w, r, "end.flash.scheduled", func(ops *network.Operations, op tenant.Operator, code string) error {
		_, err := ops.EndPortOn(r.Context(), op, code, network.PortEndInput{EndDate: strings.TrimSpace(r.PostForm.Get("end_date")),
			Reason: r.PostForm.Get("reason")})
		return err
	})
}

func (s *Server) endPortCancelForm(w http.ResponseWriter, r *http.Request) error {
	return s.endPortAction(w, r, "end.flash.cancelled", func(ops *network.Operations, op tenant.Operator, code string) error {
		_, err := ops.CancelPortEnd(r.Context(), op, code)
		return err
	})
}

func (s *Server) endHubRemoveForm(w http.ResponseWriter, r *http.Request) error {
	return s.opcCustomerForm(w, r, "end.flash.hub_removed", func(op tenant.Operator) (string, error) {
		ops, err := s.netOps()
		if err != nil {
			return "", err
		}
		return "", ops.RemoveHub(r.Context(), op, catalog.HubID(r.PathValue("hub")))
	})
}
