package identity

import (
	"context"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// Re-authentication (ISO/IEC 27017 9.4.2). A session remembers when it last
// proved the password and, for an account that has one, the second factor
// (sessions.auth_at): at login for an account without a factor, when the
// factor is given for one with a factor, and at POST /api/v1/session/reauth.
// Adding a factor clears it on every session of the account (forgetProofs,
// mfa.go): a proof counts only if it covered every factor the account has.
// Changing a credential — the password, adding or removing a second factor
// or a device, creating an API token — needs that proof within ReauthTTL, so
// that a session cookie left open or stolen cannot take the account over or
// strip its second factor. API tokens never change credentials (the
// session-only actions, permissions.go).

// ReauthTTL is how long a password-and-factor proof allows credential
// changes.
const ReauthTTL = 5 * time.Minute

// Codes of the refusals a client must tell apart (fault.Coded).
const (
	CodeSessionRequired = "session_required"
	CodeReauthRequired  = "reauth_required"
	CodeMFARequired     = "mfa_required"
	CodeDeviceRequired  = "device_required"
)

// ErrSessionRequired refuses a session-only action to an API token.
var ErrSessionRequired = fault.Coded(fault.Forbidden, CodeSessionRequired,
	"this changes credentials: it is done from a signed-in browser session, never with an API token")

// requireRecentAuth refuses (and audits) a credential change by p unless p
// is a session that proved the password and its second factor within
// ReauthTTL.
func (s *Service) requireRecentAuth(ctx context.Context, p Principal, action string) error {
	if p.Via != "session" || p.credential == "" {
		return s.refuse(ctx, action, "account:"+p.AccountID, p.CustomerID, CodeSessionRequired, ErrSessionRequired)
	}
	if p.authAt.IsZero() || clock.Now().Sub(p.authAt) > ReauthTTL {
		return s.refuse(ctx, action, "account:"+p.AccountID, p.CustomerID, CodeReauthRequired, fault.Coded(fault.Forbidden, CodeReauthRequired,
			"confirm your password and second factor first (POST /api/v1/session/reauth); the confirmation is good for %d minutes",
			int(ReauthTTL/time.Minute)))
	}
	return nil
}

// ReauthInput proves the password again and, for an account with TOTP, a
// current code or an unused recovery code.
type ReauthInput struct {
	Password string `json:"password"`
	Code     string `json:"code,omitempty"`
}

// checkOwnPassword verifies p's password for a re-authentication, with the
// login throttle: a failure counts toward the login ID's lock and the
// address's limit, like a failed login.
func (s *Service) checkOwnPassword(ctx context.Context, p Principal, password string, now time.Time) error {
	if len(password) > MaxPasswordBytes {
		return s.refuse(ctx, "session.reauth", "account:"+p.AccountID, p.CustomerID, "password_too_long", errPasswordTooLong)
	}
	if err := s.throttled(ctx, sideOf(p.CustomerID), p.LoginID, audit.ActorFrom(ctx).SourceIP, now); err != nil {
		if fault.Is(err, fault.RateLimited) {
			return s.refuse(ctx, "session.reauth", "account:"+p.AccountID, p.CustomerID, "throttled", err)
		}
		return err
	}
	var hash *string
	if err := store.Scan(s.db.QueryRow(ctx, `SELECT password_hash FROM accounts WHERE id = ? AND disabled_at IS NULL`, p.AccountID),
		&hash); err != nil {
		return fmt.Errorf("reauth: %w", err)
	}
	if hash != nil && CheckPassword(password, *hash) {
		return nil
	}
	ev := audit.Event{Action: "session.reauth", Target: "account:" + p.AccountID, CustomerID: string(p.CustomerID),
		Result: audit.Denied, Detail: map[string]any{"reason": "wrong_password"}}
	if err := s.recordFailure(ctx, sideOf(p.CustomerID), p.LoginID, audit.ActorFrom(ctx).SourceIP, now, ev); err != nil {
		return err
	}
	return fault.Field("password", "the password is incorrect")
}

// reauthSession checks that p is a session that may re-authenticate: a full
// session, or a pending one whose account has no factor yet (it enrols the
// first; one whose account has a factor gives it at /api/v1/session/mfa).
func (s *Service) reauthSession(ctx context.Context, p Principal) (bool, error) {
	if p.Via != "session" || p.credential == "" {
		return false, ErrSessionRequired
	}
	has, err := s.hasFactor(ctx, s.db, p.AccountID)
	if err != nil {
		return false, fmt.Errorf("reauth: %w", err)
	}
	if has && p.Role == RoleMFAPending {
		return false, fault.New(fault.Conflict, "give your second factor at /api/v1/session/mfa first")
	}
	return has, nil
}

// Reauth renews p's session proof with the password and, when the account
// has a second factor, a TOTP code or a recovery code. An account whose only
// factors are security keys uses BeginWebAuthnReauth instead.
func (s *Service) Reauth(ctx context.Context, p Principal, in ReauthInput) error {
	has, err := s.reauthSession(ctx, p)
	if err != nil {
		return err
	}
	now := clock.Now()
	if err := s.checkOwnPassword(ctx, p, in.Password, now); err != nil {
		return err
	}
	method := "password"
	if has {
		var totp int
		if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM totp_secrets WHERE account_id = ? AND confirmed_at IS NOT NULL`,
			p.AccountID).Scan(&totp); err != nil {
			return fmt.Errorf("reauth: %w", store.Wrap(err))
		}
		if totp == 0 {
			return fault.Field("code", "your second factor is a security key: confirm with /api/v1/session/reauth/webauthn/begin and /finish")
		}
		if in.Code == "" {
			return fault.Field("code", "code is required: a code from your authenticator app, or a recovery code")
		}
		if method, err = s.useCode(ctx, p.AccountID, in.Code, now); err != nil {
			return fmt.Errorf("reauth: %w", err)
		}
		if method == "" {
			ev := audit.Event{Action: "session.reauth", Target: "account:" + p.AccountID, CustomerID: string(p.CustomerID),
				Result: audit.Denied, Detail: map[string]any{"reason": "bad_code"}}
			if err := s.recordFailure(ctx, sideOf(p.CustomerID), p.LoginID, audit.ActorFrom(ctx).SourceIP, now, ev); err != nil {
				return err
			}
			return fault.Field("code", "the code is not valid, or was already used")
		}
	}
	return s.markAuthenticated(ctx, p, now, map[string]any{"method": method})
}

// markAuthenticated records the proof on p's session, with its audit event.
func (s *Service) markAuthenticated(ctx context.Context, p Principal, now time.Time, detail map[string]any) error {
	detail["session"] = p.SessionID
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE sessions SET auth_at = ? WHERE id_hash = ?`, clock.Store(now), p.credential)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errAuth
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "session.reauth", Target: "account:" + p.AccountID,
			CustomerID: string(p.CustomerID), Detail: detail})
	})
}

