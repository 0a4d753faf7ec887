package web

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/lifecycle"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/web/panel"
)

// opCustomerPages are the operator console's pages for customers and what
// they hold (contracts, hubs, ports, accounts, placements, bandwidth
// changes), the access to a customer's saved data (recovery, break-glass),
// staff and security officers, recovery decisions, the mail outbox and the
// audit log. Each form target is admitted with the action of the API
// operation it performs, and calls the same service with the same principal.
func (s *Server) opCustomerPages() []pageRoute {
	const (
		cust     = "/api/v1/customers/{customer}"
		contract = cust + "/contracts/{code}"
		port     = cust + "/ports/{code}"
	)
	return concatPages([]pageRoute{
		{"GET", "/customers", identity.ActCatalogManage, []string{"GET /api/v1/customers", "GET /api/v1/break-glass"}, s.opcCustomers},
		{"POST", "/customers", identity.ActCatalogManage, []string{"POST /api/v1/customers"}, s.opcCreateCustomer},
		{"GET", "/customers/{customer}", identity.ActCatalogManage, []string{"GET " + cust, "GET " + cust + "/contracts",
			"GET " + cust + "/hubs", "GET " + cust + "/ports", "GET " + cust + "/accounts", "GET " + cust + "/placements"}, s.opcCustomer},
		{"POST", "/customers/{customer}/contracts", identity.ActCatalogManage, []string{"POST " + cust + "/contracts"}, s.opcCreateContract},
		{"POST", "/customers/{customer}/hubs", identity.ActCatalogManage, []string{"POST " + cust + "/hubs"}, s.opcCreateHub},
		{"POST", "/customers/{customer}/ports", identity.ActCatalogManage, []string{"POST " + cust + "/ports"}, s.opcCreatePort},
		{"POST", "/customers/{customer}/accounts", identity.ActCustomerAccounts, []string{"POST " + cust + "/accounts"}, s.opcInviteOpsAdmin},
		{"GET", "/customers/{customer}/contracts/{code}", identity.ActCatalogManage, []string{"GET " + contract}, s.opcContract},
		{"POST", "/customers/{customer}/contracts/{code}/options", identity.ActCatalogManage, []string{"PUT " + contract + "/options"}, s.opcSetOption},
		{"POST", "/customers/{customer}/contracts/{code}/cancel", identity.ActCatalogManage, []string{"POST " + contract + "/cancel"}, s.opcCancelContract},
		{"GET", "/customers/{customer}/ports/{code}", identity.ActCapacityRead, []string{"GET " + port + "/placement/proposal",
			"GET " + port + "/bandwidth-changes"}, s.opcPort},
		{"POST", "/customers/{customer}/ports/{code}/placement", identity.ActInventoryManage, []string{"POST " + port + "/placement"}, s.opcPlace},
		{"POST", "/customers/{customer}/ports/{code}/bandwidth-changes", identity.ActCatalogManage,
			[]string{"POST " + port + "/bandwidth-changes"}, s.opcBandwidthChange},
		{"POST", "/customers/{customer}/ports/{code}/bandwidth-changes/{change}/cancel", identity.ActCatalogManage,
			[]string{"POST " + port + "/bandwidth-changes/{change}/cancel"}, s.opcCancelBandwidthChange},
	}, s.opcAccessPages(), s.opcStaffPages(), s.opcLogPages())
}

// opcCustomersData is the customer list, with the viewer's own open
// break-glass grants (the doors it may close).
type opcCustomersData struct {
	Customers []catalog.Customer
	Next      string
	Grants    []identity.Grant
	Names     map[catalog.CustomerID]string
}

func (s *Server) opcCustomersData(r *http.Request) (opcCustomersData, error) {
	var d opcCustomersData
	var err error
	d.Customers, d.Next, err = s.deps.Catalog.ListCustomers(r.Context(), catalog.Page{Limit: 100, After: r.URL.Query().Get("after")})
	if err != nil {
		return d, err
	}
	if identity.Allowed(principal(r).Role, identity.ActBreakGlassOpen) {
		if d.Grants, err = s.deps.Identity.OpenGrants(r.Context(), principal(r)); err != nil {
			return d, err
		}
	}
	d.Names = map[catalog.CustomerID]string{}
	for _, c := range d.Customers {
		d.Names[c.ID] = c.Name
	}
	return d, nil
}

func (s *Server) opcCustomers(w http.ResponseWriter, r *http.Request) error {
	d, err := s.opcCustomersData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "opc-customers", d)
}

func (s *Server) opcCreateCustomer(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	c, err := s.deps.Catalog.CreateCustomer(r.Context(), catalog.CustomerInput{Name: r.PostForm.Get("name")})
	if err != nil {
		d, derr := s.opcCustomersData(r)
		if derr != nil {
			return derr
		}
		return s.renderRefused(w, r, "opc-customers", d, opcSentField(r, err))
	}
	return redirect(w, r, "/customers/"+string(c.ID), "opc.flash.customer_created")
}

