package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/web/panel"
)

// accountPages are the customer's accounts (list, invitation, role, unlock,
// deletion), its security policy and client-certificate devices, and its own
// audit log. Each form calls the identity service the API handler calls,
// with the viewer's own principal: an account or device of another customer
// is not found, whatever the URL says.
func (s *Server) accountPages() []pageRoute {
	return []pageRoute{
		{"GET", "/accounts", identity.ActAccountsRead, []string{"GET /api/v1/accounts"}, s.accountsPage},
		{"GET", "/accounts/new", identity.ActAccountsManage, nil, s.inviteFormPage},
		{"POST", "/accounts", identity.ActAccountsManage, []string{"POST /api/v1/accounts"}, s.inviteForm},
		{"GET", "/accounts/{account}", identity.ActAccountsRead, []string{"GET /api/v1/accounts/{account}"}, s.accountPage},
		{"POST", "/accounts/{account}/role", identity.ActAccountsManage, []string{"PUT /api/v1/accounts/{account}/role"},
			s.accountRoleForm},
		{"POST", "/accounts/{account}/unlock", identity.ActAccountsManage, []string{"POST /api/v1/accounts/{account}/unlock"},
			s.accountUnlockForm},
		{"POST", "/accounts/{account}/delete", identity.ActAccountsManage, []string{"DELETE /api/v1/accounts/{account}"},
			s.accountDeleteForm},
		{"GET", "/security", identity.ActSecurityManage, []string{"GET /api/v1/security-policy", "GET /api/v1/devices"},
			s.securityPage},
		{"POST", "/security/policy", identity.ActSecurityManage, []string{"PUT /api/v1/security-policy"}, s.policyForm},
		// Registering or revoking a device needs a fresh proof of the
		// password (and TOTP code); the security page asks for it itself so
		// that the task is done on one page.
		{"POST", "/security/reauth", identity.ActFactorEnrol, []string{"POST /api/v1/session/reauth"}, s.securityReauthForm},
		{"POST", "/security/devices", identity.ActDevicesManage, []string{"POST /api/v1/devices"}, s.deviceForm},
		{"POST", "/security/devices/{device}/revoke", identity.ActDevicesManage, []string{"DELETE /api/v1/devices/{device}"},
			s.revokeDeviceForm},
		{"GET", "/audit", identity.ActAuditOwn, []string{"GET /api/v1/audit", "GET /api/v1/audit/status"}, s.ownAuditPage},
	}
}

// customerRoles are the roles a customer's account can hold, in the order
// the forms offer them.
var customerRoles = []identity.Role{identity.RoleOpsAdmin, identity.RoleAdmin, identity.RoleUser}

type accountsData struct {
	Accounts []identity.Account
	Next     string // after key of the next page, "" on the last
}

func (s *Server) accountsPage(w http.ResponseWriter, r *http.Request) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	items, next, err := s.deps.Identity.ListAccounts(r.Context(), principal(r).Scope(), pg)
	if err != nil {
		return err
	}
	return s.render(w, r, "acct-list", accountsData{Accounts: items, Next: next})
}

type inviteData struct {
	Roles     []identity.Role
	Languages []string
}

func newInviteData() inviteData {
	return inviteData{Roles: customerRoles, Languages: panel.Languages}
}

func (s *Server) inviteFormPage(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, "acct-new", newInviteData())
}

// inviteForm invites an account; the link goes to the invitee's e-mail
// through the outbox, never to the page.
func (s *Server) inviteForm(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	f := r.PostForm
	a, err := s.deps.Identity.Invite(r.Context(), principal(r).Scope(), identity.InviteInput{
		LoginID: strings.TrimSpace(f.Get("login_id")), DisplayName: strings.TrimSpace(f.Get("display_name")),
		Email: strings.TrimSpace(f.Get("email")), Role: identity.Role(f.Get("role")), Language: f.Get("language")})
	if err != nil {
		return s.renderRefused(w, r, "acct-new", newInviteData(), err)
	}
	return redirect(w, r, "/accounts/"+url.PathEscape(a.ID), "acct.flash_invited")
}

