package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	tmail "github.com/tsunagi-net/tsunagi/internal/mail"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Account lifecycle by the operations administrator (ISO/IEC 27017 9.2.1,
// 9.2.2), by operator staff over staff accounts (within the separation of
// duties of staff.go) and by the owner (9.2.4). Every method takes its scope
// from the caller's principal: an account of another customer is "not
// found".

// ResetLinkTTL is how long a password re-issue link works; at most
// MaxResetMails are sent to one account within that time.
const (
	ResetLinkTTL  = 30 * time.Minute
	MaxResetMails = 3
)

// scopedAccount returns a live account of customer cust ("" = operator staff).
func (s *Service) scopedAccount(ctx context.Context, q store.Querier, cust catalog.CustomerID, id string) (Account, error) {
	query := `SELECT ` + accountCols + ` FROM accounts WHERE id = ? AND disabled_at IS NULL AND `
	args := []any{id}
	if cust == "" {
		query += `customer_id IS NULL`
	} else {
		query += `customer_id = ?`
		args = append(args, cust)
	}
	a, err := scanAccount(q.QueryRow(ctx, query, args...))
	if err != nil {
		if errors.Is(store.Wrap(err), store.ErrNotFound) {
			return Account{}, fault.New(fault.NotFound, "account not found")
		}
		return Account{}, store.Wrap(err)
	}
	return a, nil
}

// GetAccount returns one account of customer cust.
func (s *Service) GetAccount(ctx context.Context, sc tenant.Scope, id string) (Account, error) {
	cust, err := sc.Authorize(ActAccountsRead)
	if err != nil {
		return Account{}, err
	}
	return s.scopedAccount(ctx, s.db, cust, id)
}

// otherOpsAdmins counts cust's operations administrators other than id,
// locked (lockedIDs), so that two administrators deleting or demoting each
// other at once cannot both pass the last-administrator check. All of them
// are locked, id's too, so that both transactions lock the same rows alike.
func otherOpsAdmins(ctx context.Context, tx *store.Tx, cust catalog.CustomerID, id string) (int, error) {
	ids, err := lockedIDs(ctx, tx, `SELECT id FROM accounts WHERE customer_id = ? AND role = ? AND disabled_at IS NULL
		ORDER BY id`, cust, RoleOpsAdmin)
	n := 0
	for _, other := range ids {
		if other != id {
			n++
		}
	}
	return n, err
}

// DeleteAccount deletes an account within p's scope (its customer, or the
// staff for operator staff) if p's role reaches it (staff.go): at once, every
// session ends, every API token is revoked and unused links die. The row
// stays (disabled) so that the audit log's references and the login ID remain
// unambiguous. A customer keeps at least one operations administrator, and
// the staff their last active security officer.
func (s *Service) DeleteAccount(ctx context.Context, p Principal, id string) error {
	cust, err := p.manages()
	if err != nil {
		return err
	}
	var target Role
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		a, err := s.scopedAccount(ctx, tx, cust, id)
		if err != nil {
			return err
		}
		target = a.Role
		if err := reach(p, a.Role); err != nil {
			return err
		}
		if cust != "" && a.Role == RoleOpsAdmin {
			n, err := otherOpsAdmins(ctx, tx, cust, id)
			if err != nil {
				return err
			}
			if n == 0 {
				return fault.New(fault.Conflict, "this is the customer's last operations administrator; invite another one first")
			}
		}
		if err := keepLastStaff(ctx, tx, a); err != nil {
			return err
		}
		now := clock.Store(clock.Now())
		for _, q := range []string{
			`UPDATE accounts SET disabled_at = ? WHERE id = ?`,
			`UPDATE api_tokens SET revoked_at = ? WHERE account_id = ? AND revoked_at IS NULL`,
			`UPDATE setup_tokens SET used_at = ? WHERE account_id = ? AND used_at IS NULL`,
		} {
			if _, err := tx.Exec(ctx, q, now, id); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE account_id = ?`, id); err != nil {
			return err
		}
		detail := map[string]any{"login_id": a.LoginID, "role": string(a.Role)}
		if !a.Active {
			// An invitation not yet delivered (an approved recovery's is
			// held for RecoveryWait) is withdrawn with the account.
			n, err := tmail.Withdraw(ctx, tx, string(a.CustomerID), a.Email, "account.invite", "withdrawn: the account was deleted")
			if err != nil {
				return err
			}
			if n > 0 {
				detail["invitation_withdrawn"] = true
			}
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "account.delete", Target: "account:" + id, CustomerID: string(cust),
			Detail: detail})
	})
	if fault.Is(err, fault.Forbidden) {
		return s.refuseOn(ctx, "account.delete", "account:"+id, cust, target, err)
	}
	return err
}

// RoleInput changes an account's role.
type RoleInput struct {
	Role Role `json:"role"`
}

// ChangeRole sets the role of an account within p's scope if p's role
// reaches it (staff.go: no change makes or unmakes a security officer). It
// takes effect on the next request of every live session (whose ID is then
// rotated) and token of the account.
func (s *Service) ChangeRole(ctx context.Context, p Principal, id string, in RoleInput) (Account, error) {
	cust, err := p.manages()
	if err != nil {
		return Account{}, err
	}
	if !in.Role.Valid() || in.Role.OperatorSide() != (cust == "") || in.Role == RoleBreakGlass {
		if cust == "" {
			return Account{}, fault.Field("role", "role must be operator or security-officer")
		}
		return Account{}, fault.Field("role", "role must be ops-admin, admin or user")
	}
	var a Account
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if a, err = s.scopedAccount(ctx, tx, cust, id); err != nil {
			return err
		}
		// Checked before the no-op answer, so that an operator learns
		// nothing of an officer's account by "changing" it to its role.
		if err := reachRole(p, a.Role, in.Role); err != nil {
			return err
		}
		if a.Role == in.Role {
			audit.Unchanged(ctx)
			return nil
		}
		if cust != "" && a.Role == RoleOpsAdmin {
			n, err := otherOpsAdmins(ctx, tx, cust, id)
			if err != nil {
				return err
			}
			if n == 0 {
				return fault.New(fault.Conflict, "this is the customer's last operations administrator; make another one first")
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE accounts SET role = ? WHERE id = ?`, in.Role, id); err != nil {
			return err
		}
		old := a.Role
		a.Role = in.Role
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "account.role", Target: "account:" + id, CustomerID: string(cust),
			Detail: map[string]any{"from": string(old), "to": string(in.Role)}})
	})
	if fault.Is(err, fault.Forbidden) {
		return Account{}, s.refuseOn(ctx, "account.role", "account:"+id, cust, a.Role, err)
	}
	if err != nil {
		return Account{}, fmt.Errorf("change role: %w", err)
	}
	return a, nil
}

