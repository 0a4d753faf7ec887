package audit_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

func TestConcurrentAppendsKeepOneChain(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		log := audit.New(db)
		ctx := audit.WithActor(context.Background(), audit.Actor{ID: "acc_1", Kind: "operator", Name: "op", SourceIP: "192.0.2.1", RequestID: "req_1"})
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 10 {
					if err := log.Record(ctx, audit.Event{Action: "test.write", Target: "thing:x", CustomerID: "cus_a",
						Detail: map[string]any{"worker": w, "i": i, "text": "<b>&"}}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		n, err := log.Verify(ctx)
		if err != nil || n != 80 {
			t.Fatalf("verify = %d, %v; want 80 intact", n, err)
		}
		own, err := audit.Own(tenanttest.Customer("cus_a"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := log.List(ctx, own.Page(0, 5))
		if err != nil || len(got) != 5 {
			t.Fatalf("list = %d, %v", len(got), err)
		}
		e := got[0]
		if e.Seq != 1 || e.ActorName != "op" || e.SourceIP != "192.0.2.1" || e.RequestID != "req_1" || e.Result != audit.OK || e.PrevHash != "" {
			t.Errorf("first entry = %+v", e)
		}
		ownB, _ := audit.Own(tenanttest.Customer("cus_b"))
		if other, _ := log.List(ctx, ownB); len(other) != 0 {
			t.Errorf("another customer's view holds %d entries", len(other))
		}
		if all, err := log.List(ctx, audit.AllChains().Page(0, 1000)); err != nil || len(all) != 80 {
			t.Errorf("the cross-customer read = %d, %v; want 80", len(all), err)
		}
		if only, err := log.List(ctx, audit.OfChain("cus_a").Page(0, 1000)); err != nil || len(only) != 80 {
			t.Errorf("the cross-customer read narrowed to cus_a = %d, %v; want 80", len(only), err)
		}
		// No zero value means "every customer": a query without a scope,
		// a narrowing to "" and a zero scope are refused.
		for name, q := range map[string]audit.Query{"zero query": {Limit: 5}, "empty narrowing": audit.OfChain("")} {
			if got, err := log.List(ctx, q); !fault.Is(err, fault.Internal) || len(got) != 0 {
				t.Errorf("%s: %d entries, %v; want an internal error", name, len(got), err)
			}
		}
		if _, err := audit.Own(tenant.Scope{}); !fault.Is(err, fault.Internal) {
			t.Errorf("Own(zero scope): %v, want an internal error", err)
		}
		if _, err := audit.Own(tenanttest.As("cus_a", "user", tenant.ActCatalogRead)); !fault.Is(err, fault.Forbidden) {
			t.Errorf("Own(a user's scope): %v, want forbidden", err)
		}
	})
}

// TestTamperingIsDetected removes the database's own guard (as an attacker
// with file access could) and checks that Verify still notices every kind of
// change.
func TestTamperingIsDetected(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"edited field":   `UPDATE audit_events SET action = 'forged' WHERE seq = 3`,
		"edited detail":  `UPDATE audit_events SET detail = '{"amount":2}' WHERE seq = 2`,
		"deleted entry":  `DELETE FROM audit_events WHERE seq = 3`,
		"deleted tail":   `DELETE FROM audit_events WHERE seq >= 4`,
		"rehashed entry": `UPDATE audit_events SET result = 'denied', hash = prev_hash WHERE seq = 2`,
	}
	for name, tamper := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := storetest.SQLite(t)
			ctx := context.Background()
			log := audit.New(db)
			for i := range 5 {
				if err := log.Record(ctx, audit.Event{Action: "test.write", Target: "x", Detail: map[string]any{"amount": i}}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.Exec(ctx, `DROP TRIGGER audit_events_no_update`); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(ctx, `DROP TRIGGER audit_events_no_delete`); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(ctx, tamper); err != nil {
				t.Fatal(err)
			}
			_, err := log.Verify(ctx)
			var ce *audit.ChainError
			if !errors.As(err, &ce) {
				t.Fatalf("tampering (%s) not detected: %v", name, err)
			}
		})
	}
}

// TestStructDetailVerifies: a detail holding a struct (whose JSON keys come
// in field order), typed numbers and a nested list verifies, because the
// hash covers the detail as it reads back, not as the caller built it.
func TestStructDetailVerifies(t *testing.T) {
	t.Parallel()
	type leg struct {
		Zeta  string `json:"zeta"`
		Alpha int64  `json:"alpha"`
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		log := audit.New(db)
		ctx := audit.WithActor(context.Background(), audit.System)
		if err := log.Record(ctx, audit.Event{Action: "test.struct", Target: "thing:x",
			Detail: map[string]any{"legs": []leg{{Zeta: "z", Alpha: 1}, {Zeta: "y", Alpha: 2}}, "speed": int64(10_000), "ok": true}}); err != nil {
			t.Fatal(err)
		}
		if n, err := log.Verify(ctx); err != nil || n != 1 {
			t.Fatalf("verify = %d, %v; want 1 intact", n, err)
		}
	})
}

// TestOneBadEventFailsOnlyItself: Record calls waiting together share one
// transaction; an event that cannot be appended fails alone, and the others
// in its batch are appended.
func TestOneBadEventFailsOnlyItself(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		log := audit.New(db)
		ctx := audit.WithActor(context.Background(), audit.Actor{ID: "acc_1", Kind: "operator", Name: "op"})
		var wg sync.WaitGroup
		errs := make([]error, 40)
		for i := range errs {
			wg.Go(func() {
				ev := audit.Event{Action: "test.write", Target: "thing:x", CustomerID: []string{"cus_a", "cus_b", ""}[i%3]}
				if i%10 == 7 {
					ev.Detail = map[string]any{"bad": make(chan int)} // does not encode
				}
				errs[i] = log.Record(ctx, ev)
			})
		}
		wg.Wait()
		for i, err := range errs {
			if (i%10 == 7) != (err != nil) {
				t.Errorf("event %d: %v", i, err)
			}
		}
		if n, err := log.Verify(ctx); err != nil || n != 36 {
			t.Fatalf("verify = %d, %v; want the 36 good events", n, err)
		}
	})
}
