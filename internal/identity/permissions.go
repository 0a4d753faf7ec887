package identity

// Action is something a principal may be allowed to do.
type Action string

const (
	ActSelf             Action = "self"              // own session, profile and API tokens
	ActCatalogRead      Action = "catalog.read"      // the customer's contracts, hubs, ports, regions
	ActAccountsRead     Action = "accounts.read"     // the customer's accounts
	ActCatalogManage    Action = "catalog.manage"    // operator: customers, contracts, hubs, ports
	ActInventoryManage  Action = "inventory.manage"  // operator: regions, hub nodes, physical ports
	ActCustomerAccounts Action = "customer.accounts" // operator: a customer's first operations administrator
	ActStaffManage      Action = "staff.manage"      // operator: staff accounts
	ActAuditRead        Action = "audit.read"        // security officer: the whole audit log
)

// permissions is the role × action table that the web layer enforces; deny is
// the default for any pair not listed. docs/roles.md is generated from it.
var permissions = map[Role][]Action{
	RoleOpsAdmin:        {ActSelf, ActCatalogRead, ActAccountsRead},
	RoleAdmin:           {ActSelf, ActCatalogRead},
	RoleUser:            {ActSelf, ActCatalogRead},
	RoleOperator:        {ActSelf, ActCatalogManage, ActInventoryManage, ActCustomerAccounts, ActStaffManage},
	RoleSecurityOfficer: {ActSelf, ActAuditRead},
}

// Allowed reports whether role r may perform action a.
func Allowed(r Role, a Action) bool {
	for _, x := range permissions[r] {
		if x == a {
			return true
		}
	}
	return false
}
