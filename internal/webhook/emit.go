package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/text"
)

// maxSubject bounds an event's subject, in bytes.
const maxSubject = 500

// emit is Emit's body: one pending delivery per subscribed webhook, all
// with the event's one ID (a receiver's key for duplicates). A queued
// delivery wakes the senders through the store's change broadcast, on
// every controller; an event no webhook wants wakes nobody.
func emit(ctx context.Context, tx *store.Tx, ev Event) error {
	if ev.Customer == "" || !slices.Contains(Types, ev.Type) || ev.Time.IsZero() {
		return errors.New("webhook: an event needs its customer, a known type and its time")
	}
	if len(ev.Subject) > maxSubject || text.SingleLine(ev.Subject) != "" {
		return fmt.Errorf("webhook: subject %q is not one short line", ev.Subject)
	}
	data, err := json.Marshal(ev.Data)
	if err != nil {
		return fmt.Errorf("webhook: event data: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT id, events FROM webhooks WHERE customer_id = ?`, string(ev.Customer))
	if err != nil {
		return fmt.Errorf("webhook: emit: %w", err)
	}
	var hooks []string
	for rows.Next() {
		var id, events string
		if err := rows.Scan(&id, &events); err != nil {
			rows.Close()
			return store.Wrap(err)
		}
		if slices.Contains(strings.Fields(events), ev.Type) {
			hooks = append(hooks, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return store.Wrap(err)
	}
	if len(hooks) == 0 {
		return nil
	}
	eventID := ids.New("evt")
	now := clock.Store(clock.Now())
	for _, h := range hooks {
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_deliveries (id, webhook_id, customer_id, event_id, event_type, subject,
			event_time, data, status, attempts, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)`,
			ids.New("whd"), h, string(ev.Customer), eventID, ev.Type, ev.Subject, clock.Store(ev.Time), string(data), now, now); err != nil {
			return fmt.Errorf("webhook: queue delivery: %w", err)
		}
	}
	tx.Changed()
	return nil
}
