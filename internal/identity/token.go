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
	tmail "github.com/tsunagi-net/tsunagi/internal/mail"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/text"
)

// Token is an API token's public description; its secret is shown once.
type Token struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Role       Role       `json:"role"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// TokenInput creates an API token.
type TokenInput struct {
	Name      string    `json:"name"`
	ExpiresAt time.Time `json:"expires_at"`
	// Role scopes the token below its account's role (e.g. a read-only
	// token of an admin); empty means the account's role.
	Role Role `json:"role,omitempty"`
}

// MaxTokenLifetime is the longest an API token may live.
const MaxTokenLifetime = 366 * 24 * time.Hour

// rank orders the customer roles; operator roles are not ordered, each only
// equal to itself.
func rank(r Role) int {
	switch r {
	case RoleUser:
		return 1
	case RoleAdmin:
		return 2
	case RoleOpsAdmin:
		return 3
	}
	return 0
}

// within reports whether a token of role tok may act for an account of role acc.
func within(tok, acc Role) bool {
	if tok == acc {
		return true
	}
	return rank(tok) > 0 && rank(acc) > 0 && rank(tok) <= rank(acc)
}

// CreateToken issues an API token for the principal's own account. It acts
// with in.Role (at most the account's role) or, later, the account's role if
// that becomes lower. It returns the secret, which is not kept.
func (s *Service) CreateToken(ctx context.Context, p Principal, in TokenInput) (Token, string, error) {
	if in.Name == "" || len(in.Name) > 100 || text.SingleLine(in.Name) != "" {
		return Token{}, "", fault.Field("name", "name is required (at most 100 bytes, one line)")
	}
	now := clock.Now()
	if in.ExpiresAt.IsZero() {
		return Token{}, "", fault.Field("expires_at", "expires_at is required")
	}
	if !in.ExpiresAt.After(now) || in.ExpiresAt.Sub(now) > MaxTokenLifetime {
		return Token{}, "", fault.Field("expires_at", "expires_at must be in the future and at most 366 days ahead")
	}
	if in.Role == "" {
		in.Role = p.Role
	}
	if !in.Role.Valid() || !within(in.Role, p.Role) {
		return Token{}, "", fault.Field("role", "role must be your own role or a lower one")
	}
	if err := s.requireRecentAuth(ctx, p, "token.create"); err != nil {
		return Token{}, "", err
	}
	// A token outlives the session that made it: when the customer requires
	// MFA of this account, only a session that gave the second factor may
	// make one.
	pol, err := s.policy(ctx, s.db, p.CustomerID)
	if err != nil {
		return Token{}, "", err
	}
	need, err := s.needsMFAUnder(ctx, s.db, p.AccountID, p.Role, p.CustomerID, pol)
	if err != nil {
		return Token{}, "", fmt.Errorf("create token: %w", err)
	}
	if need && !p.mfa {
		return Token{}, "", s.refuse(ctx, "token.create", "account:"+p.AccountID, p.CustomerID, CodeMFARequired,
			fault.Coded(fault.Forbidden, CodeMFARequired, "API tokens are created from a session that gave its second factor"))
	}
	var dev any
	if p.device != "" {
		dev = p.device
	}
	t := Token{ID: ids.New("tok"), Name: in.Name, Role: in.Role, CreatedAt: now, ExpiresAt: in.ExpiresAt.UTC().Truncate(time.Microsecond)}
	secret := ids.Secret("tsk")
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO api_tokens (id, account_id, name, role, token_hash, created_at, expires_at, device_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, t.ID, p.AccountID, t.Name, t.Role, hashSecret(secret), clock.Store(now), clock.Store(t.ExpiresAt),
			dev); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "token.create", Target: "token:" + t.ID, CustomerID: string(p.CustomerID),
			Detail: map[string]any{"name": t.Name, "role": string(t.Role), "expires_at": clock.Show(t.ExpiresAt), "device": p.device}})
	})
	if err != nil {
		return Token{}, "", fmt.Errorf("create token: %w", err)
	}
	return t, secret, nil
}

// AuthenticateToken returns the principal of a live API token. Its role is
// the token's role or the account's current role, whichever is lower.
//
// The customer's policy binds tokens as it binds sessions: the allow-list
// applies; while MFA is required of the account's role, a token of an
// account without a second factor is refused (403 mfa_required) until the
// account enrols one; while devices are required, a token works only if the
// session that created it was opened from a registered device that is still
// registered (403 device_required otherwise) — a token presents no device
// of its own.
func (s *Service) AuthenticateToken(ctx context.Context, side Side, secret string) (Principal, error) {
	if !strings.HasPrefix(secret, "tsk_") || len(secret) > 100 {
		return Principal{}, errAuth
	}
	var p Principal
	var cust, lastUsed, tokRole, device *string
	var expires string
	h := hashSecret(secret)
	err := store.Scan(s.db.QueryRow(ctx, `SELECT a.id, a.customer_id, a.login_id, a.role, t.role, t.last_used_at, t.expires_at, t.device_id
		FROM api_tokens t JOIN accounts a ON a.id = t.account_id
		WHERE t.token_hash = ? AND t.revoked_at IS NULL AND a.disabled_at IS NULL`, h),
		&p.AccountID, &cust, &p.LoginID, &p.Role, &tokRole, &lastUsed, &expires, &device)
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
	accRole := p.Role
	if tokRole != nil && Role(*tokRole) != p.Role {
		if !within(Role(*tokRole), p.Role) {
			if rank(p.Role) == 0 {
				// An operator-side account whose role changed: the token
				// was made for another job and no longer applies.
				return Principal{}, errAuth
			}
		} else {
			p.Role = Role(*tokRole)
		}
	}
	if cust != nil {
		p.CustomerID = catalog.CustomerID(*cust)
	}
	pol, err := s.checkSource(ctx, p.CustomerID, "account:"+p.AccountID, "token")
	if err != nil {
		return Principal{}, err
	}
	if device != nil {
		p.device = *device
	}
	if err := s.tokenPolicy(ctx, p, accRole, pol); err != nil {
		return Principal{}, err
	}
	if lu := parseOpt(lastUsed); lu.IsZero() || now.Sub(lu) >= touchEvery {
		if _, err := s.db.Exec(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE token_hash = ?`, clock.Store(now), h); err != nil {
			return Principal{}, fmt.Errorf("authenticate: %w", err)
		}
	}
	p.Via, p.credential = "token", h
	sealScope(&p)
	return p, nil
}

