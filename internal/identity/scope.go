package identity

import (
	"context"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Authentication is the only place customer scopes (tenant.Scope) and
// operator handles (tenant.Operator) are built; the boundary test in
// internal/scope_boundaries_test.go keeps it so.

// sealScope gives p, which authentication has just established, its scope: a
// customer account's scope with the permission table's answers for its role
// (an MFA-pending session's scope may do nothing), or for staff the role
// that Manage hands on.
func sealScope(p *Principal) {
	role := p.Role
	if p.CustomerID == "" {
		p.staff = role
		return
	}
	p.scope = tenant.ForAccount(p.CustomerID, p.AccountID, string(role), p.Via,
		func(a tenant.Action) bool { return Allowed(role, a) })
}

// Scope is the customer scope authentication gave p: its own customer's for a
// customer account, the one customer's of a live break-glass grant for an
// operator who entered it (EnterBreakGlass), and the zero scope otherwise —
// which every customer-scoped method refuses.
func (p Principal) Scope() tenant.Scope { return p.scope }

// manages returns the customer whose accounts p manages, as authentication
// made p: its own customer for a customer account, "" for staff (whose
// accounts have no customer). A Principal that authentication did not
// produce manages nothing.
func (p Principal) manages() (catalog.CustomerID, error) {
	if p.staff != "" {
		return "", nil
	}
	return p.scope.Customer()
}

// AccountOf returns account id as p's side reaches it: one of its own
// customer's accounts, or a staff account for staff. Another customer's
// account, or a staff account for a customer, is not found.
func (s *Service) AccountOf(ctx context.Context, p Principal, id string) (Account, error) {
	cust, err := p.manages()
	if err != nil {
		return Account{}, err
	}
	return s.scopedAccount(ctx, s.db, cust, id)
}

// Manage is the handle with which authenticated staff p act on customer
// cust, named by a management route: its commercial records and placement,
// never its saved data. A customer account, or a principal that
// authentication did not produce, gets a Forbidden fault.
func (p Principal) Manage(cust catalog.CustomerID) (tenant.Operator, error) {
	if p.staff == "" || !p.staff.OperatorSide() || cust == "" {
		return tenant.Operator{}, fault.New(fault.Forbidden, "your role does not allow this")
	}
	role := p.staff
	return tenant.ForOperator(cust, p.AccountID, func(a tenant.Action) bool { return Allowed(role, a) }), nil
}

// EnterBreakGlass gives operator p, on a request about customer cust, the
// break-glass role and a read-only scope of cust when p holds a live grant
// for it, and records the access (what) with the grant's reason in the
// customer's audit log. Without a grant p comes back unchanged: operator
// roles hold no saved-data action.
func (s *Service) EnterBreakGlass(ctx context.Context, p Principal, cust catalog.CustomerID, what string) (Principal, error) {
	if cust == "" || p.staff == "" || !Allowed(p.Role, ActBreakGlassOpen) {
		return p, nil
	}
	g, err := s.activeGrant(ctx, p, cust)
	if fault.Is(err, fault.Forbidden) {
		return p, nil
	}
	if err != nil {
		return Principal{}, err
	}
	a := audit.ActorFrom(ctx)
	if err := s.RecordBreakGlassAccess(audit.WithActor(ctx, p.Actor(a.SourceIP, a.RequestID)), g, what); err != nil {
		return Principal{}, err
	}
	p.Role = p.Role.WithRole(RoleBreakGlass)
	p.scope = tenant.ForBreakGlass(cust, p.AccountID, g.ID, g.Reason,
		func(a tenant.Action) bool { return Allowed(RoleBreakGlass, a) })
	return p, nil
}
