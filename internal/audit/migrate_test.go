package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestEntriesBeforeSealingStayAsWritten: entries appended before migration
// 00067 keep their personal fields in plain text after the upgrade (the log
// is never rewritten), forgetting the customer leaves them so, and the chain
// through old and new entries verifies.
func TestEntriesBeforeSealingStayAsWritten(t *testing.T) {
	t.Parallel()
	for name, dsn := range map[string]func(testing.TB) string{"sqlite": func(testing.TB) string { return "" }, "postgres": storetest.PostgresDSN} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db, err := store.OpenNoMigrate(ctx, store.Options{DataDir: t.TempDir(), DSN: dsn(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if err := db.MigrateTo(ctx, 65); err != nil {
				t.Fatal(err)
			}
			// An entry as the code before sealing appended it.
			old := audit.Entry{Seq: 1, At: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), ActorID: "acc_c1", ActorKind: "customer",
				ActorName: plantLogin, CustomerID: "cus_a", Action: "account.invite", Target: "account:acc_9", SourceIP: plantIP,
				RequestID: "req_0", Result: audit.OK, Detail: map[string]any{"login_id": plantLogin, "email": plantEmail}}
			old.Hash = audit.Hash(old)
			if _, err := db.Exec(ctx, `INSERT INTO audit_events (seq, at, actor_id, actor_kind, actor_name, customer_id, on_behalf_of,
				action, target, source_ip, request_id, result, reason, detail, prev_hash, hash)
				VALUES (1, ?, ?, ?, ?, ?, '', ?, ?, ?, ?, ?, '', ?, '', ?)`,
				clock.Store(old.At), old.ActorID, old.ActorKind, old.ActorName, old.CustomerID, old.Action, old.Target,
				old.SourceIP, old.RequestID, old.Result, `{"email":"`+plantEmail+`","login_id":"`+plantLogin+`"}`, old.Hash); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(ctx, `UPDATE audit_head SET seq = 1, hash = ? WHERE id = 1`, old.Hash); err != nil {
				t.Fatal(err)
			}
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			log := audit.New(db)
			record(t, log, customerActor, inviteEvent)
			if err := db.InTx(ctx, func(tx *store.Tx) error { return log.ForgetCustomerTx(ctx, tx, "cus_a") }); err != nil {
				t.Fatal(err)
			}
			if n, err := log.Verify(ctx); err != nil || n != 3 {
				t.Fatalf("verify across the upgrade = %d, %v; want 3 intact", n, err)
			}
			got := listAll(t, log)
			if e := got[0]; e.ActorName != plantLogin || e.Detail["email"] != plantEmail || e.Sealed != "" || e.Erased() {
				t.Errorf("the entry from before sealing = %+v; want it as written", e)
			}
			if e := got[1]; !e.Erased() || e.ActorName != audit.ErasedMark {
				t.Errorf("the entry sealed after the upgrade = %+v; want it erased", e)
			}
		})
	}
}

// TestOneChainSplitsIntoChains: the single chain written before migration
// 00078 becomes the start of the platform chain, hashed as it was; it
// verifies up to the migration point and on through the platform's new
// entries, while a customer's new events start that customer's own chain at
// sequence 1, which says nothing of how many entries others have.
func TestOneChainSplitsIntoChains(t *testing.T) {
	t.Parallel()
	for name, dsn := range map[string]func(testing.TB) string{"sqlite": func(testing.TB) string { return "" }, "postgres": storetest.PostgresDSN} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db, err := store.OpenNoMigrate(ctx, store.Options{DataDir: t.TempDir(), DSN: dsn(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if err := db.MigrateTo(ctx, 77); err != nil {
				t.Fatal(err)
			}
			prev := ""
			for i, cust := range []string{"cus_a", "", "cus_b"} {
				e := audit.Entry{Seq: int64(i + 1), At: time.Date(2026, 11, 1, 0, i, 0, 0, time.UTC), ActorID: "acc_o1", ActorKind: "operator",
					ActorName: "op", CustomerID: cust, Action: "test.old", Target: "thing:x", RequestID: "req_0", Result: audit.OK, PrevHash: prev}
				e.Hash = audit.Hash(e)
				var c any
				if cust != "" {
					c = cust
				}
				if _, err := db.Exec(ctx, `INSERT INTO audit_events (seq, at, actor_id, actor_kind, actor_name, customer_id, on_behalf_of,
					action, target, source_ip, request_id, result, reason, detail, prev_hash, hash)
					VALUES (?, ?, ?, ?, ?, ?, '', ?, ?, '', ?, ?, '', 'null', ?, ?)`,
					e.Seq, clock.Store(e.At), e.ActorID, e.ActorKind, e.ActorName, c, e.Action, e.Target, e.RequestID, e.Result, e.PrevHash, e.Hash); err != nil {
					t.Fatal(err)
				}
				prev = e.Hash
			}
			if _, err := db.Exec(ctx, `UPDATE audit_head SET seq = 3, hash = ? WHERE id = 1`, prev); err != nil {
				t.Fatal(err)
			}
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			log := audit.New(db)
			ctx = audit.WithActor(ctx, audit.Actor{ID: "acc_o1", Kind: "operator", Name: "op"})
			for _, cust := range []string{"cus_a", "", "cus_a"} {
				if err := log.Record(ctx, audit.Event{Action: "test.new", Target: "thing:y", CustomerID: cust}); err != nil {
					t.Fatal(err)
				}
			}
			if n, err := log.Verify(ctx); err != nil || n != 6 {
				t.Fatalf("verify across the split = %d, %v; want 6 intact", n, err)
			}
			platform, err := log.List(ctx, audit.OfChain(audit.Platform).Page(0, 10))
			if err != nil || len(platform) != 4 {
				t.Fatalf("platform chain = %d entries, %v; want the 3 old and 1 new", len(platform), err)
			}
			if e := platform[3]; e.Seq != 4 || e.V != audit.V2 || e.PrevHash != prev || e.Action != "test.new" {
				t.Errorf("the platform's first new entry = %+v; want seq 4 linked to the old head", e)
			}
			if e := platform[0]; e.V != audit.V1 || e.Chain != audit.Platform || e.CustomerID != "cus_a" {
				t.Errorf("an old entry = %+v; want it kept in the platform chain as written", e)
			}
			own, err := log.List(ctx, audit.OfChain("cus_a"))
			if err != nil || len(own) != 2 || own[0].Seq != 1 || own[0].PrevHash != "" || own[1].Seq != 2 {
				t.Fatalf("cus_a's chain = %+v, %v; want its own sequence from 1", own, err)
			}
			if _, err := db.Exec(ctx, `DELETE FROM audit_events WHERE chain = 'platform' AND seq = 1`); err == nil {
				t.Error("an old entry could be deleted")
			}
		})
	}
}
