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
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/text"
)

// Break-glass (ISO/IEC 27017 5.1.1, staff access to customer data): operator
// staff have no access to a customer's saved data, except through a grant
// that an operator opens for one customer with a typed reason and a time
// limit. Opening it and every access under it are recorded with the reason in
// that customer's own audit log.

// Break-glass time limits.
const (
	DefaultBreakGlassTTL = time.Hour
	MaxBreakGlassTTL     = 4 * time.Hour
)

// Grant is a live break-glass grant.
type Grant struct {
	ID         string             `json:"id"`
	AccountID  string             `json:"account_id"`
	CustomerID catalog.CustomerID `json:"customer_id"`
	Reason     string             `json:"reason"`
	CreatedAt  time.Time          `json:"created_at"`
	ExpiresAt  time.Time          `json:"expires_at"`
}

// BreakGlassInput opens a grant.
type BreakGlassInput struct {
	Reason  string `json:"reason"`
	Minutes int    `json:"minutes,omitempty"` // default 60, at most 240
}

// OpenBreakGlass opens a grant for operator p on the customer of its handle
// op (the customer the management route names).
func (s *Service) OpenBreakGlass(ctx context.Context, p Principal, op tenant.Operator, in BreakGlassInput) (Grant, error) {
	cust, err := op.Authorize(ActBreakGlassOpen)
	if err != nil {
		return Grant{}, err
	}
	if !p.Operator() || !Allowed(p.Role, ActBreakGlassOpen) {
		return Grant{}, fault.New(fault.Forbidden, "your role does not allow this")
	}
	in.Reason = strings.TrimSpace(in.Reason)
	if n := utf8.RuneCountInString(in.Reason); n < 10 || len(in.Reason) > 1000 {
		return Grant{}, fault.Field("reason", "reason must say why, in 10 to 1000 bytes of text")
	}
	if msg := text.SingleLine(in.Reason); msg != "" {
		return Grant{}, fault.Field("reason", "reason %s", msg)
	}
	ttl := DefaultBreakGlassTTL
	if in.Minutes != 0 {
		ttl = time.Duration(in.Minutes) * time.Minute
		if in.Minutes < 1 || ttl > MaxBreakGlassTTL {
			return Grant{}, fault.Field("minutes", "minutes must be from 1 to %d", int(MaxBreakGlassTTL/time.Minute))
		}
	}
	now := clock.Now()
	g := Grant{ID: ids.New("bgl"), AccountID: p.AccountID, CustomerID: cust, Reason: in.Reason, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO break_glass_grants (id, account_id, customer_id, reason, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?)`, g.ID, g.AccountID, cust, g.Reason, clock.Store(now), clock.Store(g.ExpiresAt)); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fault.New(fault.NotFound, "customer not found")
			}
			return err
		}
		a := audit.ActorFrom(ctx)
		a.OnBehalfOf = string(cust)
		return s.audit.RecordTx(audit.WithActor(ctx, a), tx, audit.Event{Action: "breakglass.open", Target: "customer:" + string(cust),
			CustomerID: string(cust), Reason: g.Reason, Detail: map[string]any{"grant": g.ID, "expires_at": clock.Show(g.ExpiresAt)}})
	})
	if err != nil {
		return Grant{}, fmt.Errorf("break-glass: %w", err)
	}
	return g, nil
}

// activeGrant returns operator p's live grant on customer cust, or a
// Forbidden fault. EnterBreakGlass builds the break-glass scope from it and
// records the access with RecordBreakGlassAccess.
func (s *Service) activeGrant(ctx context.Context, p Principal, cust catalog.CustomerID) (Grant, error) {
	g := Grant{AccountID: p.AccountID, CustomerID: cust}
	var c, e string
	err := store.Scan(s.db.QueryRow(ctx, `SELECT id, reason, created_at, expires_at FROM break_glass_grants
		WHERE account_id = ? AND customer_id = ? AND closed_at IS NULL AND expires_at > ? ORDER BY expires_at DESC LIMIT 1`,
		p.AccountID, cust, clock.Store(clock.Now())), &g.ID, &g.Reason, &c, &e)
	if errors.Is(err, store.ErrNotFound) {
		return Grant{}, fault.New(fault.Forbidden, "no live break-glass grant for this customer: open one with a reason first")
	}
	if err != nil {
		return Grant{}, fmt.Errorf("break-glass: %w", err)
	}
	g.CreatedAt, _ = clock.Parse(c)
	g.ExpiresAt, _ = clock.Parse(e)
	return g, nil
}

// ActiveGrants returns operator p's live grants, one per customer (the
// latest-expiring), for a read that spans customers (a node's desired
// state). A role that may no longer open grants has none.
func (s *Service) ActiveGrants(ctx context.Context, p Principal) ([]Grant, error) {
	all, err := s.OpenGrants(ctx, p)
	if err != nil {
		return nil, err
	}
	var out []Grant
	for _, g := range all {
		if len(out) > 0 && out[len(out)-1].CustomerID == g.CustomerID {
			continue
		}
		out = append(out, g)
	}
	return out, nil
}

// OpenGrants returns every live grant operator p opened, by customer and
// latest expiry first: all of them, since each one is an open door p may
// want to close (GET /api/v1/break-glass). A role that may no longer open
// grants has none.
func (s *Service) OpenGrants(ctx context.Context, p Principal) ([]Grant, error) {
	if !p.Operator() || !Allowed(p.Role, ActBreakGlassOpen) {
		return nil, nil
	}
	rows, err := s.db.Query(ctx, `SELECT id, customer_id, reason, created_at, expires_at FROM break_glass_grants
		WHERE account_id = ? AND closed_at IS NULL AND expires_at > ? ORDER BY customer_id, expires_at DESC, id`,
		p.AccountID, clock.Store(clock.Now()))
	if err != nil {
		return nil, fmt.Errorf("break-glass: %w", err)
	}
	defer rows.Close()
	var out []Grant
	for rows.Next() {
		g := Grant{AccountID: p.AccountID}
		var c, e string
		if err := rows.Scan(&g.ID, &g.CustomerID, &g.Reason, &c, &e); err != nil {
			return nil, fmt.Errorf("break-glass: %w", err)
		}
		g.CreatedAt, _ = clock.Parse(c)
		g.ExpiresAt, _ = clock.Parse(e)
		out = append(out, g)
	}
	return out, rows.Err()
}

// RecordBreakGlassAccess records one access under grant g in the customer's
// audit log, with the grant's reason.
func (s *Service) RecordBreakGlassAccess(ctx context.Context, g Grant, what string) error {
	a := audit.ActorFrom(ctx)
	a.OnBehalfOf = string(g.CustomerID)
	return s.audit.Record(audit.WithActor(ctx, a), audit.Event{Action: "breakglass.access", Target: what,
		CustomerID: string(g.CustomerID), Reason: g.Reason, Detail: map[string]any{"grant": g.ID}})
}

// CloseBreakGlass ends p's grant early.
func (s *Service) CloseBreakGlass(ctx context.Context, p Principal, id string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		var cust string
		if err := store.Scan(tx.QueryRow(ctx, `SELECT customer_id FROM break_glass_grants WHERE id = ? AND account_id = ? AND closed_at IS NULL`,
			id, p.AccountID), &cust); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fault.New(fault.NotFound, "grant not found")
			}
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE break_glass_grants SET closed_at = ? WHERE id = ?`, clock.Store(clock.Now()), id); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "breakglass.close", Target: "customer:" + cust, CustomerID: cust,
			Detail: map[string]any{"grant": id}})
	})
}
