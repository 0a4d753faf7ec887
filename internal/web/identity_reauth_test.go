package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// Credential changes: session-only (no API token), after a recent
// re-authentication with the password and the second factor.

// errorCode is the error.code of an error answer.
func errorCode(t testing.TB, r resp) string {
	t.Helper()
	var b errorBody
	r.json(t, &b)
	return b.Error.Code
}

// expectCode fails the test unless the answer has status want and error code.
func (c *client) expectCode(want int, code, method, path string, body any) resp {
	c.e.t.Helper()
	r := c.expect(want, method, path, body)
	if got := errorCode(c.e.t, r); got != code {
		c.e.t.Fatalf("%s %s: error code %q, want %q: %s", method, path, got, code, r.body)
	}
	return r
}

// ageAuth makes every session of loginID look as if it last proved the
// password and second factor long enough ago to need another proof.
func (e *idEnv) ageAuth(loginID string) {
	e.t.Helper()
	_, err := e.db.Exec(context.Background(), `UPDATE sessions SET auth_at = ? WHERE account_id = (SELECT id FROM accounts WHERE login_id = ?)`,
		clock.Store(time.Now().Add(-identity.ReauthTTL-time.Minute)), loginID)
	e.must("age auth_at", err)
}

// A token of role user revoked its account's other token and changed the
// password: credential changes are session-only, whatever the token's role,
// while reading one's own things stays open to tokens.
func TestTokensChangeNoCredentials(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startIDEnv(t, db, identity.Config{})
		_, ops := flowCustomer(e, "Token Bound K.K.", "tb")
		ro := e.client(e.customer)
		ro.token = ops.newToken("read-only", identity.RoleUser)
		full := e.client(e.customer)
		full.token = ops.newToken("automation", identity.RoleOpsAdmin)
		var toks list[identity.Token]
		ro.expect(http.StatusOK, "GET", "/api/v1/tokens", nil).json(t, &toks)
		other := ""
		for _, tk := range toks.Items {
			if tk.Name == "automation" {
				other = tk.ID
			}
		}
		var sessions list[identity.Session]
		ops.expect(http.StatusOK, "GET", "/api/v1/sessions", nil).json(t, &sessions)
		ro.expect(http.StatusOK, "GET", "/api/v1/me", nil)

		for _, c := range []*client{ro, full} {
			c.expectCode(http.StatusForbidden, identity.CodeSessionRequired, "DELETE", "/api/v1/tokens/"+other, nil)
			c.expectCode(http.StatusForbidden, identity.CodeSessionRequired, "PUT", "/api/v1/me/password",
				map[string]string{"current_password": flowPW, "new_password": "a token's new passphrase 2718"})
			c.expectCode(http.StatusForbidden, identity.CodeSessionRequired, "DELETE", "/api/v1/me/totp", nil)
			c.expectCode(http.StatusForbidden, identity.CodeSessionRequired, "POST", "/api/v1/me/totp", nil)
			c.expectCode(http.StatusForbidden, identity.CodeSessionRequired, "POST", "/api/v1/tokens",
				map[string]any{"name": "minted", "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
			c.expectCode(http.StatusForbidden, identity.CodeSessionRequired, "DELETE", "/api/v1/sessions/"+sessions.Items[0].ID, nil)
			c.expectCode(http.StatusForbidden, identity.CodeSessionRequired, "POST", "/api/v1/session/reauth",
				map[string]string{"password": flowPW})
		}
		// The ops-admin's own token may not register devices either; a
		// read-only token does not even hold the action.
		_, certPEM := deviceCert(t, "tb-laptop")
		dev := map[string]string{"name": "laptop", "certificate_pem": certPEM}
		full.expectCode(http.StatusForbidden, identity.CodeSessionRequired, "POST", "/api/v1/devices", dev)
		ro.expectCode(http.StatusForbidden, "forbidden", "POST", "/api/v1/devices", dev)

		// Nothing changed: the other token and the password still work.
		full.expect(http.StatusOK, "GET", "/api/v1/me", nil)
		e.client(e.customer).login("tb-ops", flowPW)
		if !e.auditHas("access.denied", audit.Denied) {
			t.Error("the refusals were not audited")
		}
		// The session itself may.
		ops.expect(http.StatusNoContent, "DELETE", "/api/v1/tokens/"+other, nil)
		full.expect(http.StatusUnauthorized, "GET", "/api/v1/me", nil)
	})
}

