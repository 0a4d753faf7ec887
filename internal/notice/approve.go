package notice

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// The security officer's part: a planned change that touches customers'
// forwarding is announced at least the minimum notice period ahead, or
// published only with the officer's approval and stated reason (an
// emergency fix, say); and the officer keeps an eye on security
// incidents, whose publishing is recorded for them (notice.security).

// Approvals is what the security officer reviews.
type Approvals struct {
	// Pending are the drafts that cannot be published without approval.
	Pending []Notice `json:"pending"`
	// Security are the security incidents, drafts included, newest first.
	Security []Notice `json:"security"`
}

// Approve lets draft id be published inside the minimum notice period.
// The web layer lets only a security officer call it (notices.approve).
func (s *Service) Approve(ctx context.Context, id, reason string) (Notice, error) {
	reason = strings.TrimSpace(reason)
	if utf8.RuneCountInString(reason) < 10 {
		return Notice{}, fault.Field("reason", "state the reason for the approval (at least 10 characters)")
	}
	if utf8.RuneCountInString(reason) > 2000 {
		return Notice{}, fault.Field("reason", "the reason is at most 2000 characters")
	}
	var n Notice
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		cur, err := loadNotice(ctx, tx, id)
		if err != nil {
			return err
		}
		if cur.Status != StatusDraft {
			return fault.New(fault.Conflict, "only a draft awaits approval; this notice is %s", cur.Status)
		}
		if cur.ApprovedAt != nil {
			return fault.New(fault.Conflict, "the draft is already approved")
		}
		if !s.needsApproval(cur) {
			return fault.New(fault.Conflict, "the draft needs no approval: it is not a change inside the minimum notice period")
		}
		actor := audit.ActorFrom(ctx)
		at := clock.Now()
		seq := cur.Revision + 1
		res, err := tx.Exec(ctx, `UPDATE notices SET approved_by = ?, approval_reason = ?, approved_at = ?, updated_at = ?, revision = ?
			WHERE id = ? AND status = 'draft' AND revision = ?`, actor.ID, reason, clock.Store(at), clock.Store(at), seq, id, cur.Revision)
		if err != nil {
			return fmt.Errorf("notice approve: %w", err)
		}
		if err := changedOne(res); err != nil {
			return err
		}
		if err := addUpdate(ctx, tx, id, seq, "approve", StatusDraft, cur.TitleJA, cur.TitleEN, reason, reason, at, actor.ID); err != nil {
			return err
		}
		if err := s.audit.RecordTx(ctx, tx, audit.Event{Action: "notice.approve", Target: "notice:" + id, Reason: reason,
			Detail: map[string]any{"kind": cur.Kind, "category": cur.Category}}); err != nil {
			return err
		}
		n, err = loadNotice(ctx, tx, id)
		return err
	})
	return n, err
}

// Approvals lists the drafts awaiting the officer's approval and the
// security incidents (at most 200 of each, newest first).
func (s *Service) Approvals(ctx context.Context) (Approvals, error) {
	drafts, err := listNotices(ctx, s.db, `kind = ? AND status = 'draft' AND affects_forwarding = ? AND approved_at IS NULL
		AND starts_at IS NOT NULL ORDER BY starts_at, id LIMIT 200`, Announcement, true)
	if err != nil {
		return Approvals{}, err
	}
	a := Approvals{Pending: []Notice{}}
	for _, n := range drafts {
		if s.needsApproval(n) {
			a.Pending = append(a.Pending, n)
		}
	}
	a.Security, err = listNotices(ctx, s.db, `security = ? ORDER BY created_at DESC, id DESC LIMIT 200`, true)
	return a, err
}

// DefaultMinNoticeDays is the minimum notice period unless configured.
const DefaultMinNoticeDays = 7

// MinNoticeDays turns the configured minimum notice period in days (1–90)
// into Config.MinNotice.
func MinNoticeDays(days int) (time.Duration, error) {
	if days < 1 || days > 90 {
		return 0, fmt.Errorf("the minimum notice period is 1 to 90 days, not %d", days)
	}
	return time.Duration(days) * 24 * time.Hour, nil
}
