package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// Side is the listener a request arrived on. Operator accounts exist only on
// the management side and customer accounts only on the customer side.
type Side int

const (
	CustomerSide Side = iota
	OperatorSide
)

func (s Side) admits(cust *string) bool { return (s == OperatorSide) == (cust == nil) }

// errLogin is the one answer to every failed login, whatever the cause.
var errLogin = fault.New(fault.Unauthorized, "login ID or password is incorrect")

// Login checks a login ID and password and opens a session. It returns the
// session secret for the cookie.
//
// Unknown IDs cost the same argon2id work as wrong passwords, are throttled
// the same way, and every failure gives the same message. Throttling is
// checked before the password (a locked ID costs no hashing); a password over
// MaxPasswordBytes is refused before hashing.
func (s *Service) Login(ctx context.Context, side Side, loginID, password, userAgent string) (string, Principal, error) {
	a := audit.ActorFrom(ctx)
	target := "login:" + truncate(strings.ToValidUTF8(loginID, "?"), 64)
	refuse := func(why string, err error) (string, Principal, error) {
		if rerr := s.audit.Record(ctx, audit.Event{Action: "session.login", Target: target, Result: audit.Denied,
			Detail: map[string]any{"reason": why}}); rerr != nil {
			return "", Principal{}, rerr
		}
		return "", Principal{}, err
	}
	switch {
	case len(password) > MaxPasswordBytes:
		return refuse("password_too_long", errPasswordTooLong)
	case !utf8.ValidString(loginID) || !utf8.ValidString(password) || len(loginID) > 254:
		return refuse("invalid_text", fault.New(fault.Invalid, "login ID and password must be valid text"))
	}
	now := clock.Now()
	if err := s.throttled(ctx, side, loginID, a.SourceIP, now); err != nil {
		if fault.Is(err, fault.RateLimited) {
			return refuse("throttled", err)
		}
		return "", Principal{}, fmt.Errorf("login: %w", err)
	}
	var (
		p    Principal
		cust *string
		hash *string
	)
	lookup := store.Scan(s.db.QueryRow(ctx, `SELECT id, customer_id, login_id, role, password_hash FROM accounts
		WHERE login_id = ? AND disabled_at IS NULL`, loginID), &p.AccountID, &cust, &p.LoginID, &p.Role, &hash)
	if lookup != nil && !errors.Is(lookup, store.ErrNotFound) {
		return "", Principal{}, fmt.Errorf("login: %w", lookup)
	}
	ok := false
	if lookup == nil && hash != nil {
		ok = CheckPassword(password, *hash)
	} else {
		CheckPassword(password, s.dummyHash)
	}
	if lookup != nil || !ok || !side.admits(cust) {
		ev := audit.Event{Action: "session.login", Target: target, Result: audit.Denied, Detail: map[string]any{"reason": "bad_credentials"}}
		// A customer's login ID puts the failure in that customer's log,
		// whichever listener it came to: there its personal fields are
		// erased with the customer. The answer is the same either way.
		if lookup == nil && cust != nil {
			ev.CustomerID = *cust
		}
		if err := s.recordFailure(ctx, side, loginID, a.SourceIP, now, ev); err != nil {
			return "", Principal{}, fmt.Errorf("login: %w", err)
		}
		return "", Principal{}, errLogin
	}
	if cust != nil {
		p.CustomerID = catalog.CustomerID(*cust)
	}
	pol, err := s.checkSource(ctx, p.CustomerID, "account:"+p.AccountID, "login")
	if err != nil {
		return "", Principal{}, err
	}
	need, err := s.needsMFAUnder(ctx, s.db, p.AccountID, p.Role, p.CustomerID, pol)
	if err != nil {
		return "", Principal{}, fmt.Errorf("login: %w", err)
	}
	device, err := s.checkDevice(ctx, p)
	if err != nil {
		return "", Principal{}, err
	}
	// The session's mfa flag records a second factor actually given; until
	// then every request re-checks whether one is owed (a factor added or a
	// policy set later applies to sessions already open). The password is
	// the whole proof of an account without a factor, so its session is
	// authenticated now; one with a factor is when it gives the factor.
	has, err := s.hasFactor(ctx, s.db, p.AccountID)
	if err != nil {
		return "", Principal{}, fmt.Errorf("login: %w", err)
	}
	secret, err := s.openSession(ctx, &p, userAgent, !has, device, func(tx *store.Tx) error {
		return clearFailures(ctx, tx, lockKey(side, loginID))
	})
	if err != nil {
		return "", Principal{}, fmt.Errorf("login: %w", err)
	}
	if need {
		p.Role = RoleMFAPending
	}
	sealScope(&p)
	return secret, p, nil
}

