package mail

import (
	"context"
	"fmt"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// heldUntil is the next attempt of a held entry: never, until Release.
var heldUntil = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// Hold adds m to the outbox inside tx like Enqueue, but no sender takes it
// until Release gives it its final subject and body. It is for a mail whose
// recipient must be read before the text can be written: a customer's
// erasure notice goes to accounts that the erasure deletes before the
// certificate it carries exists (package lifecycle).
func Hold(ctx context.Context, tx *store.Tx, m Message) (string, error) {
	m.After = heldUntil
	return Enqueue(ctx, tx, m)
}

// Release gives the held entry id its subject and body, moves it to the
// customer cust ("" for the platform), and makes it due now. It fails when
// id is not held (released already, or never held).
func Release(ctx context.Context, tx *store.Tx, id, cust, subject, body string) error {
	var c any
	if cust != "" {
		c = cust
	}
	res, err := tx.Exec(ctx, `UPDATE mail_outbox SET customer_id = ?, subject = ?, body = ?, next_attempt_at = ?
		WHERE id = ? AND status = 'pending' AND next_attempt_at = ?`,
		c, subject, tx.Secrets().Seal(body, bodyContext(id)), clock.Store(clock.Now()), id, clock.Store(heldUntil))
	if err != nil {
		return fmt.Errorf("mail: release %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("mail: release %s: not held", id)
	}
	tx.AfterCommit(queued.wake)
	return nil
}
