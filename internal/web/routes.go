package web

import (
	"context"
	_ "embed"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"net/http"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
)

// route is one entry of a listener's route table. The tables are data so that
// tests can walk them: the OpenAPI document must list exactly these routes,
// and the cross-customer sweep asks every one of them for another customer's
// objects.
type route struct {
	Method string
	Path   string          // net/http pattern path, e.g. /api/v1/contracts/{code}
	Action identity.Action // "" = no authentication (health, setup, login)
	Handle func(w http.ResponseWriter, r *http.Request) error
}

//go:embed openapi-customer.json
var openapiCustomer []byte

//go:embed openapi-operator.json
var openapiOperator []byte

// CustomerHandler serves the customer listener.
func (s *Server) CustomerHandler() http.Handler {
	return s.outer("customer", s.mux(s.customerRoutes(), identity.CustomerSide, s.customerPages()...))
}

// MgmtHandler serves the management listener.
func (s *Server) MgmtHandler() http.Handler {
	return s.outer("management", s.mux(s.mgmtRoutes(), identity.OperatorSide, s.operatorPages()...))
}

func (s *Server) common(side identity.Side, doc []byte) []route {
	return []route{
		{"GET", "/healthz", "", s.healthz},
		{"GET", "/readyz", "", s.readyz},
		{"GET", "/api/v1/openapi.json", "", func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Content-Type", "application/json")
			_, err := w.Write(doc)
			return err
		}},
		{"GET", "/setup", "", s.setupPage(side)},
		{"POST", "/setup", "", s.setupPage(side)},
		{"POST", "/api/v1/setup", "", s.setup(side)},
		{"POST", "/api/v1/session", "", s.login(side)},
		{"DELETE", "/api/v1/session", identity.ActSelf, s.logout(side)},
		{"GET", "/api/v1/me", identity.ActSelf, s.me},
		{"POST", "/api/v1/tokens", identity.ActCredentials, s.createToken},
		{"GET", "/api/v1/signing-keys", "", s.signingKeys},
	}
}

func (s *Server) customerRoutes() []route {
	routes := append(s.common(identity.CustomerSide, openapiCustomer),
		route{"GET", "/api/v1/regions", identity.ActCatalogRead, s.listRegions},
		route{"GET", "/api/v1/customer", identity.ActCatalogRead, s.myCustomer},
		route{"GET", "/api/v1/contracts", identity.ActCatalogRead, s.myContracts},
		route{"GET", "/api/v1/contracts/{code}", identity.ActCatalogRead, s.myContract},
		route{"GET", "/api/v1/hubs", identity.ActCatalogRead, s.myHubs},
		route{"GET", "/api/v1/hubs/{id}", identity.ActCatalogRead, s.myHub},
		route{"GET", "/api/v1/hubs/{id}/dataplane", identity.ActNetworkRead, s.myHubDataplane},
		route{"GET", "/api/v1/ports", identity.ActCatalogRead, s.myPorts},
		route{"GET", "/api/v1/ports/{code}", identity.ActCatalogRead, s.myPort},
		route{"GET", "/api/v1/accounts", identity.ActAccountsRead, s.myAccounts},
	)
	routes = append(routes, s.identityCustomerRoutes()...)
	routes = append(routes, s.noticeCustomerRoutes()...)
	routes = append(routes, s.reportCustomerRoutes()...)
	routes = append(routes, s.evidenceCustomerRoutes()...)
	routes = append(routes, s.usageCustomerRoutes()...)
	routes = append(routes, s.lgCustomerRoutes()...)
	routes = append(routes, s.flowRoutes()...)
	routes = append(routes, s.monitorRoutes()...)
	routes = append(routes, s.webhookCustomerRoutes()...)
	return append(routes, s.networkCustomerRoutes()...)
}

