package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// End-to-end tests of the account flows over HTTPS (issue 3).

const flowPW = "flow test passphrase 314"

// flowCustomer makes a customer with an operations administrator logged in.
func flowCustomer(e *idEnv, name, prefix string) (catalog.CustomerID, *client) {
	e.t.Helper()
	cu, err := e.cat.CreateCustomer(e.seed, catalog.CustomerInput{Name: name})
	e.must("customer", err)
	e.account(cu.ID, prefix+"-ops", identity.RoleOpsAdmin, flowPW)
	c := e.client(e.customer)
	c.login(prefix+"-ops", flowPW)
	return cu.ID, c
}

// auditHas reports whether the audit log has an event with action and result
// (and, when set, a detail substring in its JSON-ish rendering).
func (e *idEnv) auditHas(action, result string) bool {
	e.t.Helper()
	items, err := e.audit.List(context.Background(), audit.AllChains().Page(0, 1000))
	e.must("audit", err)
	for _, it := range items {
		if it.Action == action && (result == "" || it.Result == result) {
			return true
		}
	}
	return false
}

func TestAccountLifecycle(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startIDEnv(t, db, identity.Config{})
		_, ops := flowCustomer(e, "Lifecycle K.K.", "lc")

		// Invite by the operations administrator: the link goes only by mail.
		var acc identity.Account
		r := ops.expect(http.StatusCreated, "POST", "/api/v1/accounts", map[string]any{"login_id": "lc-user",
			"display_name": "Lifecycle user", "email": "lc-user@example.co.jp", "role": "user", "language": "en"})
		r.json(t, &acc)
		if strings.Contains(string(r.body), "tsu_") || acc.Active {
			t.Fatalf("invite answer leaks the link or is active: %s", r.body)
		}
		tok := e.linkFromMail("lc-user@example.co.jp", "account.invite")
		anon := e.client(e.customer)
		anon.expect(http.StatusBadRequest, "POST", "/api/v1/setup", map[string]string{"token": tok, "password": "password123456"})
		anon.expect(http.StatusCreated, "POST", "/api/v1/setup", map[string]string{"token": tok, "password": flowPW})
		anon.expect(http.StatusNotFound, "POST", "/api/v1/setup", map[string]string{"token": tok, "password": flowPW + "x"})
		if !e.auditHas("account.setup", audit.Denied) {
			t.Error("a reused link was not audited")
		}
		// An expired invitation link.
		ops.expect(http.StatusCreated, "POST", "/api/v1/accounts", map[string]any{"login_id": "lc-late",
			"display_name": "Late", "email": "lc-late@example.co.jp", "role": "user"})
		late := e.linkFromMail("lc-late@example.co.jp", "account.invite")
		_, err := db.Exec(context.Background(), `UPDATE setup_tokens SET expires_at = ? WHERE account_id IS NOT NULL AND used_at IS NULL`,
			clock.Store(time.Now().Add(-time.Minute)))
		e.must("expire", err)
		anon.expect(http.StatusNotFound, "POST", "/api/v1/setup", map[string]string{"token": late, "password": flowPW})

		user := e.client(e.customer)
		user.login("lc-user", flowPW)
		user.expect(http.StatusForbidden, "GET", "/api/v1/accounts", nil)
		userTok := e.client(e.customer)
		userTok.token = user.newToken("lc", "")

		// Role change: effective on the next request of the live session,
		// whose ID is rotated then.
		oldCookie := cookieOf(t, user)
		ops.expect(http.StatusOK, "PUT", "/api/v1/accounts/"+acc.ID+"/role", map[string]string{"role": "ops-admin"})
		r = user.expect(http.StatusOK, "GET", "/api/v1/accounts", nil)
		if !strings.Contains(strings.Join(r.hdr.Values("Set-Cookie"), ";"), "__Host-tsunagi=tss_") {
			t.Error("session ID not rotated at the privilege change")
		}
		if cookieOf(t, user) == oldCookie {
			t.Error("the client still holds the old session ID")
		}
		stale := e.client(e.customer)
		stale.hdr.Set("Cookie", "__Host-tsunagi="+oldCookie)
		stale.expect(http.StatusUnauthorized, "GET", "/api/v1/me", nil)
		// A token keeps the role it was made with: a promotion does not
		// widen it (role scoping).
		userTok.expect(http.StatusForbidden, "GET", "/api/v1/accounts", nil)
		wide := e.client(e.customer)
		wide.token = user.newToken("wide", identity.RoleOpsAdmin)
		wide.expect(http.StatusOK, "GET", "/api/v1/accounts", nil)
		narrow := e.client(e.customer)
		narrow.token = user.newToken("narrow", identity.RoleUser)
		narrow.expect(http.StatusForbidden, "GET", "/api/v1/accounts", nil)
		// Demote again: the ops-admin token falls back to the account's role.
		ops.expect(http.StatusOK, "PUT", "/api/v1/accounts/"+acc.ID+"/role", map[string]string{"role": "user"})
		user.expect(http.StatusForbidden, "GET", "/api/v1/accounts", nil)
		wide.expect(http.StatusForbidden, "GET", "/api/v1/accounts", nil)
		user.expect(http.StatusBadRequest, "POST", "/api/v1/tokens", map[string]any{"name": "too wide", "role": "admin",
			"expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})

		// Another customer's ops-admin cannot touch the account.
		_, other := flowCustomer(e, "Other K.K.", "ot")
		other.expect(http.StatusNotFound, "DELETE", "/api/v1/accounts/"+acc.ID, nil)
		other.expect(http.StatusNotFound, "PUT", "/api/v1/accounts/"+acc.ID+"/role", map[string]string{"role": "admin"})

		// Deletion ends every session and token at once.
		ops.expect(http.StatusNoContent, "DELETE", "/api/v1/accounts/"+acc.ID, nil)
		user.expect(http.StatusUnauthorized, "GET", "/api/v1/me", nil)
		userTok.expect(http.StatusUnauthorized, "GET", "/api/v1/me", nil)
		anon.expect(http.StatusUnauthorized, "POST", "/api/v1/session", map[string]string{"login_id": "lc-user", "password": flowPW})
		if !e.auditHas("access.denied.credential", audit.Denied) {
			t.Error("a cookie of a deleted account was not audited")
		}
		// The last operations administrator cannot be removed or demoted.
		var me meBody
		ops.expect(http.StatusOK, "GET", "/api/v1/me", nil).json(t, &me)
		ops.expect(http.StatusConflict, "DELETE", "/api/v1/accounts/"+me.AccountID, nil)
		ops.expect(http.StatusConflict, "PUT", "/api/v1/accounts/"+me.AccountID+"/role", map[string]string{"role": "admin"})
	})
}

