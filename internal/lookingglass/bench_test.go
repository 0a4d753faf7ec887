package lookingglass

import (
	"context"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// BenchmarkAskRoundTrip measures a customer's read through the database
// with an agent answering at once (SQLite, one controller): the queue, the
// wake of the held poll, the answer and the wake of the waiting read —
// the controller's share of the looking glass's latency, BIRD's excluded.
func BenchmarkAskRoundTrip(b *testing.B) {
	db := storetest.SQLite(b)
	seedTB(b, db)
	s := New(db, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			qs, err := s.Take(ctx, "tyo-1", MaxTakeWait)
			if err != nil {
				return
			}
			for _, q := range qs {
				_ = s.Answer(ctx, "tyo-1", q.ID, answerFor(q))
			}
		}
	}()
	sc := tenanttest.Customer(catalog.CustomerID("cus_a"))
	b.ResetTimer()
	for b.Loop() {
		// The per-customer limits are the controller's guard, not what
		// this measures: the table is emptied between reads.
		if _, err := db.Exec(ctx, `DELETE FROM lg_queries`); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Ask(ctx, sc, "shc00000001", "single"); err != nil {
			b.Fatal(err)
		}
	}
}
