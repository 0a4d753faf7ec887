package identity

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/mailtest"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// staffInvite is an invitation of a staff account with the given role.
func staffInvite(login string, role Role) InviteInput {
	return InviteInput{LoginID: login, DisplayName: login, Email: login + "@example.jp", Role: role}
}

// completeStaff activates an invited staff account.
func (f fixture) completeStaff(t *testing.T, token string) {
	t.Helper()
	if _, err := f.svc.CompleteSetup(f.ctx, OperatorSide, SetupInput{Token: token, Password: "fixture passphrase 99"}); err != nil {
		t.Fatal(err)
	}
}

// refusals counts the audit log's denied events of action on target for
// separation of duties, with the target's role recorded.
func refusals(t *testing.T, db *store.DB, action, target string, role Role) int {
	t.Helper()
	entries, err := audit.New(db).List(context.Background(), audit.AllChains().Page(0, 1000))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.Action == action && e.Target == target && e.Result == audit.Denied &&
			e.Detail["reason"] == "separation_of_duties" && e.Detail["target_role"] == string(role) {
			n++
		}
	}
	return n
}

func wantFault(t *testing.T, what string, err error, k fault.Kind) {
	t.Helper()
	if !fault.Is(err, k) {
		t.Errorf("%s: %v, want %s", what, err, k)
	}
}