// Removing a second factor needed no second factor: removing or adding a
// factor, a device or a token, and changing the password need a
// password-and-factor proof within the last 5 minutes.
func TestCredentialChangesNeedReauth(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startIDEnv(t, db, identity.Config{})
		cust, ops := flowCustomer(e, "Reauth K.K.", "ra")
		e.account(cust, "ra-admin", identity.RoleAdmin, flowPW)
		a := e.client(e.customer)
		a.login("ra-admin", flowPW)
		var en identity.TOTPEnrolment
		a.expect(http.StatusCreated, "POST", "/api/v1/me/totp", nil).json(t, &en)
		now := time.Now()
		a.expect(http.StatusOK, "POST", "/api/v1/me/totp/confirm", map[string]string{"code": totpCode(t, en.Secret, now)})

		// Minutes later, a session cookie alone removes nothing.
		e.ageAuth("ra-admin")
		a.expectCode(http.StatusForbidden, identity.CodeReauthRequired, "DELETE", "/api/v1/me/totp", nil)
		a.expectCode(http.StatusForbidden, identity.CodeReauthRequired, "DELETE", "/api/v1/me/webauthn/no-such-key", nil)
		a.expectCode(http.StatusForbidden, identity.CodeReauthRequired, "POST", "/api/v1/me/webauthn/register/begin", nil)
		a.expectCode(http.StatusForbidden, identity.CodeReauthRequired, "PUT", "/api/v1/me/password",
			map[string]string{"current_password": flowPW, "new_password": "a stolen cookie's passphrase 1618"})
		a.expectCode(http.StatusForbidden, identity.CodeReauthRequired, "POST", "/api/v1/tokens",
			map[string]any{"name": "late", "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
		if !e.auditHas("mfa.totp.remove", audit.Denied) {
			t.Error("the refused removal was not audited")
		}

		// The password alone is not a proof for an account with a factor;
		// neither is a wrong password or a wrong code.
		r := a.expect(http.StatusBadRequest, "POST", "/api/v1/session/reauth", map[string]string{"password": flowPW})
		if !strings.Contains(string(r.body), `"field":"code"`) {
			t.Errorf("reauth without a code: %s", r.body)
		}
		a.expect(http.StatusBadRequest, "POST", "/api/v1/session/reauth",
			map[string]string{"password": "not the passphrase", "code": totpCode(t, en.Secret, now.Add(30*time.Second))})
		a.expect(http.StatusBadRequest, "POST", "/api/v1/session/reauth", map[string]string{"password": flowPW, "code": "000000"})
		a.expectCode(http.StatusForbidden, identity.CodeReauthRequired, "DELETE", "/api/v1/me/totp", nil)
		a.expect(http.StatusNoContent, "POST", "/api/v1/session/reauth",
			map[string]string{"password": flowPW, "code": totpCode(t, en.Secret, now.Add(30*time.Second))})
		a.expect(http.StatusNoContent, "DELETE", "/api/v1/me/totp", nil)
		if !e.auditHas("session.reauth", "") {
			t.Error("the re-authentication was not audited")
		}

		// An account without a factor proves the password alone; a login
		// is such a proof.
		e.ageAuth("ra-admin")
		a.expectCode(http.StatusForbidden, identity.CodeReauthRequired, "PUT", "/api/v1/me/password",
			map[string]string{"current_password": flowPW, "new_password": "a fresh passphrase 1414"})
		a.expect(http.StatusNoContent, "POST", "/api/v1/session/reauth", map[string]string{"password": flowPW})
		a.expect(http.StatusNoContent, "PUT", "/api/v1/me/password",
			map[string]string{"current_password": flowPW, "new_password": "a fresh passphrase 1414"})

		// Devices are credentials of the customer: the same rule.
		e.ageAuth("ra-ops")
		_, certPEM := deviceCert(t, "ra-laptop")
		ops.expectCode(http.StatusForbidden, identity.CodeReauthRequired, "POST", "/api/v1/devices",
			map[string]string{"name": "laptop", "certificate_pem": certPEM})
		ops.expect(http.StatusNoContent, "POST", "/api/v1/session/reauth", map[string]string{"password": flowPW})
		ops.expect(http.StatusCreated, "POST", "/api/v1/devices", map[string]string{"name": "laptop", "certificate_pem": certPEM})
	})
}

