package audit

import (
	"context"
	"sync/atomic"
)

// A tally counts the events recorded under a context — the web layer keeps
// one per request, so that a state-changing request that succeeded without
// recording anything is caught (every change is audited).
type tallyKey struct{}

// WithTally returns a context whose recorded events are counted in the
// returned counter, including events recorded in transactions that later
// roll back (the request then fails, and the count does not matter).
func WithTally(ctx context.Context) (context.Context, *atomic.Int64) {
	n := new(atomic.Int64)
	return context.WithValue(ctx, tallyKey{}, n), n
}

func countRecord(ctx context.Context) {
	if n, ok := ctx.Value(tallyKey{}).(*atomic.Int64); ok {
		n.Add(1)
	}
}

// Unchanged says, under ctx, that an operation asked to change something
// found nothing to change — an idempotent repeat, such as setting the
// language an account already has — so there is no event to record. It
// counts in the tally as a record would: a request that changed nothing
// has nothing missing from the log. Call it only on such a path, never in
// place of recording a change.
func Unchanged(ctx context.Context) { countRecord(ctx) }
