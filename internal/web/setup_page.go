package web

import (
	"net/http"

	"github.com/tsunagi-net/tsunagi/internal/identity"
)

// The setup page completes a single-use link in a browser with a plain HTML
// form (no script): the first operator's account (?first=1, printed by
// serve), an invitation (?token=…, mailed) or a password re-issue
// (?reset=1&token=…, mailed). It calls the same identity service as POST
// /api/v1/setup and is rendered in the panel's layout and languages
// (template auth-setup). It stays in the route table, not the pages',
// because the OpenAPI documents list it as an operation.

type setupView struct {
	Token, LoginID     string
	First, Reset, Done bool
}

func (s *Server) setupPage(side identity.Side) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		r = withSide(r, side)
		// A failure is a page too, in the viewer's language (not the
		// API's JSON error).
		if err := s.setupForm(w, r, side); err != nil {
			s.pageError(w, r, err)
		}
		return nil
	}
}

func (s *Server) setupForm(w http.ResponseWriter, r *http.Request, side identity.Side) error {
	q := r.URL.Query()
	v := setupView{Token: q.Get("token"), First: side == identity.OperatorSide && q.Get("first") == "1", Reset: q.Get("reset") == "1"}
	if r.Method != http.MethodPost {
		return s.renderKeepingQuery(w, r, "auth-setup", v)
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	in := identity.SetupInput{Token: r.PostForm.Get("token"), LoginID: r.PostForm.Get("login_id"),
		DisplayName: r.PostForm.Get("display_name"), Email: r.PostForm.Get("email"), Password: r.PostForm.Get("password")}
	// The first operator's form is the one that names a login ID; an
	// invitation or a reset only sets the password.
	v.Token, v.First, v.Reset = in.Token, side == identity.OperatorSide && r.PostForm.Has("login_id"), r.PostForm.Get("reset") == "1"
	if v.First {
		in.Language = s.language(r)
	}
	a, err := s.deps.Identity.CompleteSetup(r.Context(), side, in)
	if err != nil {
		r.PostForm.Del("password")
		return s.renderRefused(w, r, "auth-setup", v, err)
	}
	v.Done, v.LoginID = true, a.LoginID
	return s.render(w, r, "auth-setup", v)
}
