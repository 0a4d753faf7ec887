package web

import (
	"net/http"
	"net/url"

	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
)

// authPages are the panel's pages for sign-in, the second factor, sign-out,
// password reset and the setup link, on either listener. They call the
// identity service exactly as the session API does (handlers_auth.go,
// handlers_mfa.go): the same throttling, audit and session rotation.
func (s *Server) authPages(side identity.Side) []pageRoute {
	return []pageRoute{
		{"GET", "/login", "", nil, s.loginPage(side)},
		{"POST", "/login", "", []string{"POST /api/v1/session"}, s.loginSubmit(side)},
		{"GET", "/login/mfa", identity.ActMFA, []string{"POST /api/v1/session/webauthn/begin", "POST /api/v1/session/webauthn/finish"},
			s.mfaPage},
		{"POST", "/login/mfa", identity.ActMFA, []string{"POST /api/v1/session/mfa"}, s.mfaSubmit(side)},
		// Any signed-in session may end itself, a pending one too (a person
		// who cannot give the factor must be able to leave): every role
		// holds mfa, while self is not given to a pending session.
		{"POST", "/logout", identity.ActMFA, []string{"DELETE /api/v1/session"}, s.logoutSubmit(side)},
		{"GET", "/password-reset", "", nil, s.resetPage},
		{"POST", "/password-reset", "", []string{"POST /api/v1/password-reset"}, s.resetSubmit(side)},
		// The setup link's page (setup_page.go) is served by the route
		// table, where the OpenAPI documents list it; this entry only
		// records what it offers.
		{"GET", "/setup", "", []string{"GET /setup", "POST /setup", "POST /api/v1/setup", "POST /api/v1/password-reset/complete"}, nil},
	}
}

type loginData struct {
	Next string
	// ClientCert says the browser presented a client certificate on the
	// customer listener: identity recognises it at sign-in if it is a
	// device the customer registered (identity/device.go). Staff have no
	// registered devices.
	ClientCert bool
	Customer   bool
}

func (s *Server) loginData(r *http.Request, next string) loginData {
	customer := sideOf(r) == identity.CustomerSide
	return loginData{Next: localPath(next), ClientCert: customer && r.TLS != nil && len(r.TLS.PeerCertificates) > 0,
		Customer: customer}
}

// loginPage is the sign-in form. A viewer already signed in goes on to
// where it was heading, one owing its second factor to that step.
func (s *Server) loginPage(side identity.Side) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		next := localPath(r.URL.Query().Get("next"))
		if _, err := r.Cookie(cookieName(side)); err == nil {
			p, err := s.authenticate(r, side)
			switch {
			case err == nil && p.Role == identity.RoleMFAPending:
				http.Redirect(w, r, mfaPath(next), http.StatusSeeOther)
				return nil
			case err == nil:
				http.Redirect(w, r, next, http.StatusSeeOther)
				return nil
			case fault.Is(err, fault.Unauthorized):
				// An ended session's cookie (authenticate audited it
				// once) is forgotten here.
				clearSessionCookie(w, side)
			}
		}
		return s.renderKeepingQuery(w, r, "auth-login", s.loginData(r, next))
	}
}

// renderKeepingQuery renders a page reached by a link whose query carries
// what the page needs (the sign-in's next, the setup link's token), so that
// the layout's language switch returns to the same link, not to a bare path.
func (s *Server) renderKeepingQuery(w http.ResponseWriter, r *http.Request, page string, data any) error {
	v := s.view(r)
	v.Path, v.Data = r.URL.RequestURI(), data
	return s.writePage(w, r, http.StatusOK, page, v)
}

func mfaPath(next string) string { return "/login/mfa?next=" + url.QueryEscape(next) }

