package identity

import (
	"slices"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Action is something a principal may be allowed to do. It is the tenant's
// type so that a scope can answer for it (tenant.Scope.Can).
type Action = tenant.Action

const (
	ActSelf             Action = "self"              // read own profile, sessions, tokens, keys; log out
	ActCredentials      Action = "credentials"       // change own credentials: password, second factors, API tokens, sessions (session-only)
	ActFactorEnrol      Action = "factors.enrol"     // add a second factor and re-authenticate; also a session that owes its first factor (session-only)
	ActCatalogRead      Action = "catalog.read"      // the customer's contracts, hubs, ports, regions
	ActAccountsRead     Action = "accounts.read"     // the customer's accounts
	ActAccountsManage   Action = "accounts.manage"   // invite, delete, change role, unlock the customer's accounts
	ActSecurityManage   Action = "security.manage"   // the customer's source-IP allow-list, MFA and device policy
	ActDevicesManage    Action = "devices.manage"    // register and revoke the customer's device certificates (session-only)
	ActAuditOwn         Action = "audit.own"         // the customer's own audit log, incl. staff access to it
	ActCatalogManage    Action = "catalog.manage"    // operator: customers, contracts, hubs, ports
	ActInventoryManage  Action = "inventory.manage"  // operator: regions, hub nodes, physical ports
	ActCustomerAccounts Action = "customer.accounts" // operator: a customer's first operations administrator
	ActRecoveryRequest  Action = "recovery.request"  // operator: ask for a locked-out customer's new operations administrator
	ActRecoveryApprove  Action = "recovery.approve"  // security officer: approve or reject such a request (never the requester)
	ActStaffManage      Action = "staff.manage"      // operator: operators' accounts (staff.go: never a security officer's)
	ActOfficersManage   Action = "officers.manage"   // security officer: security officers' accounts (never an operator's)
	ActAuditRead        Action = "audit.read"        // security officer: the whole audit log
	ActMailRead         Action = "mail.read"         // operator: the mail outbox and its failures
	ActJobsRead         Action = "jobs.read"         // operator: the scheduled jobs' runs and their failures
	ActBreakGlassOpen   Action = "breakglass.open"   // operator: open a time-limited, reasoned access to one customer's saved data
	ActBackupsManage    Action = "backups.manage"    // operator: list the platform backups and make one now
	ActErasuresRead     Action = "erasures.read"     // operator, security officer: terminated customers' erasures and deletion certificates
	ActKeysRotate       Action = "keys.rotate"       // security officer: rotate the controller's signing key
	ActNoticesRead      Action = "notices.read"      // the customer's announcements and incidents (panel, API, feed)
	ActNoticesSettings  Action = "notices.settings"  // the customer's notice contacts, feed tokens and notification log
	ActNoticesChannels  Action = "notices.channels"  // add a notice contact, create a feed token (session-only)
	ActNoticesManage    Action = "notices.manage"    // operator: announcements, incidents, automatic drafts, the notification log
	ActNoticesApprove   Action = "notices.approve"   // security officer: approve a short-notice change; list those waiting and security incidents
	ActReportsFile      Action = "reports.file"      // the customer's own reports to the operator: file, reply, read
	ActReportsManage    Action = "reports.manage"    // operator: the queue of customers' reports: read, reply, set status

	// The hub service model (saved data and the operator's capacity view).
	ActNetworkRead  Action = "network.read"       // the customer's hub configuration, versions, reviews
	ActNetworkEdit  Action = "network.edit"       // take the edit lock, draft, review, apply, roll back
	ActLockBreak    Action = "network.lock.break" // break another account's edit lock
	ActCapacityRead Action = "capacity.read"      // operator: capacity report, allocation, desired state

	ActMonitorsRead   Action = "monitors.read"   // the customer's reachability monitors: state, history, RTT and loss
	ActMonitorsManage Action = "monitors.manage" // add, change, remove, stop and resume the customer's monitors
	ActUsageRead      Action = "usage.read"      // the customer's usage records: traffic per port, firewall rule counters, graphs, CSV
	ActFlowsRead      Action = "flows.read"      // the customer's flow records (connection tracking): query, CSV
	ActWebhooksRead   Action = "webhooks.read"   // the customer's event webhooks and their delivery log; remove a webhook
	ActWebhooksManage Action = "webhooks.manage" // register an event webhook, rotate its secret (session-only)
)

// RoleBreakGlass is not an account's role: it is what an operator account
// holds, for one customer only, while a break-glass grant it opened (with a
// typed reason) is live. Every request made under it is audited with the
// reason and shows in that customer's own audit log.
const RoleBreakGlass Role = "break-glass"

// ActionInfo describes an action for docs/roles.md.
type ActionInfo struct {
	Action   Action
	Resource string // what it acts on
	Ops      string // which operations
	Listener string // "customer" or "management"
}

// actions lists every action in the order of docs/roles.md. An action used in
// a route but missing here fails TestEveryRouteActionDocumented.
var actions = []ActionInfo{
	{ActSelf, "own account", "read profile, sessions, API tokens and security keys; log out", "both"},
	{ActCredentials, "own credentials", "change password; add or remove a second factor; create or revoke API tokens; revoke sessions. A browser session only, never an API token; changing the password, adding or removing a second factor and creating an API token need a re-authentication (password and, when the account has one, second factor) within the last 5 minutes", "both"},
	{ActFactorEnrol, "own second factors", "add a second factor (TOTP, security key); re-authenticate. A browser session only; also a session that owes its first factor (its customer requires one and the account has none), which may enrol it; adding a factor to an account that has one needs a re-authentication within the last 5 minutes", "both"},
	{ActMFA, "own second factor", "give the second factor at login; enrol the first one", "both"},
	{ActCatalogRead, "contracts, hubs, ports, regions", "read", "customer"},
	{ActAccountsRead, "the customer's accounts", "read", "customer"},
	{ActAccountsManage, "the customer's accounts", "invite, delete, change role, unlock", "customer"},
	{ActSecurityManage, "the customer's security policy", "read and set source-IP allow-list, MFA requirement, device requirement; list devices", "customer"},
	{ActDevicesManage, "the customer's device certificates", "register, revoke. A browser session only, never an API token, with a re-authentication within the last 5 minutes", "customer"},
	{ActAuditOwn, "the customer's own audit log", "read (includes every operator access to its data)", "customer"},
	{ActNetworkRead, "hub configuration (saved data)", "read configuration, versions, reviews", "customer; management under break-glass"},
	{ActNetworkEdit, "hub configuration (saved data)", "edit lock, draft, review, apply, roll back", "customer"},
	{ActLockBreak, "another account's edit lock", "break", "customer"},
	{ActCatalogManage, "customers, contracts, hubs, ports", "create, read, change, cancel", "management"},
	{ActInventoryManage, "regions, hub nodes, physical ports, placements", "create, read; place and move customer ports and hubs (with a reason, written to the customer's audit log); drain and retire a node (retire only when nothing is placed on it)", "management"},
	{ActCapacityRead, "capacity, allocation, a node's desired state", "read; in a node's desired state a customer's configuration only under a live break-glass grant for that customer, else its placement only (ports, legs, VLANs, speeds, backbone)", "management"},
	{ActCustomerAccounts, "a customer's accounts", "list; invite the customer's first operations administrator, only while it has no active one (the setup link goes only to the invitee's e-mail; once one is active, another such invitation is void when used)", "management"},
	{ActRecoveryRequest, "a locked-out customer's operations administrator", "request, with a reason, that a new one be invited; nothing is invited until a security officer approves", "management"},
	{ActRecoveryApprove, "recovery requests", "list; approve (announced to the customer at once; the invitation is mailed to the invitee 24 hours later, unless the customer deletes the account first) or reject; never a request of one's own, nor one of the operator who invited the deciding officer", "management"},
	{ActStaffManage, "operators' accounts", "list staff; invite, delete, unlock an operator; invite a security officer only while none is active (setup links go only to the invitee's e-mail); never acts on a security officer's account or changes a role to security-officer", "management"},
	{ActOfficersManage, "security officers' accounts", "list staff; invite, delete, unlock a security officer, never an operator; the last active security officer cannot be deleted", "management"},
	{ActMailRead, "mail outbox", "list queued, sent and failed mail: recipient, cause, subject, status, never a body (it may hold a single-use link)", "management"},
	{ActJobsRead, "scheduled job runs", "list the controller's dated jobs' runs (dated speed changes): start, end, outcome, item counts, the error of a failed run", "management"},
	{ActBackupsManage, "platform backups", "list the encrypted backups in the backup directory (name, time, size, SHA-256, manifest summary) and make one now; the controller holds no key that opens them", "management"},
	{ActBreakGlassOpen, "access to one customer's saved data", "open with a typed reason and a time limit (default 1 h); list and close one's own open grants", "management"},
	{ActAuditRead, "the whole audit log", "read, verify the chain, export evidence", "management"},
	{ActErasuresRead, "erasures of terminated customers", "list erasures and their steps; read a customer's signed deletion certificate (the records of what was erased, never the erased data)", "management"},
	{ActKeysRotate, "the controller's signing key", "rotate: a new key signs from then on; the retired public keys stay published so that what they signed still verifies", "management"},
	{ActMonitorsRead, "the customer's reachability monitors", "read each monitor's state, its changes (90 days) and its round-trip time and loss (5-minute series)", "customer"},
	{ActMonitorsManage, "the customer's reachability monitors", "add, change and remove monitors (as many as the contract's reachability-monitor option allows); stop and resume one (recorded in the audit log)", "customer"},
	{ActUsageRead, "the customer's usage records", "read traffic per port (5-minute bins: bytes, packets, drops, average and peak bit/s), firewall rule hit counters, graphs; download CSV", "customer"},
	{ActFlowsRead, "the customer's flow records", "query the connections through the customer's hubs (start, end, addresses and ports, bytes and packets each way, NAT translation) by time and address; download CSV", "customer"},
	{ActWebhooksRead, "the customer's event webhooks", "list webhooks and their delivery log; remove a webhook", "customer"},
	{ActWebhooksManage, "new event webhooks", "register an HTTPS endpoint for events; rotate a webhook's signing secret. A browser session only, never an API token: a leaked token must not open a channel that outlives it", "customer"},
	{ActNoticesRead, "the customer's notices", "read the announcements and incidents that reach the customer, with their history; the Atom feed", "customer"},
	{ActNoticesSettings, "the customer's notice settings", "list and remove notice contacts; list and revoke feed tokens; read the customer's part of the notification log", "customer"},
	{ActNoticesChannels, "new ways notices leave the customer", "add a notice contact; create a feed token. A browser session only, never an API token: a leaked token must not open a channel that outlives it", "customer"},
	{ActNoticesManage, "announcements and incidents", "draft, preview the affected customers, publish, update, cancel; confirm automatic drafts; read the whole notification log", "management"},
	{ActNoticesApprove, "short-notice changes and security incidents", "list the drafts that wait for a short-notice approval (with the customers they reach) and every security incident (GET /api/v1/notice-approvals, the console's short-notice approvals page); approve one, with a reason", "management"},
	{ActReportsFile, "the customer's reports to the operator", "file (with an optional attachment), reply, read their status and thread", "customer"},
	{ActReportsManage, "customers' reports", "read the queue, reply, set the status", "management"},
}

// RoleInfo describes a role for docs/roles.md.
type RoleInfo struct {
	Role        Role
	Name        string // English name and, for customer roles, the Japanese one
	Side        string
	Description string
}

// roles lists every role in the order of docs/roles.md.
var roles = []RoleInfo{
	{RoleOpsAdmin, "operations administrator (運用管理担当者)", "customer",
		"Manages the customer's accounts, permissions and security policy, receives notices, and can do everything an admin can."},
	{RoleAdmin, "admin ID (管理者ID)", "customer", "Configures the hub: edit, review and apply changes."},
	{RoleUser, "user ID (利用者ID)", "customer", "Read-only: status, traffic, notices and the configuration."},
	{RoleOperator, "operator", "management",
		"Runs the platform: inventory, capacity, customers and contracts, notices, incidents. No access to customers' saved data."},
	{RoleSecurityOfficer, "security officer", "management",
		"Reads and verifies the audit log, exports evidence, oversees purges, approves or rejects the recovery of a locked-out customer's operations administrator that an operator requested, and manages the security officers' accounts: operators cannot delete, demote or unlock a security officer, nor invite one once one is active."},
	{RoleMFAPending, "MFA pending (any account, during login)", "both",
		"A session that passed the password but not yet the second factor its account has, or that its customer's policy requires of admins. It can only give (or, if the account has none, enrol) the second factor."},
	{RoleBreakGlass, "break-glass (operator, time-limited)", "management",
		"An operator who opened a break-glass grant for one customer with a typed reason; it ends after its time limit (default 1 h). Every access is recorded and shown in that customer's own audit log."},
}

// permissions is the role × action table that the web layer enforces; deny is
// the default for any pair not listed. docs/roles.md is generated from it.
// Operators hold no action on saved data (network.*): only the break-glass
// elevation does, and only read. Staff accounts are split between two
// actions that no role holds together (separation of duties, staff.go):
// staff.manage reaches operators, officers.manage reaches security officers.
var permissions = map[Role][]Action{
	RoleOpsAdmin: {ActSelf, ActCredentials, ActFactorEnrol, ActMFA, ActCatalogRead, ActAccountsRead, ActAccountsManage, ActSecurityManage,
		ActDevicesManage, ActAuditOwn, ActNetworkRead, ActNetworkEdit, ActLockBreak, ActNoticesRead, ActNoticesSettings, ActNoticesChannels,
		ActReportsFile, ActMonitorsRead, ActMonitorsManage, ActUsageRead, ActFlowsRead, ActWebhooksRead, ActWebhooksManage},
	RoleAdmin: {ActSelf, ActCredentials, ActFactorEnrol, ActMFA, ActCatalogRead, ActNetworkRead, ActNetworkEdit, ActNoticesRead, ActReportsFile,
		ActMonitorsRead, ActMonitorsManage, ActUsageRead, ActFlowsRead},
	RoleUser: {ActSelf, ActCredentials, ActFactorEnrol, ActMFA, ActCatalogRead, ActNetworkRead, ActNoticesRead, ActReportsFile,
		ActMonitorsRead, ActUsageRead},
	RoleOperator: {ActSelf, ActCredentials, ActFactorEnrol, ActMFA, ActCatalogManage, ActInventoryManage, ActCustomerAccounts, ActStaffManage,
		ActCapacityRead, ActMailRead, ActJobsRead, ActBreakGlassOpen, ActRecoveryRequest, ActBackupsManage, ActErasuresRead,
		ActNoticesManage, ActReportsManage},
	RoleSecurityOfficer: {ActSelf, ActCredentials, ActFactorEnrol, ActMFA, ActAuditRead, ActOfficersManage, ActRecoveryApprove,
		ActErasuresRead, ActKeysRotate, ActNoticesApprove},
	RoleMFAPending: {ActMFA, ActFactorEnrol},
	RoleBreakGlass: {ActNetworkRead},
}

// Allowed reports whether role r may perform action a. A principal may hold
// two roles at once, written "operator+break-glass" (see WithRole): it may
// then do what either allows.
func Allowed(r Role, a Action) bool {
	for part := range strings.SplitSeq(string(r), "+") {
		if slices.Contains(permissions[Role(part)], a) {
			return true
		}
	}
	return false
}

// SessionOnly reports whether action a may be performed only from a browser
// session, never with an API token: a token is a credential itself, and one
// that leaked must not be able to mint others, remove a factor or lock its
// owner out. The router answers such a call with 403 "session_required".
func SessionOnly(a Action) bool {
	return a == ActCredentials || a == ActFactorEnrol || a == ActDevicesManage || a == ActNoticesChannels || a == ActWebhooksManage
}

// WithRole is r holding also the role extra, e.g. an operator under a live
// break-glass grant.
func (r Role) WithRole(extra Role) Role { return r + "+" + extra }

// Actions returns every action with its description, in document order.
func Actions() []ActionInfo { return slices.Clone(actions) }

// Roles returns every role with its description, in document order.
func Roles() []RoleInfo { return slices.Clone(roles) }
