package webhook

import (
	"context"
	"errors"
	"slices"

	"github.com/tsunagi-net/tsunagi/internal/store"
)

// emit is Emit's body. The contract's first cut checks the event only;
// the queue comes with the webhook tables (migration 00086).
func emit(ctx context.Context, tx *store.Tx, ev Event) error {
	if ev.Customer == "" || !slices.Contains(Types, ev.Type) || ev.Time.IsZero() {
		return errors.New("webhook: an event needs its customer, a known type and its time")
	}
	_, _ = ctx, tx
	return nil
}
