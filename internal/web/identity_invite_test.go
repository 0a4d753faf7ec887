package web

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// An operator cannot plant an account in a live customer and read its
// configuration without break-glass (identity/recovery.go): it invites only
// the first operations administrator of a customer that has none active,
// never sees a customer account's setup link, and a locked-out customer is
// recovered only with a security officer's approval.

var anyLinkToken = regexp.MustCompile(`tsu_[a-z2-7]{20,}`)

// noLink fails when an answer to staff holds a single-use link token.
func noLink(t *testing.T, what string, r resp) {
	t.Helper()
	if anyLinkToken.Match(r.body) || strings.Contains(string(r.body), "setup_token") {
		t.Errorf("%s hands staff a setup link: %s", what, r.body)
	}
}

func TestOperatorCannotPlantCustomerAccount(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startIDEnv(t, db, identity.Config{})
		cu, err := e.cat.CreateCustomer(e.seed, identityCustomerInput("Planted K.K."))
		e.must("customer", err)
		accounts := "/api/v1/customers/" + string(cu.ID) + "/accounts"
		e.account("", "pl-op", identity.RoleOperator, flowPW)
		op := e.client(e.mgmt)
		op.login("pl-op", flowPW)
		invite := func(login string, role identity.Role) map[string]any {
			return map[string]any{"login_id": login, "display_name": "Ops " + login, "email": login + "@planted.example", "role": role}
		}

		// Only ops-admin, and the answer is the account alone.
		for _, role := range []identity.Role{identity.RoleAdmin, identity.RoleUser} {
			r := op.expectInvalid(http.StatusBadRequest, "POST", accounts, invite("pl-"+string(role), role))
			if !strings.Contains(string(r.body), `"field":"role"`) {
				t.Errorf("role %s: %s", role, r.body)
			}
		}
		r := op.expect(http.StatusCreated, "POST", accounts, invite("pl-first", identity.RoleOpsAdmin))
		noLink(t, "the first invitation's answer", r)
		var fields map[string]any
		r.json(t, &fields)
		if fields["login_id"] != "pl-first" || fields["active"] != false {
			t.Errorf("answer: %s", r.body)
		}
		// Nothing the operator can read holds the link: the outbox listing,
		// the customer's accounts.
		noLink(t, "the outbox listing", op.expect(http.StatusOK, "GET", "/api/v1/mail?limit=500", nil))
		noLink(t, "the customer's accounts", op.expect(http.StatusOK, "GET", accounts, nil))
		// The invitee sets its password from the mail.
		anon := e.client(e.customer)
		anon.expect(http.StatusCreated, "POST", "/api/v1/setup",
			map[string]string{"token": e.linkFromMail("pl-first@planted.example", "account.invite"), "password": flowPW})

		// The attack: the customer is live, the operator plants another
		// operations administrator or an admin.
		r = op.expect(http.StatusConflict, "POST", accounts, invite("pl-plant", identity.RoleOpsAdmin))
		var eb errorBody
		r.json(t, &eb)
		if eb.Error.Code != "ops_admin_active" {
			t.Errorf("planting into a live customer: %s", r.body)
		}
		op.expectInvalid(http.StatusBadRequest, "POST", accounts, invite("pl-plant2", identity.RoleAdmin))
		if !e.refusedBy("account.invite", "login:pl-plant", "pl-op", "ops_admin_active") {
			t.Error("the refused plant is not in the audit log")
		}
		if n := e.outboxCount("pl-plant@planted.example", "account.invite"); n != 0 {
			t.Errorf("%d invitations mailed for the refused plant", n)
		}
		// Nor can the operator complete a setup on the customer listener, or
		// read the customer's configuration, with anything it holds.
		opOnCustomer := e.client(e.customer)
		opOnCustomer.expect(http.StatusUnauthorized, "POST", "/api/v1/session", map[string]string{"login_id": "pl-op", "password": flowPW})
		opOnCustomer.expect(http.StatusUnauthorized, "GET", "/api/v1/network/config", nil)
		op.expect(http.StatusForbidden, "GET", "/api/v1/customers/"+string(cu.ID)+"/network/config", nil)

		// The customer is locked out (it says so): an operator requests a
		// recovery; only a security officer who is not the requester
		// approves; the link goes to the invitee alone.
		e.account("", "pl-so", identity.RoleSecurityOfficer, flowPW)
		so := e.client(e.mgmt)
		so.login("pl-so", flowPW)
		recoveries := "/api/v1/customers/" + string(cu.ID) + "/recoveries"
		op.expectInvalid(http.StatusBadRequest, "POST", recoveries, map[string]any{"reason": "x", "login_id": "pl-new",
			"display_name": "New", "email": "pl-new@planted.example"})
		var rec identity.Recovery
		r = op.expect(http.StatusCreated, "POST", recoveries, map[string]any{"reason": "customer called from its registered number",
			"login_id": "pl-new", "display_name": "New", "email": "pl-new@planted.example", "language": "en"})
		r.json(t, &rec)
		so.expect(http.StatusForbidden, "POST", recoveries, map[string]any{"reason": "officers do not request recoveries",
			"login_id": "pl-x", "display_name": "X", "email": "pl-x@planted.example"})
		op.expect(http.StatusForbidden, "POST", "/api/v1/recoveries/"+rec.ID+"/approve", nil)
		op.expect(http.StatusForbidden, "GET", "/api/v1/recoveries", nil)
		if n := e.outboxCount("pl-new@planted.example", "account.invite"); n != 0 {
			t.Fatal("invitation sent before approval")
		}
		if n := e.outboxCount("pl-first@planted.example", "account.recovery.request"); n != 1 {
			t.Errorf("the customer's ops-admin got %d request notices", n)
		}
		var queue list[identity.Recovery]
		so.expect(http.StatusOK, "GET", "/api/v1/recoveries", nil).json(t, &queue)
		if len(queue.Items) != 1 || queue.Items[0].Status != identity.RecoveryRequested {
			t.Errorf("queue: %+v", queue.Items)
		}
		r = so.expect(http.StatusOK, "POST", "/api/v1/recoveries/"+rec.ID+"/approve", nil)
		noLink(t, "the approval's answer", r)
		var done map[string]any
		r.json(t, &done)
		if done["status"] != "approved" || done["account_id"] == nil {
			t.Errorf("approval: %s", r.body)
		}
		so.expect(http.StatusConflict, "POST", "/api/v1/recoveries/"+rec.ID+"/approve", nil)
		so.expect(http.StatusNotFound, "POST", "/api/v1/recoveries/rcv_aaaaaaaaaaaaaaaaaaaaaaaaaa/approve", nil)
		if n := e.outboxCount("pl-first@planted.example", "account.recovery.approve"); n != 1 {
			t.Errorf("the customer's ops-admin got %d approval notices", n)
		}
		noLink(t, "the outbox listing after the recovery", op.expect(http.StatusOK, "GET", "/api/v1/mail?limit=500", nil))
		anon.expect(http.StatusCreated, "POST", "/api/v1/setup",
			map[string]string{"token": e.linkFromMail("pl-new@planted.example", "account.invite"), "password": flowPW})

		// The customer's own audit log shows every step.
		owner := e.client(e.customer)
		owner.login("pl-first", flowPW)
		body := string(owner.expect(http.StatusOK, "GET", "/api/v1/audit?limit=500", nil).body)
		for _, a := range []string{`"account.invite"`, `"account.recovery.request"`, `"account.recovery.approve"`} {
			if !strings.Contains(body, a) {
				t.Errorf("the customer's audit log lacks %s", a)
			}
		}
	})
}
