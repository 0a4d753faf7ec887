package webhook

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

func countDeliveries(t *testing.T, db *store.DB, typ string) int {
	t.Helper()
	var n int
	if err := store.Scan(db.QueryRow(context.Background(), `SELECT COUNT(*) FROM webhook_deliveries WHERE event_type = ?`, typ), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestIngestConfigAppliedOnceWithTwoControllers: the same version
// reported to two controllers at once, and again later, is one
// config.applied event; the next version is another.
func TestIngestConfigAppliedOnceWithTwoControllers(t *testing.T) {
	a, b := storetest.Controllers(t)
	e := newHooksEnv(t, a, nil)
	e.register(t, TypeConfigApplied)
	report := func(v int64) observed.Report {
		return observed.Report{ObservedAt: time.Now(), Hubs: []observed.Hub{{HubID: "hub_1", CustomerID: "cus_a", ConfigVersion: v}}}
	}
	for range 3 {
		var wg sync.WaitGroup
		for _, db := range []*store.DB{a, b} {
			wg.Go(func() {
				if err := (Ingester{DB: db}).Ingest(context.Background(), "node-1", report(4)); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	if n := countDeliveries(t, a, TypeConfigApplied); n != 1 {
		t.Fatalf("version 4 reported six times gave %d events, want 1", n)
	}
	if err := (Ingester{DB: b}).Ingest(context.Background(), "node-1", report(5)); err != nil {
		t.Fatal(err)
	}
	if err := (Ingester{DB: a}).Ingest(context.Background(), "node-1", report(4)); err != nil {
		t.Fatal(err)
	}
	if n := countDeliveries(t, a, TypeConfigApplied); n != 2 {
		t.Fatalf("version 5 then a late 4: %d events, want 2", n)
	}
}

// TestIngestSessionEvents: a backbone session change is an event of the
// hub's customer; a session event naming a port that is not the hub's is
// dropped; other event kinds are not webhook events.
func TestIngestSessionEvents(t *testing.T) {
	db := storetest.SQLite(t)
	e := newHooksEnv(t, db, nil)
	e.register(t, TypeSessionChanged)
	at := time.Now().UTC()
	r := observed.Report{ObservedAt: at, Hubs: []observed.Hub{{HubID: "hub_1", CustomerID: "cus_a", Events: []observed.Event{
		{Kind: observed.EventSession, At: at, Session: "sub", From: "Active", To: "Established"},
		{Kind: observed.EventSession, At: at, PortCode: "shc99999999", Session: "single", From: "Established", To: "Active"},
		{Kind: observed.EventHold, At: at, PortCode: "shc99999999"},
	}}}}
	if err := (Ingester{DB: db}).Ingest(context.Background(), "node-1", r); err != nil {
		t.Fatal(err)
	}
	var subject, data string
	if err := store.Scan(db.QueryRow(context.Background(), `SELECT subject, data FROM webhook_deliveries`), &subject, &data); err != nil {
		t.Fatal(err)
	}
	if subject != "hubs/hub_1/backbone/sub" || data != `{"hub_id":"hub_1","session":"sub","from":"Active","to":"Established"}` {
		t.Fatalf("event %s %s", subject, data)
	}
	if n := countDeliveries(t, db, TypeSessionChanged); n != 1 {
		t.Fatalf("%d session events, want 1 (the foreign port's dropped)", n)
	}
}
