package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestAfterCommit: what a transaction registers runs once it has
// committed, in order, and the commit is visible to it; nothing runs for a
// transaction that rolls back.
func TestAfterCommit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var ran []string
		seen := -1
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO regions (id, code, name_en, name_ja, data_location, created_at)
				VALUES ('reg_a', 'a', 'A', 'A', 'JP', '2026-12-01T00:00:00.000000Z')`); err != nil {
				return err
			}
			tx.AfterCommit(func() {
				ran = append(ran, "first")
				if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM regions WHERE id = 'reg_a'`).Scan(&seen); err != nil {
					t.Error(err)
				}
			})
			tx.AfterCommit(func() { ran = append(ran, "second") })
			if len(ran) != 0 {
				t.Error("ran before the commit")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(ran) != 2 || ran[0] != "first" || ran[1] != "second" || seen != 1 {
			t.Fatalf("after commit: ran %q, saw %d rows", ran, seen)
		}
		boom := errors.New("rolled back")
		err = db.InTx(ctx, func(tx *store.Tx) error {
			tx.AfterCommit(func() { t.Error("ran after a rollback") })
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
	})
}
