package identity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/text"
)

// WebAuthn / FIDO2 (github.com/go-webauthn/webauthn). A ceremony's challenge
// is kept per session and purpose and deleted when used, so an assertion is
// accepted once: a replay finds no challenge, and a replay against a newer
// challenge fails its signature over the challenge. A platform authenticator
// that verified the user (Touch ID, Windows Hello, Android biometrics) is
// shown as "user_verified".

// ceremonyTTL bounds how long a ceremony may take.
const ceremonyTTL = 5 * time.Minute

func newRelyingParty(cfg Config) (*webauthn.WebAuthn, error) {
	rpID := cfg.WebAuthnRPID
	origins := cfg.WebAuthnOrigins
	for _, u := range []string{cfg.CustomerURL, cfg.MgmtURL} {
		if u == "" {
			continue
		}
		pu, err := url.Parse(u)
		if err != nil {
			return nil, fmt.Errorf("webauthn: %q: %w", u, err)
		}
		if rpID == "" {
			rpID = pu.Hostname()
		}
		if len(cfg.WebAuthnOrigins) == 0 {
			origins = append(origins, pu.Scheme+"://"+pu.Host)
		}
	}
	if rpID == "" {
		rpID = "localhost"
	}
	if len(origins) == 0 {
		origins = []string{"https://localhost"}
	}
	return webauthn.New(&webauthn.Config{RPID: rpID, RPDisplayName: "tsunagi", RPOrigins: origins})
}

// waUser adapts an account to the library.
type waUser struct {
	id, login, name string
	creds           []webauthn.Credential
}

func (u *waUser) WebAuthnID() []byte                         { return []byte(u.id) }
func (u *waUser) WebAuthnName() string                       { return u.login }
func (u *waUser) WebAuthnDisplayName() string                { return u.name }
func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func (s *Service) waUser(ctx context.Context, q store.Querier, p Principal) (*waUser, error) {
	u := &waUser{id: p.AccountID, login: p.LoginID}
	if err := store.Scan(q.QueryRow(ctx, `SELECT display_name FROM accounts WHERE id = ?`, p.AccountID), &u.name); err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, `SELECT credential FROM webauthn_credentials WHERE account_id = ? ORDER BY created_at`, p.AccountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var raw string
		var c webauthn.Credential
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(raw), &c); err != nil {
			return nil, err
		}
		u.creds = append(u.creds, c)
	}
	return u, rows.Err()
}

func (s *Service) saveChallenge(ctx context.Context, p Principal, purpose string, sd *webauthn.SessionData) error {
	b, err := json.Marshal(sd)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM webauthn_challenges WHERE (session_id = ? AND purpose = ?) OR expires_at < ?`,
			p.SessionID, purpose, clock.Store(clock.Now())); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO webauthn_challenges (session_id, purpose, data, expires_at) VALUES (?, ?, ?, ?)`,
			p.SessionID, purpose, string(b), clock.Store(clock.Now().Add(ceremonyTTL)))
		return err
	})
}

