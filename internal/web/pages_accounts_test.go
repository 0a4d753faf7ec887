package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// setLang switches c's account to lang, as the header's switch does.
func (c *pageClient) setLang(lang string) {
	c.t.Helper()
	if p := c.post("/language", url.Values{"lang": {lang}, "next": {"/"}}); p.code != http.StatusSeeOther {
		c.t.Fatalf("language %s: %d", lang, p.code)
	}
}

// expectPage gets path and fails unless it answers code and contains every
// one of want.
func (c *pageClient) expectPage(code int, path string, want ...string) htmlPage {
	c.t.Helper()
	p := c.get(path)
	if p.code != code {
		c.t.Fatalf("GET %s: %d, want %d\n%s", path, p.code, code, p.body)
	}
	for _, w := range want {
		if !strings.Contains(p.body, w) {
			c.t.Errorf("GET %s: no %q", path, w)
		}
	}
	return p
}

// TestAccountPages: the operations administrator's account pages in both
// languages; an invitation goes to the outbox, a refused one shows next to
// its field and creates nothing; role change, unlock and deletion, with the
// last operations administrator's refusal shown in place; another
// customer's account is 404; an admin, who holds no accounts permission,
// gets 403 and no control.
func TestAccountPages(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{LockAfter: 3, IPMaxFailures: 1000})
	cust, _ := flowCustomer(e, "Account Pages K.K.", "ap")
	admin := e.account(cust, "ap-admin", identity.RoleAdmin, flowPW)
	user := e.account(cust, "ap-user", identity.RoleUser, flowPW)
	other, _ := flowCustomer(e, "Other Pages K.K.", "ot")
	stranger := e.account(other, "ot-user", identity.RoleUser, flowPW)
	ops, _, err := e.idn.ListAccounts(context.Background(), tenanttest.Customer(cust), catalog.Page{})
	e.must("accounts", err)
	var opsID string
	for _, a := range ops {
		if a.LoginID == "ap-ops" {
			opsID = a.ID
		}
	}

	// The admin enrols a second factor: the list shows who has one.
	ac0 := e.client(e.customer)
	ac0.login("ap-admin", flowPW)
	var en identity.TOTPEnrolment
	ac0.expect(http.StatusCreated, "POST", "/api/v1/me/totp", nil).json(t, &en)
	ac0.expect(http.StatusOK, "POST", "/api/v1/me/totp/confirm", map[string]string{"code": totpCode(t, en.Secret, time.Now())})

	c := e.pageClient(e.customer)
	c.login("ap-ops", flowPW)
	for _, tc := range []struct{ lang, list, invite, detail string }{
		{"ja", "アカウント一覧", "招待メールを送信", "権限の変更"},
		{"en", "Accounts", "Send the invitation", "Change the role"},
	} {
		c.setLang(tc.lang)
		c.expectPage(200, "/accounts", tc.list, "ap-admin", "ap-user", `id="invite-link"`, `id="accounts-table"`)
		c.expectPage(200, "/accounts/new", tc.invite, `id="invite-login-id"`, `id="invite-role"`, `id="invite-submit"`)
		c.expectPage(200, "/accounts/"+admin.ID, tc.detail, "ap-admin@example.co.jp", `id="role-select"`, `id="delete-submit"`,
			"data-confirm=")
	}
	p := c.get("/accounts")
	if strings.Contains(p.body, "ot-user") {
		t.Error("another customer's account is listed")
	}
	if n := strings.Count(p.body, `class="badge state-ok mfa-on"`); n != 1 {
		t.Errorf("accounts with a second factor shown: %d, want 1 (ap-admin)", n)
	}

	// An invitation: the mail is queued for the invitee, the page shows
	// the account, never the link.
	p = c.post("/accounts", url.Values{"login_id": {"ap-new"}, "display_name": {"New Person"}, "email": {"ap-new@example.co.jp"},
		"role": {"admin"}, "language": {"en"}})
	if p.code != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/accounts/acc_") {
		t.Fatalf("invite: %d %q", p.code, p.location())
	}
	if n := e.outboxCount("ap-new@example.co.jp", "account.invite"); n != 1 {
		t.Errorf("invitation mails: %d", n)
	}
	c.expectPage(200, p.location(), "ap-new", "Invited", "The invitation has been sent.")

	// A refused invitation: the error by its field, the form as sent,
	// nothing created.
	p = c.post("/accounts", url.Values{"login_id": {"x"}, "display_name": {"Short"}, "email": {"short@example.co.jp"},
		"role": {"user"}})
	if p.code != http.StatusBadRequest || !strings.Contains(p.body, `id="e-login_id"`) || !strings.Contains(p.body, `aria-invalid="true"`) ||
		!strings.Contains(p.body, `value="short@example.co.jp"`) {
		t.Errorf("bad login ID: %d\n%s", p.code, p.body)
	}
	p = c.post("/accounts", url.Values{"login_id": {"ap-bad-role"}, "display_name": {"Bad"}, "email": {"bad@example.co.jp"},
		"role": {"operator"}})
	if p.code != http.StatusBadRequest || !strings.Contains(p.body, `id="e-role"`) {
		t.Errorf("bad role: %d", p.code)
	}
	if e.outboxCount("short@example.co.jp", "account.invite")+e.outboxCount("bad@example.co.jp", "account.invite") != 0 {
		t.Error("a refused invitation was mailed")
	}

	// Role change, and its refusal.
	if p := c.post("/accounts/"+admin.ID+"/role", url.Values{"role": {"user"}}); p.code != http.StatusSeeOther {
		t.Errorf("role: %d", p.code)
	}
	if a, _ := e.idn.GetAccount(context.Background(), tenanttest.Customer(cust), admin.ID); a.Role != identity.RoleUser {
		t.Errorf("role after change: %s", a.Role)
	}
	if p := c.post("/accounts/"+admin.ID+"/role", url.Values{"role": {"security-officer"}}); p.code != http.StatusBadRequest ||
		!strings.Contains(p.body, `id="e-role"`) {
		t.Errorf("bad role change: %d", p.code)
	}

	// The last operations administrator is neither deleted nor demoted: the
	// refusal is on the account's page, and nothing changed.
	for _, f := range []struct {
		path string
		form url.Values
	}{{"/delete", nil}, {"/role", url.Values{"role": {"admin"}}}} {
		p := c.post("/accounts/"+opsID+f.path, f.form)
		if p.code != http.StatusConflict || !strings.Contains(p.body, `role="alert"`) || !strings.Contains(p.body, `id="role-select"`) {
			t.Errorf("last ops admin %s: %d", f.path, p.code)
		}
	}
	if a, err := e.idn.GetAccount(context.Background(), tenanttest.Customer(cust), opsID); err != nil || a.Role != identity.RoleOpsAdmin {
		t.Errorf("last ops admin after the refusals: %v %v", a.Role, err)
	}

	// Unlock a locked account.
	anon := e.client(e.customer)
	for range 3 {
		anon.do("POST", "/api/v1/session", map[string]string{"login_id": "ap-user", "password": "wrong password 1234"})
	}
	c.expectPage(200, "/accounts/"+user.ID, `id="unlock-submit"`)
	if p := c.post("/accounts/"+user.ID+"/unlock", nil); p.code != http.StatusSeeOther {
		t.Errorf("unlock: %d", p.code)
	}
	if p := c.get("/accounts/" + user.ID); strings.Contains(p.body, `id="unlock-submit"`) {
		t.Error("still locked after unlock")
	}

	// Deletion.
	if p := c.post("/accounts/"+user.ID+"/delete", nil); p.code != http.StatusSeeOther || p.location() != "/accounts" {
		t.Errorf("delete: %d %q", p.code, p.location())
	}
	c.expectPage(http.StatusNotFound, "/accounts/"+user.ID)

	// Another customer's account: 404 on every page and form, untouched.
	c.expectPage(http.StatusNotFound, "/accounts/"+stranger.ID)
	for _, f := range []string{"/role", "/unlock", "/delete"} {
		if p := c.post("/accounts/"+stranger.ID+f, url.Values{"role": {"ops-admin"}}); p.code != http.StatusNotFound {
			t.Errorf("other customer's account %s: %d", f, p.code)
		}
	}
	if a, err := e.idn.GetAccount(context.Background(), tenanttest.Customer(other), stranger.ID); err != nil || a.Role != identity.RoleUser {
		t.Errorf("other customer's account after the attempts: %v %v", a.Role, err)
	}

	// An admin holds no accounts permission: 403, no control, no menu
	// entry, and a forced invitation creates nothing.
	e.account(cust, "ap-admin2", identity.RoleAdmin, flowPW)
	ac := e.pageClient(e.customer)
	ac.login("ap-admin2", flowPW)
	for _, path := range []string{"/accounts", "/accounts/new", "/accounts/" + admin.ID, "/security", "/audit"} {
		p := ac.expectPage(http.StatusForbidden, path)
		if strings.Contains(p.body, "invite-link") || strings.Contains(p.body, "role-select") {
			t.Errorf("%s: a 403 page shows a control", path)
		}
	}
	p = ac.post("/accounts", url.Values{"login_id": {"ap-forced"}, "display_name": {"Forced"}, "email": {"forced@example.co.jp"},
		"role": {"ops-admin"}})
	if p.code != http.StatusForbidden || e.outboxCount("forced@example.co.jp", "account.invite") != 0 {
		t.Errorf("forced invitation by an admin: %d", p.code)
	}
	if p := ac.post("/accounts/"+admin.ID+"/role", url.Values{"role": {"ops-admin"}}); p.code != http.StatusForbidden {
		t.Errorf("forced role change by an admin: %d", p.code)
	}
	if p := ac.expectPage(200, "/docs"); strings.Contains(p.body, `href="/accounts"`) || strings.Contains(p.body, `href="/security"`) {
		t.Error("an admin's menu offers the accounts or security pages")
	}
}