// tokenPolicy refuses, with an audit event, a token that its customer's
// MFA or device requirement no longer lets through (see AuthenticateToken).
// accRole is the account's own role: the policy binds the account, whatever
// the token's narrower role.
func (s *Service) tokenPolicy(ctx context.Context, p Principal, accRole Role, pol SecurityPolicy) error {
	if p.CustomerID == "" {
		return nil
	}
	if requiresMFA(accRole, p.CustomerID, pol) {
		has, err := s.hasFactor(ctx, s.db, p.AccountID)
		if err != nil {
			return fmt.Errorf("authenticate: %w", err)
		}
		if !has {
			if err := s.audit.Record(ctx, audit.Event{Action: "access.denied.mfa", Target: "account:" + p.AccountID,
				CustomerID: string(p.CustomerID), Result: audit.Denied, Detail: map[string]any{"via": "token"}}); err != nil {
				return err
			}
			return fault.Coded(fault.Forbidden, CodeMFARequired, "your organisation requires a second factor: "+
				"this account's API tokens work again once it has enrolled one")
		}
	}
	if !pol.RequireDevice {
		return nil
	}
	ok := false
	if p.device != "" {
		var na string
		err := store.Scan(s.db.QueryRow(ctx, `SELECT not_after FROM device_certificates WHERE id = ? AND customer_id = ? AND revoked_at IS NULL`,
			p.device, p.CustomerID), &na)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("authenticate: %w", err)
		}
		t, _ := clock.Parse(na)
		ok = err == nil && clock.Now().Before(t)
	}
	if ok {
		return nil
	}
	if err := s.audit.Record(ctx, audit.Event{Action: "access.denied.device", Target: "account:" + p.AccountID,
		CustomerID: string(p.CustomerID), Result: audit.Denied, Detail: map[string]any{"via": "token"}}); err != nil {
		return err
	}
	return fault.Coded(fault.Forbidden, CodeDeviceRequired, "your organisation allows access only from registered devices: "+
		"use an API token created from a session on a registered device")
}

func parseOpt(s *string) time.Time {
	if s == nil {
		return time.Time{}
	}
	t, _ := clock.Parse(*s)
	return t
}