// PasswordInput changes the caller's own password.
type PasswordInput struct {
	Current string `json:"current_password"`
	New     string `json:"new_password"`
}

// ChangePassword sets p's password after checking the current one. A wrong
// current password counts as a failed login for throttling. Every other
// session of the account ends.
func (s *Service) ChangePassword(ctx context.Context, p Principal, in PasswordInput) error {
	if err := s.requireRecentAuth(ctx, p, "password.change"); err != nil {
		return err
	}
	if len(in.Current) > MaxPasswordBytes || len(in.New) > MaxPasswordBytes {
		return s.refuse(ctx, "password.change", "account:"+p.AccountID, p.CustomerID, "password_too_long", errPasswordTooLong)
	}
	now := clock.Now()
	if err := s.throttled(ctx, sideOf(p.CustomerID), p.LoginID, audit.ActorFrom(ctx).SourceIP, now); err != nil {
		if fault.Is(err, fault.RateLimited) {
			return s.refuse(ctx, "password.change", "account:"+p.AccountID, p.CustomerID, "throttled", err)
		}
		return err
	}
	var hash *string
	if err := store.Scan(s.db.QueryRow(ctx, `SELECT password_hash FROM accounts WHERE id = ? AND disabled_at IS NULL`, p.AccountID),
		&hash); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if hash == nil || !CheckPassword(in.Current, *hash) {
		ev := audit.Event{Action: "password.change", Target: "account:" + p.AccountID, CustomerID: string(p.CustomerID),
			Result: audit.Denied, Detail: map[string]any{"reason": "wrong_current_password"}}
		if err := s.recordFailure(ctx, sideOf(p.CustomerID), p.LoginID, audit.ActorFrom(ctx).SourceIP, now, ev); err != nil {
			return err
		}
		return fault.Field("current_password", "the current password is incorrect")
	}
	if err := CheckPolicy(in.New, p.LoginID); err != nil {
		return s.refuse(ctx, "password.change", "account:"+p.AccountID, p.CustomerID, "policy", err)
	}
	if in.New == in.Current {
		return fault.Field("new_password", "the new password must differ from the current one")
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE accounts SET password_hash = ?, password_changed_at = ? WHERE id = ?`,
			HashPassword(in.New, s.cfg.Argon2), clock.Store(now), p.AccountID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE account_id = ? AND id_hash <> ?`, p.AccountID, p.credential); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "password.change", Target: "account:" + p.AccountID,
			CustomerID: string(p.CustomerID)})
	})
}

