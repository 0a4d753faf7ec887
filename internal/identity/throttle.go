package identity

import (
	"context"
	"errors"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// Login throttling keys on the login ID as typed, not on the account, so that
// an unknown ID locks exactly like a real one and a lockout reveals nothing
// about which IDs exist.

var (
	errLocked = fault.New(fault.RateLimited,
		"too many failed logins for this login ID: it is locked for 15 minutes, or until your operations administrator unlocks it")
	errSourceThrottled = fault.New(fault.RateLimited, "too many failed logins from your address; try again in 15 minutes")
)

// throttled says whether a login attempt for key from ip must be refused
// before its password is even checked.
func (s *Service) throttled(ctx context.Context, key, ip string, now time.Time) error {
	var until string
	err := store.Scan(s.db.QueryRow(ctx, `SELECT locked_until FROM login_locks WHERE login_key = ?`, key), &until)
	switch {
	case err == nil:
		if t, _ := clock.Parse(until); now.Before(t) {
			return errLocked
		}
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	var n int
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM login_failures WHERE source_ip = ? AND at > ?`,
		ip, clock.Store(now.Add(-s.cfg.LockWindow))).Scan(&n); err != nil {
		return store.Wrap(err)
	}
	if n >= s.cfg.IPMaxFailures {
		return errSourceThrottled
	}
	return nil
}

// recordFailure records a failed login and its audit event, and locks key
// when it reaches the threshold.
func (s *Service) recordFailure(ctx context.Context, key, ip string, now time.Time, ev audit.Event) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		// Old failures are pruned as new ones come: the table holds a day.
		if _, err := tx.Exec(ctx, `DELETE FROM login_failures WHERE at < ?`, clock.Store(now.Add(-24*time.Hour))); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO login_failures (login_key, source_ip, at) VALUES (?, ?, ?)`,
			key, ip, clock.Store(now)); err != nil {
			return err
		}
		if err := s.audit.RecordTx(ctx, tx, ev); err != nil {
			return err
		}
		since := now.Add(-s.cfg.LockWindow)
		var reset string
		err := store.Scan(tx.QueryRow(ctx, `SELECT reset_at FROM login_locks WHERE login_key = ?`, key), &reset)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if t, perr := clock.Parse(reset); err == nil && perr == nil && t.After(since) {
			since = t
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM login_failures WHERE login_key = ? AND at > ?`,
			key, clock.Store(since)).Scan(&n); err != nil {
			return err
		}
		if n < s.cfg.LockAfter {
			return nil
		}
		until := now.Add(s.cfg.LockFor)
		// The failures that caused this lock do not count toward the next.
		if err := setLock(ctx, tx, key, until, now); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "login.lock", Target: ev.Target, CustomerID: ev.CustomerID,
			Detail: map[string]any{"failures": n, "locked_until": clock.Show(until)}})
	})
}

func setLock(ctx context.Context, tx *store.Tx, key string, until, reset time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO login_locks (login_key, locked_until, reset_at) VALUES (?, ?, ?)
		ON CONFLICT (login_key) DO UPDATE SET locked_until = excluded.locked_until, reset_at = excluded.reset_at`,
		key, clock.Store(until), clock.Store(reset))
	return err
}

// clearFailures lifts key's lock and starts its failure count afresh, inside
// tx. The failures stay recorded for the per-source count.
func clearFailures(ctx context.Context, tx *store.Tx, key string) error {
	now := clock.Now()
	return setLock(ctx, tx, key, now, now)
}

// Unlock lifts the lock and failure count of an account within p's scope
// (its customer, or the staff for operator staff) if p's role reaches it
// (staff.go): the operations administrator's answer to a locked-out user (the
// user can also wait 15 minutes). An operator does not unlock a security
// officer: that would help a guessed or stolen password into an officer's
// account.
func (s *Service) Unlock(ctx context.Context, p Principal, accountID string) error {
	cust, err := p.manages()
	if err != nil {
		return err
	}
	var target Role
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		a, err := s.scopedAccount(ctx, tx, cust, accountID)
		if err != nil {
			return err
		}
		target = a.Role
		if err := reach(p, a.Role); err != nil {
			return err
		}
		if err := clearFailures(ctx, tx, a.LoginID); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "account.unlock", Target: "account:" + a.ID, CustomerID: string(a.CustomerID)})
	})
	if fault.Is(err, fault.Forbidden) {
		return s.refuseOn(ctx, "account.unlock", "account:"+accountID, p.CustomerID, target, err)
	}
	return err
}