// openSession stores a new session for p (and runs also inside the same
// transaction) and returns its secret. authenticated says the login proved
// everything the account has (no second factor): the session may change
// credentials for ReauthTTL.
func (s *Service) openSession(ctx context.Context, p *Principal, userAgent string, authenticated bool, device string,
	also func(*store.Tx) error) (string, error) {
	a := audit.ActorFrom(ctx)
	p.Via = "session"
	p.SessionID = ids.New("ses")
	secret := newSessionSecret()
	p.credential = hashSecret(secret)
	now := clock.Now()
	var dev, authAt any
	if device != "" {
		dev = device
	}
	if authenticated {
		authAt = clock.Store(now)
		p.authAt = now
	}
	p.device = device
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if also != nil {
			if err := also(tx); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO sessions (id_hash, id, account_id, role, mfa, device_id, auth_at, created_at, last_seen_at,
			expires_at, source_ip, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, p.credential, p.SessionID, p.AccountID, p.Role,
			false, dev, authAt, clock.Store(now), clock.Store(now), clock.Store(now.Add(s.cfg.SessionAbsolute)), a.SourceIP,
			truncate(strings.ToValidUTF8(userAgent, "?"), 200)); err != nil {
			return err
		}
		return s.audit.RecordTx(audit.WithActor(ctx, p.Actor(a.SourceIP, a.RequestID)), tx, audit.Event{
			Action: "session.login", Target: "account:" + p.AccountID, CustomerID: string(p.CustomerID),
			Detail: map[string]any{"session": p.SessionID, "device": device}})
	})
	return secret, err
}

func newSessionSecret() string { return ids.Secret("tss") }

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// errAuth is the answer to a missing, expired or revoked credential.
var errAuth = fault.New(fault.Unauthorized, "authentication required")

// touchEvery limits how often last-use times are written, so that reads stay
// reads.
const touchEvery = time.Minute

// AuthenticateSession returns the principal of a live session, with the
// account's current role. When that role differs from the one the session was
// opened with, the session ID is rotated: the principal's Rotated field holds
// the new secret and the old one stops working.
func (s *Service) AuthenticateSession(ctx context.Context, side Side, secret string) (Principal, error) {
	if !strings.HasPrefix(secret, "tss_") || len(secret) > 100 {
		return Principal{}, errAuth
	}
	var p Principal
	var cust, sesRole, sesID, authAt, device *string
	var lastSeen, expires string
	var mfaDone bool
	h := hashSecret(secret)
	err := store.Scan(s.db.QueryRow(ctx, `SELECT a.id, a.customer_id, a.login_id, a.role, a.language, s.last_seen_at, s.expires_at, s.role, s.id, s.mfa,
		s.auth_at, s.device_id FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.id_hash = ? AND a.disabled_at IS NULL`, h),
		&p.AccountID, &cust, &p.LoginID, &p.Role, &p.Language, &lastSeen, &expires, &sesRole, &sesID, &mfaDone, &authAt, &device)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, errAuth
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	now := clock.Now()
	seen, _ := clock.Parse(lastSeen)
	exp, _ := clock.Parse(expires)
	if !side.admits(cust) || !now.Before(exp) || now.Sub(seen) >= s.cfg.SessionIdle {
		return Principal{}, errAuth
	}
	if cust != nil {
		p.CustomerID = catalog.CustomerID(*cust)
	}
	pol, err := s.checkSource(ctx, p.CustomerID, "account:"+p.AccountID, "session")
	if err != nil {
		return Principal{}, err
	}
	p.Via, p.credential, p.mfa, p.authAt = "session", h, mfaDone, parseOpt(authAt)
	if device != nil {
		p.device = *device
	}
	if sesID != nil {
		p.SessionID = *sesID
	}
	if sesRole == nil || Role(*sesRole) != p.Role {
		if err := s.rotate(ctx, &p, now); err != nil {
			return Principal{}, fmt.Errorf("authenticate: %w", err)
		}
	} else if now.Sub(seen) >= touchEvery {
		if _, err := s.db.Exec(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?`, clock.Store(now), h); err != nil {
			return Principal{}, fmt.Errorf("authenticate: %w", err)
		}
	}
	if !mfaDone {
		// Checked on every request, so that a factor added or a policy
		// set later applies to sessions already open.
		need, err := s.needsMFAUnder(ctx, s.db, p.AccountID, p.Role, p.CustomerID, pol)
		if err != nil {
			return Principal{}, fmt.Errorf("authenticate: %w", err)
		}
		if need {
			p.Role = RoleMFAPending
		}
	}
	sealScope(&p)
	return p, nil
}

// rotate gives p's session a new secret (keeping its public ID, times and
// device) after a privilege change. If a concurrent request rotated it first,
// this request goes on without a new secret.
func (s *Service) rotate(ctx context.Context, p *Principal, now time.Time) error {
	secret := ids.Secret("tss")
	nh := hashSecret(secret)
	rotated := false
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE sessions SET id_hash = ?, role = ?, last_seen_at = ? WHERE id_hash = ?`,
			nh, p.Role, clock.Store(now), p.credential)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		rotated = true
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "session.rotate", Target: "account:" + p.AccountID,
			CustomerID: string(p.CustomerID), Detail: map[string]any{"session": p.SessionID, "role": string(p.Role)}})
	})
	if err == nil && rotated {
		p.Rotated, p.credential = secret, nh
	}
	return err
}

