package identity

import (
	"context"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/mail"
	"github.com/tsunagi-net/tsunagi/internal/mailtest"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

func wantCode(t *testing.T, what string, err error, k fault.Kind, code string) {
	t.Helper()
	f, ok := fault.As(err)
	if !ok || f.Kind != k || f.Code != code {
		t.Errorf("%s: %v, want %s %q", what, err, k, code)
	}
}

// mailsTo lists the outbox mails to addr with cause, with their bodies.
func mailsTo(t *testing.T, ob *mail.Outbox, addr, cause string) []string {
	t.Helper()
	items, err := ob.List(context.Background(), "", "", 500)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range items {
		if it.Recipient == addr && it.Cause == cause {
			_, body, err := ob.Get(context.Background(), it.ID)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, it.Subject+"\n"+body)
		}
	}
	return out
}

// customerEvents lists the actions in cust's own audit log.
func customerEvents(t *testing.T, db *store.DB, cust catalog.CustomerID) map[string][]audit.Entry {
	t.Helper()
	entries, err := audit.New(db).List(context.Background(), audit.OfChain(string(cust)).Page(0, 1000))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]audit.Entry{}
	for _, e := range entries {
		out[e.Action] = append(out[e.Action], e)
	}
	return out
}

// TestOperatorInvitesOnlyTheFirstOpsAdmin: an operator invites a customer's
// operations administrator only while it has no active one, never an admin
// or user, and never gets the link; an attempt on a live customer is in the
// customer's audit log.
func TestOperatorInvitesOnlyTheFirstOpsAdmin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		_, op := f.active(t, "", "op-one", RoleOperator)
		in := func(login string, role Role) InviteInput {
			return InviteInput{LoginID: login, DisplayName: login, Email: login + "@example.jp", Role: role}
		}
		for _, r := range []Role{RoleAdmin, RoleUser, RoleOperator, "root"} {
			_, err := f.svc.InviteFirstOpsAdmin(f.ctx, op, tenanttest.Operator(f.cust), in("fi-"+string(r), r))
			if ff, ok := fault.As(err); !ok || ff.Kind != fault.Invalid || ff.Field != "role" {
				t.Errorf("operator invites role %s: %v, want a field error on role", r, err)
			}
		}
		first, err := f.svc.InviteFirstOpsAdmin(f.ctx, op, tenanttest.Operator(f.cust), in("fi-first", RoleOpsAdmin))
		if err != nil {
			t.Fatalf("first ops-admin: %v", err)
		}
		// Pending is not active: the operator may invite again (a mistyped
		// address), and the pending one hears of it.
		second, err := f.svc.InviteFirstOpsAdmin(f.ctx, op, tenanttest.Operator(f.cust), in("fi-second", RoleOpsAdmin))
		if err != nil {
			t.Fatalf("second invitation while none is active: %v", err)
		}
		if got := mailsTo(t, f.svc.Outbox(), first.Email, "account.invite"); len(got) != 2 || !strings.Contains(strings.Join(got, ""), "fi-second") {
			t.Errorf("the pending ops-admin is told of the second invitation: %q", got)
		}
		tok := mailtest.LinkToken(t, f.svc.Outbox(), second.Email, "account.invite")
		if _, err := f.svc.CompleteSetup(f.ctx, CustomerSide, SetupInput{Token: tok, Password: "fixture passphrase 99"}); err != nil {
			t.Fatal(err)
		}
		// Now the customer has an active operations administrator.
		for _, r := range []Role{RoleOpsAdmin, RoleAdmin} {
			_, err = f.svc.InviteFirstOpsAdmin(f.ctx, op, tenanttest.Operator(f.cust), in("fi-plant-"+string(r), r))
			if r == RoleOpsAdmin {
				wantCode(t, "operator plants an ops-admin in a live customer", err, fault.Conflict, "ops_admin_active")
			} else if !fault.Is(err, fault.Invalid) {
				t.Errorf("operator plants an admin: %v", err)
			}
		}
		ev := customerEvents(t, db, f.cust)
		denied := 0
		for _, e := range ev["account.invite"] {
			if e.Result == audit.Denied && e.Detail["reason"] == "ops_admin_active" {
				denied++
			}
		}
		if denied != 1 || len(ev["account.invite"]) != 3 {
			t.Errorf("customer's audit log: %d invitations, %d refused; want 3 and 1", len(ev["account.invite"]), denied)
		}
		// A customer principal or an officer cannot use the operator's path.
		_, cp := f.active(t, f.cust, "fi-user", RoleUser)
		wantFault(t, "customer principal", func() error {
			_, err := f.svc.InviteFirstOpsAdmin(f.ctx, cp, tenanttest.Operator(f.cust), in("x-1", RoleOpsAdmin))
			return err
		}(), fault.Forbidden)
	})
}

