package web

import (
	"encoding/json"
	"io"
	"net/http"
	"unicode/utf8"

	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
)

// Second factors and devices.

func (s *Server) verifyMFA(side identity.Side) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var in identity.CodeInput
		if err := s.decodeText(w, r, &in); err != nil {
			return err
		}
		p := principal(r)
		secret, err := s.deps.Identity.VerifyMFA(r.Context(), p, in)
		if err != nil {
			return err
		}
		// The session ID changes with the privilege (no fixation).
		http.SetCookie(w, sessionCookie(side, secret))
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (s *Server) beginTOTP(w http.ResponseWriter, r *http.Request) error {
	e, err := s.deps.Identity.BeginTOTP(r.Context(), principal(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, e)
	return nil
}

type recoveryCodes struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

func (s *Server) confirmTOTP(side identity.Side) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var in identity.CodeInput
		if err := s.decodeText(w, r, &in); err != nil {
			return err
		}
		codes, secret, err := s.deps.Identity.ConfirmTOTP(r.Context(), principal(r), in)
		if err != nil {
			return err
		}
		if secret != "" {
			http.SetCookie(w, sessionCookie(side, secret))
		}
		writeJSON(w, http.StatusOK, recoveryCodes{RecoveryCodes: codes})
		return nil
	}
}

func (s *Server) removeTOTP(w http.ResponseWriter, r *http.Request) error {
	if err := s.deps.Identity.DisableTOTP(r.Context(), principal(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listDevices(w http.ResponseWriter, r *http.Request) error {
	items, err := s.deps.Identity.ListDevices(r.Context(), principal(r).Scope())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(items, ""))
	return nil
}

func (s *Server) registerDevice(w http.ResponseWriter, r *http.Request) error {
	var in identity.DeviceInput
	if err := s.decodeText(w, r, &in); err != nil {
		return err
	}
	d, err := s.deps.Identity.RegisterDevice(r.Context(), principal(r), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, d)
	return nil
}

func (s *Server) revokeDevice(w http.ResponseWriter, r *http.Request) error {
	if err := s.deps.Identity.RevokeDevice(r.Context(), principal(r), r.PathValue("device")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// rawBody reads a body of at most 64 KiB that must be valid UTF-8 JSON text.
func (s *Server) rawBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		return nil, fault.New(fault.TooLarge, "the body is larger than 64 KiB")
	}
	if !utf8.Valid(b) || !json.Valid(b) {
		return nil, fault.New(fault.Invalid, "the body must be the authenticator's response as JSON")
	}
	return b, nil
}

func (s *Server) beginWebAuthnRegistration(w http.ResponseWriter, r *http.Request) error {
	opts, err := s.deps.Identity.BeginWebAuthnRegistration(r.Context(), principal(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, opts)
	return nil
}

func (s *Server) finishWebAuthnRegistration(side identity.Side) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		b, err := s.rawBody(w, r)
		if err != nil {
			return err
		}
		k, secret, err := s.deps.Identity.FinishWebAuthnRegistration(r.Context(), principal(r), r.URL.Query().Get("name"), b)
		if err != nil {
			return err
		}
		if secret != "" {
			http.SetCookie(w, sessionCookie(side, secret))
		}
		writeJSON(w, http.StatusCreated, k)
		return nil
	}
}

func (s *Server) beginWebAuthnLogin(w http.ResponseWriter, r *http.Request) error {
	opts, err := s.deps.Identity.BeginWebAuthnLogin(r.Context(), principal(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, opts)
	return nil
}

func (s *Server) finishWebAuthnLogin(side identity.Side) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		b, err := s.rawBody(w, r)
		if err != nil {
			return err
		}
		secret, err := s.deps.Identity.FinishWebAuthnLogin(r.Context(), principal(r), b)
		if err != nil {
			return err
		}
		http.SetCookie(w, sessionCookie(side, secret))
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (s *Server) reauth(w http.ResponseWriter, r *http.Request) error {
	var in identity.ReauthInput
	if err := s.decodeText(w, r, &in); err != nil {
		return err
	}
	if err := s.deps.Identity.Reauth(r.Context(), principal(r), in); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) beginWebAuthnReauth(w http.ResponseWriter, r *http.Request) error {
	var in identity.PasswordProof
	if err := s.decodeText(w, r, &in); err != nil {
		return err
	}
	opts, err := s.deps.Identity.BeginWebAuthnReauth(r.Context(), principal(r), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, opts)
	return nil
}

func (s *Server) finishWebAuthnReauth(w http.ResponseWriter, r *http.Request) error {
	b, err := s.rawBody(w, r)
	if err != nil {
		return err
	}
	if err := s.deps.Identity.FinishWebAuthnReauth(r.Context(), principal(r), b); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listWebAuthnKeys(w http.ResponseWriter, r *http.Request) error {
	items, err := s.deps.Identity.ListWebAuthnKeys(r.Context(), principal(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(items, ""))
	return nil
}

func (s *Server) deleteWebAuthnKey(w http.ResponseWriter, r *http.Request) error {
	if err := s.deps.Identity.DeleteWebAuthnKey(r.Context(), principal(r), r.PathValue("key")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
