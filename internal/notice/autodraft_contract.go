package notice

// This file is the part of announce's contract (common.md) that the
// automatic drafts call, written here until branch announce is merged,
// which replaces it with its own Draft and OpenAutoDraft.

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// Draft is the operator's input for a new or edited draft.
type Draft struct {
	Kind, Category, Severity         string // Kind: Announcement|Incident
	TitleJA, TitleEN, BodyJA, BodyEN string
	StartsAt, EndsAt                 *time.Time
	Scope                            Scope
	AffectsForwarding, Security      bool
	DataAffected                     string
}

// OpenAutoDraft inserts an incident draft opened by the platform (source)
// for the condition episode autoKey, inside tx; created is false when a
// draft of autoKey already exists (notices.auto_key is unique).
func (s *Service) OpenAutoDraft(ctx context.Context, tx *store.Tx, source, autoKey string, d Draft) (Notice, bool, error) {
	scope, err := json.Marshal(d.Scope)
	if err != nil {
		return Notice{}, false, err
	}
	now := clock.Now()
	n := Notice{ID: ids.New("ntc"), Kind: Incident, Category: d.Category, Severity: d.Severity, Status: StatusDraft,
		TitleJA: d.TitleJA, TitleEN: d.TitleEN, BodyJA: d.BodyJA, BodyEN: d.BodyEN, Scope: d.Scope,
		AffectsForwarding: d.AffectsForwarding, Source: source, CreatedBy: audit.ActorFrom(ctx).ID, CreatedAt: now, UpdatedAt: now, Revision: 1}
	res, err := tx.Exec(ctx, `INSERT INTO notices (id, kind, category, severity, status, title_ja, title_en, body_ja, body_en, scope,
		affects_forwarding, source, auto_key, created_by, created_at, updated_at, revision)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT (auto_key) DO NOTHING`,
		n.ID, n.Kind, n.Category, n.Severity, n.Status, n.TitleJA, n.TitleEN, n.BodyJA, n.BodyEN, string(scope),
		n.AffectsForwarding, source, autoKey, n.CreatedBy, clock.Store(now), clock.Store(now))
	if err != nil {
		return Notice{}, false, fmt.Errorf("notice: automatic draft: %w", err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return Notice{}, false, nil
	}
	if _, err := tx.Exec(ctx, `INSERT INTO notice_updates (notice_id, seq, kind, status, title_ja, title_en, body_ja, body_en, at, by_account)
		VALUES (?, 1, 'create', ?, ?, ?, ?, ?, ?, ?)`, n.ID, n.Status, n.TitleJA, n.TitleEN, n.BodyJA, n.BodyEN, clock.Store(now), n.CreatedBy); err != nil {
		return Notice{}, false, fmt.Errorf("notice: automatic draft: %w", err)
	}
	if err := s.audit.RecordTx(ctx, tx, audit.Event{Action: "notice.create", Target: "notice:" + n.ID,
		Detail: map[string]any{"kind": source, "key": autoKey}}); err != nil {
		return Notice{}, false, err
	}
	return n, true, nil
}
