package audit

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestRecordShards appends to many customers' chains at once through
// Record: on PostgreSQL their batches commit in parallel, one queue per
// shard of chains. Every chain must hold exactly its events in one intact
// chain, a chain's events must always share a queue, and no flusher may be
// left once nothing waits.
func TestRecordShards(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		log := New(db)
		want := 1
		if db.Dialect() == store.Postgres {
			want = pgShards
		}
		if len(log.shards) != want {
			t.Fatalf("%d queues on %v, want %d", len(log.shards), db.Dialect(), want)
		}
		used := map[*recordShard]bool{}
		for c := range 16 {
			chain := fmt.Sprintf("cus_%d", c)
			if log.shardOf(chain) != log.shardOf(chain) {
				t.Fatalf("chain %s has no one queue", chain)
			}
			used[log.shardOf(chain)] = true
		}
		if len(used) != len(log.shards) {
			t.Errorf("16 chains use %d of %d queues", len(used), len(log.shards))
		}
		ctx := WithActor(context.Background(), Actor{ID: "acc_1", Kind: "customer", Name: "admin"})
		var wg sync.WaitGroup
		for w := range 32 {
			wg.Go(func() {
				for i := range 10 {
					ev := Event{Action: "session.login", Target: "account:a", CustomerID: fmt.Sprintf("cus_%d", (w+i)%16),
						Detail: map[string]any{"email": "a@example.com"}}
					if err := log.Record(ctx, ev); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		for c := range 16 {
			n, err := log.VerifyChain(ctx, fmt.Sprintf("cus_%d", c))
			if err != nil || n != 20 {
				t.Errorf("cus_%d: %d entries, %v; want 20 intact", c, n, err)
			}
		}
		// A flusher ends just after answering its last caller.
		for i := range log.shards {
			sh := &log.shards[i]
			idle := func() bool {
				sh.mu.Lock()
				defer sh.mu.Unlock()
				return !sh.flusher && len(sh.queue) == 0
			}
			for deadline := time.Now().Add(5 * time.Second); !idle(); time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("queue %d still has a flusher 5 s after every Record returned", i)
				}
			}
		}
	})
}