// TestSecurityPages: the policy form with its refusals next to the fields
// (an invalid prefix, a device requirement without a device), saving, and
// devices registered and revoked; another customer's device is 404.
func TestSecurityPages(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	cust, _ := flowCustomer(e, "Security Pages K.K.", "sp")
	c := e.pageClient(e.customer)
	c.login("sp-ops", flowPW)
	for _, tc := range []struct{ lang, title string }{{"ja", "セキュリティポリシー"}, {"en", "Security policy"}} {
		c.setLang(tc.lang)
		c.expectPage(200, "/security", tc.title, `id="policy-allow-list"`, `id="policy-require-mfa"`, `id="device-pem"`, `id="device-submit"`,
			`id="reauth-password"`)
	}
	policy := func() identity.SecurityPolicy {
		p, err := e.idn.Policy(context.Background(), tenanttest.Customer(cust))
		e.must("policy", err)
		return p
	}

	p := c.post("/security/policy", url.Values{"allow_list": {"127.0.0.1\n10.0.0.0/33"}, "require_mfa": {"on"}})
	if p.code != http.StatusBadRequest || !strings.Contains(p.body, `id="e-allow_list"`) || !strings.Contains(p.body, "10.0.0.0/33") ||
		!strings.Contains(p.body, `name="require_mfa" value="on" checked`) {
		t.Errorf("invalid prefix: %d\n%s", p.code, p.body)
	}
	if got := policy(); len(got.AllowList) != 0 || got.RequireMFA || !got.UpdatedAt.IsZero() {
		t.Errorf("a refused policy changed it: %+v", got)
	}
	p = c.post("/security/policy", url.Values{"allow_list": {""}, "require_device": {"on"}})
	if p.code != http.StatusBadRequest || !strings.Contains(p.body, `id="e-require_device"`) {
		t.Errorf("device requirement without a device: %d", p.code)
	}
	// Saved without the MFA requirement: with it, this session (of an
	// account without a second factor) would owe one at once.
	if p := c.post("/security/policy", url.Values{"allow_list": {"127.0.0.0/8\r\n192.0.2.1"}}); p.code != http.StatusSeeOther {
		t.Fatalf("policy: %d", p.code)
	}
	if got := policy(); strings.Join(got.AllowList, " ") != "127.0.0.0/8 192.0.2.1/32" || got.RequireMFA || got.RequireDevice {
		t.Errorf("policy saved: %+v", got)
	}
	c.expectPage(200, "/security", "192.0.2.1/32")

	// Devices.
	_, certPEM := deviceCert(t, "laptop")
	p = c.post("/security/devices", url.Values{"name": {"laptop"}, "certificate_pem": {"not a certificate"}})
	if p.code != http.StatusBadRequest || !strings.Contains(p.body, `id="e-certificate_pem"`) {
		t.Errorf("bad certificate: %d", p.code)
	}
	// A device is a credential: without a recent re-authentication the
	// form is refused with the reason, and nothing is registered.
	e.ageAuth("sp-ops")
	p = c.post("/security/devices", url.Values{"name": {"laptop"}, "certificate_pem": {certPEM}})
	if p.code != http.StatusForbidden || !strings.Contains(p.body, `role="alert"`) || !strings.Contains(p.body, "-----BEGIN CERTIFICATE-----") {
		t.Errorf("device without re-authentication: %d", p.code)
	}
	if devs, _ := e.idn.ListDevices(context.Background(), tenanttest.Customer(cust)); len(devs) != 0 {
		t.Fatalf("a refused device was registered: %v", devs)
	}
	p = c.post("/security/reauth", url.Values{"password": {"not the password 123"}})
	if p.code != http.StatusBadRequest || !strings.Contains(p.body, `id="e-password"`) || strings.Contains(p.body, "not the password") {
		t.Errorf("wrong re-authentication: %d", p.code)
	}
	if p := c.post("/security/reauth", url.Values{"password": {flowPW}}); p.code != http.StatusSeeOther {
		t.Fatalf("re-authentication: %d", p.code)
	}
	if p := c.post("/security/devices", url.Values{"name": {"laptop"}, "certificate_pem": {certPEM}}); p.code != http.StatusSeeOther {
		t.Fatalf("register device: %d", p.code)
	}
	devs, err := e.idn.ListDevices(context.Background(), tenanttest.Customer(cust))
	if err != nil || len(devs) != 1 {
		t.Fatalf("devices: %v %v", devs, err)
	}
	c.expectPage(200, "/security", "laptop", devs[0].Fingerprint, `id="revoke-`+devs[0].ID+`"`)

	flowCustomer(e, "Other Security K.K.", "os")
	oc := e.pageClient(e.customer)
	oc.login("os-ops", flowPW)
	if p := oc.post("/security/devices/"+devs[0].ID+"/revoke", nil); p.code != http.StatusNotFound {
		t.Errorf("another customer's device: %d", p.code)
	}
	if p := oc.get("/security"); strings.Contains(p.body, "laptop") {
		t.Error("another customer sees the device")
	}
	if p := c.post("/security/devices/"+devs[0].ID+"/revoke", nil); p.code != http.StatusSeeOther {
		t.Errorf("revoke: %d", p.code)
	}
	if devs, _ := e.idn.ListDevices(context.Background(), tenanttest.Customer(cust)); len(devs) != 0 {
		t.Errorf("devices after revoke: %v", devs)
	}
}