func (s *Server) loginSubmit(side identity.Side) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := parseForm(w, r); err != nil {
			return err
		}
		data := s.loginData(r, r.PostForm.Get("next"))
		secret, p, err := s.deps.Identity.Login(r.Context(), side, r.PostForm.Get("login_id"), r.PostForm.Get("password"), r.UserAgent())
		if err != nil {
			// The password is never sent back into the form.
			r.PostForm.Del("password")
			return s.renderRefused(w, r, "auth-login", data, err)
		}
		// As the API's login: a session the browser held ends here, and
		// the new one gets a new ID (no session fixation).
		if old, err := r.Cookie(cookieName(side)); err == nil {
			if err := s.deps.Identity.EndSessionSecret(r.Context(), old.Value); err != nil {
				return err
			}
		}
		http.SetCookie(w, sessionCookie(side, secret))
		if p.Role == identity.RoleMFAPending {
			http.Redirect(w, r, mfaPath(data.Next), http.StatusSeeOther)
			return nil
		}
		http.Redirect(w, r, data.Next, http.StatusSeeOther)
		return nil
	}
}

type mfaData struct {
	Next    string
	Factors identity.Factors
}

func (s *Server) mfaData(r *http.Request, next string) (mfaData, error) {
	f, err := s.deps.Identity.FactorsOf(r.Context(), principal(r))
	return mfaData{Next: localPath(next), Factors: f}, err
}

// mfaPage is the second step of sign-in: a code from the authenticator app
// (or a recovery code), a security key, or — for an account that has no
// factor yet while its customer requires one — the enrolment of the first.
func (s *Server) mfaPage(w http.ResponseWriter, r *http.Request) error {
	next := localPath(r.URL.Query().Get("next"))
	if principal(r).Role != identity.RoleMFAPending {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	}
	data, err := s.mfaData(r, next)
	if err != nil {
		return err
	}
	return s.render(w, r, "auth-mfa", data)
}

func (s *Server) mfaSubmit(side identity.Side) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := parseForm(w, r); err != nil {
			return err
		}
		data, err := s.mfaData(r, r.PostForm.Get("next"))
		if err != nil {
			return err
		}
		secret, err := s.deps.Identity.VerifyMFA(r.Context(), principal(r), identity.CodeInput{Code: r.PostForm.Get("code")})
		if err != nil {
			r.PostForm.Del("code")
			return s.renderRefused(w, r, "auth-mfa", data, err)
		}
		// The session ID changes with the privilege (no fixation).
		http.SetCookie(w, sessionCookie(side, secret))
		http.Redirect(w, r, data.Next, http.StatusSeeOther)
		return nil
	}
}

func (s *Server) logoutSubmit(side identity.Side) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.deps.Identity.Logout(r.Context(), principal(r)); err != nil {
			return err
		}
		clearSessionCookie(w, side)
		return redirect(w, r, "/login", "auth.flash.signed_out")
	}
}

// clearSessionCookie makes the browser forget a session that has ended.
func clearSessionCookie(w http.ResponseWriter, side identity.Side) {
	http.SetCookie(w, &http.Cookie{Name: cookieName(side), Value: "", Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
}

func (s *Server) resetPage(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, "auth-reset", nil)
}

// resetSubmit asks for a re-issue link. The answer is the same whether or
// not the login ID exists (identity.RequestReset), so the page says only
// that a link was sent if the account exists.
func (s *Server) resetSubmit(side identity.Side) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := parseForm(w, r); err != nil {
			return err
		}
		if err := s.deps.Identity.RequestReset(r.Context(), side, identity.ResetInput{LoginID: r.PostForm.Get("login_id")}); err != nil {
			return s.renderRefused(w, r, "auth-reset", nil, err)
		}
		return redirect(w, r, "/login", "auth.flash.reset_sent")
	}
}

// asField moves a refusal about field from onto field to: the identity
// service names the password rules' field "password", which a form with a
// current and a new password calls new_password.
func asField(err error, from, to string) error {
	if f, ok := fault.As(err); ok && f.Field == from {
		moved := *f
		moved.Field = to
		return &moved
	}
	return err
}
