// Package tenant holds the customer scope as a type: the one customer a
// request, job or panel view acts for, as authentication established it.
//
// A Scope is what a customer's own account (through its session or API
// token) or an operator under a live break-glass grant for exactly one
// customer holds; an Operator is what staff hold when a management route
// names a customer ({customer} in the path) for its commercial records and
// placement — never its saved data. Both have unexported fields: only
// authentication (package identity) builds them — and the demo loader, which
// acts as the system before any account exists — which the boundary test in
// internal/scope_boundaries_test.go enforces; tests get them from package
// tenanttest. Their zero values are refused by every method that takes them
// with an internal error: no zero value ever means "every customer". Readers
// that legitimately cross customers (the desired-state compiler, purge, the
// security officer's audit read) have their own, separately named entry
// points in their packages.
//
// A scope carries the permission table's answer for its role (Can), so that
// services check the action themselves and callers other than the HTTP router
// (schedulers, panel handlers) get the same refusals.
package tenant

import (
	"fmt"

	"github.com/tsunagi-net/tsunagi/internal/fault"
)

// CustomerID identifies a customer (catalog.CustomerID is this type).
type CustomerID string

// Action is an entry of the permission table (identity.Action is this type).
type Action string

// The actions that packages below identity (catalog, audit) check; identity's
// permission table names them with the same constants.
const (
	ActCatalogRead   Action = "catalog.read"
	ActCatalogManage Action = "catalog.manage"
	ActAuditOwn      Action = "audit.own"
)

// errZero is the refusal of a zero scope or handle: a bug in the caller, never
// a request for every customer.
func errZero(what string) error {
	return fault.Wrap(fault.Internal, fmt.Errorf("tenant: zero %s", what), "internal error")
}

func errForbidden() error { return fault.New(fault.Forbidden, "your role does not allow this") }

// Scope is one customer's scope: a customer account acting for its own
// customer, or an operator under a live break-glass grant for it (read-only).
type Scope struct {
	cust    CustomerID
	account string
	role    string
	via     string // "session", "token", "break-glass" or "system"
	grant   string // break-glass grant ID
	reason  string // break-glass reason
	can     func(Action) bool
}

// Holder is a customer-scoped caller that a method shared by the customer's
// own views and the operator's management views accepts: a Scope or an
// Operator. Only this package's types implement it.
type Holder interface {
	// Authorize returns the customer when the holder may do any of the
	// actions; a zero holder is an internal error, a missing permission
	// Forbidden.
	Authorize(any ...Action) (CustomerID, error)
	sealed()
}

// ForAccount is the scope of customer account account (role role) of cust,
// authenticated via "session" or "token"; can answers the permission table
// for the role. Authentication only.
func ForAccount(cust CustomerID, account, role, via string, can func(Action) bool) Scope {
	if cust == "" || account == "" || can == nil {
		return Scope{}
	}
	return Scope{cust: cust, account: account, role: role, via: via, can: can}
}

// ForBreakGlass is the read-only scope of operator account account on cust
// under the live break-glass grant grant, opened for reason. Authentication
// only.
func ForBreakGlass(cust CustomerID, account, grant, reason string, can func(Action) bool) Scope {
	if cust == "" || account == "" || grant == "" || can == nil {
		return Scope{}
	}
	return Scope{cust: cust, account: account, role: "break-glass", via: "break-glass", grant: grant, reason: reason, can: can}
}

// ForSystem is the scope in which the system itself acts for cust with the
// rights can gives: the demo loader, before any of the customer's accounts
// has a password. Nothing that serves a request uses it.
func ForSystem(cust CustomerID, can func(Action) bool) Scope {
	if cust == "" || can == nil {
		return Scope{}
	}
	return Scope{cust: cust, account: "system", role: "system", via: "system", can: can}
}

// IsZero reports whether s is the zero scope (no customer).
func (s Scope) IsZero() bool { return s.cust == "" }

// Customer returns the scope's customer, or an internal error for the zero
// scope.
func (s Scope) Customer() (CustomerID, error) {
	if s.cust == "" {
		return "", errZero("customer scope")
	}
	return s.cust, nil
}

// Can reports whether the scope may do a. The zero scope may do nothing.
func (s Scope) Can(a Action) bool { return s.cust != "" && s.can(a) }

// Authorize returns the scope's customer when it may do any of the actions:
// the check every customer-scoped service method starts with.
func (s Scope) Authorize(any ...Action) (CustomerID, error) {
	if s.cust == "" {
		return "", errZero("customer scope")
	}
	for _, a := range any {
		if s.can(a) {
			return s.cust, nil
		}
	}
	return "", errForbidden()
}

// Account is the acting account's ID ("system" for the system).
func (s Scope) Account() string { return s.account }

// Role is the acting role: a customer role, or "break-glass".
func (s Scope) Role() string { return s.role }

// Via is how the caller authenticated: "session", "token", "break-glass" or
// "system".
func (s Scope) Via() string { return s.via }

// BreakGlass returns the grant and reason when s is a break-glass scope.
func (s Scope) BreakGlass() (grant, reason string, ok bool) {
	return s.grant, s.reason, s.grant != ""
}

// String names the scope for logs, never for authorisation.
func (s Scope) String() string {
	if s.cust == "" {
		return "tenant.Scope(zero)"
	}
	return fmt.Sprintf("tenant.Scope(%s as %s/%s)", s.cust, s.account, s.role)
}

func (Scope) sealed() {}

// Operator is operator staff acting on one customer named by a management
// route: its contracts, hubs, ports, placement, bandwidth changes and the
// invitation of its first operations administrator. It reaches none of the
// customer's saved data (that needs a break-glass Scope).
type Operator struct {
	cust    CustomerID
	account string
	can     func(Action) bool
}

// ForOperator is the handle of staff account account on cust; can answers
// the permission table for the account's role. Authentication only (or the
// demo loader, acting as the system).
func ForOperator(cust CustomerID, account string, can func(Action) bool) Operator {
	if cust == "" || account == "" || can == nil {
		return Operator{}
	}
	return Operator{cust: cust, account: account, can: can}
}

// IsZero reports whether o is the zero handle.
func (o Operator) IsZero() bool { return o.cust == "" }

// Customer returns the customer o acts on, or an internal error for the zero
// handle.
func (o Operator) Customer() (CustomerID, error) {
	if o.cust == "" {
		return "", errZero("operator handle")
	}
	return o.cust, nil
}

// Authorize returns the customer when o may do any of the actions.
func (o Operator) Authorize(any ...Action) (CustomerID, error) {
	if o.cust == "" {
		return "", errZero("operator handle")
	}
	for _, a := range any {
		if o.can(a) {
			return o.cust, nil
		}
	}
	return "", errForbidden()
}

// Account is the acting staff account's ID.
func (o Operator) Account() string { return o.account }

// String names the handle for logs.
func (o Operator) String() string {
	if o.cust == "" {
		return "tenant.Operator(zero)"
	}
	return fmt.Sprintf("tenant.Operator(%s by %s)", o.cust, o.account)
}

func (Operator) sealed() {}
