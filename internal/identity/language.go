package identity

import (
	"context"
	"fmt"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// SetLanguage sets the language of the caller's own account: of the mails
// it receives and of the control panel's pages ("ja" or "en"). Only the
// account itself changes it; the change is audited.
func (s *Service) SetLanguage(ctx context.Context, p Principal, lang string) error {
	if lang == "" {
		return fault.Field("language", "language must be ja or en")
	}
	if err := checkLanguage(&lang); err != nil {
		return err
	}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var old string
		if err := store.Scan(tx.QueryRow(ctx, `SELECT language FROM accounts WHERE id = ?`, p.AccountID), &old); err != nil {
			return err
		}
		if old == lang {
			audit.Unchanged(ctx)
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE accounts SET language = ? WHERE id = ?`, lang, p.AccountID); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "account.language", Target: "account:" + p.AccountID,
			CustomerID: string(p.CustomerID), Detail: map[string]any{"from": old, "to": lang}})
	})
	if err != nil {
		return fmt.Errorf("set language: %w", err)
	}
	return nil
}