// An account whose factor is a security key re-authenticates with the
// password and the key.
func TestReauthWithSecurityKey(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startIDEnv(t, db, identity.Config{})
		cust, _ := flowCustomer(e, "Reauth Key K.K.", "rk")
		acc := e.account(cust, "rk-admin", identity.RoleAdmin, flowPW)
		key := newSoftAuthenticator(t, "localhost", "https://localhost")
		a := e.client(e.customer)
		a.login("rk-admin", flowPW)
		opts := a.expect(http.StatusOK, "POST", "/api/v1/me/webauthn/register/begin", nil)
		var k identity.WebAuthnKey
		a.expect(http.StatusCreated, "POST", "/api/v1/me/webauthn/register/finish?name=laptop", key.create(opts.body)).json(t, &k)

		e.ageAuth("rk-admin")
		a.expectCode(http.StatusForbidden, identity.CodeReauthRequired, "DELETE", "/api/v1/me/webauthn/"+k.ID, nil)
		a.expect(http.StatusBadRequest, "POST", "/api/v1/session/reauth", map[string]string{"password": flowPW})
		a.expect(http.StatusBadRequest, "POST", "/api/v1/session/reauth/webauthn/begin", map[string]string{"password": "wrong passphrase"})
		req := a.expect(http.StatusOK, "POST", "/api/v1/session/reauth/webauthn/begin", map[string]string{"password": flowPW})
		a.expect(http.StatusNoContent, "POST", "/api/v1/session/reauth/webauthn/finish", key.get(req.body, []byte(acc.ID)))
		a.expect(http.StatusNoContent, "DELETE", "/api/v1/me/webauthn/"+k.ID, nil)
	})
}