// TestRecoveryNeedsAnotherPersonsApproval walks the recovery of a
// locked-out customer: an operator requests, the same person cannot
// approve, a security officer does; the customer is told at each step and
// the invitee alone gets the link.
func TestRecoveryNeedsAnotherPersonsApproval(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		opAcc, op := f.active(t, "", "rc-op", RoleOperator)
		_, so := f.active(t, "", "rc-so", RoleSecurityOfficer)
		req := RecoveryInput{Reason: "customer called; identity checked against the contract", LoginID: "rc-new",
			DisplayName: "New ops", Email: "rc-new@example.jp", Language: "en"}

		// No active ops-admin: the first invitation is the way, not a recovery.
		_, err := f.svc.RequestRecovery(f.ctx, op, tenanttest.Operator(f.cust), req)
		wantCode(t, "recovery without an active ops-admin", err, fault.Conflict, "no_ops_admin_active")
		old, _ := f.active(t, f.cust, "rc-old", RoleOpsAdmin)
		user, _ := f.active(t, f.cust, "rc-user", RoleUser)

		for _, bad := range []RecoveryInput{{Reason: "short", LoginID: "rc-x", DisplayName: "x", Email: "x@example.jp"},
			{Reason: "a reason long enough\nflush ruleset", LoginID: "rc-x", DisplayName: "x", Email: "x@example.jp"}} {
			if _, err := f.svc.RequestRecovery(f.ctx, op, tenanttest.Operator(f.cust), bad); !fault.Is(err, fault.Invalid) {
				t.Errorf("reason %q: %v", bad.Reason, err)
			}
		}
		if _, err := f.svc.RequestRecovery(f.ctx, so, tenanttest.Operator(f.cust), req); !fault.Is(err, fault.Forbidden) {
			t.Errorf("an officer requests: %v", err)
		}
		r, err := f.svc.RequestRecovery(f.ctx, op, tenanttest.Operator(f.cust), req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.RequestRecovery(f.ctx, op, tenanttest.Operator(f.cust), req); !fault.Is(err, fault.Conflict) {
			t.Errorf("second open request: %v", err)
		}
		if got := mailsTo(t, f.svc.Outbox(), old.Email, "account.recovery.request"); len(got) != 1 || !strings.Contains(got[0], req.Reason) {
			t.Errorf("the customer's ops-admin is told of the request: %q", got)
		}
		if _, ok := mailtest.FindLinkToken(t, f.svc.Outbox(), req.Email, "account.invite"); ok {
			t.Fatal("an invitation was sent before approval")
		}
		// The requester cannot approve; neither can an officer account of
		// the same person (same address).
		if _, err := f.svc.ApproveRecovery(f.ctx, op, r.ID); !fault.Is(err, fault.Forbidden) {
			t.Errorf("the requesting operator approves: %v", err)
		}
		twin, _, err := f.svc.SeedStaff(f.ctx, InviteInput{LoginID: "rc-twin", DisplayName: "twin", Email: strings.ToUpper(opAcc.Email),
			Role: RoleSecurityOfficer})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.CompleteSetup(f.ctx, OperatorSide, SetupInput{Token: mailtest.LinkToken(t, f.svc.Outbox(), twin.Email, "account.invite"),
			Password: "fixture passphrase 99"}); err != nil {
			t.Fatal(err)
		}
		_, twinP, err := f.svc.Login(f.ctx, OperatorSide, "rc-twin", "fixture passphrase 99", "test")
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.ApproveRecovery(f.ctx, twinP, r.ID)
		wantCode(t, "the requester's officer account approves", err, fault.Forbidden, "same_person")

		got, err := f.svc.ApproveRecovery(f.ctx, so, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != RecoveryApproved || got.AccountID == "" || got.DecidedBy != "rc-so" {
			t.Errorf("approved: %+v", got)
		}
		if _, err := f.svc.ApproveRecovery(f.ctx, so, r.ID); !fault.Is(err, fault.Conflict) {
			t.Errorf("approved twice: %v", err)
		}
		mailtest.LinkToken(t, f.svc.Outbox(), req.Email, "account.invite")
		for _, a := range []Account{old, user} {
			if got := mailsTo(t, f.svc.Outbox(), a.Email, "account.recovery.approve"); len(got) != 1 || !strings.Contains(got[0], "rc-new") {
				t.Errorf("%s is told of the approval: %q", a.LoginID, got)
			}
		}
		ev := customerEvents(t, db, f.cust)
		for _, a := range []string{"account.recovery.request", "account.recovery.approve"} {
			if len(ev[a]) == 0 || ev[a][0].Result == audit.Denied && a == "account.recovery.request" {
				t.Errorf("customer's audit log has no %s", a)
			}
		}
		same := 0
		for _, e := range ev["account.recovery.approve"] {
			if e.Result == audit.Denied && e.Detail["reason"] == "same_person" {
				same++
			}
		}
		if same != 1 {
			t.Errorf("same-person refusals in the customer's log: %d, want 1", same)
		}

		// A rejected request invites nobody.
		r2, err := f.svc.RequestRecovery(f.ctx, op, tenanttest.Operator(f.cust), RecoveryInput{Reason: "second call, not verified yet", LoginID: "rc-no",
			DisplayName: "No", Email: "rc-no@example.jp"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.RejectRecovery(f.ctx, so, r2.ID, RecoveryDecision{Note: "the caller could not be verified"}); err != nil {
			t.Fatal(err)
		}
		if _, ok := mailtest.FindLinkToken(t, f.svc.Outbox(), "rc-no@example.jp", "account.invite"); ok {
			t.Error("a rejected recovery sent an invitation")
		}
		list, _, err := f.svc.ListRecoveries(f.ctx, so, catalog.Page{})
		if err != nil || len(list) != 2 || list[0].Status != RecoveryRejected {
			t.Errorf("list: %+v %v", list, err)
		}
		if _, _, err := f.svc.ListRecoveries(f.ctx, op, catalog.Page{}); !fault.Is(err, fault.Forbidden) {
			t.Errorf("an operator lists the officers' queue: %v", err)
		}
	})
}

// An officer the requesting operator invited decides none of its requests;
// a second first invitation, used once the customer has an active
// operations administrator, is void.
func TestStaffInviteesPlantNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		opAcc, op := f.active(t, "", "pi-op", RoleOperator)
		inv, err := f.svc.InviteStaff(f.ctx, op, staffInvite("pi-puppet", RoleSecurityOfficer))
		if err != nil {
			t.Fatal(err)
		}
		var by *string
		if err := db.QueryRow(f.ctx, `SELECT invited_by FROM accounts WHERE id = ?`, inv.ID).Scan(&by); err != nil ||
			by == nil || *by != opAcc.ID {
			t.Fatalf("invited_by of the officer: %v %v", by, err)
		}
		f.completeStaff(t, mailtest.LinkToken(t, f.svc.Outbox(), inv.Email, "account.invite"))
		_, puppet, err := f.svc.Login(f.ctx, OperatorSide, "pi-puppet", "fixture passphrase 99", "test")
		if err != nil {
			t.Fatal(err)
		}

		// The customer: two first invitations; one is set up, the other void.
		first := func(login string) Account {
			a, err := f.svc.InviteFirstOpsAdmin(f.ctx, op, tenanttest.Operator(f.cust), InviteInput{LoginID: login,
				DisplayName: login, Email: login + "@example.jp", Role: RoleOpsAdmin})
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		ok := first("pi-ops")
		okTok := mailtest.LinkToken(t, f.svc.Outbox(), ok.Email, "account.invite")
		late := first("pi-late")
		if _, err := f.svc.CompleteSetup(f.ctx, CustomerSide, SetupInput{Token: okTok, Password: "fixture passphrase 99"}); err != nil {
			t.Fatal(err)
		}
		lateTok := mailtest.LinkToken(t, f.svc.Outbox(), late.Email, "account.invite")
		_, err = f.svc.CompleteSetup(f.ctx, CustomerSide, SetupInput{Token: lateTok, Password: "fixture passphrase 99"})
		wantCode(t, "the second first invitation", err, fault.Conflict, "invitation_void")
		_, err = f.svc.CompleteSetup(f.ctx, CustomerSide, SetupInput{Token: lateTok, Password: "fixture passphrase 99"})
		wantFault(t, "the voided link again", err, fault.NotFound)
		if got := mailsTo(t, f.svc.Outbox(), ok.Email, "account.invite.void"); len(got) != 1 || !strings.Contains(got[0], "pi-late") {
			t.Errorf("the customer's ops-admin is told of the void invitation: %q", got)
		}
		if ev := customerEvents(t, db, f.cust); len(ev["account.invite.void"]) != 1 {
			t.Errorf("the customer's audit log: %d voided invitations", len(ev["account.invite.void"]))
		}

		// The recovery the operator requests is decided by none of its
		// invitees.
		r, err := f.svc.RequestRecovery(f.ctx, op, tenanttest.Operator(f.cust), RecoveryInput{Reason: "the customer called us",
			LoginID: "pi-new", DisplayName: "new", Email: "pi-new@evil.example"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.ApproveRecovery(f.ctx, puppet, r.ID)
		wantCode(t, "the requester's invitee approves", err, fault.Forbidden, "invited_by_requester")
		_, err = f.svc.RejectRecovery(f.ctx, puppet, r.ID, RecoveryDecision{Note: "no"})
		wantCode(t, "the requester's invitee rejects", err, fault.Forbidden, "invited_by_requester")
		_, so := f.active(t, "", "pi-so", RoleSecurityOfficer)
		got, err := f.svc.ApproveRecovery(f.ctx, so, r.ID)
		if err != nil {
			t.Fatalf("an independent officer approves: %v", err)
		}
		// The invitation is held for RecoveryWait; the customer is told at
		// once.
		if got.MailedAt == nil || got.DecidedAt == nil || !got.MailedAt.Equal(got.DecidedAt.Add(RecoveryWait)) {
			t.Errorf("mailed_at of the approval: %+v", got)
		}
		if held := outboxEntry(t, f.svc.Outbox(), "pi-new@evil.example", "account.invite"); held.NextAttemptAt.Before(got.DecidedAt.Add(RecoveryWait)) {
			t.Errorf("the recovery's invitation goes at %v, before the wait ends", held.NextAttemptAt)
		}
		if n := len(mailsTo(t, f.svc.Outbox(), ok.Email, "account.recovery.approve")); n != 1 {
			t.Errorf("the customer's ops-admin got %d approval notices", n)
		}
		// The approved recovery's invitee is set up beside the active one.
		if _, err := f.svc.CompleteSetup(f.ctx, CustomerSide, SetupInput{Token: mailtest.LinkToken(t, f.svc.Outbox(), "pi-new@evil.example",
			"account.invite"), Password: "fixture passphrase 99"}); err != nil {
			t.Errorf("the recovery's invitee: %v", err)
		}
	})
}

// outboxEntry is the newest outbox entry to addr with cause.
func outboxEntry(t *testing.T, ob *mail.Outbox, addr, cause string) mail.Entry {
	t.Helper()
	items, err := ob.List(context.Background(), "", "", 500)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.Recipient == addr && it.Cause == cause {
			return it
		}
	}
	t.Fatalf("no mail %s to %s", cause, addr)
	return mail.Entry{}
}

// The customer objects to an approved recovery by deleting the new account
// during the wait: its invitation is never sent.
func TestRecoveryObjectedDuringWait(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		_, owner := f.active(t, f.cust, "ow-ops", RoleOpsAdmin)
		_, op := f.active(t, "", "ow-op", RoleOperator)
		_, so := f.active(t, "", "ow-so", RoleSecurityOfficer)
		r, err := f.svc.RequestRecovery(f.ctx, op, tenanttest.Operator(f.cust), RecoveryInput{Reason: "a caller says it is locked out",
			LoginID: "ow-new", DisplayName: "new", Email: "ow-new@evil.example"})
		if err != nil {
			t.Fatal(err)
		}
		if r, err = f.svc.ApproveRecovery(f.ctx, so, r.ID); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.DeleteAccount(f.ctx, owner, r.AccountID); err != nil {
			t.Fatal(err)
		}
		if held := outboxEntry(t, f.svc.Outbox(), "ow-new@evil.example", "account.invite"); held.Status != mail.Failed ||
			!strings.Contains(held.LastError, "withdrawn") {
			t.Errorf("the held invitation after the objection: %+v", held)
		}
		ev := customerEvents(t, db, f.cust)
		if len(ev["account.delete"]) != 1 || ev["account.delete"][0].Detail["invitation_withdrawn"] != true {
			t.Errorf("the deletion's audit entry: %+v", ev["account.delete"])
		}
	})
}