// PasswordProof is the first step of a security-key re-authentication.
type PasswordProof struct {
	Password string `json:"password"`
}

// BeginWebAuthnReauth checks p's password and starts a security-key
// ceremony whose assertion FinishWebAuthnReauth takes; it returns the
// options for navigator.credentials.get().
func (s *Service) BeginWebAuthnReauth(ctx context.Context, p Principal, in PasswordProof) (*protocol.CredentialAssertion, error) {
	if _, err := s.reauthSession(ctx, p); err != nil {
		return nil, err
	}
	if err := s.checkOwnPassword(ctx, p, in.Password, clock.Now()); err != nil {
		return nil, err
	}
	return s.beginAssertion(ctx, p, "reauth")
}

// FinishWebAuthnReauth verifies the assertion of the ceremony that
// BeginWebAuthnReauth started (after the password) and renews p's proof.
func (s *Service) FinishWebAuthnReauth(ctx context.Context, p Principal, body []byte) error {
	if _, err := s.reauthSession(ctx, p); err != nil {
		return err
	}
	keyID, err := s.verifyAssertion(ctx, p, "reauth", body)
	if err != nil {
		return err
	}
	return s.markAuthenticated(ctx, p, clock.Now(), map[string]any{"method": "webauthn", "key": keyID})
}
