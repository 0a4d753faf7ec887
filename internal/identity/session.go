package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

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
// session secret for the cookie. Unknown IDs cost the same argon2id work as
// wrong passwords, and every failure gives the same message.
func (s *Service) Login(ctx context.Context, side Side, loginID, password, userAgent string) (string, Principal, error) {
	a := audit.ActorFrom(ctx)
	var (
		p      Principal
		cust   *string
		hash   *string
		lookup error
	)
	row := s.db.QueryRow(ctx, `SELECT id, customer_id, login_id, role, password_hash FROM accounts
		WHERE login_id = ? AND disabled_at IS NULL`, loginID)
	lookup = store.Scan(row, &p.AccountID, &cust, &p.LoginID, &p.Role, &hash)
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
		target := "login:" + truncate(loginID, 64)
		ev := audit.Event{Action: "session.login", Target: target, Result: audit.Denied}
		if lookup == nil && side.admits(cust) && cust != nil {
			ev.CustomerID = *cust
		}
		if err := s.audit.Record(ctx, ev); err != nil {
			return "", Principal{}, err
		}
		return "", Principal{}, errLogin
	}
	if cust != nil {
		p.CustomerID = catalog.CustomerID(*cust)
	}
	p.Via = "session"
	secret := ids.Secret("tss")
	p.credential = hashSecret(secret)
	now := clock.Now()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO sessions (id_hash, account_id, created_at, last_seen_at, expires_at, source_ip, user_agent)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, p.credential, p.AccountID, clock.Store(now), clock.Store(now),
			clock.Store(now.Add(s.cfg.SessionAbsolute)), a.SourceIP, truncate(userAgent, 200)); err != nil {
			return err
		}
		return s.audit.RecordTx(audit.WithActor(ctx, p.Actor(a.SourceIP, a.RequestID)), tx, audit.Event{
			Action: "session.login", Target: "account:" + p.AccountID, CustomerID: string(p.CustomerID)})
	})
	if err != nil {
		return "", Principal{}, fmt.Errorf("login: %w", err)
	}
	return secret, p, nil
}

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

// AuthenticateSession returns the principal of a live session.
func (s *Service) AuthenticateSession(ctx context.Context, side Side, secret string) (Principal, error) {
	if !strings.HasPrefix(secret, "tss_") {
		return Principal{}, errAuth
	}
	var p Principal
	var cust *string
	var lastSeen, expires string
	h := hashSecret(secret)
	err := store.Scan(s.db.QueryRow(ctx, `SELECT a.id, a.customer_id, a.login_id, a.role, s.last_seen_at, s.expires_at
		FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.id_hash = ? AND a.disabled_at IS NULL`, h),
		&p.AccountID, &cust, &p.LoginID, &p.Role, &lastSeen, &expires)
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
	if now.Sub(seen) >= touchEvery {
		if _, err := s.db.Exec(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?`, clock.Store(now), h); err != nil {
			return Principal{}, fmt.Errorf("authenticate: %w", err)
		}
	}
	if cust != nil {
		p.CustomerID = catalog.CustomerID(*cust)
	}
	p.Via, p.credential = "session", h
	return p, nil
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

// Token is an API token's public description; its secret is shown once.
type Token struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// TokenInput creates an API token.
type TokenInput struct {
	Name      string    `json:"name"`
	ExpiresAt time.Time `json:"expires_at"`
}

// MaxTokenLifetime is the longest an API token may live.
const MaxTokenLifetime = 366 * 24 * time.Hour

// CreateToken issues an API token for the principal's own account; the token
// acts with the account's role. It returns the secret, which is not kept.
func (s *Service) CreateToken(ctx context.Context, p Principal, in TokenInput) (Token, string, error) {
	if in.Name == "" || len(in.Name) > 100 {
		return Token{}, "", fault.Field("name", "name is required (at most 100 bytes)")
	}
	now := clock.Now()
	if in.ExpiresAt.IsZero() {
		return Token{}, "", fault.Field("expires_at", "expires_at is required")
	}
	if !in.ExpiresAt.After(now) || in.ExpiresAt.Sub(now) > MaxTokenLifetime {
		return Token{}, "", fault.Field("expires_at", "expires_at must be in the future and within 12 months")
	}
	t := Token{ID: ids.New("tok"), Name: in.Name, CreatedAt: now, ExpiresAt: in.ExpiresAt.UTC().Truncate(time.Microsecond)}
	secret := ids.Secret("tsk")
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO api_tokens (id, account_id, name, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
			t.ID, p.AccountID, t.Name, hashSecret(secret), clock.Store(now), clock.Store(t.ExpiresAt)); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "token.create", Target: "token:" + t.ID, CustomerID: string(p.CustomerID),
			Detail: map[string]any{"name": t.Name, "expires_at": clock.Show(t.ExpiresAt)}})
	})
	if err != nil {
		return Token{}, "", fmt.Errorf("create token: %w", err)
	}
	return t, secret, nil
}

// AuthenticateToken returns the principal of a live API token.
func (s *Service) AuthenticateToken(ctx context.Context, side Side, secret string) (Principal, error) {
	if !strings.HasPrefix(secret, "tsk_") {
		return Principal{}, errAuth
	}
	var p Principal
	var cust, lastUsed *string
	var expires string
	h := hashSecret(secret)
	err := store.Scan(s.db.QueryRow(ctx, `SELECT a.id, a.customer_id, a.login_id, a.role, t.last_used_at, t.expires_at
		FROM api_tokens t JOIN accounts a ON a.id = t.account_id
		WHERE t.token_hash = ? AND t.revoked_at IS NULL AND a.disabled_at IS NULL`, h),
		&p.AccountID, &cust, &p.LoginID, &p.Role, &lastUsed, &expires)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, errAuth
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	now := clock.Now()
	exp, _ := clock.Parse(expires)
	if !side.admits(cust) || !now.Before(exp) {
		return Principal{}, errAuth
	}
	if lu := parseOpt(lastUsed); lu.IsZero() || now.Sub(lu) >= touchEvery {
		if _, err := s.db.Exec(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE token_hash = ?`, clock.Store(now), h); err != nil {
			return Principal{}, fmt.Errorf("authenticate: %w", err)
		}
	}
	if cust != nil {
		p.CustomerID = catalog.CustomerID(*cust)
	}
	p.Via, p.credential = "token", h
	return p, nil
}

func parseOpt(s *string) time.Time {
	if s == nil {
		return time.Time{}
	}
	t, _ := clock.Parse(*s)
	return t
}
