package evidence

import (
	"context"
	"sync"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestStatusWalksAreShared: callers asking for one chain's status at once
// share one walk; a status is reused while the head has not moved, and a
// chain that grew is walked again.
func TestStatusWalksAreShared(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t))
	cust := e.customer("Status K.K.")
	e.record(customerCtx("alice"), cust, "test.one", nil)
	var mu sync.Mutex
	walks := 0
	walk := func(ctx context.Context, chain string) (ChainStatus, error) {
		mu.Lock()
		walks++
		mu.Unlock()
		return e.svc.StatusOf(ctx, chain)
	}
	var c statusCache
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if st, err := c.get(context.Background(), e.db, cust, walk); err != nil || !st.Verdict.Intact || st.Seq != 1 {
				t.Errorf("status = %+v, %v", st, err)
			}
		})
	}
	wg.Wait()
	if walks > 2 { // callers arriving after the first walk ended may reuse it or not, never walk each
		t.Errorf("%d walks for 8 callers at once", walks)
	}
	before := walks
	if _, err := c.get(context.Background(), e.db, cust, walk); err != nil || walks != before {
		t.Errorf("a status at an unmoved head walked again (%d → %d), %v", before, walks, err)
	}
	e.record(customerCtx("alice"), cust, "test.two", nil)
	if st, err := c.get(context.Background(), e.db, cust, walk); err != nil || st.Seq != 2 || walks != before+1 {
		t.Errorf("after the chain grew: %+v, %v, walks %d → %d", st, err, before, walks)
	}
}