// opcCustomerData is one customer's page: its commercial records, its
// accounts, where its ports run, and the viewer's live grant on it.
type opcCustomerData struct {
	Customer  catalog.Customer
	Contracts []catalog.Contract
	// ActiveCodes are the service codes of the active contracts, the
	// ones a new hub or port may be added to.
	ActiveCodes []string
	Hubs        []catalog.Hub
	Ports       []catalog.Port
	Accounts    []identity.Account
	Placements  []network.Placement
	Regions     []catalog.Region
	Grant       *identity.Grant
	Lifecycle   *lifecycleView    // pages_terminate.go
	Erasure     *lifecycle.Status // where the customer stands in its erasure after termination (pages_purge.go)
	Plans       []string
	Priorities  []string
	Kinds       []string
	Speeds      []int64
	Languages   []string
}

// opcAll is the largest page of a list: a customer's contracts, hubs, ports
// and accounts are counted in tens.
var opcAll = catalog.Page{Limit: catalog.MaxPage}

func (s *Server) opcCustomerData(r *http.Request) (opcCustomerData, tenant.Operator, error) {
	var d opcCustomerData
	op, err := s.pathCustomer(r)
	if err != nil {
		return d, op, err
	}
	ctx, p := r.Context(), principal(r)
	if d.Customer, err = s.deps.Catalog.GetCustomer(ctx, op); err != nil {
		return d, op, err
	}
	if d.Contracts, _, err = s.deps.Catalog.ListContracts(ctx, op, opcAll); err != nil {
		return d, op, err
	}
	for _, k := range d.Contracts {
		if k.Status == "active" {
			d.ActiveCodes = append(d.ActiveCodes, k.ServiceCode)
		}
	}
	d.Lifecycle = lifecycleOf(d.Customer, d.Contracts)
	if d.Hubs, _, err = s.deps.Catalog.ListHubs(ctx, op, opcAll); err != nil {
		return d, op, err
	}
	if d.Ports, _, err = s.deps.Catalog.ListPorts(ctx, op, "", opcAll); err != nil {
		return d, op, err
	}
	if d.Regions, _, err = s.deps.Catalog.ListRegions(ctx, opcAll); err != nil {
		return d, op, err
	}
	if identity.Allowed(p.Role, identity.ActCustomerAccounts) {
		if d.Accounts, _, err = s.deps.Identity.ListAccounts(ctx, op, opcAll); err != nil {
			return d, op, err
		}
	}
	if identity.Allowed(p.Role, identity.ActCapacityRead) {
		ops, err := s.netOps()
		if err != nil {
			return d, op, err
		}
		if d.Placements, err = ops.Placements(ctx, op); err != nil {
			return d, op, err
		}
	}
	if d.Grant, err = s.opcGrant(r, d.Customer.ID); err != nil {
		return d, op, err
	}
	if d.Erasure, err = s.purgeCustomerErasure(r, d.Customer.ID); err != nil {
		return d, op, err
	}
	d.Plans, d.Priorities, d.Languages = catalog.Plans, catalog.Priorities, panel.Languages
	for kind, speeds := range catalog.PortKinds {
		d.Kinds = append(d.Kinds, kind)
		for _, sp := range speeds {
			if !slices.Contains(d.Speeds, sp) {
				d.Speeds = append(d.Speeds, sp)
			}
		}
	}
	slices.Sort(d.Kinds)
	slices.Sort(d.Speeds)
	return d, op, nil
}

// opcGrant is the viewer's live break-glass grant on cust, or nil.
func (s *Server) opcGrant(r *http.Request, cust catalog.CustomerID) (*identity.Grant, error) {
	gs, err := s.deps.Identity.ActiveGrants(r.Context(), principal(r))
	if err != nil {
		return nil, err
	}
	for _, g := range gs {
		if g.CustomerID == cust {
			return &g, nil
		}
	}
	return nil, nil
}

func (s *Server) opcCustomer(w http.ResponseWriter, r *http.Request) error {
	d, _, err := s.opcCustomerData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "opc-customer", d)
}

// opcCustomerForm runs one form of the customer page: it loads the page
// first (an unknown customer is 404 before the form is read), then do; a
// refusal shows the page again with the message next to the field.
func (s *Server) opcCustomerForm(w http.ResponseWriter, r *http.Request, flash string,
	do func(op tenant.Operator) (string, error)) error {
	d, op, err := s.opcCustomerData(r)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	to, err := do(op)
	if err != nil {
		return s.renderRefused(w, r, "opc-customer", d, opcSentField(r, err))
	}
	if to == "" {
		to = "/customers/" + string(d.Customer.ID)
	}
	return redirect(w, r, to, flash)
}

