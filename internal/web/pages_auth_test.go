package web

import (
	"crypto/tls"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// formLogin signs c in through the sign-in page and returns where it was
// sent.
func (c *pageClient) formLogin(loginID, pw, next string) string {
	c.t.Helper()
	p := c.post("/login", url.Values{"login_id": {loginID}, "password": {pw}, "next": {next}})
	if p.code != http.StatusSeeOther {
		c.t.Fatalf("sign-in of %s: %d %s", loginID, p.code, p.body)
	}
	return p.location()
}

// english sets the signed-in account's language to English (accounts start
// in Japanese, which then wins over Accept-Language).
func (c *pageClient) english() {
	c.t.Helper()
	if p := c.post("/language", url.Values{"lang": {"en"}, "next": {"/"}}); p.code != http.StatusSeeOther {
		c.t.Fatalf("language switch: %d", p.code)
	}
}

// TestSignInPage: the form has the ids the browser tests drive, in both
// languages; a refusal comes back with the login ID kept, the password
// dropped and nothing opened; next never leaves the site; a signed-in
// viewer is sent on; sign-out ends the session. On both listeners, each
// refusing the other side's accounts.
func TestSignInPage(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	flowCustomer(e, "Sign In K.K.", "si")
	e.account("", "si-op", identity.RoleOperator, flowPW)
	for _, tc := range []struct {
		base, login, other, home string
	}{{e.customer, "si-ops", "si-op", "/"}, {e.mgmt, "si-op", "si-ops", "/"}} {
		c := e.pageClient(tc.base)
		for lang, word := range map[string]string{"ja": "ログイン", "en": "Sign in"} {
			c.Lang = lang
			expectPage(t, "login "+lang, c.get("/login"), http.StatusOK, `id="login-id"`, `id="password"`, `id="login-submit"`, word,
				`<html lang="`+lang+`"`)
		}
		c.Lang = "en"
		expectPage(t, "login next", c.get("/login?next=%2Fme"), http.StatusOK, `name="next" value="/login?next=%2Fme"`)
		p := c.post("/login", url.Values{"login_id": {tc.login}, "password": {"wrong passphrase 0000"}, "next": {"/me"}})
		expectPage(t, "wrong password", p, http.StatusUnauthorized, `role="alert"`, `value="`+tc.login+`"`, `name="next" value="/me"`)
		if strings.Contains(p.body, "wrong passphrase") {
			t.Error("the refused password was sent back into the form")
		}
		// The other side's account does not sign in here.
		expectPage(t, "other side", c.post("/login", url.Values{"login_id": {tc.other}, "password": {flowPW}}), http.StatusUnauthorized)
		if p := c.get("/me"); p.code != http.StatusSeeOther || p.location() != "/login?next=%2Fme" {
			t.Fatalf("a refused sign-in opened a session: %d %s", p.code, p.location())
		}
		for _, next := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"} {
			if got := c.formLogin(tc.login, flowPW, next); got != "/" {
				t.Errorf("next %q sent the viewer to %q", next, got)
			}
		}
		if got := c.formLogin(tc.login, flowPW, "/me/tokens?x=1"); got != "/me/tokens?x=1" {
			t.Errorf("next /me/tokens?x=1: sent to %q", got)
		}
		expectPage(t, "me", c.get("/me"), http.StatusOK, tc.login)
		if p := c.get("/login?next=/me"); p.code != http.StatusSeeOther || p.location() != "/me" {
			t.Errorf("signed-in viewer at /login: %d %q", p.code, p.location())
		}
		if p := c.post("/logout", nil); p.code != http.StatusSeeOther || p.location() != "/login" {
			t.Fatalf("logout: %d %q", p.code, p.location())
		}
		expectPage(t, "after logout", c.get("/login"), http.StatusOK, "You have signed out.")
		if p := c.get("/me"); p.code != http.StatusSeeOther {
			t.Errorf("the session lived on after sign-out: %d", p.code)
		}
	}
}

// TestSignInThrottled: the lockout's message is the sign-in page's, with
// the lockout's status.
func TestSignInThrottled(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{LockAfter: 2})
	flowCustomer(e, "Throttle K.K.", "th")
	c := e.pageClient(e.customer)
	c.Lang = "en"
	for range 2 {
		c.post("/login", url.Values{"login_id": {"th-ops"}, "password": {"wrong passphrase 0000"}})
	}
	p := c.post("/login", url.Values{"login_id": {"th-ops"}, "password": {flowPW}})
	expectPage(t, "locked", p, http.StatusTooManyRequests, `role="alert"`, `id="login-id"`)
}

