package identity

import (
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Authentication gives a principal its scope, and the customer-scoped
// methods check the action from it: the same refusals reach a caller that is
// not the HTTP router. A Principal written by hand holds no scope at all.
func TestScopeFromAuthentication(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		_, admin := f.active(t, f.cust, "scope-ops", RoleOpsAdmin)
		_, user := f.active(t, f.cust, "scope-user", RoleUser)
		_, op := f.active(t, "", "scope-op", RoleOperator)

		if c, err := admin.Scope().Customer(); err != nil || c != f.cust {
			t.Fatalf("the ops-admin's scope = %q, %v", c, err)
		}
		if !op.Scope().IsZero() {
			t.Error("an operator has a customer scope without break-glass")
		}
		if _, err := f.svc.Policy(f.ctx, admin.Scope()); err != nil {
			t.Errorf("ops-admin reads the policy: %v", err)
		}
		for name, call := range map[string]func() error{
			"policy":     func() error { _, err := f.svc.Policy(f.ctx, user.Scope()); return err },
			"set policy": func() error { _, err := f.svc.SetPolicy(f.ctx, user.Scope(), PolicyInput{}); return err },
			"devices":    func() error { _, err := f.svc.ListDevices(f.ctx, user.Scope()); return err },
			"accounts":   func() error { _, _, err := f.svc.ListAccounts(f.ctx, user.Scope(), catalog.Page{}); return err },
			"invite": func() error {
				_, err := f.svc.Invite(f.ctx, user.Scope(), InviteInput{LoginID: "x-user", Role: RoleUser})
				return err
			},
			"get account":   func() error { _, err := f.svc.GetAccount(f.ctx, user.Scope(), user.AccountID); return err },
			"revoke":        func() error { return f.svc.RevokeDevice(f.ctx, user, "dev_x") },
			"delete (user)": func() error { return f.svc.DeleteAccount(f.ctx, user, admin.AccountID) },
		} {
			if err := call(); !fault.Is(err, fault.Forbidden) {
				t.Errorf("a user's %s: %v, want forbidden", name, err)
			}
		}
		// The operator's handle on the customer reaches its accounts
		// (customer.accounts); its zero scope reaches nothing.
		h, err := op.Manage(f.cust)
		if err != nil {
			t.Fatal(err)
		}
		if items, _, err := f.svc.ListAccounts(f.ctx, h, catalog.Page{}); err != nil || len(items) != 2 {
			t.Errorf("operator lists the customer's accounts: %d, %v", len(items), err)
		}
		if _, err := f.svc.Policy(f.ctx, op.Scope()); !fault.Is(err, fault.Internal) {
			t.Errorf("an operator's zero scope reads the policy: %v, want an internal error", err)
		}
		if _, err := admin.Manage(f.cust); !fault.Is(err, fault.Forbidden) {
			t.Errorf("a customer account builds an operator handle: %v", err)
		}
		// Forged principals: the exported fields say ops-admin, but
		// authentication did not make them.
		forged := Principal{AccountID: admin.AccountID, CustomerID: f.cust, Role: RoleOpsAdmin}
		if !forged.Scope().IsZero() {
			t.Error("a hand-written Principal has a scope")
		}
		if err := f.svc.DeleteAccount(f.ctx, forged, user.AccountID); !fault.Is(err, fault.Internal) {
			t.Errorf("a forged principal deletes an account: %v, want an internal error", err)
		}
		if _, err := (Principal{AccountID: op.AccountID, Role: RoleOperator}).Manage(f.cust); !fault.Is(err, fault.Forbidden) {
			t.Errorf("a forged staff principal builds a handle: %v", err)
		}
		var _ tenant.Holder = h
	})
}