// Logout ends the principal's session.
func (s *Service) Logout(ctx context.Context, p Principal) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE id_hash = ?`, p.credential); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "session.logout", Target: "account:" + p.AccountID, CustomerID: string(p.CustomerID)})
	})
}

// EndSessionSecret deletes the session whose secret is given, if any. Login
// calls it for a cookie the browser still holds, so that a login always
// replaces the session ID (no session fixation).
func (s *Service) EndSessionSecret(ctx context.Context, secret string) error {
	if !strings.HasPrefix(secret, "tss_") || len(secret) > 100 {
		return nil
	}
	_, err := s.db.Exec(ctx, `DELETE FROM sessions WHERE id_hash = ?`, hashSecret(secret))
	return err
}

// Session is a live session as its owner sees it.
type Session struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	SourceIP   string    `json:"source_ip"`
	UserAgent  string    `json:"user_agent"`
	Current    bool      `json:"current"`
	// Shown in JST for people; the RFC 3339 fields above are UTC.
	LastSeenJST string `json:"last_seen_jst"`
}

// ListSessions lists the live sessions of p's own account.
func (s *Service) ListSessions(ctx context.Context, p Principal) ([]Session, error) {
	now := clock.Now()
	rows, err := s.db.Query(ctx, `SELECT id, id_hash, created_at, last_seen_at, expires_at, source_ip, user_agent FROM sessions
		WHERE account_id = ? AND id IS NOT NULL AND expires_at > ? AND last_seen_at > ? ORDER BY created_at DESC`,
		p.AccountID, clock.Store(now), clock.Store(now.Add(-s.cfg.SessionIdle)))
	if err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	defer rows.Close()
	out := []Session{}
	for rows.Next() {
		var x Session
		var h, c, l, e string
		if err := rows.Scan(&x.ID, &h, &c, &l, &e, &x.SourceIP, &x.UserAgent); err != nil {
			return nil, fmt.Errorf("sessions: %w", err)
		}
		x.CreatedAt, _ = clock.Parse(c)
		x.LastSeenAt, _ = clock.Parse(l)
		x.ExpiresAt, _ = clock.Parse(e)
		x.LastSeenJST = clock.Show(x.LastSeenAt)
		x.Current = h == p.credential
		out = append(out, x)
	}
	return out, rows.Err()
}

// RevokeSession ends one of p's own sessions; another account's session is
// not found.
func (s *Service) RevokeSession(ctx context.Context, p Principal, id string) error {
	if p.Via != "session" {
		return ErrSessionRequired
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM sessions WHERE id = ? AND account_id = ?`, id, p.AccountID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fault.New(fault.NotFound, "session not found")
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "session.revoke", Target: "session:" + id, CustomerID: string(p.CustomerID)})
	})
}
