package identity

import (
	"flag"
	"os"
	"testing"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/roles.md from the permission table")

const rolesDocPath = "../../docs/roles.md"

// TestRolesDoc keeps docs/roles.md identical to the enforced table.
func TestRolesDoc(t *testing.T) {
	want := RolesMarkdown()
	if *updateDocs {
		if err := os.WriteFile(rolesDocPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(rolesDocPath)
	if err != nil {
		t.Fatalf("%v (run: go generate ./internal/identity/)", err)
	}
	if string(got) != want {
		t.Fatalf("docs/roles.md differs from the permission table in permissions.go; run: go generate ./internal/identity/")
	}
}

// TestPermissionTable checks the table's invariants: every granted action is
// documented, every role is documented, customer roles hold no operator
// action and operator roles hold no saved-data action.
func TestPermissionTable(t *testing.T) {
	known := map[Action]ActionInfo{}
	for _, a := range actions {
		if _, dup := known[a.Action]; dup {
			t.Errorf("action %s listed twice", a.Action)
		}
		known[a.Action] = a
	}
	documented := map[Role]bool{}
	for _, r := range roles {
		documented[r.Role] = true
	}
	for r, acts := range permissions {
		if !documented[r] {
			t.Errorf("role %s is not in roles", r)
		}
		for _, a := range acts {
			if _, ok := known[a]; !ok {
				t.Errorf("role %s holds undocumented action %s", r, a)
			}
		}
	}
	savedData := []Action{ActNetworkRead, ActNetworkEdit, ActLockBreak}
	for _, r := range []Role{RoleOperator, RoleSecurityOfficer} {
		for _, a := range savedData {
			if Allowed(r, a) {
				t.Errorf("operator-side role %s must not hold saved-data action %s", r, a)
			}
		}
	}
	operatorOnly := []Action{ActCatalogManage, ActInventoryManage, ActCustomerAccounts, ActStaffManage, ActOfficersManage, ActAuditRead,
		ActMailRead, ActJobsRead, ActBreakGlassOpen, ActCapacityRead}
	for _, r := range []Role{RoleOpsAdmin, RoleAdmin, RoleUser} {
		for _, a := range operatorOnly {
			if Allowed(r, a) {
				t.Errorf("customer role %s must not hold operator action %s", r, a)
			}
		}
	}
	// Separation of duties: no role manages both operators and security
	// officers, and only security officers manage security officers.
	for _, r := range roles {
		if Allowed(r.Role, ActStaffManage) && Allowed(r.Role, ActOfficersManage) {
			t.Errorf("role %s holds both %s and %s", r.Role, ActStaffManage, ActOfficersManage)
		}
		if Allowed(r.Role, ActOfficersManage) != (r.Role == RoleSecurityOfficer) {
			t.Errorf("role %s: %s must be held by %s alone", r.Role, ActOfficersManage, RoleSecurityOfficer)
		}
	}
	// Every account changes its own credentials and enrols factors, from a
	// session only; the pending role only enrols (its first factor) and
	// break-glass does neither.
	for _, r := range []Role{RoleOpsAdmin, RoleAdmin, RoleUser, RoleOperator, RoleSecurityOfficer} {
		if !Allowed(r, ActCredentials) || !Allowed(r, ActFactorEnrol) {
			t.Errorf("role %s must hold %s and %s", r, ActCredentials, ActFactorEnrol)
		}
	}
	for _, r := range []Role{RoleMFAPending, RoleBreakGlass} {
		if Allowed(r, ActCredentials) || Allowed(r, ActDevicesManage) {
			t.Errorf("role %s must not change credentials", r)
		}
	}
	if !Allowed(RoleMFAPending, ActFactorEnrol) || Allowed(RoleBreakGlass, ActFactorEnrol) {
		t.Errorf("%s is the pending role's, never break-glass's", ActFactorEnrol)
	}
	for _, a := range actions {
		want := a.Action == ActCredentials || a.Action == ActFactorEnrol || a.Action == ActDevicesManage || a.Action == ActNoticesChannels ||
			a.Action == ActWebhooksManage
		if SessionOnly(a.Action) != want {
			t.Errorf("SessionOnly(%s) = %v, want %v", a.Action, !want, want)
		}
	}
	if Allowed(RoleBreakGlass, ActNetworkEdit) {
		t.Error("break-glass must be read-only")
	}
	// The user role is read-only.
	for _, a := range []Action{ActNetworkEdit, ActAccountsManage, ActSecurityManage, ActDevicesManage, ActLockBreak} {
		if Allowed(RoleUser, a) {
			t.Errorf("user must not hold %s", a)
		}
	}
}