type accountData struct {
	Account identity.Account
	Roles   []identity.Role
	Self    bool // the viewer's own account
}

// account reads the account the path names within the viewer's scope:
// another customer's is not found.
func (s *Server) account(r *http.Request) (accountData, error) {
	a, err := s.deps.Identity.GetAccount(r.Context(), principal(r).Scope(), r.PathValue("account"))
	if err != nil {
		return accountData{}, err
	}
	return accountData{Account: a, Roles: customerRoles, Self: a.ID == principal(r).AccountID}, nil
}

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request) error {
	d, err := s.account(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "acct-detail", d)
}

// accountForm runs one of the account page's forms: the account is read
// first, so that another customer's is 404 before the form is, and a
// refusal (the last operations administrator, a bad role) shows on the
// account's page with the form as it was sent. Success goes to next, or
// back to the account's page when next is "".
func (s *Server) accountForm(w http.ResponseWriter, r *http.Request, next, flash string,
	do func(p identity.Principal, id string) error) error {
	d, err := s.account(r)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	if err := do(principal(r), d.Account.ID); err != nil {
		return s.renderRefused(w, r, "acct-detail", d, err)
	}
	if next == "" {
		next = "/accounts/" + url.PathEscape(d.Account.ID)
	}
	return redirect(w, r, next, flash)
}

func (s *Server) accountRoleForm(w http.ResponseWriter, r *http.Request) error {
	return s.accountForm(w, r, "", "acct.flash_role", func(p identity.Principal, id string) error {
		_, err := s.deps.Identity.ChangeRole(r.Context(), p, id, identity.RoleInput{Role: identity.Role(r.PostForm.Get("role"))})
		return err
	})
}

func (s *Server) accountUnlockForm(w http.ResponseWriter, r *http.Request) error {
	return s.accountForm(w, r, "", "acct.flash_unlocked", func(p identity.Principal, id string) error {
		return s.deps.Identity.Unlock(r.Context(), p, id)
	})
}

func (s *Server) accountDeleteForm(w http.ResponseWriter, r *http.Request) error {
	return s.accountForm(w, r, "/accounts", "acct.flash_deleted", func(p identity.Principal, id string) error {
		return s.deps.Identity.DeleteAccount(r.Context(), p, id)
	})
}

// securityData is the security page: the policy as stored, or as a refused
// form sent it, and the registered devices.
type securityData struct {
	Policy    identity.SecurityPolicy
	AllowText string // the allow-list, one entry a line
	Devices   []identity.Device
}

func (s *Server) security(r *http.Request) (securityData, error) {
	sc := principal(r).Scope()
	pol, err := s.deps.Identity.Policy(r.Context(), sc)
	if err != nil {
		return securityData{}, err
	}
	devs, err := s.deps.Identity.ListDevices(r.Context(), sc)
	if err != nil {
		return securityData{}, err
	}
	return securityData{Policy: pol, AllowText: strings.Join(pol.AllowList, "\n"), Devices: devs}, nil
}

func (s *Server) securityPage(w http.ResponseWriter, r *http.Request) error {
	d, err := s.security(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "acct-security", d)
}

// policyForm replaces the policy. A checkbox that is not ticked is not
// sent, so the form always states all three fields, as PUT must.
func (s *Server) policyForm(w http.ResponseWriter, r *http.Request) error {
	d, err := s.security(r)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	f := r.PostForm
	allow := allowEntries(f.Get("allow_list"))
	mfa, device := f.Get("require_mfa") != "", f.Get("require_device") != ""
	if _, err := s.deps.Identity.SetPolicy(r.Context(), principal(r).Scope(),
		identity.PolicyInput{AllowList: &allow, RequireMFA: &mfa, RequireDevice: &device}); err != nil {
		d.AllowText, d.Policy.RequireMFA, d.Policy.RequireDevice = f.Get("allow_list"), mfa, device
		return s.renderRefused(w, r, "acct-security", d, err)
	}
	return redirect(w, r, "/security", "acct.flash_policy")
}

