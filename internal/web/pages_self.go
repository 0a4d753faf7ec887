package web

import (
	"bytes"
	"encoding/base64"
	"errors"
	"html/template"
	"image/png"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pquerna/otp"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/identity"
)

// selfPages are the panel's pages for one's own account on either listener:
// the profile and password, second factors (TOTP, security keys) with the
// re-authentication that changing them needs, API tokens and sessions. Each
// form calls the identity service as the matching API operation does
// (handlers_identity.go, handlers_mfa.go) with the viewer's own principal;
// nothing here names an account but the viewer's.
func (s *Server) selfPages(side identity.Side) []pageRoute {
	return []pageRoute{
		{"GET", "/me", identity.ActSelf, nil, s.mePage},
		{"POST", "/me/password", identity.ActCredentials, []string{"PUT /api/v1/me/password"}, s.mePassword},
		{"GET", "/me/reauth", identity.ActFactorEnrol, []string{"POST /api/v1/session/reauth/webauthn/begin",
			"POST /api/v1/session/reauth/webauthn/finish"}, s.reauthPage},
		{"POST", "/me/reauth", identity.ActFactorEnrol, []string{"POST /api/v1/session/reauth"}, s.reauthSubmit},
		{"GET", "/me/security", identity.ActSelf, []string{"GET /api/v1/me/webauthn", "POST /api/v1/me/webauthn/register/begin",
			"POST /api/v1/me/webauthn/register/finish"}, s.meSecurityPage},
		{"POST", "/me/totp", identity.ActFactorEnrol, []string{"POST /api/v1/me/totp"}, s.totpBegin},
		{"POST", "/me/totp/confirm", identity.ActFactorEnrol, []string{"POST /api/v1/me/totp/confirm"}, s.totpConfirm(side)},
		{"POST", "/me/totp/remove", identity.ActCredentials, []string{"DELETE /api/v1/me/totp"}, s.totpRemove},
		{"POST", "/me/keys/{key}/delete", identity.ActCredentials, []string{"DELETE /api/v1/me/webauthn/{key}"}, s.keyDelete},
		{"GET", "/me/tokens", identity.ActSelf, []string{"GET /api/v1/tokens"}, s.tokensPage},
		{"POST", "/me/tokens", identity.ActCredentials, []string{"POST /api/v1/tokens"}, s.tokenCreate},
		{"POST", "/me/tokens/{token}/revoke", identity.ActCredentials, []string{"DELETE /api/v1/tokens/{token}"}, s.tokenRevoke},
		{"GET", "/me/sessions", identity.ActSelf, []string{"GET /api/v1/sessions"}, s.sessionsPage},
		{"POST", "/me/sessions/{session}/revoke", identity.ActCredentials, []string{"DELETE /api/v1/sessions/{session}"},
			s.sessionRevoke(side)},
	}
}

// credentialRefused answers a refused credential change: a change that
// needs a fresh proof of the password (and factor) sends the viewer to that
// step, which returns to back; any other refusal is shown on page, or on
// the error page when there is no form to show again (page "").
func (s *Server) credentialRefused(w http.ResponseWriter, r *http.Request, page string, data any, err error, back string) error {
	if classify(err).Code == identity.CodeReauthRequired {
		return redirect(w, r, "/me/reauth?next="+url.QueryEscape(back), "me.flash.reauth_needed")
	}
	if page == "" {
		return err
	}
	return s.renderRefused(w, r, page, data, err)
}

type meData struct {
	Principal identity.Principal
	Factors   identity.Factors
}

func (s *Server) meData(r *http.Request) (meData, error) {
	p := principal(r)
	f, err := s.deps.Identity.FactorsOf(r.Context(), p)
	return meData{Principal: p, Factors: f}, err
}

// mePage is the profile: who the viewer is, its language, its sign-in
// factors at a glance, and the password change.
func (s *Server) mePage(w http.ResponseWriter, r *http.Request) error {
	data, err := s.meData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "me", data)
}

func (s *Server) mePassword(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	in := identity.PasswordInput{Current: r.PostForm.Get("current_password"), New: r.PostForm.Get("new_password")}
	// Passwords are never sent back into the form.
	r.PostForm.Del("current_password")
	r.PostForm.Del("new_password")
	if err := s.deps.Identity.ChangePassword(r.Context(), principal(r), in); err != nil {
		data, derr := s.meData(r)
		if derr != nil {
			return derr
		}
		return s.credentialRefused(w, r, "me", data, asField(err, "password", "new_password"), "/me")
	}
	return redirect(w, r, "/me", "me.flash.password_changed")
}