var totpSecretRE = regexp.MustCompile(`id="totp-secret" class="secret">([A-Z2-7]+)<`)

// TestSecondFactorPage: an account with TOTP signs in in two steps; the
// pending session is sent to the step from any page; a wrong code is shown
// by the field; the right one completes the session and goes on to next.
func TestSecondFactorPage(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	cust, _ := flowCustomer(e, "Factor K.K.", "mf")
	e.account(cust, "mf-admin", identity.RoleAdmin, flowPW)
	c := e.pageClient(e.customer)
	c.Lang = "en"
	c.formLogin("mf-admin", flowPW, "/")
	c.english()
	// Enrol TOTP through the pages: the QR code and the secret for manual
	// entry, a wrong code refused by the field, the recovery codes once.
	p := c.post("/me/totp", nil)
	expectPage(t, "enrol", p, http.StatusOK, `src="data:image/png;base64,`, `id="totp-qr"`, `alt="QR code`)
	m := totpSecretRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no secret on the enrolment page: %s", p.body)
	}
	otpURL := regexp.MustCompile(`name="otpauth_url" value="([^"]+)"`).FindStringSubmatch(p.body)[1]
	otpURL = strings.ReplaceAll(otpURL, "&amp;", "&")
	p = c.post("/me/totp/confirm", url.Values{"code": {"000000"}, "otpauth_url": {otpURL}})
	expectPage(t, "wrong enrolment code", p, http.StatusBadRequest, `id="e-code"`, `id="totp-qr"`, m[1])
	now := time.Now()
	p = c.post("/me/totp/confirm", url.Values{"code": {totpCode(t, m[1], now)}, "otpauth_url": {otpURL}})
	expectPage(t, "confirmed", p, http.StatusOK, `id="recovery-codes"`)
	expectPage(t, "security", c.get("/me/security"), http.StatusOK, `id="totp-state"`, "Set up", `id="totp-remove"`)

	// Sign-in now takes two steps.
	d := e.pageClient(e.customer)
	d.Lang = "ja"
	if got := d.formLogin("mf-admin", flowPW, "/me/sessions"); got != "/login/mfa?next=%2Fme%2Fsessions" {
		t.Fatalf("password step sent to %q", got)
	}
	if p := d.get("/me"); p.code != http.StatusSeeOther || p.location() != "/login/mfa?next=%2Fme" {
		t.Errorf("pending session at /me: %d %q", p.code, p.location())
	}
	// The account's language (set to English above) wins over the
	// browser's.
	expectPage(t, "mfa en", d.get("/login/mfa?next=/me/sessions"), http.StatusOK, `id="totp-code"`, "Second factor", `id="mfa-cancel"`)
	if p := d.post("/me/tokens", url.Values{"name": {"x"}}); p.code != http.StatusForbidden {
		t.Errorf("pending session created a token: %d", p.code)
	}
	p = d.post("/login/mfa", url.Values{"code": {"000000"}, "next": {"/me/sessions"}})
	expectPage(t, "wrong code", p, http.StatusBadRequest, `id="e-code"`, `aria-invalid="true"`)
	p = d.post("/login/mfa", url.Values{"code": {totpCode(t, m[1], now.Add(30*time.Second))}, "next": {"/me/sessions"}})
	if p.code != http.StatusSeeOther || p.location() != "/me/sessions" {
		t.Fatalf("right code: %d %q %s", p.code, p.location(), p.body)
	}
	expectPage(t, "signed in", d.get("/me/sessions"), http.StatusOK, `id="sessions"`)
	// A full session at the step goes on.
	if p := d.get("/login/mfa?next=/me"); p.code != http.StatusSeeOther || p.location() != "/me" {
		t.Errorf("full session at /login/mfa: %d %q", p.code, p.location())
	}
}