func cookieOf(t *testing.T, c *client) string {
	t.Helper()
	u := c.hc.Jar.Cookies(mustURL(t, c.base))
	for _, k := range u {
		if k.Name == "__Host-tsunagi" {
			return k.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

func TestLoginThrottling(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startIDEnv(t, db, identity.Config{IPMaxFailures: 25})
		cust, ops := flowCustomer(e, "Throttle K.K.", "th")
		victim := e.account(cust, "th-victim", identity.RoleAdmin, flowPW)
		anon := e.client(e.customer)
		login := func(id, pw string) resp {
			return anon.do("POST", "/api/v1/session", map[string]string{"login_id": id, "password": pw})
		}
		for i := range 10 {
			if r := login("th-victim", "wrong password "+string(rune('a'+i))); r.code != http.StatusUnauthorized {
				t.Fatalf("attempt %d: %d %s", i, r.code, r.body)
			}
		}
		// Locked: even the right password is refused, before hashing.
		if r := login("th-victim", flowPW); r.code != http.StatusTooManyRequests {
			t.Fatalf("locked account: %d %s", r.code, r.body)
		}
		// An unknown ID locks exactly the same way (no enumeration).
		for range 10 {
			login("th-nobody", "wrong password x")
		}
		unknown, known := login("th-nobody", flowPW), login("th-victim", "whatever")
		if unknown.code != known.code || errCode(t, unknown) != errCode(t, known) {
			t.Errorf("unknown ID answers %d, known %d", unknown.code, known.code)
		}
		if !e.auditHas("login.lock", "") {
			t.Error("the lock was not audited")
		}
		// The operations administrator sees the lock and lifts it.
		var locked identity.Account
		ops.expect(http.StatusOK, "GET", "/api/v1/accounts/"+victim.ID, nil).json(t, &locked)
		if locked.LockedUntil == nil || time.Until(*locked.LockedUntil) < 14*time.Minute {
			t.Errorf("lock not shown: %+v", locked)
		}
		ops.expect(http.StatusNoContent, "POST", "/api/v1/accounts/"+victim.ID+"/unlock", nil)
		var unlocked identity.Account
		ops.expect(http.StatusOK, "GET", "/api/v1/accounts/"+victim.ID, nil).json(t, &unlocked)
		if unlocked.LockedUntil != nil {
			t.Errorf("still shown locked after unlock: %+v", unlocked)
		}
		if r := login("th-victim", flowPW); r.code != http.StatusOK {
			t.Fatalf("after unlock: %d %s", r.code, r.body)
		}
		// Per source address: 25 failures across IDs refuse further logins.
		for i := range 5 {
			login("th-spray-"+string(rune('a'+i)), "wrong password x")
		}
		if r := login("th-victim", flowPW); r.code != http.StatusTooManyRequests {
			t.Fatalf("source throttle: %d %s", r.code, r.body)
		}
		// Oversized password: refused before hashing, audited.
		anon2 := e.client(e.customer)
		r := anon2.do("POST", "/api/v1/session", map[string]string{"login_id": "th-victim", "password": strings.Repeat("x", 1025)})
		if r.code != http.StatusBadRequest && r.code != http.StatusTooManyRequests {
			t.Fatalf("oversized password: %d %s", r.code, r.body)
		}
	})
}

func errCode(t *testing.T, r resp) string {
	var b errorBody
	r.json(t, &b)
	return b.Error.Code
}

func TestPasswordChangeAndReset(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startIDEnv(t, db, identity.Config{CustomerURL: "https://panel.example.jp"})
		cust, _ := flowCustomer(e, "Password K.K.", "pw")
		e.account(cust, "pw-user", identity.RoleUser, flowPW)
		a, b := e.client(e.customer), e.client(e.customer)
		a.login("pw-user", flowPW)
		b.login("pw-user", flowPW)

		a.expect(http.StatusBadRequest, "PUT", "/api/v1/me/password", map[string]string{"current_password": "not it at all", "new_password": "a brand new passphrase"})
		a.expect(http.StatusBadRequest, "PUT", "/api/v1/me/password", map[string]string{"current_password": flowPW, "new_password": "Password12345!"})
		a.expectInvalid(http.StatusBadRequest, "PUT", "/api/v1/me/password", map[string]string{"current_password": flowPW, "new_password": "short"})
		a.expect(http.StatusBadRequest, "PUT", "/api/v1/me/password", "{\"current_password\":\"x\",\"new_password\":\"\xff\xfe invalid utf8 \"}")
		if !e.auditHas("request.invalid_utf8", audit.Denied) {
			t.Error("invalid UTF-8 not audited")
		}
		const pw2 = "a brand new passphrase"
		a.expect(http.StatusNoContent, "PUT", "/api/v1/me/password", map[string]string{"current_password": flowPW, "new_password": pw2})
		a.expect(http.StatusOK, "GET", "/api/v1/me", nil)
		b.expect(http.StatusUnauthorized, "GET", "/api/v1/me", nil) // other sessions end

		// Re-issue: the same answer for a real and an unknown ID; a mail only
		// for the real one, with a 30-minute single-use link.
		anon := e.client(e.customer)
		real := anon.expect(http.StatusAccepted, "POST", "/api/v1/password-reset", map[string]string{"login_id": "pw-user"})
		fake := anon.expect(http.StatusAccepted, "POST", "/api/v1/password-reset", map[string]string{"login_id": "pw-nobody"})
		if string(real.body) != string(fake.body) {
			t.Errorf("answers differ: %s vs %s", real.body, fake.body)
		}
		if n := e.outboxCount("pw-user@example.co.jp", "password.reset.request"); n != 1 {
			t.Fatalf("%d reset mails", n)
		}
		tok := e.linkFromMail("pw-user@example.co.jp", "password.reset.request")
		_, body, _ := e.idn.Outbox().Get(context.Background(), mailID(t, e, "pw-user@example.co.jp", "password.reset.request"))
		if !strings.Contains(body, "https://panel.example.jp/setup?reset=1&token=") {
			t.Errorf("reset mail has no panel link: %s", body)
		}
		const pw3 = "third passphrase of the day"
		anon.expect(http.StatusCreated, "POST", "/api/v1/password-reset/complete", map[string]string{"token": tok, "password": pw3})
		anon.expect(http.StatusNotFound, "POST", "/api/v1/password-reset/complete", map[string]string{"token": tok, "password": pw3 + "!"})
		a.expect(http.StatusUnauthorized, "GET", "/api/v1/me", nil) // a re-issue ends every session
		anon.login("pw-user", pw3)
		// A reset link expires after 30 minutes.
		anon.expect(http.StatusAccepted, "POST", "/api/v1/password-reset", map[string]string{"login_id": "pw-user"})
		tok = e.linkFromMail("pw-user@example.co.jp", "password.reset.request")
		_, err := db.Exec(context.Background(), `UPDATE setup_tokens SET expires_at = ? WHERE purpose = 'reset' AND used_at IS NULL`,
			clock.Store(time.Now().Add(-time.Second)))
		e.must("expire", err)
		anon.expect(http.StatusNotFound, "POST", "/api/v1/password-reset/complete", map[string]string{"token": tok, "password": pw3 + "?"})
		// An operator-side reset request names no customer account.
		opAnon := e.client(e.mgmt)
		opAnon.expect(http.StatusAccepted, "POST", "/api/v1/password-reset", map[string]string{"login_id": "pw-user"})
		if n := e.outboxCount("pw-user@example.co.jp", "password.reset.request"); n != 2 {
			t.Errorf("the management listener issued a customer reset (%d mails)", n)
		}
		// No inbox flooding: at most 3 links per 30 minutes, same answer.
		for range 4 {
			anon.expect(http.StatusAccepted, "POST", "/api/v1/password-reset", map[string]string{"login_id": "pw-user"})
		}
		if n := e.outboxCount("pw-user@example.co.jp", "password.reset.request"); n != 3 {
			t.Errorf("%d reset mails after a burst, want 3", n)
		}
		// Oversized password on setup.
		anon.expect(http.StatusBadRequest, "POST", "/api/v1/password-reset/complete", map[string]string{"token": tok, "password": strings.Repeat("y", 1025)})
	})
}

func mailID(t *testing.T, e *idEnv, addr, cause string) string {
	items, err := e.idn.Outbox().List(context.Background(), "", "", 500)
	e.must("outbox", err)
	for _, it := range items {
		if it.Recipient == addr && it.Cause == cause {
			return it.ID
		}
	}
	t.Fatalf("no mail")
	return ""
}