type reauthData struct {
	Next    string
	Factors identity.Factors
}

// reauthPage confirms the password (and the second factor: a code, or a
// security key through panel.js) before a credential change; it returns to
// next.
func (s *Server) reauthPage(w http.ResponseWriter, r *http.Request) error {
	f, err := s.deps.Identity.FactorsOf(r.Context(), principal(r))
	if err != nil {
		return err
	}
	return s.render(w, r, "me-reauth", reauthData{Next: localPath(r.URL.Query().Get("next")), Factors: f})
}

func (s *Server) reauthSubmit(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	p := principal(r)
	f, err := s.deps.Identity.FactorsOf(r.Context(), p)
	if err != nil {
		return err
	}
	data := reauthData{Next: localPath(r.PostForm.Get("next")), Factors: f}
	in := identity.ReauthInput{Password: r.PostForm.Get("password"), Code: r.PostForm.Get("code")}
	r.PostForm.Del("password")
	r.PostForm.Del("code")
	if err := s.deps.Identity.Reauth(r.Context(), p, in); err != nil {
		return s.renderRefused(w, r, "me-reauth", data, err)
	}
	return redirect(w, r, data.Next, "me.flash.reauth_done")
}

type meSecurityData struct {
	Factors identity.Factors
	Keys    []identity.WebAuthnKey
}

// meSecurityPage lists the second factors: TOTP (set up or remove) and the
// security keys (register through panel.js, delete).
func (s *Server) meSecurityPage(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	f, err := s.deps.Identity.FactorsOf(r.Context(), p)
	if err != nil {
		return err
	}
	keys, err := s.deps.Identity.ListWebAuthnKeys(r.Context(), p)
	if err != nil {
		return err
	}
	return s.render(w, r, "me-security", meSecurityData{Factors: f, Keys: keys})
}

type totpData struct {
	Next   string
	URL    string
	Secret string
	// QR is the otpauth URL as a PNG data: URL, for the authenticator
	// app's camera (the page's CSP allows data: images only).
	QR template.URL
}

// totpView rebuilds what the enrolment page shows from the otpauth URL.
func totpView(next, otpauthURL string) (totpData, error) {
	key, err := otp.NewKeyFromURL(otpauthURL)
	if err != nil || key.Type() != "totp" {
		return totpData{}, errors.New("not a TOTP otpauth URL")
	}
	img, err := key.Image(240, 240)
	if err != nil {
		return totpData{}, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return totpData{}, err
	}
	return totpData{Next: next, URL: otpauthURL, Secret: key.Secret(),
		QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()))}, nil
}

// enrolNext is where an enrolment returns: the sign-in's destination for a
// session that enrols its first factor at sign-in, else the security page.
func enrolNext(r *http.Request) string {
	if n := r.PostForm.Get("next"); n != "" {
		return localPath(n)
	}
	return "/me/security"
}

// totpBegin starts a TOTP enrolment and shows its secret once, as a QR code
// and as text for manual entry. It answers the POST itself: the secret is
// not put in a URL or a cookie to survive a redirect.
func (s *Server) totpBegin(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	next := enrolNext(r)
	e, err := s.deps.Identity.BeginTOTP(r.Context(), principal(r))
	if err != nil {
		return s.credentialRefused(w, r, "", nil, err, next)
	}
	data, err := totpView(next, e.URL)
	if err != nil {
		return err
	}
	return s.render(w, r, "me-totp", data)
}

type recoveryData struct {
	Next  string
	Codes []string
}

func (s *Server) totpConfirm(side identity.Side) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := parseForm(w, r); err != nil {
			return err
		}
		next := enrolNext(r)
		codes, secret, err := s.deps.Identity.ConfirmTOTP(r.Context(), principal(r), identity.CodeInput{Code: r.PostForm.Get("code")})
		if err != nil {
			r.PostForm.Del("code")
			// The page is shown again from the otpauth URL the form
			// carried; what is confirmed is the secret stored at begin.
			data, verr := totpView(next, r.PostForm.Get("otpauth_url"))
			if verr != nil {
				return s.credentialRefused(w, r, "", nil, err, next)
			}
			return s.credentialRefused(w, r, "me-totp", data, err, next)
		}
		if secret != "" {
			// A session that enrolled its first factor at sign-in is
			// complete now, under a new ID.
			http.SetCookie(w, sessionCookie(side, secret))
		}
		return s.render(w, r, "me-recovery", recoveryData{Next: next, Codes: codes})
	}
}

