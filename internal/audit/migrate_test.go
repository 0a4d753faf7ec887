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
