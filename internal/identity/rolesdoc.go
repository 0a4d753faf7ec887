package identity

//go:generate go test -run TestRolesDoc -update-docs .

import (
	"fmt"
	"strings"
)

// RolesMarkdown renders docs/roles.md from the role × action table that the
// web layer enforces, so that the document cannot drift from the code:
// TestRolesDoc fails when the file differs, and `go generate
// ./internal/identity/` rewrites it.
func RolesMarkdown() string {
	var b strings.Builder
	b.WriteString(`# Roles and permissions

<!-- Generated from internal/identity/permissions.go by
     "go generate ./internal/identity/". Do not edit by hand:
     TestRolesDoc fails when this file and the table differ. -->

tsunagi enforces one table of roles × actions (ISO/IEC 27017 9.2.2, 9.4.1).
Every API route names the one action it needs; a request whose role does not
hold that action is refused with 403 and recorded in the audit log. Anything
not in the table is denied. Customer roles exist only on the customer
listener and always act within their own customer; operator roles exist only
on the management listener. A customer asking for another customer's object
gets 404, exactly as for an object that does not exist.

## Roles

| role | name | listener | what it is for |
|---|---|---|---|
`)
	for _, r := range roles {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", r.Role, r.Name, r.Side, r.Description)
	}
	b.WriteString(`
## Actions

| action | acts on | operations | listener |
|---|---|---|---|
`)
	for _, a := range actions {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", a.Action, a.Resource, a.Ops, a.Listener)
	}
	b.WriteString("\n## Matrix\n\n✔ = allowed; a blank cell is denied.\n\n| action |")
	for _, r := range roles {
		fmt.Fprintf(&b, " `%s` |", r.Role)
	}
	b.WriteString("\n|---|")
	for range roles {
		b.WriteString(":-:|")
	}
	b.WriteString("\n")
	for _, a := range actions {
		fmt.Fprintf(&b, "| `%s` |", a.Action)
		for _, r := range roles {
			if Allowed(r.Role, a.Action) {
				b.WriteString(" ✔ |")
			} else {
				b.WriteString("  |")
			}
		}
		b.WriteString("\n")
	}
	b.WriteString(`
## Notes

- **Operators have no access to customers' saved data** (the configuration of
  the customer's hub functions: ports, routing, firewall, NAT, monitors). No
  operator or security-officer role holds a ` + "`network.*`" + ` action.
- **Break-glass** is the only way operator staff can read a customer's saved
  data: an operator opens a grant for one customer with a typed reason and a
  time limit (default 1 hour, at most 4 hours). While it is live the operator
  holds the ` + "`break-glass`" + ` column for that customer only. Opening the
  grant and every access under it are recorded with the reason in that
  customer's own audit log (` + "`audit.own`" + `), where its operations
  administrator sees them.
- **A node's desired state** (` + "`capacity.read`" + `, ` + "`GET /api/v1/nodes/{node}/desired-state?reason=`" + `)
  shows each customer's section in full (BGP passwords always masked) only
  while the reader holds a live break-glass grant for that customer; each such
  section is recorded in that customer's audit log with the grant's reason.
  Every other customer's section is cut down to placement: hub, namespace,
  applied version number, DR priority, backbone (VNI, overlay, tunnel
  endpoints) and, per port placed on the node, its kind, speed, legs
  (interface, VLAN), BGP session count and whether BGP is enabled or the port
  is shut. Addresses, ASNs, routing, firewall and NAT are not shown. The read
  and its stated reason are in the operators' audit log.
- **Separation of duties among staff** (ISO/IEC 27017 9.2.2, 18.2.1).
  Security officers review what operators do, so operators cannot remove
  that oversight: ` + "`staff.manage`" + ` never deletes, unlocks or changes the
  role of a security officer, never changes a role to ` + "`security-officer`" + `,
  and invites a security officer only while none is active (that is how the
  first one is made). After that, security officers invite, delete and
  unlock security officers with ` + "`officers.manage`" + `, which never reaches an
  operator's account. No role change moves an account between ` + "`operator`" + `
  and ` + "`security-officer`" + `, and the last active security officer cannot
  be deleted (409). Each refusal is a 403 recorded in the audit log.
- A role change takes effect on the next request of every live session and
  API token of the account; the session ID is rotated at that request.
- An API token acts with the role it was created with, or the account's
  current role if that is lower, for every action (` + "`self`" + ` included); a
  deleted account's sessions and tokens stop working at once.
- **Session-only actions** (` + "`credentials`" + `, ` + "`factors.enrol`" + `, ` + "`devices.manage`" + `) are
  refused to every API token, whatever its role, with 403 and the error code
  ` + "`session_required`" + `: a token cannot change a password, add or remove a
  second factor or a device, create or revoke tokens, or end sessions.
  Changing the password, adding or removing a second factor or a device, and
  creating an API token also need a re-authentication of the session
  — the password and, when the account has one, its second factor, given at
  login or with ` + "`POST /api/v1/session/reauth`" + ` — within the last 5 minutes;
  without it the answer is 403 with the code ` + "`reauth_required`" + `.
- A session that is MFA pending holds ` + "`mfa`" + ` and ` + "`factors.enrol`" + `: it
  gives its second factor or, when its account has none yet, enrols the first
  one and re-authenticates with its password; the identity service refuses
  enrolment to a pending session whose account already has a factor.
`)
	return b.String()
}
