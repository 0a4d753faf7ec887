package web

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestMePagesRender: every page of one's own account renders in Japanese
// and in English, on both listeners, with the sub-navigation.
func TestMePagesRender(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	flowCustomer(e, "Me K.K.", "mr")
	e.account("", "mr-op", identity.RoleOperator, flowPW)
	pages := map[string]string{"/me": `id="profile"`, "/me/security": `id="totp-state"`, "/me/tokens": `id="token-form"`,
		"/me/sessions": `id="sessions"`, "/me/reauth?next=/me/tokens": `id="reauth-form"`}
	for base, login := range map[string]string{e.customer: "mr-ops", e.mgmt: "mr-op"} {
		c := e.pageClient(base)
		c.formLogin(login, flowPW, "/")
		for _, lang := range []struct{ code, word string }{{"ja", "プロフィール"}, {"en", "Profile"}} {
			c.post("/language", url.Values{"lang": {lang.code}})
			for path, id := range pages {
				p := c.get(path)
				expectPage(t, login+" "+path+" "+lang.code, p, http.StatusOK, id, `<html lang="`+lang.code+`"`)
				if !strings.HasPrefix(path, "/me/reauth") {
					expectPage(t, path, p, http.StatusOK, lang.word, `aria-current="page"`)
				}
			}
		}
	}
}

// TestPasswordChangePage: a wrong current password and a weak new one are
// refused by their fields and change nothing; a stale confirmation sends
// the viewer through the re-authentication step back to the form; the
// change then works and ends the other sessions.
func TestPasswordChangePage(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	flowCustomer(e, "Password K.K.", "pw")
	c := e.pageClient(e.customer)
	c.formLogin("pw-ops", flowPW, "/")
	c.english()
	other := e.client(e.customer)
	other.login("pw-ops", flowPW)

	p := c.post("/me/password", url.Values{"current_password": {"not my password 123"}, "new_password": {flowPW + " 2"}})
	expectPage(t, "wrong current", p, http.StatusBadRequest, `id="e-current_password"`, `id="f-current_password"`)
	if strings.Contains(p.body, flowPW+" 2") {
		t.Error("a password was sent back into the form")
	}
	p = c.post("/me/password", url.Values{"current_password": {flowPW}, "new_password": {"short"}})
	expectPage(t, "weak new", p, http.StatusBadRequest, `id="e-new_password"`)

	e.ageAuth("pw-ops")
	p = c.post("/me/password", url.Values{"current_password": {flowPW}, "new_password": {flowPW + " 2"}})
	if p.code != http.StatusSeeOther || p.location() != "/me/reauth?next=%2Fme" {
		t.Fatalf("stale confirmation: %d %q", p.code, p.location())
	}
	expectPage(t, "reauth", c.get(p.location()), http.StatusOK, "Confirm it is you before this change.", `name="next" value="/me"`)
	expectPage(t, "reauth wrong", c.post("/me/reauth", url.Values{"password": {"not my password 123"}, "next": {"/me"}}),
		http.StatusBadRequest, `id="e-password"`)
	if p := c.post("/me/reauth", url.Values{"password": {flowPW}, "next": {"https://evil.example/"}}); p.code != http.StatusSeeOther || p.location() != "/" {
		t.Fatalf("reauth: %d %q", p.code, p.location())
	}
	if p := c.post("/me/password", url.Values{"current_password": {flowPW}, "new_password": {flowPW + " 2"}}); p.code != http.StatusSeeOther || p.location() != "/me" {
		t.Fatalf("change: %d %q %s", p.code, p.location(), p.body)
	}
	expectPage(t, "changed", c.get("/me"), http.StatusOK, "Your password is changed")
	other.expect(http.StatusUnauthorized, "GET", "/api/v1/me", nil)
	e.pageClient(e.customer).formLogin("pw-ops", flowPW+" 2", "/")
}

var revokeTokenRE = regexp.MustCompile(`action="/me/tokens/([^/"]+)/revoke"`)