// TestFirstFactorAtSignIn: when the customer requires a second factor of
// admins and the account has none, the sign-in step offers the enrolment,
// which completes the session and returns to where the viewer was going.
func TestFirstFactorAtSignIn(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	cust, ops := flowCustomer(e, "Policy K.K.", "pf")
	e.account(cust, "pf-admin", identity.RoleAdmin, flowPW)
	ops.expect(http.StatusOK, "PUT", "/api/v1/security-policy", map[string]any{"allow_list": []string{}, "require_mfa": true, "require_device": false})
	c := e.pageClient(e.customer)
	c.Lang = "en"
	next := c.formLogin("pf-admin", flowPW, "/me")
	// In the account's language, Japanese, whatever the browser asks.
	expectPage(t, "enrol step", c.get(next), http.StatusOK, `id="totp-enrol"`, `id="webauthn-register"`, "二要素認証が必要です")
	p := c.post("/me/totp", url.Values{"next": {"/me"}})
	m := totpSecretRE.FindStringSubmatch(p.body)
	if p.code != http.StatusOK || m == nil {
		t.Fatalf("enrolment at sign-in: %d %s", p.code, p.body)
	}
	p = c.post("/me/totp/confirm", url.Values{"code": {totpCode(t, m[1], time.Now())}, "next": {"/me"}})
	expectPage(t, "recovery", p, http.StatusOK, `id="recovery-codes"`, `href="/me"`)
	expectPage(t, "complete", c.get("/me"), http.StatusOK, "pf-admin")
}

var setupTokenRE = regexp.MustCompile(`token=(tsu_[a-z2-7]+)`)

// TestSetupAndResetPages: the invitation and re-issue links open the setup
// page in the panel's layout and CSP; a weak password is refused by the
// field and changes nothing; the reset request answers the same for an
// unknown login ID.
func TestSetupAndResetPages(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	_, ops := flowCustomer(e, "Setup K.K.", "sp")
	ops.expect(http.StatusCreated, "POST", "/api/v1/accounts", map[string]string{"login_id": "sp-new", "display_name": "New Person",
		"email": "sp-new@example.co.jp", "role": "user"})
	tok := e.linkFromMail("sp-new@example.co.jp", "account.invite")
	c := e.pageClient(e.customer)
	for lang, word := range map[string]string{"ja": "パスワードを設定", "en": "Set the password"} {
		c.Lang = lang
		expectPage(t, "setup "+lang, c.get("/setup?token="+tok), http.StatusOK, word, `name="token" value="`+tok+`"`,
			// The language switch returns to the link, token and all.
			`name="next" value="/setup?token=`+tok+`"`)
	}
	c.Lang = "en"
	p := c.post("/setup", url.Values{"token": {tok}, "password": {"short"}})
	expectPage(t, "weak password", p, http.StatusBadRequest, `id="e-password"`)
	p = c.post("/setup", url.Values{"token": {tok}, "password": {flowPW}})
	expectPage(t, "set up", p, http.StatusOK, `id="setup-done"`, "sp-new")
	expectPage(t, "used link", c.post("/setup", url.Values{"token": {tok}, "password": {flowPW}}), http.StatusNotFound, `role="alert"`)
	c.formLogin("sp-new", flowPW, "/")

	anon := e.pageClient(e.customer)
	anon.Lang = "en"
	expectPage(t, "reset form", anon.get("/password-reset"), http.StatusOK, `id="f-login_id"`)
	for _, id := range []string{"sp-new", "nobody-here"} {
		p := anon.post("/password-reset", url.Values{"login_id": {id}})
		if p.code != http.StatusSeeOther || p.location() != "/login" {
			t.Errorf("reset for %s: %d %q", id, p.code, p.location())
		}
	}
	expectPage(t, "reset flash", anon.get("/login"), http.StatusOK, "If the login ID belongs to an active account")
	rt := e.linkFromMail("sp-new@example.co.jp", "password.reset.request")
	expectPage(t, "reset link", anon.get("/setup?reset=1&token="+rt), http.StatusOK, "Set a new password", `name="reset" value="1"`)
	expectPage(t, "reset done", anon.post("/setup", url.Values{"token": {rt}, "reset": {"1"}, "password": {flowPW + " new"}}),
		http.StatusOK, `id="setup-done"`)
	anon.formLogin("sp-new", flowPW+" new", "/")
}

