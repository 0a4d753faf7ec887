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
