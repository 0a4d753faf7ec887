package network

import (
	"context"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// Migration 00051 carries the layer-2 guard shutdowns and route-limit
// stops recorded before it into port_holds, and the re-enable sequences
// into port_reenables, so a held port stays held across the upgrade.
func TestHoldsMigration(t *testing.T) {
	t.Parallel()
	for name, dsn := range map[string]func(testing.TB) string{"sqlite": func(testing.TB) string { return "" }, "postgres": storetest.PostgresDSN} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db, err := store.OpenNoMigrate(ctx, store.Options{DataDir: t.TempDir(), DSN: dsn(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if err := db.MigrateTo(ctx, 50); err != nil {
				t.Fatal(err)
			}
			// The services below append to the audit log as the current code
			// does: per chain, with the sealed column and the customers' audit
			// keys (migrations 00066–00067, 00078), and the catalog reads
			// hubs.ended_at (00060) when it makes a port. The old schema gets
			// a log of today's shape for the seeding (its entries are not what
			// this test is about) and its own back before the upgrade.
			shim(t, db, `ALTER TABLE audit_events RENAME TO audit_events_v50`,
				`CREATE TABLE audit_events (chain TEXT NOT NULL, seq BIGINT NOT NULL, v INTEGER NOT NULL, at TEXT NOT NULL,
					actor_id TEXT NOT NULL, actor_kind TEXT NOT NULL, actor_name TEXT NOT NULL, customer_id TEXT,
					on_behalf_of TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, source_ip TEXT NOT NULL,
					request_id TEXT NOT NULL, result TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL,
					sealed TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
					CONSTRAINT audit_events_shim_pkey PRIMARY KEY (chain, seq))`,
				`CREATE TABLE audit_chains (chain TEXT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL)`,
				`CREATE TABLE change_counter (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)`,
				`INSERT INTO change_counter (id, n) VALUES (1, 0)`,
				`CREATE TABLE audit_keys (customer_id TEXT PRIMARY KEY, sealed_key TEXT NOT NULL, created_at TEXT NOT NULL)`,
				`ALTER TABLE hubs ADD COLUMN ended_at TEXT`)
			e := newEnv(t, db)
			a := e.addCustomer("a")
			on, cl := a.codes[pOnPrem], a.codes[pAPrivate]
			for _, q := range []string{
				`INSERT INTO port_shutdowns (port_id, customer_id, reason, shut_at) SELECT id, customer_id, 'flap', '2026-11-20T01:00:00.000000Z' FROM ports WHERE port_code = '` + on + `'`,
				`INSERT INTO bgp_sessions (port_id, customer_id, state, received, tripped_at, reenable_seq, updated_at)
					SELECT id, customer_id, 'enabled', 0, NULL, 2, '2026-11-20T00:00:00.000000Z' FROM ports WHERE port_code = '` + on + `'`,
				`INSERT INTO bgp_sessions (port_id, customer_id, state, received, tripped_at, reenable_seq, updated_at)
					SELECT id, customer_id, 'stopped-limit', 2001, '2026-11-21T00:00:00.000000Z', 1, '2026-11-21T00:00:00.000000Z' FROM ports WHERE port_code = '` + cl + `'`,
			} {
				if _, err := db.Exec(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			shim(t, db, `DROP TABLE audit_keys`, `DROP TABLE audit_events`, `ALTER TABLE audit_events_v50 RENAME TO audit_events`,
				`DROP TABLE audit_chains`, `DROP TABLE change_counter`, `ALTER TABLE hubs DROP COLUMN ended_at`)
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			// Placed after the upgrade: today's placement reads columns
			// of later migrations (node states, 00062); the rows carried
			// over do not depend on placements.
			e.place(a, pOnPrem, pAPrivate)
			g, err := e.svc.Workflow.GetPortGuard(a.ctx, a.sc, on)
			if err != nil || g.State != "shut" || g.Reason != ShutFlap || g.ReenableSeq != 2 || g.ShutAt == nil || g.ShutAt.Format("2006-01-02") != "2026-11-20" {
				t.Errorf("guard after the upgrade: %+v, %v", g, err)
			}
			b, err := e.svc.Workflow.GetBGPState(a.ctx, a.sc, cl)
			// The count stored before was the controller's guess (limit+1),
			// not BIRD's: it is not carried over as one.
			if err != nil || b.State != "stopped-limit" || b.ReenableSeq != 1 || b.StoppedPrefixes != nil || b.TrippedAt == nil {
				t.Errorf("session after the upgrade: %+v, %v", b, err)
			}
			// The re-enable goes on from the carried sequence.
			if b, err := e.svc.Workflow.Reenable(a.ctx, a.sc, cl); err != nil || b.ReenableSeq != 2 {
				t.Errorf("re-enable after the upgrade: %+v, %v", b, err)
			}
		})
	}
}

// shim runs schema statements a migration test needs around its seeding.
func shim(t *testing.T, db *store.DB, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if _, err := db.Exec(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}
