package network

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// The customer's edit lock (workflow.go): one holder at a time, who must
// hold it live for every draft operation; it expires after
// Settings.LockIdle without activity and is then taken over, and an
// operations administrator may break it.

// Lock is the customer's edit lock.
type Lock struct {
	AccountID  string    `json:"account_id"`
	Holder     string    `json:"holder"`
	Since      time.Time `json:"since"`
	LastActive time.Time `json:"last_active"`
	ExpiresAt  time.Time `json:"expires_at"`
	Mine       bool      `json:"mine"`
}

func scanLock(row interface{ Scan(...any) error }) (Lock, error) {
	var l Lock
	var since, last string
	if err := row.Scan(&l.AccountID, &l.Holder, &since, &last); err != nil {
		return l, err
	}
	l.Since, _ = clock.Parse(since)
	l.LastActive, _ = clock.Parse(last)
	return l, nil
}

func (s *core) lock(ctx context.Context, q store.Querier, cust catalog.CustomerID) (Lock, bool, error) {
	l, err := scanLock(q.QueryRow(ctx, `SELECT account_id, holder, since, last_active FROM net_locks WHERE customer_id = ?`, cust))
	if err := store.Wrap(err); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Lock{}, false, nil
		}
		return Lock{}, false, fmt.Errorf("edit lock: %w", err)
	}
	l.ExpiresAt = l.LastActive.Add(s.settings.LockIdle)
	l.Mine = l.AccountID == audit.ActorFrom(ctx).ID
	return l, s.now().Before(l.ExpiresAt), nil
}

// GetLock returns the customer's edit lock, or NotFound when nobody holds it.
func (s *Workflow) GetLock(ctx context.Context, sc tenant.Scope) (Lock, error) {
	cust, err := sc.Authorize(identity.ActNetworkRead)
	if err != nil {
		return Lock{}, err
	}
	l, live, err := s.lock(ctx, s.db, cust)
	if err != nil {
		return Lock{}, err
	}
	if !live {
		return Lock{}, fault.New(fault.NotFound, "nobody is editing")
	}
	return l, nil
}

// holdLock checks that the caller holds a live lock and records activity.
func (s *core) holdLock(ctx context.Context, tx *store.Tx, cust catalog.CustomerID) error {
	l, live, err := s.lock(ctx, tx, cust)
	if err != nil {
		return err
	}
	if !live || !l.Mine {
		if live {
			return fault.New(fault.Conflict, "%s has been editing since %s; wait, or ask an operations administrator to break the lock",
				l.Holder, clock.Show(l.Since))
		}
		return fault.New(fault.Conflict, "start editing first: you do not hold the edit lock (it expires after %s idle)", s.settings.LockIdle)
	}
	_, err = tx.Exec(ctx, `UPDATE net_locks SET last_active = ? WHERE customer_id = ?`, clock.Store(s.now()), cust)
	return err
}

// takeLock takes the customer's edit lock for the caller, or refreshes it
// when the caller holds it; a live lock of someone else refuses with who
// and since when, and an expired one is taken over.
func (s *core) takeLock(ctx context.Context, tx *store.Tx, cust catalog.CustomerID) error {
	a := audit.ActorFrom(ctx)
	l, live, err := s.lock(ctx, tx, cust)
	if err != nil {
		return err
	}
	now := clock.Store(s.now())
	switch {
	case live && !l.Mine:
		return fault.New(fault.Conflict, "%s has been editing since %s", l.Holder, clock.Show(l.Since))
	case live && l.Mine:
		_, err := tx.Exec(ctx, `UPDATE net_locks SET last_active = ? WHERE customer_id = ?`, now, cust)
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM net_locks WHERE customer_id = ?`, cust); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO net_locks (customer_id, account_id, holder, since, last_active) VALUES (?, ?, ?, ?, ?)`,
		cust, a.ID, a.Name, now, now); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fault.Wrap(fault.Conflict, err, "someone else has just started editing")
		}
		return err
	}
	detail := map[string]any{}
	if l.AccountID != "" {
		detail["took_over_expired_lock_of"] = l.Holder
	}
	return s.audit.RecordTx(ctx, tx, audit.Event{Action: "network.lock.take", Target: "customer:" + string(cust),
		CustomerID: string(cust), Detail: detail})
}

// ReleaseLock ends the caller's editing; the draft stays.
func (s *Workflow) ReleaseLock(ctx context.Context, sc tenant.Scope) error {
	cust, err := sc.Authorize(identity.ActNetworkEdit)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.holdLock(ctx, tx, cust); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM net_locks WHERE customer_id = ?`, cust); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "network.lock.release", Target: "customer:" + string(cust), CustomerID: string(cust)})
	})
}

// BreakLock removes another account's lock (operations administrators).
func (s *Workflow) BreakLock(ctx context.Context, sc tenant.Scope) (Lock, error) {
	cust, err := sc.Authorize(identity.ActLockBreak)
	if err != nil {
		return Lock{}, err
	}
	var l Lock
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var live bool
		var err error
		if l, live, err = s.lock(ctx, tx, cust); err != nil {
			return err
		}
		if l.AccountID == "" {
			return fault.New(fault.NotFound, "nobody is editing")
		}
		if _, err := tx.Exec(ctx, `DELETE FROM net_locks WHERE customer_id = ?`, cust); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "network.lock.break", Target: "customer:" + string(cust), CustomerID: string(cust),
			Detail: map[string]any{"holder": l.Holder, "since": clock.Show(l.Since), "was_live": live}})
	})
	return l, err
}