// ListTokens lists the live (unrevoked, unexpired) tokens of p's account.
func (s *Service) ListTokens(ctx context.Context, p Principal) ([]Token, error) {
	rows, err := s.db.Query(ctx, `SELECT id, name, role, created_at, expires_at, last_used_at FROM api_tokens
		WHERE account_id = ? AND revoked_at IS NULL AND expires_at > ? ORDER BY created_at DESC`, p.AccountID, clock.Store(clock.Now()))
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	defer rows.Close()
	out := []Token{}
	for rows.Next() {
		var t Token
		var role, lu *string
		var c, e string
		if err := rows.Scan(&t.ID, &t.Name, &role, &c, &e, &lu); err != nil {
			return nil, fmt.Errorf("tokens: %w", err)
		}
		if role != nil {
			t.Role = Role(*role)
		}
		t.CreatedAt, _ = clock.Parse(c)
		t.ExpiresAt, _ = clock.Parse(e)
		if x := parseOpt(lu); !x.IsZero() {
			t.LastUsedAt = &x
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken revokes one of p's own tokens; another account's is not found.
// It is done from a session: a token revokes no token, not even itself.
func (s *Service) RevokeToken(ctx context.Context, p Principal, id string) error {
	if p.Via != "session" {
		return ErrSessionRequired
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND account_id = ? AND revoked_at IS NULL`,
			clock.Store(clock.Now()), id, p.AccountID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fault.New(fault.NotFound, "token not found")
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "token.revoke", Target: "token:" + id, CustomerID: string(p.CustomerID)})
	})
}

// TokenReminderLead is how long before expiry a token's owner is reminded.
const TokenReminderLead = 14 * 24 * time.Hour

// TokenReminderJobName names the token reminders' job in the scheduler.
const TokenReminderJobName = "token.remind"

// TokenReminderJob is the scheduler's job that mails the owner of every live
// token expiring within TokenReminderLead, hourly: a token created with
// less than the lead left is reminded within the hour, not the next day.
// Each token's reminded_at is its done marker, set in the same transaction
// as the queued mail and the audit entry, so its owner gets one reminder
// however many controllers run the job.
func (s *Service) TokenReminderJob() schedule.Job {
	return schedule.Job{Name: TokenReminderJobName, Due: s.dueReminders, Do: s.remindToken,
		Next: func(now time.Time) time.Time { return now.Add(time.Hour) }}
}

// reminderDue is the condition of a token whose owner is owed a reminder at
// now (arguments: now, now + TokenReminderLead).
const reminderDue = `t.revoked_at IS NULL AND t.reminded_at IS NULL AND a.disabled_at IS NULL AND t.expires_at > ? AND t.expires_at <= ?`

// dueReminders lists the tokens owed a reminder at now, soonest expiry first.
func (s *Service) dueReminders(ctx context.Context, now time.Time) ([]string, error) {
	rows, err := s.db.Query(ctx, `SELECT t.id FROM api_tokens t JOIN accounts a ON a.id = t.account_id WHERE `+reminderDue+`
		ORDER BY t.expires_at, t.id`, clock.Store(now), clock.Store(now.Add(TokenReminderLead)))
	if err != nil {
		return nil, fmt.Errorf("token reminders: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("token reminders: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// remindToken queues token id's reminder once: the conditional UPDATE of
// reminded_at claims it (a concurrent claim on PostgreSQL waits for this
// transaction and then finds it set), and the mail and audit entry commit
// with it. It reports false when the token was reminded already or is no
// longer owed one (revoked, expired, its account disabled).
func (s *Service) remindToken(ctx context.Context, now time.Time, id string) (bool, error) {
	done := false
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE api_tokens SET reminded_at = ? WHERE id = ? AND reminded_at IS NULL AND id IN (
			SELECT t.id FROM api_tokens t JOIN accounts a ON a.id = t.account_id WHERE `+reminderDue+`)`,
			clock.Store(now), id, clock.Store(now), clock.Store(now.Add(TokenReminderLead)))
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k != 1 {
			return nil
		}
		var name, email, lang, login, expires string
		var cust *string
		if err := store.Scan(tx.QueryRow(ctx, `SELECT t.name, a.email, a.language, a.login_id, t.expires_at, a.customer_id
			FROM api_tokens t JOIN accounts a ON a.id = t.account_id WHERE t.id = ?`, id),
			&name, &email, &lang, &login, &expires, &cust); err != nil {
			return err
		}
		exp, _ := clock.Parse(expires)
		m, err := tokenReminderMail(lang, email, login, name, exp)
		if err != nil {
			return err
		}
		if cust != nil {
			m.CustomerID = *cust
		}
		if _, err := tmail.Enqueue(ctx, tx, m); err != nil {
			return err
		}
		done = true
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "token.remind", Target: "token:" + id, CustomerID: m.CustomerID,
			Detail: map[string]any{"expires_at": clock.Show(exp)}})
	})
	if err != nil {
		return false, fmt.Errorf("token reminder %s: %w", id, err)
	}
	return done, nil
}