// TestAuditPage: the customer's own audit log, paged as the API pages it,
// with the operator staff's access shown as such with its reason, and no
// other customer's entries.
func TestAuditPage(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	cust, ops := flowCustomer(e, "Audit Pages K.K.", "au")
	flowCustomer(e, "Other Audit K.K.", "oa")
	ops.expect(http.StatusCreated, "POST", "/api/v1/accounts", map[string]any{"login_id": "au-new", "display_name": "New",
		"email": "au-new@example.co.jp", "role": "user"})
	e.account("", "au-op", identity.RoleOperator, flowPW)
	op := e.client(e.mgmt)
	op.login("au-op", flowPW)
	op.expect(http.StatusCreated, "POST", "/api/v1/customers/"+string(cust)+"/break-glass",
		map[string]any{"reason": "investigating incident 4711"})

	c := e.pageClient(e.customer)
	c.login("au-ops", flowPW)
	for _, tc := range []struct{ lang, staff, reason string }{
		{"ja", "運用事業者スタッフ", "理由: investigating incident 4711"},
		{"en", "Operator staff", "Reason: investigating incident 4711"},
	} {
		c.setLang(tc.lang)
		p := c.expectPage(200, "/audit?limit=500", "account.invite", "breakglass.open", "au-op", tc.staff, tc.reason, `id="audit-table"`)
		if strings.Contains(p.body, "oa-ops") {
			t.Error("another customer's entries are shown")
		}
		if strings.Contains(p.body, `id="audit-next"`) {
			t.Error("a next page after the whole log")
		}
	}
	p := c.expectPage(200, "/audit?limit=1", `id="audit-next"`)
	i := strings.Index(p.body, `href="/audit?after=`)
	if i < 0 {
		t.Fatal("no next link")
	}
	next := p.body[i+len(`href="`):]
	next = strings.ReplaceAll(next[:strings.Index(next, `"`)], "&amp;", "&")
	p2 := c.expectPage(200, next)
	if p2.body == p.body {
		t.Error("the next page is the same page")
	}
	c.expectPage(http.StatusBadRequest, "/audit?limit=0")

	for kind, key := range auditActors {
		if !e.srv.pages().Catalogue().Has(key) {
			t.Errorf("actor kind %s: no catalogue key %s", kind, key)
		}
	}
}
