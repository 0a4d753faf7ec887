package web

import (
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network"
)

// Identity handlers. Every object named in a path is looked up within the
// principal's own scope before the body is read, so that another customer's
// object is 404 whatever the body says.

// decodeText is decode for bodies that carry credentials and text typed by
// people: invalid UTF-8 in them (refused by decode, on its field) is also
// audited, as a probe of the identity routes.
func (s *Server) decodeText(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := readJSONBody(w, r, MaxBody)
	if err != nil {
		return err
	}
	if !utf8.Valid(b) {
		p := principal(r)
		if err := s.deps.Audit.Record(r.Context(), audit.Event{Action: "request.invalid_utf8", Target: r.Method + " " + r.URL.Path,
			CustomerID: string(p.CustomerID), Result: audit.Denied}); err != nil {
			return err
		}
	}
	return strictUnmarshal(b, v)
}

func (s *Server) requestReset(side identity.Side) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var in identity.ResetInput
		if err := s.decodeText(w, r, &in); err != nil {
			return err
		}
		if err := s.deps.Identity.RequestReset(r.Context(), side, in); err != nil {
			return err
		}
		writeJSON(w, http.StatusAccepted, map[string]string{
			"status": "if the login ID belongs to an active account, a re-issue link valid for 30 minutes has been sent to its e-mail address"})
		return nil
	}
}

func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) error {
	var in identity.PasswordInput
	if err := s.decodeText(w, r, &in); err != nil {
		return err
	}
	if err := s.deps.Identity.ChangePassword(r.Context(), principal(r), in); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type languageInput struct {
	Language string `json:"language"`
}

// setLanguage sets the caller's own language: of its mails and of the
// control panel (the panel's language switch does the same).
func (s *Server) setLanguage(w http.ResponseWriter, r *http.Request) error {
	var in languageInput
	if err := s.decodeText(w, r, &in); err != nil {
		return err
	}
	if err := s.deps.Identity.SetLanguage(r.Context(), principal(r), in.Language); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) error {
	items, err := s.deps.Identity.ListSessions(r.Context(), principal(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(items, ""))
	return nil
}

func (s *Server) revokeSession(w http.ResponseWriter, r *http.Request) error {
	if err := s.deps.Identity.RevokeSession(r.Context(), principal(r), r.PathValue("session")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	items, err := s.deps.Identity.ListTokens(r.Context(), principal(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(items, ""))
	return nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	if err := s.deps.Identity.RevokeToken(r.Context(), principal(r), r.PathValue("token")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Accounts of the principal's own customer (operations administrator).

func (s *Server) inviteMyAccount(w http.ResponseWriter, r *http.Request) error {
	var in identity.InviteInput
	if err := s.decodeText(w, r, &in); err != nil {
		return err
	}
	// The link goes only to the invitee's e-mail; the administrator never
	// sees it.
	a, err := s.deps.Identity.Invite(r.Context(), principal(r).Scope(), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, a)
	return nil
}

func (s *Server) myAccount(w http.ResponseWriter, r *http.Request) error {
	a, err := s.deps.Identity.GetAccount(r.Context(), principal(r).Scope(), r.PathValue("account"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

// deleteAccount, setRole and unlock act on an account within the principal's
// own scope: its customer's accounts, or the staff's for operator staff. The
// identity service decides whether the principal's role reaches the account
// (staff are split: operators manage operators, security officers manage
// security officers), so the customer, staff and officer routes share them.

func (s *Server) deleteAccount(w http.ResponseWriter, r *http.Request) error {
	if err := s.deps.Identity.DeleteAccount(r.Context(), principal(r), r.PathValue("account")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) setRole(w http.ResponseWriter, r *http.Request) error {
	p, id := principal(r), r.PathValue("account")
	if _, err := s.deps.Identity.AccountOf(r.Context(), p, id); err != nil {
		return err
	}
	var in identity.RoleInput
	if err := s.decodeText(w, r, &in); err != nil {
		return err
	}
	a, err := s.deps.Identity.ChangeRole(r.Context(), p, id, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) unlock(w http.ResponseWriter, r *http.Request) error {
	if err := s.deps.Identity.Unlock(r.Context(), principal(r), r.PathValue("account")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request) error {
	p, err := s.deps.Identity.Policy(r.Context(), principal(r).Scope())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (s *Server) setPolicy(w http.ResponseWriter, r *http.Request) error {
	var in identity.PolicyInput
	if err := s.decodeText(w, r, &in); err != nil {
		return err
	}
	p, err := s.deps.Identity.SetPolicy(r.Context(), principal(r).Scope(), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// myAudit is the customer's own audit log: its own accounts' actions and
// every operator access to its data (break-glass), with the stated reasons.
func (s *Server) myAudit(w http.ResponseWriter, r *http.Request) error {
	q, err := audit.Own(principal(r).Scope())
	if err != nil {
		return err
	}
	return s.auditPage(w, r, q)
}

// Operator: mail outbox and break-glass.

func (s *Server) listMail(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return fault.Field("limit", "limit must be a number from 1 to 500")
		}
		limit = n
	}
	items, err := s.deps.Identity.Outbox().List(r.Context(), q.Get("status"), q.Get("after"), limit)
	if err != nil {
		return err
	}
	next := ""
	if limit > 0 && len(items) == limit {
		next = items[len(items)-1].ID
	}
	writeJSON(w, http.StatusOK, newList(items, next))
	return nil
}

func (s *Server) openBreakGlass(w http.ResponseWriter, r *http.Request) error {
	op, err := s.pathCustomer(r)
	if err != nil {
		return err
	}
	var in identity.BreakGlassInput
	if err := s.decodeText(w, r, &in); err != nil {
		return err
	}
	g, err := s.deps.Identity.OpenBreakGlass(r.Context(), principal(r), op, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, g)
	return nil
}

// listBreakGlass lists the caller's own open grants, so that a grant can be
// closed before it expires without keeping its ID from the answer that
// opened it.
func (s *Server) listBreakGlass(w http.ResponseWriter, r *http.Request) error {
	items, err := s.deps.Identity.OpenGrants(r.Context(), principal(r))
	if err != nil {
		return err
	}
	if items == nil {
		items = []identity.Grant{}
	}
	writeJSON(w, http.StatusOK, newList(items, ""))
	return nil
}

func (s *Server) closeBreakGlass(w http.ResponseWriter, r *http.Request) error {
	if err := s.deps.Identity.CloseBreakGlass(r.Context(), principal(r), r.PathValue("grant")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// breakGlassConfig is a customer's applied hub configuration for operator
// staff under a live break-glass grant (authenticate gave the role and
// recorded the access).
func (s *Server) breakGlassConfig(w http.ResponseWriter, r *http.Request) error {
	// The break-glass scope reads the configuration with BGP MD5 passwords
	// masked, as the customer's own reads do (network's view types mask
	// them): break-glass opens access, not secrets.
	return netDo(s, w, func(n *network.Workflow) (network.Version, error) {
		return n.Applied(r.Context(), principal(r).Scope())
	})
}