// TestStaffSeparationOfDuties walks the rules of staff.go: operators manage
// operators and make only the first security officer; security officers
// manage security officers only; no role change crosses between the two;
// the last active officer stays; every refusal is audited.
func TestStaffSeparationOfDuties(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		_, op := f.active(t, "", "op-one", RoleOperator)
		op2, _ := f.active(t, "", "op-two", RoleOperator)

		// The first security officer is invited by an operator.
		so1, err := f.svc.InviteStaff(f.ctx, op, staffInvite("so-one", RoleSecurityOfficer))
		if err != nil {
			t.Fatalf("an operator invites the first security officer: %v", err)
		}
		// While it is pending, an operator may invite another.
		pending, err := f.svc.InviteStaff(f.ctx, op, staffInvite("so-pending", RoleSecurityOfficer))
		if err != nil {
			t.Fatalf("an operator invites a second officer while none is active: %v", err)
		}
		f.completeStaff(t, mailtest.LinkToken(t, f.svc.Outbox(), so1.Email, "account.invite"))
		_, so, err := f.svc.Login(f.ctx, OperatorSide, "so-one", "fixture passphrase 99", "test")
		if err != nil {
			t.Fatal(err)
		}
		// Once one is active, operators invite no more officers.
		_, err = f.svc.InviteStaff(f.ctx, op, staffInvite("so-puppet", RoleSecurityOfficer))
		wantFault(t, "operator invites an officer while one is active", err, fault.Forbidden)
		if n := refusals(t, db, "account.invite", "login:so-puppet", RoleSecurityOfficer); n != 1 {
			t.Errorf("%d audited refusals of the invitation, want 1", n)
		}
		if _, err := f.svc.InviteStaff(f.ctx, op, staffInvite("op-three", RoleOperator)); err != nil {
			t.Errorf("operator invites an operator: %v", err)
		}

		// An operator reaches no security officer's account.
		wantFault(t, "operator deletes an officer", f.svc.DeleteAccount(f.ctx, op, so1.ID), fault.Forbidden)
		wantFault(t, "operator unlocks an officer", f.svc.Unlock(f.ctx, op, so1.ID), fault.Forbidden)
		wantFault(t, "operator deletes a pending officer", f.svc.DeleteAccount(f.ctx, op, pending.ID), fault.Forbidden)
		for _, to := range []Role{RoleOperator, RoleSecurityOfficer} {
			_, err := f.svc.ChangeRole(f.ctx, op, so1.ID, RoleInput{Role: to})
			wantFault(t, "operator sets an officer's role to "+string(to), err, fault.Forbidden)
		}
		// Nor makes anyone one.
		_, err = f.svc.ChangeRole(f.ctx, op, op2.ID, RoleInput{Role: RoleSecurityOfficer})
		wantFault(t, "operator promotes an operator to officer", err, fault.Forbidden)
		for action, n := range map[string]int{"account.delete": 1, "account.unlock": 1, "account.role": 2} {
			if got := refusals(t, db, action, "account:"+so1.ID, RoleSecurityOfficer); got != n {
				t.Errorf("%d audited refusals of %s on the officer, want %d", got, action, n)
			}
		}
		if n := refusals(t, db, "account.role", "account:"+op2.ID, RoleOperator); n != 1 {
			t.Errorf("%d audited refusals of the promotion, want 1", n)
		}
		if a, err := f.svc.scopedAccount(f.ctx, db, "", op2.ID); err != nil || a.Role != RoleOperator {
			t.Errorf("op-two after the refused promotion: %+v %v", a, err)
		}
		if a, err := f.svc.scopedAccount(f.ctx, db, "", so1.ID); err != nil || a.Role != RoleSecurityOfficer {
			t.Errorf("the officer after the refused attempts: %+v %v", a, err)
		}
		// Operators still manage operators.
		if err := f.svc.Unlock(f.ctx, op, op2.ID); err != nil {
			t.Errorf("operator unlocks an operator: %v", err)
		}
		if _, err := f.svc.ChangeRole(f.ctx, op, op2.ID, RoleInput{Role: RoleOperator}); err != nil {
			t.Errorf("operator keeps an operator's role: %v", err)
		}

		// A security officer reaches security officers only.
		so2, err := f.svc.InviteStaff(f.ctx, so, staffInvite("so-two", RoleSecurityOfficer))
		if err != nil {
			t.Fatalf("officer invites an officer: %v", err)
		}
		_, err = f.svc.InviteStaff(f.ctx, so, staffInvite("op-by-so", RoleOperator))
		wantFault(t, "officer invites an operator", err, fault.Forbidden)
		wantFault(t, "officer deletes an operator", f.svc.DeleteAccount(f.ctx, so, op2.ID), fault.Forbidden)
		wantFault(t, "officer unlocks an operator", f.svc.Unlock(f.ctx, so, op2.ID), fault.Forbidden)
		_, err = f.svc.ChangeRole(f.ctx, so, op2.ID, RoleInput{Role: RoleOperator})
		wantFault(t, "officer changes an operator's role", err, fault.Forbidden)
		_, err = f.svc.ChangeRole(f.ctx, so, so2.ID, RoleInput{Role: RoleOperator})
		wantFault(t, "officer demotes an officer to operator", err, fault.Forbidden)
		if n := refusals(t, db, "account.delete", "account:"+op2.ID, RoleOperator); n != 1 {
			t.Errorf("%d audited refusals of the officer deleting an operator, want 1", n)
		}

		// The last active officer stays: so-two and so-pending have not set
		// a password yet.
		wantFault(t, "the last active officer deletes themselves", f.svc.DeleteAccount(f.ctx, so, so1.ID), fault.Conflict)
		if err := f.svc.DeleteAccount(f.ctx, so, pending.ID); err != nil {
			t.Errorf("officer withdraws a pending officer's invitation: %v", err)
		}
		f.completeStaff(t, mailtest.LinkToken(t, f.svc.Outbox(), so2.Email, "account.invite"))
		if err := f.svc.Unlock(f.ctx, so, so2.ID); err != nil {
			t.Errorf("officer unlocks an officer: %v", err)
		}
		if err := f.svc.DeleteAccount(f.ctx, so, so1.ID); err != nil {
			t.Fatalf("an officer leaves while another is active: %v", err)
		}
		_, so2p, err := f.svc.Login(f.ctx, OperatorSide, "so-two", "fixture passphrase 99", "test")
		if err != nil {
			t.Fatal(err)
		}
		wantFault(t, "the last officer deletes themselves", f.svc.DeleteAccount(f.ctx, so2p, so2.ID), fault.Conflict)
		if err := f.svc.DeleteAccount(f.ctx, op, op2.ID); err != nil {
			t.Errorf("operator deletes an operator: %v", err)
		}
	})
}

