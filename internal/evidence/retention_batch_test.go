package evidence

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestExpireInBatches: a prefix longer than a batch is removed one batch
// per transaction — each recorded, the checkpoint moving batch by batch —
// until the first entry newer than the cut-off; the chain verifies from
// the last checkpoint. Not parallel: it shrinks the batch for the package.
func TestExpireInBatches(t *testing.T) {
	defer func(n int) { expireBatch = n }(expireBatch)
	expireBatch = 4
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := audit.WithActor(context.Background(), audit.System)
		log := audit.New(db)
		keys := signing.New(db, log)
		if err := keys.Ensure(ctx); err != nil {
			t.Fatal(err)
		}
		svc := New(db, log, keys)
		record := func(n int) {
			for range n {
				if err := db.InTx(ctx, func(tx *store.Tx) error {
					return log.RecordTx(ctx, tx, audit.Event{Action: "port.update", Target: "port:p", CustomerID: "cus_a"})
				}); err != nil {
					t.Fatal(err)
				}
			}
		}
		record(10)
		time.Sleep(2 * time.Millisecond)
		cut := clock.Now()
		time.Sleep(2 * time.Millisecond)
		record(1)
		did, err := svc.expire(ctx, cut.Add(DefaultRetention.Audit), "audit:cus_a", DefaultRetention)
		if err != nil || !did {
			t.Fatalf("expire = %v, %v", did, err)
		}
		var upTo []float64
		platform, err := log.ListStored(ctx, audit.OfChain(audit.Platform).Page(0, 1000))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range platform {
			if e.Action == ExpireAction {
				upTo = append(upTo, e.Detail["up_to"].(float64))
			}
		}
		if !slices.Equal(upTo, []float64{4, 8, 10}) {
			t.Errorf("batches recorded up to %v, want [4 8 10]", upTo)
		}
		if cp, err := audit.CheckpointOf(ctx, db, "cus_a"); err != nil || cp.Seq != 10 {
			t.Errorf("checkpoint %+v, %v; want at 10", cp, err)
		}
		if n, err := log.VerifyChain(ctx, "cus_a"); err != nil || n != 1 {
			t.Errorf("VerifyChain = %d, %v; want the one entry left", n, err)
		}
	})
}