// TestLanguageAPI: PUT /api/v1/me/language sets the account's language,
// which the pages then use; a token may set it; anything but ja or en is
// refused on the field.
func TestLanguageAPI(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	_, ops := flowCustomer(e, "Lang K.K.", "lg")
	ops.expect(http.StatusNoContent, "PUT", "/api/v1/me/language", map[string]string{"language": "en"})
	c := e.pageClient(e.customer)
	c.Lang = "ja"
	c.formLogin("lg-ops", flowPW, "/")
	expectPage(t, "account language", c.get("/me"), http.StatusOK, `<html lang="en"`)
	r := ops.expectInvalid(http.StatusBadRequest, "PUT", "/api/v1/me/language", map[string]string{"language": "fr"})
	if errFieldOf(r) != "language" {
		t.Errorf("refusal does not name language: %s", r.body)
	}
	tk := e.client(e.customer)
	tk.hdr.Set("Authorization", "Bearer "+ops.newToken("lang", ""))
	tk.expect(http.StatusNoContent, "PUT", "/api/v1/me/language", map[string]string{"language": "ja"})
	expectPage(t, "set by token", c.get("/me"), http.StatusOK, `<html lang="ja"`)
	// The panel's switch is the same setting.
	c.post("/language", url.Values{"lang": {"en"}, "next": {"/me"}})
	c.Lang = ""
	expectPage(t, "switched", c.get("/me"), http.StatusOK, `<html lang="en"`)

	e.account("", "lg-op", identity.RoleOperator, flowPW)
	op := e.client(e.mgmt)
	op.login("lg-op", flowPW)
	op.expect(http.StatusNoContent, "PUT", "/api/v1/me/language", map[string]string{"language": "en"})
}

// TestFirstOperatorSetupPage: the link serve prints opens the first
// operator's form on the management listener (login ID, name, e-mail),
// in the language the browser asked for, which the account keeps.
func TestFirstOperatorSetupPage(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	// The token of the link (serve prints it as /setup?first=1&token=…).
	tok, err := e.idn.FirstOperatorLink(e.seed)
	e.must("first link", err)
	c := e.pageClient(e.mgmt)
	c.Lang = "en"
	expectPage(t, "first", c.get("/setup?first=1&token="+tok), http.StatusOK, "Create the first operator account",
		`id="f-login_id"`, `id="f-display_name"`, `id="f-email"`)
	// The customer listener has no first-operator form.
	if p := e.pageClient(e.customer).get("/setup?first=1&token=" + tok); strings.Contains(p.body, `id="f-login_id"`) {
		t.Error("the customer listener offered the first operator's form")
	}
	in := url.Values{"token": {tok}, "login_id": {"first-op"}, "display_name": {"First Operator"}, "email": {"first@example.co.jp"},
		"password": {"short"}}
	expectPage(t, "weak", c.post("/setup", in), http.StatusBadRequest, `id="e-password"`, `value="first-op"`)
	in.Set("password", flowPW)
	expectPage(t, "done", c.post("/setup", in), http.StatusOK, `id="setup-done"`, "first-op")
	c.formLogin("first-op", flowPW, "/")
	c.Lang = "ja"
	expectPage(t, "language kept", c.get("/me"), http.StatusOK, `<html lang="en"`)
}

// TestRegisteredDeviceShown: a sign-in from a registered client certificate
// says so on the profile; one without it says nothing of a device.
func TestRegisteredDeviceShown(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	_, ops := flowCustomer(e, "Device Page K.K.", "dp")
	cert, certPEM := deviceCert(t, "dp-laptop")
	ops.expect(http.StatusCreated, "POST", "/api/v1/devices", map[string]string{"name": "laptop", "certificate_pem": certPEM})
	c := e.pageClient(e.customer)
	tr := c.hc.Transport.(*http.Transport)
	tr.TLSClientConfig.Certificates = []tls.Certificate{cert}
	expectPage(t, "login with a certificate", c.get("/login"), http.StatusOK, `id="client-cert-note"`)
	c.formLogin("dp-ops", flowPW, "/")
	expectPage(t, "profile", c.get("/me"), http.StatusOK, `id="device-note"`)
	plain := e.pageClient(e.customer)
	plain.formLogin("dp-ops", flowPW, "/")
	if p := plain.get("/me"); strings.Contains(p.body, `id="device-note"`) {
		t.Error("a session without a device is shown as from a registered device")
	}
}
