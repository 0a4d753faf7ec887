package identity

import (
	"context"
	"fmt"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// Separation of duties among operator staff (ISO/IEC 27017 9.2.2, 9.2.3, and
// 18.2.1: the state of the controls can be reviewed independently).
// Operators run the platform; security officers read and verify the audit log
// that records what operators do, and oversee purges. An operator who could
// delete, demote, unlock or create security officers could remove the
// oversight of their own actions, so staff accounts are split between two
// actions that no role holds together:
//
//   - staff.manage (operators) reaches operators' accounts: it invites,
//     deletes and unlocks operators. It never deletes, unlocks or changes the
//     role of a security officer, and never changes a role to
//     security-officer.
//   - It invites a security officer only while no security officer is
//     active, which is how the first one is made. After that an officer made
//     by an operator would be the operator's own (the operator chooses its
//     e-mail address) and could delete the real officers; officers are then
//     invited by officers. No staff invitation hands its setup link to the
//     inviting staff member: it goes only to the invitee's address. The
//     account records who invited it, and an officer never decides a
//     recovery request of the operator who invited it (recovery.go).
//   - officers.manage (security officers) reaches security officers'
//     accounts: it invites, deletes and unlocks them, never an operator's.
//     Operators manage operators.
//   - No role change moves an account between operator and security-officer:
//     an officer is a separate account, invited as one.
//   - Once a security officer is active there is always one: the last active
//     officer cannot be deleted.
//
// The rules are enforced here, in the service, from the caller's principal;
// the route table only says which action a route needs. Every refusal is a
// Forbidden fault and is recorded in the audit log as a denied attempt with
// the target's role.

var (
	errOperatorsNoOfficers = fault.New(fault.Forbidden,
		"operators do not manage security officers' accounts (separation of duties): a security officer does")
	errOfficersNoOperators = fault.New(fault.Forbidden,
		"security officers do not manage operators' accounts: operators manage operators")
	errNoRoleSwitch = fault.New(fault.Forbidden,
		"no role change makes or unmakes a security officer: security officers are invited, and deleted, as accounts of their own")
	errOfficerActive = fault.New(fault.Forbidden,
		"a security officer is active: only security officers invite security officers now")
	errRoleForbidden = fault.New(fault.Forbidden, "your role does not allow this")
)

// reach says whether p may delete, unlock or change the role of an account
// of role target within p's own scope (its customer, or the staff for
// operator staff): nil, or the Forbidden fault that says why not.
func reach(p Principal, target Role) error {
	if !p.Operator() {
		if !Allowed(p.Role, ActAccountsManage) {
			return errRoleForbidden
		}
		return nil
	}
	staff, officers := Allowed(p.Role, ActStaffManage), Allowed(p.Role, ActOfficersManage)
	switch {
	case target == RoleOperator && staff, target == RoleSecurityOfficer && officers:
		return nil
	case target == RoleSecurityOfficer && staff:
		return errOperatorsNoOfficers
	case target == RoleOperator && officers:
		return errOfficersNoOperators
	}
	return errRoleForbidden
}

// reachRole is reach for a role change of an account from role from to role
// to: no change moves a staff account into or out of security-officer.
func reachRole(p Principal, from, to Role) error {
	if err := reach(p, from); err != nil {
		return err
	}
	if p.Operator() && from != to && (from == RoleSecurityOfficer || to == RoleSecurityOfficer) {
		return errNoRoleSwitch
	}
	return nil
}

// activeStaff returns the IDs of the active staff accounts of a role,
// locked (lockedIDs).
func activeStaff(ctx context.Context, tx *store.Tx, role Role) ([]string, error) {
	return lockedIDs(ctx, tx, `SELECT id FROM accounts WHERE customer_id IS NULL AND role = ? AND disabled_at IS NULL
		AND password_hash IS NOT NULL ORDER BY id`, role)
}

// lockedIDs returns the account IDs query q selects (ordered by id). On
// PostgreSQL it locks their rows until tx ends, so that two transactions
// that count accounts before changing them (the last-account checks, the
// "none active" check of a first invitation) are serialised and cannot both
// pass; SQLite's write transactions are serial already (BEGIN IMMEDIATE).
// The fixed order makes two such transactions lock alike.
func lockedIDs(ctx context.Context, tx *store.Tx, q string, args ...any) ([]string, error) {
	if tx.Dialect() == store.Postgres {
		q += ` FOR UPDATE`
	}
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// keepLastStaff refuses to delete the last active account of a staff role:
// the last operator (no one could run the platform or invite staff again:
// the first-start link exists only while no operator account was ever set
// up) and, once one exists, the last security officer (someone must remain
// to review the operators' actions).
func keepLastStaff(ctx context.Context, tx *store.Tx, a Account) error {
	if a.CustomerID != "" || !a.Active || (a.Role != RoleSecurityOfficer && a.Role != RoleOperator) {
		return nil
	}
	ids, err := activeStaff(ctx, tx, a.Role)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if id != a.ID {
			return nil
		}
	}
	if a.Role == RoleOperator {
		return fault.New(fault.Conflict, "this is the last active operator; invite another one and let them set their password first")
	}
	return fault.New(fault.Conflict, "this is the last active security officer; invite another one and let them set their password first")
}

// SeedStaff invites a staff account with no inviting principal, as the
// system: for tests and tooling that prepare a deployment. Nothing that
// serves a request calls it (the scope boundary test keeps it so); the first
// operator of a real deployment comes from FirstOperatorLink.
func (s *Service) SeedStaff(ctx context.Context, in InviteInput) (Account, string, error) {
	if !in.Role.OperatorSide() {
		return Account{}, "", fault.Field("role", "role must be operator or security-officer")
	}
	return s.invite(ctx, "", "", in, nil)
}

// InviteStaff invites an operator staff account on behalf of p, within the
// separation of duties: an operator invites operators, and a security
// officer only while none is active; a security officer invites security
// officers only. The link goes only to the invitee's e-mail, as a customer
// account's does: an operator who held an officer's link could set up the
// officer itself.
func (s *Service) InviteStaff(ctx context.Context, p Principal, in InviteInput) (Account, error) {
	if !p.Operator() {
		return Account{}, errRoleForbidden
	}
	guard := func(ctx context.Context, tx *store.Tx) error {
		if in.Role == RoleSecurityOfficer && !Allowed(p.Role, ActOfficersManage) && Allowed(p.Role, ActStaffManage) {
			ids, err := activeStaff(ctx, tx, RoleSecurityOfficer)
			if err != nil {
				return err
			}
			if len(ids) > 0 {
				return errOfficerActive
			}
			return nil
		}
		return reach(p, in.Role)
	}
	a, _, err := s.invite(ctx, "", p.AccountID, in, guard)
	if fault.Is(err, fault.Forbidden) {
		return Account{}, s.refuseOn(ctx, "account.invite", "login:"+truncate(in.LoginID, 64), "", in.Role, err)
	}
	return a, err
}

// refuseOn records a refused attempt on an account (or, for an invitation,
// a login ID) whose role is role, and returns err.
func (s *Service) refuseOn(ctx context.Context, action, target string, cust catalog.CustomerID, role Role, err error) error {
	why := "role"
	if cust == "" {
		why = "separation_of_duties"
	}
	if rerr := s.audit.Record(ctx, audit.Event{Action: action, Target: target, CustomerID: string(cust), Result: audit.Denied,
		Detail: map[string]any{"reason": why, "target_role": string(role)}}); rerr != nil {
		return fmt.Errorf("%s: %w", action, rerr)
	}
	return err
}