// takeChallenge returns and deletes the session's pending challenge.
func (s *Service) takeChallenge(ctx context.Context, tx *store.Tx, p Principal, purpose string) (webauthn.SessionData, error) {
	var sd webauthn.SessionData
	var data, exp string
	err := store.Scan(tx.QueryRow(ctx, `SELECT data, expires_at FROM webauthn_challenges WHERE session_id = ? AND purpose = ?`,
		p.SessionID, purpose), &data, &exp)
	if errors.Is(err, store.ErrNotFound) {
		return sd, fault.New(fault.Invalid, "no security-key ceremony is pending (it may have been used already); start again")
	}
	if err != nil {
		return sd, err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM webauthn_challenges WHERE session_id = ? AND purpose = ?`, p.SessionID, purpose); err != nil {
		return sd, err
	}
	if t, _ := clock.Parse(exp); !clock.Now().Before(t) {
		return sd, fault.New(fault.Invalid, "the security-key ceremony took too long; start again")
	}
	return sd, json.Unmarshal([]byte(data), &sd)
}

func needSession(p Principal) error {
	if p.Via != "session" || p.SessionID == "" {
		return ErrSessionRequired
	}
	return nil
}

// BeginWebAuthnRegistration starts registering a security key or platform
// authenticator for p's account and returns the options for
// navigator.credentials.create().
func (s *Service) BeginWebAuthnRegistration(ctx context.Context, p Principal) (*protocol.CredentialCreation, error) {
	if err := needSession(p); err != nil {
		return nil, err
	}
	if err := s.mayEnrol(ctx, p, "mfa.webauthn.register"); err != nil {
		return nil, err
	}
	u, err := s.waUser(ctx, s.db, p)
	if err != nil {
		return nil, fmt.Errorf("webauthn: %w", err)
	}
	excl := make([]protocol.CredentialDescriptor, len(u.creds))
	for i := range u.creds {
		excl[i] = u.creds[i].Descriptor()
	}
	opts, sd, err := s.rp.BeginRegistration(u, webauthn.WithExclusions(excl),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{UserVerification: protocol.VerificationPreferred}))
	if err != nil {
		return nil, fmt.Errorf("webauthn: %w", err)
	}
	return opts, s.saveChallenge(ctx, p, "register", sd)
}

// WebAuthnKey is a registered authenticator as its owner sees it.
type WebAuthnKey struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	UserVerified bool      `json:"user_verified"` // biometrics or PIN at registration
	CreatedAt    time.Time `json:"created_at"`
}

// FinishWebAuthnRegistration verifies the authenticator's response (the JSON
// of the PublicKeyCredential) and stores the credential. A pending session
// that registers its first factor is completed; the new session secret is
// returned then.
func (s *Service) FinishWebAuthnRegistration(ctx context.Context, p Principal, name string, body []byte) (WebAuthnKey, string, error) {
	if err := needSession(p); err != nil {
		return WebAuthnKey{}, "", err
	}
	if err := s.mayEnrol(ctx, p, "mfa.webauthn.register"); err != nil {
		return WebAuthnKey{}, "", err
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 || text.SingleLine(name) != "" || strings.ContainsAny(name, "<>") {
		return WebAuthnKey{}, "", fault.Field("name", "name is required: one line, at most 100 bytes, without < or >")
	}
	var k WebAuthnKey
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		sd, err := s.takeChallenge(ctx, tx, p, "register")
		if err != nil {
			return err
		}
		parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
		if err != nil {
			return fault.Wrap(fault.Invalid, err, "the authenticator's response is not valid")
		}
		u, err := s.waUser(ctx, tx, p)
		if err != nil {
			return err
		}
		cred, err := s.rp.CreateCredential(u, sd, parsed)
		if err != nil {
			return fault.Wrap(fault.Invalid, err, "the authenticator's response does not verify")
		}
		raw, err := json.Marshal(cred)
		if err != nil {
			return err
		}
		k = WebAuthnKey{ID: base64.RawURLEncoding.EncodeToString(cred.ID), Name: name, UserVerified: cred.Flags.UserVerified, CreatedAt: clock.Now()}
		if _, err := tx.Exec(ctx, `INSERT INTO webauthn_credentials (id, account_id, name, credential, created_at) VALUES (?, ?, ?, ?, ?)`,
			k.ID, p.AccountID, name, string(raw), clock.Store(k.CreatedAt)); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fault.New(fault.Conflict, "this authenticator is already registered")
			}
			return err
		}
		if err := forgetProofs(ctx, tx, p.AccountID); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "mfa.webauthn.register", Target: "account:" + p.AccountID,
			CustomerID: string(p.CustomerID), Detail: map[string]any{"key": k.ID, "name": name, "user_verified": k.UserVerified}})
	})
	if err != nil {
		return WebAuthnKey{}, "", s.mfaRefused(ctx, p, "mfa.webauthn.register", err)
	}
	secret, err := s.completeMFA(ctx, p, false)
	return k, secret, err
}

// BeginWebAuthnLogin starts the second-factor ceremony of a pending session
// and returns the options for navigator.credentials.get().
func (s *Service) BeginWebAuthnLogin(ctx context.Context, p Principal) (*protocol.CredentialAssertion, error) {
	if err := needSession(p); err != nil {
		return nil, err
	}
	if p.Role != RoleMFAPending {
		return nil, fault.New(fault.Conflict, "this session has no second factor pending")
	}
	return s.beginAssertion(ctx, p, "login")
}

// beginAssertion starts a ceremony in which p proves one of its security
// keys, for purpose ("login" or "reauth": the challenge is kept under it so
// that one ceremony cannot finish the other).
func (s *Service) beginAssertion(ctx context.Context, p Principal, purpose string) (*protocol.CredentialAssertion, error) {
	u, err := s.waUser(ctx, s.db, p)
	if err != nil {
		return nil, fmt.Errorf("webauthn: %w", err)
	}
	if len(u.creds) == 0 {
		return nil, fault.New(fault.Conflict, "no security key is registered for this account")
	}
	opts, sd, err := s.rp.BeginLogin(u, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, fmt.Errorf("webauthn: %w", err)
	}
	return opts, s.saveChallenge(ctx, p, purpose, sd)
}

// FinishWebAuthnLogin verifies an assertion and completes the pending
// session, returning its new secret. A replayed or cloned-authenticator
// assertion is refused, audited and counted toward the login throttle.
func (s *Service) FinishWebAuthnLogin(ctx context.Context, p Principal, body []byte) (string, error) {
	if err := needSession(p); err != nil {
		return "", err
	}
	if p.Role != RoleMFAPending {
		return "", fault.New(fault.Conflict, "this session has no second factor pending")
	}
	keyID, err := s.verifyAssertion(ctx, p, "login", body)
	if err != nil {
		return "", err
	}
	if err := s.audit.Record(ctx, audit.Event{Action: "mfa.verify", Target: "account:" + p.AccountID, CustomerID: string(p.CustomerID),
		Detail: map[string]any{"method": "webauthn", "key": keyID}}); err != nil {
		return "", err
	}
	return s.completeMFA(ctx, p, true)
}

// verifyAssertion checks a security key's assertion against the session's
// challenge for purpose and returns the key's ID. A refused assertion is
// audited and counted toward the login throttle.
func (s *Service) verifyAssertion(ctx context.Context, p Principal, purpose string, body []byte) (string, error) {
	var keyID string
	verr := s.db.InTx(ctx, func(tx *store.Tx) error {
		sd, err := s.takeChallenge(ctx, tx, p, purpose)
		if err != nil {
			return err
		}
		parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
		if err != nil {
			return fault.Wrap(fault.Invalid, err, "the authenticator's response is not valid")
		}
		u, err := s.waUser(ctx, tx, p)
		if err != nil {
			return err
		}
		cred, err := s.rp.ValidateLogin(u, sd, parsed)
		if err != nil {
			return fault.Wrap(fault.Invalid, err, "the security key's answer does not verify")
		}
		if cred.Authenticator.CloneWarning {
			return fault.New(fault.Invalid, "the security key's counter went backwards: it may have been cloned")
		}
		raw, err := json.Marshal(cred)
		if err != nil {
			return err
		}
		keyID = base64.RawURLEncoding.EncodeToString(cred.ID)
		_, err = tx.Exec(ctx, `UPDATE webauthn_credentials SET credential = ?, last_used_at = ? WHERE id = ? AND account_id = ?`,
			string(raw), clock.Store(clock.Now()), keyID, p.AccountID)
		return err
	})
	// The challenge is consumed even when verification fails: commit that
	// separately from the refusal.
	if verr != nil {
		if !fault.Is(verr, fault.Invalid) {
			return "", fmt.Errorf("webauthn: %w", verr)
		}
		ev := audit.Event{Action: "mfa.webauthn.verify", Target: "account:" + p.AccountID, CustomerID: string(p.CustomerID),
			Result: audit.Denied, Detail: map[string]any{"reason": verr.Error()[:min(len(verr.Error()), 200)]}}
		if _, err := s.db.Exec(ctx, `DELETE FROM webauthn_challenges WHERE session_id = ? AND purpose = ?`, p.SessionID, purpose); err != nil {
			return "", err
		}
		if err := s.recordFailure(ctx, sideOf(p.CustomerID), p.LoginID, audit.ActorFrom(ctx).SourceIP, clock.Now(), ev); err != nil {
			return "", err
		}
		return "", verr
	}
	return keyID, nil
}

// ListWebAuthnKeys lists p's registered authenticators.
func (s *Service) ListWebAuthnKeys(ctx context.Context, p Principal) ([]WebAuthnKey, error) {
	rows, err := s.db.Query(ctx, `SELECT id, name, credential, created_at FROM webauthn_credentials WHERE account_id = ? ORDER BY created_at`,
		p.AccountID)
	if err != nil {
		return nil, fmt.Errorf("webauthn: %w", err)
	}
	defer rows.Close()
	out := []WebAuthnKey{}
	for rows.Next() {
		var k WebAuthnKey
		var raw, c string
		if err := rows.Scan(&k.ID, &k.Name, &raw, &c); err != nil {
			return nil, fmt.Errorf("webauthn: %w", err)
		}
		var cred webauthn.Credential
		if json.Unmarshal([]byte(raw), &cred) == nil {
			k.UserVerified = cred.Flags.UserVerified
		}
		k.CreatedAt, _ = clock.Parse(c)
		out = append(out, k)
	}
	return out, rows.Err()
}

// DeleteWebAuthnKey removes one of p's authenticators: a full session that
// proved the password and the second factor within ReauthTTL only.
func (s *Service) DeleteWebAuthnKey(ctx context.Context, p Principal, id string) error {
	if err := s.requireRecentAuth(ctx, p, "mfa.webauthn.remove"); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM webauthn_credentials WHERE id = ? AND account_id = ?`, id, p.AccountID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fault.New(fault.NotFound, "security key not found")
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "mfa.webauthn.remove", Target: "account:" + p.AccountID,
			CustomerID: string(p.CustomerID), Detail: map[string]any{"key": id}})
	})
}