// TestTokenPages: a token is created with its secret shown once, listed,
// and revoked; a refused name is shown by the field; another account's
// token is not found; a stale confirmation goes through reauth.
func TestTokenPages(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	flowCustomer(e, "Token K.K.", "tk")
	_, foreign := flowCustomer(e, "Other K.K.", "tx")
	c := e.pageClient(e.customer)
	c.formLogin("tk-ops", flowPW, "/")
	c.english()
	p := c.get("/me/tokens")
	expectPage(t, "empty", p, http.StatusOK, "You have no API tokens.", `<option value="admin">`, `<option value="user">`)

	p = c.post("/me/tokens", url.Values{"name": {""}, "expires_at": {"2099-01-01"}})
	expectPage(t, "no name", p, http.StatusBadRequest, `id="e-name"`)
	p = c.post("/me/tokens", url.Values{"name": {"ci"}, "expires_at": {"1999-01-01"}})
	expectPage(t, "past date", p, http.StatusBadRequest, `id="e-expires_at"`, `value="ci"`)

	var def string
	if m := regexp.MustCompile(`name="expires_at" type="date" value="([0-9-]+)"`).FindStringSubmatch(c.get("/me/tokens").body); m != nil {
		def = m[1]
	}
	p = c.post("/me/tokens", url.Values{"name": {"ci"}, "expires_at": {def}, "role": {"user"}})
	expectPage(t, "created", p, http.StatusOK, `id="token-secret"`, "tsk_", "shown only now")
	secret := regexp.MustCompile(`(tsk_[A-Za-z0-9_-]+)`).FindString(p.body)
	api := e.client(e.customer)
	api.token = secret
	api.expect(http.StatusOK, "GET", "/api/v1/me", nil)

	p = c.get("/me/tokens")
	expectPage(t, "listed", p, http.StatusOK, ">ci<", "User")
	if strings.Contains(p.body, secret) {
		t.Error("the token's secret is shown again in the list")
	}
	m := revokeTokenRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no revoke form: %s", p.body)
	}
	// Another customer's token: not found, and still working.
	foreignSecret := foreign.newToken("theirs", "")
	var theirs list[identity.Token]
	foreign.expect(http.StatusOK, "GET", "/api/v1/tokens", nil).json(t, &theirs)
	if p := c.post("/me/tokens/"+theirs.Items[0].ID+"/revoke", nil); p.code != http.StatusNotFound {
		t.Errorf("another customer's token: %d", p.code)
	}
	fc := e.client(e.customer)
	fc.token = foreignSecret
	fc.expect(http.StatusOK, "GET", "/api/v1/me", nil)

	if p := c.post("/me/tokens/"+m[1]+"/revoke", nil); p.code != http.StatusSeeOther || p.location() != "/me/tokens" {
		t.Fatalf("revoke: %d %q", p.code, p.location())
	}
	expectPage(t, "revoked", c.get("/me/tokens"), http.StatusOK, "The API token is revoked.", "You have no API tokens.")
	api.expect(http.StatusUnauthorized, "GET", "/api/v1/me", nil)

	e.ageAuth("tk-ops")
	if p := c.post("/me/tokens", url.Values{"name": {"late"}, "expires_at": {def}}); p.code != http.StatusSeeOther ||
		p.location() != "/me/reauth?next=%2Fme%2Ftokens" {
		t.Errorf("stale confirmation: %d %q", p.code, p.location())
	}
}

var revokeSessionRE = regexp.MustCompile(`action="/me/sessions/([^/"]+)/revoke"`)

// TestSessionPages: the sessions are listed with the current one marked; a
// revoked one ends; another account's is not found; revoking the current
// one signs the viewer out.
func TestSessionPages(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	flowCustomer(e, "Session K.K.", "ss")
	_, foreign := flowCustomer(e, "Other Session K.K.", "sx")
	e.account("", "ss-op", identity.RoleOperator, flowPW)
	c := e.pageClient(e.customer)
	c.formLogin("ss-ops", flowPW, "/")
	c.english()
	other := e.client(e.customer)
	other.login("ss-ops", flowPW)
	p := c.get("/me/sessions")
	expectPage(t, "list", p, http.StatusOK, `class="current"`, "This session", "End (sign out)")
	// flowCustomer's, other's and this one.
	if ids := revokeSessionRE.FindAllStringSubmatch(p.body, -1); len(ids) != 3 {
		t.Fatalf("sessions listed: %d", len(ids))
	}
	cur := regexp.MustCompile(`<tr class="current">[^<]*<th[\s\S]*?action="/me/sessions/([^/"]+)/revoke"`).FindStringSubmatch(p.body)
	if cur == nil {
		t.Fatal("no current session's form")
	}
	currentID := cur[1]
	var theirs list[identity.Session]
	foreign.expect(http.StatusOK, "GET", "/api/v1/sessions", nil).json(t, &theirs)
	if p := c.post("/me/sessions/"+theirs.Items[0].ID+"/revoke", nil); p.code != http.StatusNotFound {
		t.Errorf("another customer's session: %d", p.code)
	}
	foreign.expect(http.StatusOK, "GET", "/api/v1/me", nil)
	var mine list[identity.Session]
	other.expect(http.StatusOK, "GET", "/api/v1/sessions", nil).json(t, &mine)
	var otherID string
	for _, s := range mine.Items {
		if s.Current {
			otherID = s.ID
		}
	}
	if p := c.post("/me/sessions/"+otherID+"/revoke", nil); p.code != http.StatusSeeOther || p.location() != "/me/sessions" {
		t.Fatalf("revoke: %d %q", p.code, p.location())
	}
	other.expect(http.StatusUnauthorized, "GET", "/api/v1/me", nil)
	if p := c.post("/me/sessions/"+currentID+"/revoke", nil); p.code != http.StatusSeeOther || p.location() != "/login" {
		t.Fatalf("revoke current: %d %q", p.code, p.location())
	}
	if p := c.get("/me"); p.code != http.StatusSeeOther {
		t.Errorf("still signed in after ending the current session: %d", p.code)
	}

	// The operator side has the same page.
	op := e.pageClient(e.mgmt)
	op.formLogin("ss-op", flowPW, "/")
	expectPage(t, "operator sessions", op.get("/me/sessions"), http.StatusOK, `class="current"`, "このセッション")
}

