package web

import (
	"context"
	"net/http"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/identity"
)

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	err := s.deps.DB.Ping(ctx)
	s.setReady(err)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "database": "unreachable"})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "database": "ok"})
	return nil
}

func (s *Server) setup(side identity.Side) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var in identity.SetupInput
		if err := decode(w, r, &in); err != nil {
			return err
		}
		a, err := s.deps.Identity.CompleteSetup(r.Context(), side, in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, a)
		return nil
	}
}

type loginInput struct {
	LoginID  string `json:"login_id"`
	Password string `json:"password"`
}

func (s *Server) login(side identity.Side) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var in loginInput
		if err := decode(w, r, &in); err != nil {
			return err
		}
		secret, p, err := s.deps.Identity.Login(r.Context(), side, in.LoginID, in.Password, r.UserAgent())
		if err != nil {
			return err
		}
		// A login always gets a new session ID: a session the browser
		// already held ends here (no session fixation).
		if old, err := r.Cookie(cookieName(side)); err == nil {
			if err := s.deps.Identity.EndSessionSecret(r.Context(), old.Value); err != nil {
				return err
			}
		}
		http.SetCookie(w, &http.Cookie{Name: cookieName(side), Value: secret, Path: "/", Secure: true, HttpOnly: true,
			SameSite: http.SameSiteStrictMode})
		writeJSON(w, http.StatusOK, meOf(p))
		return nil
	}
}

func (s *Server) logout(side identity.Side) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.deps.Identity.Logout(r.Context(), principal(r)); err != nil {
			return err
		}
		http.SetCookie(w, &http.Cookie{Name: cookieName(side), Value: "", Path: "/", Secure: true, HttpOnly: true,
			SameSite: http.SameSiteStrictMode, MaxAge: -1})
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

type meBody struct {
	AccountID  string        `json:"account_id"`
	LoginID    string        `json:"login_id"`
	CustomerID string        `json:"customer_id,omitempty"`
	Role       identity.Role `json:"role"`
	Via        string        `json:"authenticated_by"`
}

func meOf(p identity.Principal) meBody {
	return meBody{AccountID: p.AccountID, LoginID: p.LoginID, CustomerID: string(p.CustomerID), Role: p.Role, Via: p.Via}
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, meOf(principal(r)))
	return nil
}

type tokenBody struct {
	identity.Token
	Secret string `json:"secret"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var in identity.TokenInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	t, secret, err := s.deps.Identity.CreateToken(r.Context(), principal(r), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, tokenBody{Token: t, Secret: secret})
	return nil
}