// allowEntries reads the allow-list textarea: entries separated by lines,
// commas or spaces, blanks dropped.
func allowEntries(text string) []string {
	out := strings.FieldsFunc(text, func(c rune) bool { return c == ',' || c == '\n' || c == '\r' || c == ' ' || c == '\t' })
	if out == nil {
		return []string{} // an empty list, which allows every address; never "absent"
	}
	return out
}

func (s *Server) securityReauthForm(w http.ResponseWriter, r *http.Request) error {
	d, err := s.security(r)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	if err := s.deps.Identity.Reauth(r.Context(), principal(r), identity.ReauthInput{Password: r.PostForm.Get("password"),
		Code: strings.TrimSpace(r.PostForm.Get("code"))}); err != nil {
		return s.renderRefused(w, r, "acct-security", d, err)
	}
	return redirect(w, r, "/security#devices-heading", "acct.flash_reauth")
}

func (s *Server) deviceForm(w http.ResponseWriter, r *http.Request) error {
	d, err := s.security(r)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	if _, err := s.deps.Identity.RegisterDevice(r.Context(), principal(r), identity.DeviceInput{
		Name: strings.TrimSpace(r.PostForm.Get("name")), CertificatePEM: r.PostForm.Get("certificate_pem")}); err != nil {
		return s.renderRefused(w, r, "acct-security", d, err)
	}
	return redirect(w, r, "/security", "acct.flash_device")
}

func (s *Server) revokeDeviceForm(w http.ResponseWriter, r *http.Request) error {
	d, err := s.security(r)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	if err := s.deps.Identity.RevokeDevice(r.Context(), principal(r), r.PathValue("device")); err != nil {
		return s.renderRefused(w, r, "acct-security", d, err)
	}
	return redirect(w, r, "/security", "acct.flash_revoked")
}

// auditRow is one audit entry as the page shows it.
type auditRow struct {
	audit.Entry
	// ActorKey is the catalogue key of who acted: the customer's own
	// account, the operator's staff (whose access to the customer's data
	// carries its stated reason), the system.
	ActorKey string
	Staff    bool
	Detail   string // the entry's details as JSON, "" when it has none
}

type auditData struct {
	Rows   []auditRow
	Limit  int
	Limits []int  // the page sizes the page offers
	Next   string // after key of the next page, "" on the last
	// Evidence is the chain's status and the export form (pages_evidence.go).
	Evidence evidencePanel
}

// auditActors are the actor kinds the audit log records (audit.Actor.Kind).
var auditActors = map[string]string{
	"customer": "acct.actor_customer", "operator": "acct.actor_staff", "system": "acct.actor_system",
	"anonymous": "acct.actor_anonymous", "node": "acct.actor_node",
}

// ownAuditPage is the customer's own audit log, as GET /api/v1/audit pages
// it: in chain order, ?after= a sequence number, ?limit= 1 to 500.
func (s *Server) ownAuditPage(w http.ResponseWriter, r *http.Request) error {
	d, err := s.ownAuditData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "acct-audit", d)
}

func (s *Server) ownAuditData(r *http.Request) (auditData, error) {
	q, err := audit.Own(principal(r).Scope())
	if err != nil {
		return auditData{}, err
	}
	if q, err = auditWindow(r, q); err != nil {
		return auditData{}, err
	}
	items, next, err := s.auditEntries(r, q)
	if err != nil {
		return auditData{}, err
	}
	d := auditData{Limit: 100, Limits: []int{20, 100, 500}, Next: next}
	if n, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil {
		d.Limit = n
	}
	for _, e := range items {
		row := auditRow{Entry: e, ActorKey: auditActors[e.ActorKind], Staff: e.ActorKind == "operator"}
		if row.ActorKey == "" {
			row.ActorKey = "acct.actor_other"
		}
		if len(e.Detail) > 0 {
			b, err := json.Marshal(e.Detail)
			if err != nil {
				return auditData{}, err
			}
			row.Detail = string(b)
		}
		d.Rows = append(d.Rows, row)
	}
	d.Evidence, err = s.evidencePanel(r)
	return d, err
}
