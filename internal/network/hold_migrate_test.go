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
			// Today's catalog reads hubs.ended_at (00060) when it makes a
			// port: the column is there while the rows of before 00051 are
			// made, and goes before the upgrade adds it again.
			if _, err := db.Exec(ctx, `ALTER TABLE hubs ADD COLUMN ended_at TEXT`); err != nil {
				t.Fatal(err)
			}
			e := newEnv(t, db)
			a := e.addCustomer("a")
			e.place(a, pOnPrem, pAPrivate)
			if _, err := db.Exec(ctx, `ALTER TABLE hubs DROP COLUMN ended_at`); err != nil {
				t.Fatal(err)
			}
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
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
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