func (s *Server) totpRemove(w http.ResponseWriter, r *http.Request) error {
	if err := s.deps.Identity.DisableTOTP(r.Context(), principal(r)); err != nil {
		return s.credentialRefused(w, r, "", nil, err, "/me/security")
	}
	return redirect(w, r, "/me/security", "me.flash.totp_removed")
}

func (s *Server) keyDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.deps.Identity.DeleteWebAuthnKey(r.Context(), principal(r), r.PathValue("key")); err != nil {
		return s.credentialRefused(w, r, "", nil, err, "/me/security")
	}
	return redirect(w, r, "/me/security", "me.flash.key_deleted")
}

type tokensData struct {
	Tokens []identity.Token
	// Roles a new token may take below the account's own ("" = the
	// account's role).
	Roles []identity.Role
	// DefaultExpiry is the date field's first value: 90 days ahead.
	DefaultExpiry string
}

// tokenRoles are the roles a token of an account of role r may carry
// besides r itself: the lower customer roles (identity's within()).
func tokenRoles(r identity.Role) []identity.Role {
	order := []identity.Role{identity.RoleOpsAdmin, identity.RoleAdmin, identity.RoleUser}
	for i, x := range order {
		if x == r {
			return order[i+1:]
		}
	}
	return nil
}

func (s *Server) tokensData(r *http.Request) (tokensData, error) {
	p := principal(r)
	items, err := s.deps.Identity.ListTokens(r.Context(), p)
	return tokensData{Tokens: items, Roles: tokenRoles(p.Role),
		DefaultExpiry: time.Now().In(clock.JST).AddDate(0, 0, 90).Format(time.DateOnly)}, err
}

func (s *Server) tokensPage(w http.ResponseWriter, r *http.Request) error {
	data, err := s.tokensData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "me-tokens", data)
}

type tokenCreated struct {
	Token  identity.Token
	Secret string
}

// tokenCreate issues a token and shows its secret on the answer to the POST,
// the one time it is shown.
func (s *Server) tokenCreate(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	in := identity.TokenInput{Name: strings.TrimSpace(r.PostForm.Get("name")), Role: identity.Role(r.PostForm.Get("role"))}
	// The date is the last day the token works, in JST: it expires at the
	// end of it. A date that does not parse stays zero, which the identity
	// service refuses on expires_at.
	if d, err := time.ParseInLocation(time.DateOnly, r.PostForm.Get("expires_at"), clock.JST); err == nil {
		in.ExpiresAt = d.AddDate(0, 0, 1)
	}
	t, secret, err := s.deps.Identity.CreateToken(r.Context(), principal(r), in)
	if err != nil {
		data, derr := s.tokensData(r)
		if derr != nil {
			return derr
		}
		return s.credentialRefused(w, r, "me-tokens", data, err, "/me/tokens")
	}
	return s.render(w, r, "me-token-created", tokenCreated{Token: t, Secret: secret})
}

func (s *Server) tokenRevoke(w http.ResponseWriter, r *http.Request) error {
	if err := s.deps.Identity.RevokeToken(r.Context(), principal(r), r.PathValue("token")); err != nil {
		return err
	}
	return redirect(w, r, "/me/tokens", "me.flash.token_revoked")
}

func (s *Server) sessionsPage(w http.ResponseWriter, r *http.Request) error {
	items, err := s.deps.Identity.ListSessions(r.Context(), principal(r))
	if err != nil {
		return err
	}
	return s.render(w, r, "me-sessions", items)
}

func (s *Server) sessionRevoke(side identity.Side) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, id := principal(r), r.PathValue("session")
		if err := s.deps.Identity.RevokeSession(r.Context(), p, id); err != nil {
			return err
		}
		if id == p.SessionID {
			// The viewer ended the session it is using: it is signed
			// out, and its browser forgets the dead cookie.
			clearSessionCookie(w, side)
			return redirect(w, r, "/login", "auth.flash.signed_out")
		}
		return redirect(w, r, "/me/sessions", "me.flash.session_revoked")
	}
}