// The security policy was reset by an empty body: every field is required,
// nothing changes on a refusal, and a change is audited with the policy
// before and after and mailed to every active operations administrator.
func TestSecurityPolicyNeedsEveryField(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startIDEnv(t, db, identity.Config{})
		cust, ops := flowCustomer(e, "Policy K.K.", "pl")
		e.account(cust, "pl-ops2", identity.RoleOpsAdmin, flowPW)
		e.account(cust, "pl-admin", identity.RoleAdmin, flowPW)
		_, err := e.db.Exec(context.Background(), `UPDATE accounts SET language = 'en' WHERE login_id = 'pl-ops2'`)
		e.must("language", err)
		set := map[string]any{"allow_list": []string{"127.0.0.0/8", "::1"}, "require_mfa": false, "require_device": false}
		ops.expect(http.StatusOK, "PUT", "/api/v1/security-policy", set)

		for _, body := range []struct {
			body  any
			field string
		}{
			{"null", ""}, // refused whole: the body must be a JSON object
			{"{}", "allow_list"},
			{map[string]any{"allow_list": []string{}}, "require_mfa"},
			{map[string]any{"allow_list": []string{}, "require_mfa": false}, "require_device"},
			{map[string]any{"require_mfa": false, "require_device": false}, "allow_list"},
		} {
			r := ops.expectInvalid(http.StatusBadRequest, "PUT", "/api/v1/security-policy", body.body)
			if body.field == "" && !strings.Contains(string(r.body), "JSON object") ||
				body.field != "" && !strings.Contains(string(r.body), `"field":"`+body.field+`"`) {
				t.Errorf("%v: %s, want field %s", body.body, r.body, body.field)
			}
		}
		var pol identity.SecurityPolicy
		ops.expect(http.StatusOK, "GET", "/api/v1/security-policy", nil).json(t, &pol)
		if len(pol.AllowList) != 2 {
			t.Fatalf("a refused body changed the policy: %+v", pol)
		}

		before := e.outboxCount("pl-ops@example.co.jp", "security.policy.set")
		set["allow_list"] = []string{"127.0.0.1"}
		ops.expect(http.StatusOK, "PUT", "/api/v1/security-policy", set)
		if n := e.outboxCount("pl-ops@example.co.jp", "security.policy.set"); n != before+1 {
			t.Errorf("mails to the first ops-admin: %d, want %d", n, before+1)
		}
		if n := e.outboxCount("pl-ops2@example.co.jp", "security.policy.set"); n != 2 {
			t.Errorf("mails to the second ops-admin: %d, want 2", n)
		}
		if n := e.outboxCount("pl-admin@example.co.jp", "security.policy.set"); n != 0 {
			t.Errorf("an admin got %d policy mails", n)
		}
		bodies := map[string]string{}
		items, err := e.idn.Outbox().List(context.Background(), "", "", 500)
		e.must("outbox", err)
		for _, it := range items {
			if it.Cause == "security.policy.set" {
				_, body, err := e.idn.Outbox().Get(context.Background(), it.ID)
				e.must("outbox get", err)
				bodies[it.Recipient] += body
			}
		}
		if b := bodies["pl-ops2@example.co.jp"]; !strings.Contains(b, "before: 127.0.0.0/8, ::1/128") || !strings.Contains(b, "after:  127.0.0.1/32") {
			t.Errorf("English mail: %s", b)
		}
		if b := bodies["pl-ops@example.co.jp"]; !strings.Contains(b, "変更前: 127.0.0.0/8, ::1/128") || !strings.Contains(b, "pl-ops") {
			t.Errorf("Japanese mail: %s", b)
		}
		entries, err := e.audit.List(context.Background(), audit.OfChain(string(cust)).Page(0, 1000))
		e.must("audit", err)
		found := false
		for _, it := range entries {
			if it.Action == "security.policy.set" && strings.Contains(string(mustJSON(t, it.Detail)), `"before":{"allow_list":["127.0.0.0/8","::1/128"]`) {
				found = true
			}
		}
		if !found {
			t.Error("the change was not audited with the policy before and after")
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := jsonMarshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// require_mfa did not bind API tokens: a token of an account without a
// second factor keeps working. Under the policy it is refused (403
// mfa_required) until the account enrols, and tokens are made only by a
// session that gave the second factor.
func TestMFAPolicyBindsTokens(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startIDEnv(t, db, identity.Config{})
		cust, ops := flowCustomer(e, "Token MFA K.K.", "tm")
		e.account(cust, "tm-admin", identity.RoleAdmin, flowPW)
		e.account(cust, "tm-user", identity.RoleUser, flowPW)
		a := e.client(e.customer)
		a.login("tm-admin", flowPW)
		at := e.client(e.customer)
		at.token = a.newToken("admin automation", identity.RoleUser) // a narrower token of an admin account
		u := e.client(e.customer)
		u.login("tm-user", flowPW)
		ut := e.client(e.customer)
		ut.token = u.newToken("user automation", "")
		at.expect(http.StatusOK, "GET", "/api/v1/contracts", nil)

		ops.expect(http.StatusOK, "PUT", "/api/v1/security-policy", map[string]any{"allow_list": []string{}, "require_mfa": true,
			"require_device": false})
		at.expectCode(http.StatusForbidden, identity.CodeMFARequired, "GET", "/api/v1/contracts", nil)
		at.expectCode(http.StatusForbidden, identity.CodeMFARequired, "GET", "/api/v1/me", nil)
		if !e.auditHas("access.denied.mfa", audit.Denied) {
			t.Error("the refused token was not audited")
		}
		ut.expect(http.StatusOK, "GET", "/api/v1/contracts", nil) // users are not held to the admins' policy
		// The admin's session is pending now: no token from it.
		a.expect(http.StatusForbidden, "POST", "/api/v1/tokens",
			map[string]any{"name": "pending", "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})

		// Enrolling the first factor brings the token back, and the
		// session that gave it may make tokens once it proves the factor.
		var en identity.TOTPEnrolment
		a.expect(http.StatusCreated, "POST", "/api/v1/me/totp", nil).json(t, &en)
		now := time.Now()
		a.expect(http.StatusOK, "POST", "/api/v1/me/totp/confirm", map[string]string{"code": totpCode(t, en.Secret, now)})
		at.expect(http.StatusOK, "GET", "/api/v1/contracts", nil)
		a.expect(http.StatusNoContent, "POST", "/api/v1/session/reauth",
			map[string]string{"password": flowPW, "code": totpCode(t, en.Secret, now.Add(30*time.Second))})
		a.newToken("after MFA", "")
	})
}

// A token has no device of its own: while the customer requires devices, a
// token works only if the session that created it was on a registered
// device that is still registered.
func TestDevicePolicyBindsTokens(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startIDEnv(t, db, identity.Config{})
		_, ops := flowCustomer(e, "Token Device K.K.", "td")
		laptop, laptopPEM := deviceCert(t, "td-laptop")
		desk, deskPEM := deviceCert(t, "td-desk")
		var dl, dd identity.Device
		ops.expect(http.StatusCreated, "POST", "/api/v1/devices", map[string]string{"name": "laptop", "certificate_pem": laptopPEM}).json(t, &dl)
		ops.expect(http.StatusCreated, "POST", "/api/v1/devices", map[string]string{"name": "desk", "certificate_pem": deskPEM}).json(t, &dd)
		plain := e.client(e.customer)
		plain.token = ops.newToken("no device", "")
		onLaptop := e.deviceClient(laptop)
		onLaptop.login("td-ops", flowPW)
		fromLaptop := e.client(e.customer)
		fromLaptop.token = onLaptop.newToken("from the laptop", "")

		ops.expect(http.StatusOK, "PUT", "/api/v1/security-policy", map[string]any{"allow_list": []string{}, "require_mfa": false,
			"require_device": true})
		plain.expectCode(http.StatusForbidden, identity.CodeDeviceRequired, "GET", "/api/v1/contracts", nil)
		fromLaptop.expect(http.StatusOK, "GET", "/api/v1/contracts", nil)

		// Revoking the laptop ends its tokens' use too.
		onDesk := e.deviceClient(desk)
		onDesk.login("td-ops", flowPW)
		onDesk.expect(http.StatusNoContent, "DELETE", "/api/v1/devices/"+dl.ID, nil)
		fromLaptop.expectCode(http.StatusForbidden, identity.CodeDeviceRequired, "GET", "/api/v1/contracts", nil)
	})
}