// refuse records a refused request and returns err.
func (s *Service) refuse(ctx context.Context, action, target string, cust catalog.CustomerID, why string, err error) error {
	if rerr := s.audit.Record(ctx, audit.Event{Action: action, Target: target, CustomerID: string(cust), Result: audit.Denied,
		Detail: map[string]any{"reason": why}}); rerr != nil {
		return rerr
	}
	return err
}

// ResetInput asks for a password re-issue link.
type ResetInput struct {
	LoginID string `json:"login_id"`
}

// RequestReset mails a single-use, 30-minute re-issue link to the account's
// address if loginID names an active account on this side. The answer is the
// same whether or not it does, and both paths write one audit event in one
// transaction, so neither the answer nor its timing tells an account apart.
func (s *Service) RequestReset(ctx context.Context, side Side, in ResetInput) error {
	if len(in.LoginID) > 254 {
		return fault.Field("login_id", "login_id is too long")
	}
	now := clock.Now()
	token := ""
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		a, err := scanAccount(tx.QueryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE login_id = ? AND disabled_at IS NULL`, in.LoginID))
		err = store.Wrap(err)
		found := err == nil && a.Active && (side == OperatorSide) == (a.CustomerID == "")
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		ev := audit.Event{Action: "password.reset.request", Target: "login:" + truncate(in.LoginID, 64)}
		if !found {
			ev.Detail = map[string]any{"sent": false}
			return s.audit.RecordTx(ctx, tx, ev)
		}
		// An ended customer's account gets no link: it could set a password
		// but never sign in with it (customerend.go).
		if a.CustomerID != "" {
			ended, err := customerEnded(ctx, tx, a.CustomerID)
			if err != nil {
				return err
			}
			if ended {
				ev.CustomerID, ev.Target = string(a.CustomerID), "account:"+a.ID
				ev.Result, ev.Detail = audit.Denied, map[string]any{"sent": false, "reason": "customer_ended"}
				return s.audit.RecordTx(ctx, tx, ev)
			}
		}
		// At most MaxResetMails links per account per ResetLinkTTL, so that
		// nobody can flood an inbox; the answer stays the same.
		var recent int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM setup_tokens WHERE account_id = ? AND purpose = 'reset' AND created_at > ?`,
			a.ID, clock.Store(now.Add(-ResetLinkTTL))).Scan(&recent); err != nil {
			return err
		}
		if recent >= MaxResetMails {
			ev.CustomerID, ev.Target = string(a.CustomerID), "account:"+a.ID
			ev.Result, ev.Detail = audit.Denied, map[string]any{"sent": false, "reason": "too_many_requests"}
			return s.audit.RecordTx(ctx, tx, ev)
		}
		token = ids.Secret("tsu")
		exp := now.Add(ResetLinkTTL)
		if _, err := tx.Exec(ctx, `INSERT INTO setup_tokens (token_hash, purpose, account_id, created_at, expires_at) VALUES (?, 'reset', ?, ?, ?)`,
			hashSecret(token), a.ID, clock.Store(now), clock.Store(exp)); err != nil {
			return err
		}
		m, err := resetMail(a.Language, a.Email, a.DisplayName, a.LoginID, s.link(side, "/setup?reset=1&token="+token), exp)
		if err != nil {
			return err
		}
		m.CustomerID = string(a.CustomerID)
		if _, err := tmail.Enqueue(ctx, tx, m); err != nil {
			return err
		}
		ev.CustomerID, ev.Target = string(a.CustomerID), "account:"+a.ID
		ev.Detail = map[string]any{"sent": true, "link_expires_at": clock.Show(exp)}
		return s.audit.RecordTx(ctx, tx, ev)
	})
}
