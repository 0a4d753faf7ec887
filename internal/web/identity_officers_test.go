package web

import (
	"context"
	"net/http"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// Separation of duties among operator staff, through the management API
// (identity/staff.go): operators manage operators and make only the first
// security officer; security officers manage security officers and never
// operators; the last active officer stays.

// staffRefused reports whether the audit log holds a refused attempt of
// action on target by actor, recorded as separation of duties.
func (e *idEnv) staffRefused(action, target, actor string) bool {
	return e.refusedBy(action, target, actor, "separation_of_duties")
}

// refusedBy reports whether the audit log holds a refused attempt of action
// on target by actor, for reason (any when "").
func (e *idEnv) refusedBy(action, target, actor, reason string) bool {
	e.t.Helper()
	items, err := e.audit.List(context.Background(), audit.AllChains().Page(0, 1000))
	e.must("audit", err)
	for _, it := range items {
		if it.Action == action && it.Target == target && it.ActorName == actor && it.Result == audit.Denied &&
			(reason == "" || it.Detail["reason"] == reason) {
			return true
		}
	}
	return false
}

// staffInvitation is a staff invitation body.
func staffInvitation(login string, role identity.Role) map[string]any {
	return map[string]any{"login_id": login, "display_name": "Staff " + login, "email": login + "@example.co.jp", "role": role}
}

func TestOfficerSeparationOfDuties(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startIDEnv(t, db, identity.Config{LockAfter: 3, IPMaxFailures: 1000})
		e.account("", "sd-op", identity.RoleOperator, flowPW)
		op2 := e.account("", "sd-op2", identity.RoleOperator, flowPW)
		op := e.client(e.mgmt)
		op.login("sd-op", flowPW)
		anon := e.client(e.mgmt)

		// An operator invites the first security officer.
		var inv invitation
		op.expect(http.StatusCreated, "POST", "/api/v1/staff", staffInvitation("sd-so1", identity.RoleSecurityOfficer)).json(t, &inv)
		so1 := inv.Account
		anon.expect(http.StatusCreated, "POST", "/api/v1/setup", map[string]string{"token": e.linkFromMail(so1.Email, "account.invite"), "password": flowPW})
		so := e.client(e.mgmt)
		so.login("sd-so1", flowPW)
		// Once one is active, an operator invites no more officers; an
		// operator still invites operators.
		op.expect(http.StatusForbidden, "POST", "/api/v1/staff", staffInvitation("sd-puppet", identity.RoleSecurityOfficer))
		if !e.staffRefused("account.invite", "login:sd-puppet", "sd-op") {
			t.Error("the refused invitation of an officer is not in the audit log")
		}
		op.expect(http.StatusCreated, "POST", "/api/v1/staff", staffInvitation("sd-op3", identity.RoleOperator))

		// An operator cannot delete, demote or unlock an officer, nor make one.
		soPath := "/api/v1/staff/" + so1.ID
		op.expect(http.StatusForbidden, "DELETE", soPath, nil)
		op.expect(http.StatusForbidden, "PUT", soPath+"/role", map[string]string{"role": "operator"})
		op.expect(http.StatusForbidden, "POST", soPath+"/unlock", nil)
		op.expect(http.StatusForbidden, "PUT", "/api/v1/staff/"+op2.ID+"/role", map[string]string{"role": "security-officer"})
		for _, c := range []struct{ action, target string }{
			{"account.delete", "account:" + so1.ID}, {"account.role", "account:" + so1.ID},
			{"account.unlock", "account:" + so1.ID}, {"account.role", "account:" + op2.ID},
		} {
			if !e.staffRefused(c.action, c.target, "sd-op") {
				t.Errorf("the operator's refused %s on %s is not in the audit log", c.action, c.target)
			}
		}
		// Nor through the officers' routes, which need officers.manage.
		op.expect(http.StatusForbidden, "GET", "/api/v1/officers", nil)
		op.expect(http.StatusForbidden, "DELETE", "/api/v1/officers/"+so1.ID, nil)
		op.expect(http.StatusForbidden, "POST", "/api/v1/officers", staffInvitation("sd-puppet2", identity.RoleSecurityOfficer))
		var me meBody
		so.expect(http.StatusOK, "GET", "/api/v1/me", nil).json(t, &me)
		if me.Role != identity.RoleSecurityOfficer {
			t.Fatalf("the officer after the refused attempts: %+v", me)
		}
		// Operators keep managing operators.
		op.expect(http.StatusOK, "PUT", "/api/v1/staff/"+op2.ID+"/role", map[string]string{"role": "operator"})
		op.expect(http.StatusNoContent, "POST", "/api/v1/staff/"+op2.ID+"/unlock", nil)

		// A security officer lists every staff account, but not through
		// the operators' routes.
		var staff list[identity.Account]
		so.expect(http.StatusOK, "GET", "/api/v1/officers", nil).json(t, &staff)
		seen := map[string]identity.Role{}
		for _, a := range staff.Items {
			seen[a.LoginID] = a.Role
		}
		if seen["sd-op"] != identity.RoleOperator || seen["sd-so1"] != identity.RoleSecurityOfficer || len(seen) != 4 {
			t.Errorf("the officers' staff list: %v", seen)
		}
		so.expect(http.StatusForbidden, "GET", "/api/v1/staff", nil)
		so.expect(http.StatusForbidden, "DELETE", "/api/v1/staff/"+op2.ID, nil)
		// It never acts on an operator.
		so.expectInvalid(http.StatusForbidden, "POST", "/api/v1/officers", staffInvitation("sd-op-by-so", identity.RoleOperator))
		so.expect(http.StatusForbidden, "DELETE", "/api/v1/officers/"+op2.ID, nil)
		so.expect(http.StatusForbidden, "POST", "/api/v1/officers/"+op2.ID+"/unlock", nil)
		if !e.staffRefused("account.delete", "account:"+op2.ID, "sd-so1") || !e.staffRefused("account.invite", "login:sd-op-by-so", "sd-so1") {
			t.Error("the officer's refused attempts on operators are not in the audit log")
		}
		so.expect(http.StatusNotFound, "DELETE", "/api/v1/officers/acc_aaaaaaaaaaaaaaaaaaaaaaaaaa", nil)
		so.expectInvalid(http.StatusBadRequest, "POST", "/api/v1/officers", staffInvitation("sd-user", identity.RoleUser))
		if !e.refusedBy("request.invalid", "POST /api/v1/officers", "sd-so1", "") {
			t.Error("refused input on the officers' routes is not audited")
		}

		// The last active officer cannot leave.
		so.expect(http.StatusConflict, "DELETE", "/api/v1/officers/"+so1.ID, nil)
		// An officer invites an officer.
		so.expect(http.StatusCreated, "POST", "/api/v1/officers", staffInvitation("sd-so2", identity.RoleSecurityOfficer)).json(t, &inv)
		so2 := inv.Account
		anon.expect(http.StatusCreated, "POST", "/api/v1/setup", map[string]string{"token": e.linkFromMail(so2.Email, "account.invite"), "password": flowPW})

		// Unlocking an officer is the officers' job.
		for range 3 {
			anon.expect(http.StatusUnauthorized, "POST", "/api/v1/session", map[string]string{"login_id": "sd-so2", "password": "wrong passphrase 000"})
		}
		anon.expect(http.StatusTooManyRequests, "POST", "/api/v1/session", map[string]string{"login_id": "sd-so2", "password": flowPW})
		op.expect(http.StatusForbidden, "POST", "/api/v1/staff/"+so2.ID+"/unlock", nil)
		anon.expect(http.StatusTooManyRequests, "POST", "/api/v1/session", map[string]string{"login_id": "sd-so2", "password": flowPW})
		so.expect(http.StatusNoContent, "POST", "/api/v1/officers/"+so2.ID+"/unlock", nil)
		so2c := e.client(e.mgmt)
		so2c.login("sd-so2", flowPW)

		// With another officer active, an officer may leave; the last may not.
		so.expect(http.StatusNoContent, "DELETE", "/api/v1/officers/"+so1.ID, nil)
		so.expect(http.StatusUnauthorized, "GET", "/api/v1/me", nil)
		so2c.expect(http.StatusConflict, "DELETE", "/api/v1/officers/"+so2.ID, nil)
		so2c.expect(http.StatusOK, "GET", "/api/v1/me", nil)
		// And still, an operator cannot remove them.
		op.expect(http.StatusForbidden, "DELETE", "/api/v1/staff/"+so2.ID, nil)
		op.expect(http.StatusNoContent, "DELETE", "/api/v1/staff/"+op2.ID, nil)
	})
}