// Login throttling was shared across listeners: failures on the customer
// listener locked the operator's correct login on the management listener
// out from the same (NAT) address. Each listener counts apart, and a
// throttled login says when to retry.
func TestLoginThrottlePerListener(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startIDEnv(t, db, identity.Config{LockAfter: 3, IPMaxFailures: 5})
		e.account("", "tl-operator", identity.RoleOperator, flowPW)
		cust, _ := flowCustomer(e, "Throttle K.K.", "tl")
		e.account(cust, "tl-user", identity.RoleUser, flowPW)
		c := e.client(e.customer)
		// The operator's login ID typed on the customer listener locks it
		// there only.
		for range 3 {
			c.expect(http.StatusUnauthorized, "POST", "/api/v1/session", map[string]string{"login_id": "tl-operator", "password": "wrong"})
		}
		r := c.expect(http.StatusTooManyRequests, "POST", "/api/v1/session", map[string]string{"login_id": "tl-operator", "password": "wrong"})
		checkRetryAfter(t, r, 15*time.Minute)
		m := e.client(e.mgmt)
		m.login("tl-operator", flowPW)

		// The customer listener's address limit does not reach the
		// management listener.
		for i := range 2 {
			c.expect(http.StatusUnauthorized, "POST", "/api/v1/session", map[string]string{"login_id": "nobody-" + strconv.Itoa(i), "password": "wrong"})
		}
		r = c.expect(http.StatusTooManyRequests, "POST", "/api/v1/session", map[string]string{"login_id": "tl-user", "password": flowPW})
		checkRetryAfter(t, r, 15*time.Minute)
		e.client(e.mgmt).login("tl-operator", flowPW)
	})
}