// TestAccountScopeFromPrincipal: the lifecycle methods take their scope and
// authority from the principal, not from the caller's word.
func TestAccountScopeFromPrincipal(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		so, _ := f.active(t, "", "so-scope", RoleSecurityOfficer)
		_, ops := f.active(t, f.cust, "ops-scope", RoleOpsAdmin)
		usr, user := f.active(t, f.cust, "user-scope", RoleUser)
		wantFault(t, "customer deletes a staff account", f.svc.DeleteAccount(f.ctx, ops, so.ID), fault.NotFound)
		wantFault(t, "customer unlocks a staff account", f.svc.Unlock(f.ctx, ops, so.ID), fault.NotFound)
		wantFault(t, "user deletes an account", f.svc.DeleteAccount(f.ctx, user, usr.ID), fault.Forbidden)
		_, err := f.svc.InviteStaff(f.ctx, ops, staffInvite("staff-by-customer", RoleOperator))
		wantFault(t, "customer invites staff", err, fault.Forbidden)
		if _, err := f.svc.ChangeRole(f.ctx, ops, usr.ID, RoleInput{Role: RoleAdmin}); err != nil {
			t.Errorf("ops-admin changes a user's role: %v", err)
		}
	})
}

// TestLastOfficerRace: two officers deleting each other, or themselves, at
// the same moment leave one officer, never none.
func TestLastOfficerRace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		for round, crossed := range []bool{true, false, true, false} {
			x, px := f.active(t, "", "so-x"+string(rune('a'+round)), RoleSecurityOfficer)
			y, py := f.active(t, "", "so-y"+string(rune('a'+round)), RoleSecurityOfficer)
			targets := [2]string{x.ID, y.ID}
			if crossed {
				targets = [2]string{y.ID, x.ID}
			}
			errs := f.deleteAtOnce([2]Principal{px, py}, targets)
			ok, conflict := 0, 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case fault.Is(err, fault.Conflict):
					conflict++
				default:
					t.Errorf("round %d: %v", round, err)
				}
			}
			if ok != 1 || conflict != 1 {
				t.Fatalf("round %d (crossed %v): %d deleted, %d refused, want 1 and 1", round, crossed, ok, conflict)
			}
			var n int
			if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM accounts WHERE role = ? AND disabled_at IS NULL`,
				RoleSecurityOfficer).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Fatalf("round %d: %d active officers, want 1", round, n)
			}
			// The survivor makes room for the next round.
			survivor := x.ID
			if _, err := f.svc.scopedAccount(f.ctx, db, "", survivor); err != nil {
				survivor = y.ID
			}
			if _, err := db.Exec(context.Background(), `UPDATE accounts SET disabled_at = created_at WHERE id = ?`, survivor); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// The last active operator stays: without one no one runs the platform or
// invites staff again (the first-start link is gone once an operator was
// set up). Another operator may leave while one remains.
func TestLastOperatorStays(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		one, _ := f.active(t, "", "op-one", RoleOperator)
		two, op2 := f.active(t, "", "op-two", RoleOperator)
		if err := f.svc.DeleteAccount(f.ctx, op2, one.ID); err != nil {
			t.Fatalf("an operator deletes another while one remains: %v", err)
		}
		wantFault(t, "the last active operator deletes themselves", f.svc.DeleteAccount(f.ctx, op2, two.ID), fault.Conflict)
	})
}

// A customer's two operations administrators deleting each other (or
// themselves) at the same moment: exactly one remains, on PostgreSQL too.
func TestLastOpsAdminRace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		for round, crossed := range []bool{true, false} {
			cu, err := f.cat.CreateCustomer(f.ctx, catalog.CustomerInput{Name: fmt.Sprintf("Race %d K.K.", round)})
			if err != nil {
				t.Fatal(err)
			}
			x, px := f.active(t, cu.ID, fmt.Sprintf("ops-x%d", round), RoleOpsAdmin)
			y, py := f.active(t, cu.ID, fmt.Sprintf("ops-y%d", round), RoleOpsAdmin)
			targets := [2]string{x.ID, y.ID}
			if crossed {
				targets = [2]string{y.ID, x.ID}
			}
			errs := f.deleteAtOnce([2]Principal{px, py}, targets)
			var n int
			if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM accounts WHERE customer_id = ? AND role = ? AND disabled_at IS NULL`,
				cu.ID, RoleOpsAdmin).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 1 || (errs[0] == nil) == (errs[1] == nil) {
				t.Fatalf("round %d (crossed %v): %d administrators left, errors %v", round, crossed, n, errs)
			}
		}
	})
}

// deleteAtOnce has each principal delete its target at the same moment.
func (f fixture) deleteAtOnce(by [2]Principal, targets [2]string) []error {
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, p := range by {
		wg.Go(func() { errs[i] = f.svc.DeleteAccount(f.ctx, p, targets[i]) })
	}
	wg.Wait()
	return errs
}