func (s *Server) mgmtRoutes() []route {
	routes := append(s.common(identity.OperatorSide, openapiOperator),
		route{"GET", "/metrics", "", func(w http.ResponseWriter, r *http.Request) error {
			s.metricsHandler().ServeHTTP(w, r)
			return nil
		}},
		route{"GET", "/api/v1/regions", identity.ActSelf, s.listRegions},
		route{"POST", "/api/v1/regions", identity.ActInventoryManage, s.createRegion},
		route{"GET", "/api/v1/nodes", identity.ActInventoryManage, s.listNodes},
		route{"POST", "/api/v1/nodes", identity.ActInventoryManage, s.createNode},
		route{"POST", "/api/v1/nodes/{node}/enrolment-token", identity.ActInventoryManage, s.issueEnrolToken},
		route{"POST", "/api/v1/nodes/{node}/physical-ports", identity.ActInventoryManage, s.addPhysicalPort},
		route{"POST", "/api/v1/nodes/{node}/revoke", identity.ActInventoryManage, s.revokeNode},
		route{"GET", "/api/v1/nodes/{node}/status", identity.ActInventoryManage, s.nodeStatus},
		route{"GET", "/api/v1/customers", identity.ActCatalogManage, s.listCustomers},
		route{"POST", "/api/v1/customers", identity.ActCatalogManage, s.createCustomer},
		route{"GET", "/api/v1/customers/{customer}", identity.ActCatalogManage, s.getCustomer},
		route{"GET", "/api/v1/customers/{customer}/contracts", identity.ActCatalogManage, s.opContracts},
		route{"POST", "/api/v1/customers/{customer}/contracts", identity.ActCatalogManage, s.createContract},
		route{"GET", "/api/v1/customers/{customer}/contracts/{code}", identity.ActCatalogManage, s.opContract},
		route{"PUT", "/api/v1/customers/{customer}/contracts/{code}/options", identity.ActCatalogManage, s.setOption},
		route{"POST", "/api/v1/customers/{customer}/contracts/{code}/cancel", identity.ActCatalogManage, s.cancelContract},
		route{"GET", "/api/v1/customers/{customer}/hubs", identity.ActCatalogManage, s.opHubs},
		route{"POST", "/api/v1/customers/{customer}/hubs", identity.ActCatalogManage, s.createHub},
		route{"GET", "/api/v1/customers/{customer}/ports", identity.ActCatalogManage, s.opPorts},
		route{"POST", "/api/v1/customers/{customer}/ports", identity.ActCatalogManage, s.createPort},
		route{"GET", "/api/v1/customers/{customer}/accounts", identity.ActCustomerAccounts, s.opAccounts},
		route{"POST", "/api/v1/customers/{customer}/accounts", identity.ActCustomerAccounts, s.inviteCustomerAccount},
		route{"GET", "/api/v1/staff", identity.ActStaffManage, s.listStaff},
		route{"POST", "/api/v1/staff", identity.ActStaffManage, s.inviteStaff},
		route{"GET", "/api/v1/job-runs", identity.ActJobsRead, s.listJobRuns},
		route{"GET", "/api/v1/backups", identity.ActBackupsManage, s.listBackups},
		route{"POST", "/api/v1/backups", identity.ActBackupsManage, s.createBackup},
	)
	routes = append(routes, s.identityMgmtRoutes()...)
	routes = append(routes, s.nodeLifecycleRoutes()...)
	routes = append(routes, s.purgeMgmtRoutes()...)
	routes = append(routes, s.noticeMgmtRoutes()...)
	routes = append(routes, s.noticeLogMgmtRoutes()...)
	routes = append(routes, s.reportMgmtRoutes()...)
	routes = append(routes, s.evidenceMgmtRoutes()...)
	return append(routes, s.networkMgmtRoutes()...)
}

// mux builds the listener's router. Routes with an Action authenticate the
// caller on this listener's side and check the permission table before the
// handler runs; a refusal is audited, and a change that succeeded without
// being audited is caught (guarded). The control panel's pages (pages.go)
// share the router and the same checks, answering in HTML. Anything not in
// the tables is a JSON 404.
func (s *Server) mux(routes []route, side identity.Side, pages ...pageRoute) *http.ServeMux {
	m := http.NewServeMux()
	for _, rt := range routes {
		m.HandleFunc(rt.Method+" "+rt.Path, s.guarded(rt.Method+" "+rt.Path, func(w http.ResponseWriter, r *http.Request) {
			if rt.Action != "" {
				var err error
				if r, err = s.admit(r, side, rt.Method+" "+rt.Path, rt.Action); err != nil {
					s.writeError(w, r, err)
					return
				}
			}
			if err := rt.Handle(w, r); err != nil {
				s.writeError(w, r, err)
			}
		}))
	}
	s.mountPages(m, pages, side)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		notFound(m, w, r, s.writeError)
	})
	return m
}