func checkRetryAfter(t *testing.T, r resp, most time.Duration) {
	t.Helper()
	n, err := strconv.Atoi(r.hdr.Get("Retry-After"))
	if err != nil || n < 1 || time.Duration(n)*time.Second > most+time.Second {
		t.Errorf("Retry-After %q, want 1..%d seconds", r.hdr.Get("Retry-After"), int(most/time.Second))
	}
}

// A session that is MFA pending because its customer requires a factor the
// account does not have yet enrols the first one on the strength of its
// password, re-proving it when the login is older than ReauthTTL; a pending
// session whose account has a factor gives that factor instead.
func TestPendingSessionEnrolsFirstFactor(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startIDEnv(t, db, identity.Config{})
		cust, ops := flowCustomer(e, "Pending K.K.", "pe")
		e.account(cust, "pe-admin", identity.RoleAdmin, flowPW)
		ops.expect(http.StatusOK, "PUT", "/api/v1/security-policy", map[string]any{"allow_list": []string{}, "require_mfa": true,
			"require_device": false})
		a := e.client(e.customer)
		if roleOf(t, a.expect(http.StatusOK, "POST", "/api/v1/session", map[string]string{"login_id": "pe-admin", "password": flowPW})) !=
			identity.RoleMFAPending {
			t.Fatal("no second factor asked")
		}
		a.expect(http.StatusForbidden, "PUT", "/api/v1/me/password",
			map[string]string{"current_password": flowPW, "new_password": "a pending passphrase 5772"})
		e.ageAuth("pe-admin")
		a.expectCode(http.StatusForbidden, identity.CodeReauthRequired, "POST", "/api/v1/me/totp", nil)
		a.expect(http.StatusNoContent, "POST", "/api/v1/session/reauth", map[string]string{"password": flowPW})
		var en identity.TOTPEnrolment
		a.expect(http.StatusCreated, "POST", "/api/v1/me/totp", nil).json(t, &en)
		now := time.Now()
		a.expect(http.StatusOK, "POST", "/api/v1/me/totp/confirm", map[string]string{"code": totpCode(t, en.Secret, now)})
		a.expect(http.StatusOK, "GET", "/api/v1/me", nil)

		b := e.client(e.customer)
		b.login("pe-admin", flowPW)
		b.expect(http.StatusConflict, "POST", "/api/v1/session/reauth",
			map[string]string{"password": flowPW, "code": totpCode(t, en.Secret, now.Add(30*time.Second))})
		b.expect(http.StatusForbidden, "POST", "/api/v1/me/totp", nil)
	})
}

