package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// An operator cannot approve its own recovery through a security officer it
// invited: staff invitations hand no setup link to the inviting staff
// member, and an officer the requester invited may not decide the
// requester's recovery (identity/recovery.go).
func TestOperatorCannotApproveOwnRecovery(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startIDEnv(t, db, identity.Config{})
		cu, err := e.cat.CreateCustomer(e.seed, identityCustomerInput("Puppet K.K."))
		e.must("customer", err)
		e.account(cu.ID, "pp-owner", identity.RoleOpsAdmin, flowPW)
		e.account("", "pp-op", identity.RoleOperator, flowPW)
		op := e.client(e.mgmt)
		op.login("pp-op", flowPW)
		anon := e.client(e.mgmt)

		// No officer is active: the operator may invite the first one, but
		// the answer holds no link.
		r := op.expect(http.StatusCreated, "POST", "/api/v1/staff", staffInvitation("pp-puppet", identity.RoleSecurityOfficer))
		noLink(t, "the staff invitation's answer", r)
		r = op.expect(http.StatusCreated, "POST", "/api/v1/staff", staffInvitation("pp-op2", identity.RoleOperator))
		noLink(t, "an operator's invitation answer", r)
		// Even if the operator reads the officer's mailbox (it chose the
		// address), the officer it invited decides none of its requests.
		anon.expect(http.StatusCreated, "POST", "/api/v1/setup",
			map[string]string{"token": e.linkFromMail("pp-puppet@example.co.jp", "account.invite"), "password": flowPW})
		puppet := e.client(e.mgmt)
		puppet.login("pp-puppet", flowPW)
		var rec identity.Recovery
		op.expect(http.StatusCreated, "POST", "/api/v1/customers/"+string(cu.ID)+"/recoveries", map[string]any{
			"reason": "the customer says it is locked out", "login_id": "pp-attacker", "display_name": "Attacker",
			"email": "pp-attacker@evil.example"}).json(t, &rec)
		for _, act := range []string{"approve", "reject"} {
			var body any
			if act == "reject" {
				body = map[string]string{"note": "rejected by the puppet"}
			}
			r = puppet.expect(http.StatusForbidden, "POST", "/api/v1/recoveries/"+rec.ID+"/"+act, body)
			var eb errorBody
			r.json(t, &eb)
			if eb.Error.Code != "invited_by_requester" {
				t.Errorf("%s by the requester's officer: %s", act, r.body)
			}
			if !e.refusedBy("account.recovery."+act, "recovery:"+rec.ID, "pp-puppet", "invited_by_requester") {
				t.Errorf("the refused %s is not in the audit log", act)
			}
		}
		if n := e.outboxCount("pp-attacker@evil.example", "account.invite"); n != 0 {
			t.Fatalf("%d invitations mailed to the requester's invitee", n)
		}
		// An officer the requester did not invite decides it.
		e.account("", "pp-so", identity.RoleSecurityOfficer, flowPW)
		so := e.client(e.mgmt)
		so.login("pp-so", flowPW)
		so.expect(http.StatusOK, "POST", "/api/v1/recoveries/"+rec.ID+"/reject", map[string]string{"note": "not confirmed"})
	})
}

// A pending invitation by operator staff does not survive the customer's
// first activation: once one operations administrator is active, another
// that staff invited is void when its link is used.
func TestStaffInvitationVoidOnceCustomerIsLive(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startIDEnv(t, db, identity.Config{})
		cu, err := e.cat.CreateCustomer(e.seed, identityCustomerInput("Fresh K.K."))
		e.must("customer", err)
		accounts := "/api/v1/customers/" + string(cu.ID) + "/accounts"
		e.account("", "fr-op", identity.RoleOperator, flowPW)
		op := e.client(e.mgmt)
		op.login("fr-op", flowPW)
		invite := func(login string) map[string]any {
			return map[string]any{"login_id": login, "display_name": "Ops " + login, "email": login + "@fresh.example", "role": "ops-admin"}
		}
		op.expect(http.StatusCreated, "POST", accounts, invite("fresh-ops"))
		// (The second invitation is also announced to fresh-ops: its link
		// is read before.)
		fresh := e.linkFromMail("fresh-ops@fresh.example", "account.invite")
		op.expect(http.StatusCreated, "POST", accounts, invite("fresh-evil"))
		anon := e.client(e.customer)
		anon.expect(http.StatusCreated, "POST", "/api/v1/setup", map[string]string{"token": fresh, "password": flowPW})

		evil := e.linkFromMail("fresh-evil@fresh.example", "account.invite")
		r := anon.expect(http.StatusConflict, "POST", "/api/v1/setup", map[string]string{"token": evil, "password": flowPW})
		var eb errorBody
		r.json(t, &eb)
		if eb.Error.Code != "invitation_void" {
			t.Errorf("setting up a second staff-invited ops-admin: %s", r.body)
		}
		// The invitation is void: its link is dead and the account gone.
		anon.expect(http.StatusNotFound, "POST", "/api/v1/setup", map[string]string{"token": evil, "password": flowPW})
		owner := e.client(e.customer)
		owner.login("fresh-ops", flowPW)
		if body := string(owner.expect(http.StatusOK, "GET", "/api/v1/accounts", nil).body); strings.Contains(body, "fresh-evil") {
			t.Errorf("the voided account is still listed: %s", body)
		}
		e.client(e.customer).expect(http.StatusUnauthorized, "POST", "/api/v1/session",
			map[string]string{"login_id": "fresh-evil", "password": flowPW})
		if n := e.outboxCount("fresh-ops@fresh.example", "account.invite.void"); n != 1 {
			t.Errorf("the customer's ops-admin got %d notices of the voided invitation", n)
		}
		if body := string(owner.expect(http.StatusOK, "GET", "/api/v1/audit?limit=500", nil).body); !strings.Contains(body, `"account.invite.void"`) {
			t.Error("the customer's audit log lacks the voided invitation")
		}
		// The customer's own invitations of operations administrators are
		// not affected.
		owner.expect(http.StatusCreated, "POST", "/api/v1/accounts", map[string]any{"login_id": "fresh-own",
			"display_name": "Own", "email": "fresh-own@fresh.example", "role": "ops-admin"})
		anon.expect(http.StatusCreated, "POST", "/api/v1/setup",
			map[string]string{"token": e.linkFromMail("fresh-own@fresh.example", "account.invite"), "password": flowPW})
	})
}
