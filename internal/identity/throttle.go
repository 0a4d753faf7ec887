package identity

import (
	"context"
	"errors"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// Login throttling keys on the login ID as typed, not on the account, so that
// an unknown ID locks exactly like a real one and a lockout reveals nothing
// about which IDs exist.
//
// Each listener counts apart: failures on the customer listener never lock a
// login or an address out of the management listener, nor the other way
// round (customers and staff often share a NAT address). A login ID's lock
// key is the ID itself on the customer listener and "mgmt:" and the ID on
// the management listener (see lockKey; accountCols reads it back).

// String is the side's name as stored with a failed login.
func (s Side) String() string {
	if s == OperatorSide {
		return "management"
	}
	return "customer"
}

// sideOf is the listener on which an account of customer cust signs in.
func sideOf(cust catalog.CustomerID) Side {
	if cust == "" {
		return OperatorSide
	}
	return CustomerSide
}

// MgmtLockPrefix starts the throttle key of a login ID typed on the
// management listener; a customer's erasure (package lifecycle) removes the
// keys of its login IDs with and without it.
const MgmtLockPrefix = "mgmt:"

// lockKey is the login_locks key of loginID on side.
func lockKey(side Side, loginID string) string {
	if side == OperatorSide {
		return MgmtLockPrefix + loginID
	}
	return loginID
}

// throttleError is a refused login with the time after which the same
// attempt would not be refused for the same reason; the web layer sends it
// as Retry-After.
type throttleError struct {
	error
	after time.Duration
}

func (e throttleError) Unwrap() error             { return e.error }
func (e throttleError) RetryAfter() time.Duration { return e.after }

// throttled says whether a login attempt for loginID from ip on side must be
// refused before its password is even checked.
func (s *Service) throttled(ctx context.Context, side Side, loginID, ip string, now time.Time) error {
	var until string
	err := store.Scan(s.db.QueryRow(ctx, `SELECT locked_until FROM login_locks WHERE login_key = ?`, lockKey(side, loginID)), &until)
	switch {
	case err == nil:
		if t, _ := clock.Parse(until); now.Before(t) {
			return throttleError{fault.New(fault.RateLimited, "too many failed logins for this login ID: it is locked until %s (JST), "+
				"or until your operations administrator unlocks it", clock.Show(t)), t.Sub(now)}
		}
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	// The failure whose expiry brings the count below the limit says when
	// the address may try again.
	var at string
	err = store.Scan(s.db.QueryRow(ctx, `SELECT at FROM login_failures WHERE side = ? AND source_ip = ? AND at > ?
		ORDER BY at DESC LIMIT 1 OFFSET ?`, side.String(), ip, clock.Store(now.Add(-s.cfg.LockWindow)), s.cfg.IPMaxFailures-1), &at)
	switch {
	case err == nil:
		t, _ := clock.Parse(at)
		return throttleError{fault.New(fault.RateLimited, "too many failed logins from your address; try again later"),
			t.Add(s.cfg.LockWindow).Sub(now)}
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	return nil
}

// recordFailure records a failed login on side and its audit event, and
// locks loginID on that side when it reaches the threshold.
func (s *Service) recordFailure(ctx context.Context, side Side, loginID, ip string, now time.Time, ev audit.Event) error {
	key := lockKey(side, loginID)
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		// Old failures are pruned as new ones come: the table holds a day.
		if _, err := tx.Exec(ctx, `DELETE FROM login_failures WHERE at < ?`, clock.Store(now.Add(-24*time.Hour))); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO login_failures (login_key, source_ip, at, side) VALUES (?, ?, ?, ?)`,
			key, ip, clock.Store(now), side.String()); err != nil {
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

// clearFailures lifts the lock of key (lockKey) and starts its failure count afresh, inside
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
		if err := clearFailures(ctx, tx, lockKey(sideOf(a.CustomerID), a.LoginID)); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "account.unlock", Target: "account:" + a.ID, CustomerID: string(a.CustomerID)})
	})
	if fault.Is(err, fault.Forbidden) {
		return s.refuseOn(ctx, "account.unlock", "account:"+accountID, p.CustomerID, target, err)
	}
	return err
}