// A session that logged in with the password alone (the account had no
// factor) enrolled TOTP and, on the strength of that login, removed it,
// changed the password and minted a token without ever proving the new
// factor. Adding a factor (TOTP or a security key) clears the proof of
// every session of the account, the enrolling one and a pending one that
// enrols its first factor included; a proof with the new factor restores it.
func TestEnrolmentNeedsProofOfNewFactor(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startIDEnv(t, db, identity.Config{})
		cust, _ := flowCustomer(e, "Enrol Proof K.K.", "ep")
		acc := e.account(cust, "ep-admin", identity.RoleAdmin, flowPW)
		a, other := e.client(e.customer), e.client(e.customer)
		a.login("ep-admin", flowPW)
		other.login("ep-admin", flowPW)
		var en identity.TOTPEnrolment
		a.expect(http.StatusCreated, "POST", "/api/v1/me/totp", nil).json(t, &en)
		now := time.Now()
		var rc recoveryCodes
		a.expect(http.StatusOK, "POST", "/api/v1/me/totp/confirm", map[string]string{"code": totpCode(t, en.Secret, now)}).json(t, &rc)

		a.expectCode(http.StatusForbidden, identity.CodeReauthRequired, "DELETE", "/api/v1/me/totp", nil)
		a.expectCode(http.StatusForbidden, identity.CodeReauthRequired, "PUT", "/api/v1/me/password",
			map[string]string{"current_password": flowPW, "new_password": "an unproved passphrase 3141"})
		a.expectCode(http.StatusForbidden, identity.CodeReauthRequired, "POST", "/api/v1/tokens",
			map[string]any{"name": "unproved", "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
		a.expectCode(http.StatusForbidden, identity.CodeReauthRequired, "POST", "/api/v1/me/webauthn/register/begin", nil)
		a.expect(http.StatusNoContent, "POST", "/api/v1/session/reauth",
			map[string]string{"password": flowPW, "code": totpCode(t, en.Secret, now.Add(30*time.Second))})
		// The other session owes the new factor; giving it is a proof.
		other.expect(http.StatusNoContent, "POST", "/api/v1/session/mfa", map[string]string{"code": rc.RecoveryCodes[0]})

		// A security key added under those proofs clears both.
		key := newSoftAuthenticator(t, "localhost", "https://localhost")
		opts := a.expect(http.StatusOK, "POST", "/api/v1/me/webauthn/register/begin", nil)
		a.expect(http.StatusCreated, "POST", "/api/v1/me/webauthn/register/finish?name=laptop", key.create(opts.body))
		for _, c := range []*client{a, other} {
			c.expectCode(http.StatusForbidden, identity.CodeReauthRequired, "DELETE", "/api/v1/me/totp", nil)
		}
		req := a.expect(http.StatusOK, "POST", "/api/v1/session/reauth/webauthn/begin", map[string]string{"password": flowPW})
		a.expect(http.StatusNoContent, "POST", "/api/v1/session/reauth/webauthn/finish", key.get(req.body, []byte(acc.ID)))
		a.expect(http.StatusNoContent, "DELETE", "/api/v1/me/totp", nil)

		// A pending session that enrols the first factor the policy
		// requires is completed, but proves it before changing credentials.
		cust2, ops2 := flowCustomer(e, "Enrol Pending K.K.", "eq")
		e.account(cust2, "eq-admin", identity.RoleAdmin, flowPW)
		ops2.expect(http.StatusOK, "PUT", "/api/v1/security-policy", map[string]any{"allow_list": []string{}, "require_mfa": true,
			"require_device": false})
		p := e.client(e.customer)
		if roleOf(t, p.expect(http.StatusOK, "POST", "/api/v1/session", map[string]string{"login_id": "eq-admin", "password": flowPW})) !=
			identity.RoleMFAPending {
			t.Fatal("no second factor asked")
		}
		p.expect(http.StatusCreated, "POST", "/api/v1/me/totp", nil).json(t, &en)
		now = time.Now()
		p.expect(http.StatusOK, "POST", "/api/v1/me/totp/confirm", map[string]string{"code": totpCode(t, en.Secret, now)})
		p.expect(http.StatusOK, "GET", "/api/v1/me", nil)
		p.expectCode(http.StatusForbidden, identity.CodeReauthRequired, "DELETE", "/api/v1/me/totp", nil)
		p.expect(http.StatusNoContent, "POST", "/api/v1/session/reauth",
			map[string]string{"password": flowPW, "code": totpCode(t, en.Secret, now.Add(30*time.Second))})
		p.expect(http.StatusNoContent, "DELETE", "/api/v1/me/totp", nil)
	})
}

// As docs/authentication.md says: failed re-authentications lock the login
// ID like failed logins, and while it is locked even the right password is
// answered 429.
func TestReauthThrottled(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startIDEnv(t, db, identity.Config{LockAfter: 3, IPMaxFailures: 50})
		cust, _ := flowCustomer(e, "Reauth Lock K.K.", "rl")
		e.account(cust, "rl-admin", identity.RoleAdmin, flowPW)
		a := e.client(e.customer)
		a.login("rl-admin", flowPW)
		for range 3 {
			a.expect(http.StatusBadRequest, "POST", "/api/v1/session/reauth", map[string]string{"password": "not the passphrase"})
		}
		r := a.expect(http.StatusTooManyRequests, "POST", "/api/v1/session/reauth", map[string]string{"password": flowPW})
		checkRetryAfter(t, r, 15*time.Minute)
	})
}