// admit authenticates the caller on side and checks that its role may
// perform action; target names the route for the audit of a refusal. It
// returns the request carrying the principal and its audit actor.
func (s *Server) admit(r *http.Request, side identity.Side, target string, action identity.Action) (*http.Request, error) {
	p, err := s.authenticate(r, side)
	if err != nil {
		return r, err
	}
	// Break-glass is entered only for what the staff role itself may not
	// do and a grant allows (reading the customer's saved data): a page
	// or route an operator reaches anyway is not recorded as an access to
	// the customer's data.
	if side == identity.OperatorSide && !identity.Allowed(p.Role, action) && identity.Allowed(identity.RoleBreakGlass, action) {
		if p, err = s.breakGlass(r, p); err != nil {
			return r, err
		}
		if st, ok := r.Context().Value(keyState).(*reqState); ok {
			st.principal = &p
		}
	}
	a := audit.ActorFrom(r.Context())
	ctx := context.WithValue(r.Context(), keyPrincipal, p)
	ctx = audit.WithActor(ctx, p.Actor(a.SourceIP, a.RequestID))
	r = r.WithContext(ctx)
	if !identity.Allowed(p.Role, action) {
		// A pending session is told what it owes, not that its role is
		// too low.
		refusal, detail := fault.New(fault.Forbidden, "your role does not allow this"), map[string]any{"needs": string(action)}
		if p.Role == identity.RoleMFAPending {
			refusal, detail["reason"] = identity.ErrMFAPending, identity.CodeMFAPending
		}
		cust, what := s.refusedCustomer(r.WithContext(ctx), p, target)
		if err := s.deps.Audit.Record(ctx, audit.Event{Action: "access.denied", Target: what,
			CustomerID: cust, Result: audit.Denied, Detail: detail}); err != nil {
			return r, err
		}
		return r, refusal
	}
	// A token never changes credentials, whatever its role: it is a
	// credential itself (identity.SessionOnly).
	if identity.SessionOnly(action) && p.Via != "session" {
		if err := s.deps.Audit.Record(ctx, audit.Event{Action: "access.denied", Target: target,
			CustomerID: string(p.CustomerID), Result: audit.Denied,
			Detail: map[string]any{"needs": string(action), "reason": identity.CodeSessionRequired}}); err != nil {
			return r, err
		}
		return r, identity.ErrSessionRequired
	}
	return r, nil
}

// refusedCustomer is whose chain a refusal of p on this request goes to,
// and what it names: the caller's own customer; or, for staff refused on a
// request naming an existing customer (the path's {customer}, the audit
// log's ?customer=), that customer — a refused attempt at a customer's data
// is in the customer's own log — with the request's path; otherwise the
// platform's, with the route.
func (s *Server) refusedCustomer(r *http.Request, p identity.Principal, route string) (string, string) {
	if p.CustomerID != "" {
		return string(p.CustomerID), route
	}
	named := r.PathValue("customer")
	if named == "" {
		named = r.URL.Query().Get("customer")
	}
	if named == "" {
		return "", route
	}
	op, err := p.Manage(catalog.CustomerID(named))
	if err != nil {
		return "", route
	}
	if _, err := s.deps.Catalog.GetCustomer(r.Context(), op); err != nil {
		return "", route
	}
	return named, r.Method + " " + r.URL.Path
}

// notFound answers a request no route took: 405 with Allow when the path
// exists with other methods, 404 otherwise.
func notFound(m *http.ServeMux, w http.ResponseWriter, r *http.Request, writeError func(http.ResponseWriter, *http.Request, error)) {
	var allow []string
	for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = method
		if _, pattern := m.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, method)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, r, fault.New(fault.BadMethod, "this endpoint does not accept %s", r.Method))
		return
	}
	writeError(w, r, fault.New(fault.NotFound, "no such endpoint"))
}
