package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

func TestMigrationsAndErrors(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		// Running the migrations again is a no-op.
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		st, err := db.MigrationStatus(ctx)
		if err != nil || len(st) < 2 {
			t.Fatalf("status = %v, %v", st, err)
		}
		for _, line := range st {
			if !strings.Contains(line, "applied") {
				t.Errorf("migration not applied: %s", line)
			}
		}
		// Unique violations are ErrConflict; missing rows ErrNotFound.
		ins := `INSERT INTO issued_codes (code, kind, issued_at) VALUES (?, 'shb', '2026-01-01T00:00:00.000000Z')`
		if _, err := db.Exec(ctx, ins, "shb00000001"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, ins, "shb00000001"); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate insert: got %v, want ErrConflict", err)
		}
		var kind string
		if err := store.Scan(db.QueryRow(ctx, `SELECT kind FROM issued_codes WHERE code = ?`, "nope"), &kind); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing row: got %v, want ErrNotFound", err)
		}
		// A failed transaction leaves nothing behind.
		boom := errors.New("boom")
		err = db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, ins, "shb00000002"); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx = %v", err)
		}
		var n int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM issued_codes WHERE code = ?`, "shb00000002").Scan(&n); err != nil || n != 0 {
			t.Errorf("rolled-back row present: n=%d err=%v", n, err)
		}
		if err := db.IntegrityCheck(ctx); err != nil {
			t.Error(err)
		}
	})
}

func TestAuditLogIsAppendOnlyInTheDatabase(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for seq := 1; seq <= 3; seq++ {
			if _, err := db.Exec(ctx, `INSERT INTO audit_events (chain, seq, v, at, actor_id, actor_kind, actor_name, on_behalf_of, action, target,
				source_ip, request_id, result, reason, detail, prev_hash, hash) VALUES ('cus_a', ?, 2, 'x', 'a', 'k', 'n', '', 'act', 't', '', '', 'ok', '', '{}', '', 'h')`, seq); err != nil {
				t.Fatal(err)
			}
		}
		refused := func(q string) {
			t.Helper()
			if _, err := db.Exec(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: got %v, want an append-only refusal", q, err)
			}
		}
		refused(`UPDATE audit_events SET action = 'forged'`)
		refused(`DELETE FROM audit_events`)
		// Retention may delete a chain's prefix up to its checkpoint, and
		// nothing beyond it nor of another chain.
		if _, err := db.Exec(ctx, `INSERT INTO audit_checkpoints (chain, seq, hash, entry_at, made_at, key_id, sig)
			VALUES ('cus_a', 2, 'h', 'x', 'x', 'k', 's'), ('cus_b', 3, 'h', 'x', 'x', 'k', 's')`); err != nil {
			t.Fatal(err)
		}
		refused(`DELETE FROM audit_events WHERE chain = 'cus_a' AND seq = 3`)
		refused(`UPDATE audit_events SET action = 'forged' WHERE seq = 1`)
		if _, err := db.Exec(ctx, `DELETE FROM audit_events WHERE chain = 'cus_a' AND seq <= 2`); err != nil {
			t.Errorf("deleting the prefix up to the checkpoint: %v", err)
		}
		var n int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM audit_events`).Scan(&n); err != nil || n != 1 {
			t.Errorf("entries left = %d, %v; want 1", n, err)
		}
		if db.Dialect() == store.Postgres {
			refused(`TRUNCATE audit_events`)
		}
	})
}

func TestSecondOpenOfOneDataDirIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := store.Open(context.Background(), store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = store.Open(context.Background(), store.Options{DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "in use by another tsunagi process") {
		t.Fatalf("second open: got %v", err)
	}
}

func TestUnreachablePostgresIsOneClearLine(t *testing.T) {
	t.Parallel()
	// Port 1 on loopback: nothing listens there.
	_, err := store.Open(context.Background(), store.Options{DSN: "postgres://u:p@127.0.0.1:1/db?connect_timeout=2"})
	if err == nil {
		t.Fatal("open succeeded against a closed port")
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "database unreachable: ") || strings.Contains(msg, "\n") {
		t.Errorf("error = %q, want one line starting with 'database unreachable: '", msg)
	}
}
