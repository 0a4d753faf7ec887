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

	// The hub service model (saved data and the operator's capacity view).
	ActNetworkRead  Action = "network.read"       // the customer's hub configuration, versions, reviews
	ActNetworkEdit  Action = "network.edit"       // take the edit lock, draft, review, apply, roll back
	ActLockBreak    Action = "network.lock.break" // break another account's edit lock
	ActCapacityRead Action = "capacity.read"      // operator: capacity report, allocation, desired state
)

// permissions is the role × action table that the web layer enforces; deny is
// the default for any pair not listed. docs/roles.md is generated from it.
var permissions = map[Role][]Action{
	RoleOpsAdmin:        {ActSelf, ActCatalogRead, ActAccountsRead, ActNetworkRead, ActNetworkEdit, ActLockBreak},
	RoleAdmin:           {ActSelf, ActCatalogRead, ActNetworkRead, ActNetworkEdit},
	RoleUser:            {ActSelf, ActCatalogRead, ActNetworkRead},
	RoleOperator:        {ActSelf, ActCatalogManage, ActInventoryManage, ActCustomerAccounts, ActStaffManage, ActCapacityRead},
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
