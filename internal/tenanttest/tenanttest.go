// Package tenanttest gives tests the customer scopes and operator handles that
// only authentication builds in the running controller. The boundary test
// (internal/scope_boundaries_test.go) allows this package, and no other
// besides identity and the demo loader, to construct them; nothing but tests
// imports it.
package tenanttest

import (
	"slices"

	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

func all(tenant.Action) bool { return true }

// Customer is a scope of an operations administrator of cust that may do
// everything (the service's own checks pass; tests of refusals use As).
func Customer[ID ~string](cust ID) tenant.Scope {
	return tenant.ForAccount(tenant.CustomerID(cust), "acc_test", "ops-admin", "session", all)
}

// As is a scope of cust in role role holding exactly the actions given.
func As[ID ~string](cust ID, role string, actions ...tenant.Action) tenant.Scope {
	return tenant.ForAccount(tenant.CustomerID(cust), "acc_test_"+role, role, "session",
		func(a tenant.Action) bool { return slices.Contains(actions, a) })
}

// BreakGlass is a break-glass scope of an operator on cust that may read
// saved data (network.read) and nothing else.
func BreakGlass[ID ~string](cust ID) tenant.Scope {
	return tenant.ForBreakGlass(tenant.CustomerID(cust), "acc_test_operator", "bgl_test", "test: break-glass read",
		func(a tenant.Action) bool { return a == "network.read" })
}

// Operator is an operator's handle on cust that may do everything.
func Operator[ID ~string](cust ID) tenant.Operator {
	return tenant.ForOperator(tenant.CustomerID(cust), "acc_test_operator", all)
}

// OperatorAs is an operator's handle on cust holding exactly the actions
// given.
func OperatorAs[ID ~string](cust ID, actions ...tenant.Action) tenant.Operator {
	return tenant.ForOperator(tenant.CustomerID(cust), "acc_test_operator",
		func(a tenant.Action) bool { return slices.Contains(actions, a) })
}