func (s *Server) opcCreateContract(w http.ResponseWriter, r *http.Request) error {
	return s.opcCustomerForm(w, r, "opc.flash.contract_created", func(op tenant.Operator) (string, error) {
		_, err := s.deps.Catalog.CreateContract(r.Context(), op, catalog.ContractInput{
			Plan: r.PostForm.Get("plan"), StartDate: r.PostForm.Get("start_date")})
		return "", err
	})
}

func (s *Server) opcCreateHub(w http.ResponseWriter, r *http.Request) error {
	return s.opcCustomerForm(w, r, "opc.flash.hub_created", func(op tenant.Operator) (string, error) {
		_, err := s.deps.Catalog.CreateHub(r.Context(), op, catalog.HubInput{ServiceCode: r.PostForm.Get("service_code"),
			Region: r.PostForm.Get("region"), Priority: r.PostForm.Get("priority")})
		return "", err
	})
}

func (s *Server) opcCreatePort(w http.ResponseWriter, r *http.Request) error {
	return s.opcCustomerForm(w, r, "opc.flash.port_created", func(op tenant.Operator) (string, error) {
		speed, err := opcFormInt(r, "speed_mbps")
		if err != nil {
			return "", err
		}
		_, err = s.deps.Catalog.CreatePort(r.Context(), op, catalog.PortInput{ServiceCode: r.PostForm.Get("service_code"),
			HubID: catalog.HubID(r.PostForm.Get("hub_id")), Kind: r.PostForm.Get("kind"), SpeedMbps: speed,
			Redundant: r.PostForm.Get("redundant") == "true"})
		return "", err
	})
}

// opcInviteOpsAdmin invites the customer's first operations administrator;
// the setup link goes only to the invitee's e-mail, never to this page.
func (s *Server) opcInviteOpsAdmin(w http.ResponseWriter, r *http.Request) error {
	return s.opcCustomerForm(w, r, "opc.flash.ops_admin_invited", func(op tenant.Operator) (string, error) {
		_, err := s.deps.Identity.InviteFirstOpsAdmin(r.Context(), principal(r), op, identity.InviteInput{
			LoginID: r.PostForm.Get("login_id"), DisplayName: r.PostForm.Get("display_name"), Email: r.PostForm.Get("email"),
			Role: identity.RoleOpsAdmin, Language: r.PostForm.Get("language")})
		return "", err
	})
}

// opcFormInt reads a whole number from a form field; anything else is refused
// on that field, as the API refuses a JSON string where a number belongs.
func opcFormInt(r *http.Request, name string) (int64, error) {
	v := strings.TrimSpace(r.PostForm.Get(name))
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fault.Field(name, "%s must be a whole number", name)
	}
	return n, nil
}

// opcContractData is one contract with the options it may carry.
type opcContractData struct {
	Customer    catalog.Customer
	Contract    catalog.Contract
	OptionNames []string
}

func (s *Server) opcContractData(r *http.Request) (opcContractData, tenant.Operator, error) {
	var d opcContractData
	op, err := s.pathCustomer(r)
	if err != nil {
		return d, op, err
	}
	if d.Customer, err = s.deps.Catalog.GetCustomer(r.Context(), op); err != nil {
		return d, op, err
	}
	if d.Contract, err = s.deps.Catalog.GetContract(r.Context(), op, r.PathValue("code")); err != nil {
		return d, op, err
	}
	d.OptionNames = catalog.OptionNames
	return d, op, nil
}

func (s *Server) opcContract(w http.ResponseWriter, r *http.Request) error {
	d, _, err := s.opcContractData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "opc-contract", d)
}

func (s *Server) opcContractForm(w http.ResponseWriter, r *http.Request, flash string, do func(op tenant.Operator) error) error {
	d, op, err := s.opcContractData(r)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	if err := do(op); err != nil {
		return s.renderRefused(w, r, "opc-contract", d, opcSentField(r, err))
	}
	return redirect(w, r, "/customers/"+string(d.Customer.ID)+"/contracts/"+d.Contract.ServiceCode, flash)
}

func (s *Server) opcSetOption(w http.ResponseWriter, r *http.Request) error {
	return s.opcContractForm(w, r, "opc.flash.option_set", func(op tenant.Operator) error {
		q, err := opcFormInt(r, "quantity")
		if err != nil {
			return err
		}
		_, err = s.deps.Catalog.SetOption(r.Context(), op, r.PathValue("code"), catalog.OptionInput{Name: r.PostForm.Get("name"), Quantity: q})
		return err
	})
}

func (s *Server) opcCancelContract(w http.ResponseWriter, r *http.Request) error {
	return s.opcContractForm(w, r, "opc.flash.contract_cancelled", func(op tenant.Operator) error {
		_, err := s.deps.Catalog.CancelContract(r.Context(), op, r.PathValue("code"), catalog.CancelInput{
			TerminationDate: r.PostForm.Get("termination_date"), Reason: r.PostForm.Get("reason")})
		return err
	})
}