// TestSecurityKeyPages: a registered key is offered at the sign-in step
// (where the pending session may not delete keys), listed, and deleted;
// another customer's key is not found.
func TestSecurityKeyPages(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	cust, _ := flowCustomer(e, "Key K.K.", "ky")
	acc := e.account(cust, "ky-admin", identity.RoleAdmin, flowPW)
	_, foreign := flowCustomer(e, "Other Key K.K.", "kx")
	key := newSoftAuthenticator(t, "localhost", "https://localhost")
	a := e.client(e.customer)
	a.login("ky-admin", flowPW)
	opts := a.expect(http.StatusOK, "POST", "/api/v1/me/webauthn/register/begin", nil)
	a.expect(http.StatusCreated, "POST", "/api/v1/me/webauthn/register/finish?name=office-key", key.create(opts.body))
	fkey := newSoftAuthenticator(t, "localhost", "https://localhost")
	fopts := foreign.expect(http.StatusOK, "POST", "/api/v1/me/webauthn/register/begin", nil)
	var theirs identity.WebAuthnKey
	foreign.expect(http.StatusCreated, "POST", "/api/v1/me/webauthn/register/finish?name=theirs", fkey.create(fopts.body)).json(t, &theirs)

	c := e.pageClient(e.customer)
	next := c.formLogin("ky-admin", flowPW, "/me/security")
	c.Lang = "en"
	p := c.get(next)
	expectPage(t, "key step", p, http.StatusOK, `id="webauthn-login"`, `data-next="/me/security"`)
	if strings.Contains(p.body, `id="totp-code"`) {
		t.Error("a code field for an account without TOTP")
	}
	// The pending session cannot delete keys.
	if p := c.post("/me/keys/x/delete", nil); p.code != http.StatusForbidden {
		t.Errorf("pending session deleted a key: %d", p.code)
	}
	// Complete the sign-in with the key, through the API the page's
	// script calls.
	pc := e.client(e.customer)
	pc.hc.Jar = c.hc.Jar
	req := pc.expect(http.StatusOK, "POST", "/api/v1/session/webauthn/begin", nil)
	pc.expect(http.StatusNoContent, "POST", "/api/v1/session/webauthn/finish", key.get(req.body, []byte(acc.ID)))
	c.english()
	p = c.get("/me/security")
	expectPage(t, "keys", p, http.StatusOK, `id="webauthn-keys"`, "office-key", `id="webauthn-register"`, `data-confirm="Delete security key office-key?"`)
	m := regexp.MustCompile(`action="/me/keys/([^/"]+)/delete"`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatal("no delete form")
	}
	if p := c.post("/me/keys/"+theirs.ID+"/delete", nil); p.code != http.StatusNotFound {
		t.Errorf("another customer's key: %d", p.code)
	}
	if p := c.post("/me/keys/"+m[1]+"/delete", nil); p.code != http.StatusSeeOther || p.location() != "/me/security" {
		t.Fatalf("delete: %d %q", p.code, p.location())
	}
	expectPage(t, "deleted", c.get("/me/security"), http.StatusOK, "The security key is deleted.", "No security keys are registered.")
	// The confirmation page offers the key when the account has one.
	expectPage(t, "reauth with key", c.get("/me/reauth?next=/me"), http.StatusOK, `id="reauth-password"`)
}
