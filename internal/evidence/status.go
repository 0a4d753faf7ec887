package evidence

import (
	"context"
	"sync"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// statusReuse is how long a chain's status, walked whole, answers again for
// a chain whose head has not moved: the customer's audit page opens it, and
// reloading that page (or calling GET /api/v1/audit/status in a loop) must
// not walk a large chain at every request.
const statusReuse = 30 * time.Second

// statusCache shares chain walks: callers of one chain wait for the walk
// under way instead of starting their own, and reuse a recent one.
type statusCache struct {
	mu    sync.Mutex
	walks map[string]*statusWalk
}

type statusWalk struct {
	done chan struct{}
	st   ChainStatus
	err  error
	at   time.Time
}

// get answers chain's status: the walk under way, a walk finished less than
// statusReuse ago at the chain's current head, or a new walk with walk.
func (c *statusCache) get(ctx context.Context, q store.Querier, chain string,
	walk func(context.Context, string) (ChainStatus, error)) (ChainStatus, error) {
	head, err := audit.HeadOf(ctx, q, chain)
	if err != nil {
		return ChainStatus{}, err
	}
	c.mu.Lock()
	if c.walks == nil {
		c.walks = map[string]*statusWalk{}
	}
	w := c.walks[chain]
	if w != nil {
		select {
		case <-w.done:
			if w.err != nil || time.Since(w.at) > statusReuse || w.st.Seq != head.Seq || w.st.Hash != head.Hash {
				w = nil
			}
		default: // under way
		}
	}
	if w == nil {
		w = &statusWalk{done: make(chan struct{})}
		c.walks[chain] = w
		c.mu.Unlock()
		// The walk outlives a caller that gives up: others may wait for it.
		w.st, w.err = walk(context.WithoutCancel(ctx), chain)
		w.at = time.Now()
		close(w.done)
		return w.st, w.err
	}
	c.mu.Unlock()
	select {
	case <-w.done:
		return w.st, w.err
	case <-ctx.Done():
		return ChainStatus{}, ctx.Err()
	}
}
