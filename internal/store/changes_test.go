package store_test

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/nstest"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// woken says whether ch closes within d.
func woken(ch <-chan struct{}, d time.Duration) bool {
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

// changed commits a transaction that marks itself Changed.
func changed(t *testing.T, db *store.DB) {
	t.Helper()
	if err := db.InTx(context.Background(), func(tx *store.Tx) error {
		tx.Changed()
		_, err := tx.Exec(context.Background(), `UPDATE change_counter SET n = n WHERE id = 1`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// TestChangesWakeOnCommitOnly: on each engine, a transaction marked Changed
// wakes this handle's waiters when it commits — and neither an unmarked
// commit nor a marked transaction that rolls back wakes them.
func TestChangesWakeOnCommitOnly(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		listening(t, db)
		next := db.Changes().Next()
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE change_counter SET n = n WHERE id = 1`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		errRefused := errors.New("refused")
		if err := db.InTx(ctx, func(tx *store.Tx) error { tx.Changed(); return errRefused }); !errors.Is(err, errRefused) {
			t.Fatal(err)
		}
		if woken(next, 300*time.Millisecond) {
			t.Fatal("woken by a commit not marked Changed, or by a rolled-back one")
		}
		changed(t, db)
		if !woken(next, time.Second) {
			t.Fatal("a committed change did not wake the waiter")
		}
	})
}

// listening starts db's LISTEN session on PostgreSQL and waits until it is
// established (the session wakes the waiters once when it starts, which
// would otherwise be mistaken for the wake a test waits for).
func listening(t *testing.T, db *store.DB) {
	t.Helper()
	first := db.Changes().Next()
	if db.Dialect() != store.Postgres {
		return
	}
	nstest.WaitFor(t, "the LISTEN session", 10*time.Second, func() (bool, string) {
		n, err := db.Changes().Listens()
		return n > 0, errString(err)
	})
	if !woken(first, time.Second) {
		t.Fatal("the LISTEN session did not wake the waiters when it started")
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// twoControllers opens two handles on one fresh PostgreSQL schema — two
// controllers sharing a database — with the fallback re-check of the first
// set far beyond the test's waits, so that only a notification can wake it
// in time. It also returns the schema's name.
func twoControllers(t *testing.T) (a, b *store.DB, schema string) {
	t.Helper()
	dsn := storetest.PostgresDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	schema = u.Query().Get("search_path")
	key := filepath.Join(t.TempDir(), "secret.key")
	for i, db := range []**store.DB{&a, &b} {
		o := store.Options{DSN: dsn, SecretKeyFile: key, MaxConns: 2}
		if i == 0 {
			o.ListenFallback = time.Minute
		}
		*db, err = store.Open(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { (*db).Close() })
	}
	return a, b, schema
}

// TestChangesAcrossControllers: a change committed through one controller
// wakes the waiters of another on the same database and schema, by
// PostgreSQL's NOTIFY — while a controller on another schema of the same
// database (another installation, or another test) does not.
func TestChangesAcrossControllers(t *testing.T) {
	t.Parallel()
	a, b, _ := twoControllers(t)
	listening(t, a)
	next := a.Changes().Next()
	other := storetest.Postgres(t)
	changed(t, other)
	if woken(next, 300*time.Millisecond) {
		t.Fatal("a change in another schema woke this one's waiters")
	}
	start := time.Now()
	changed(t, b)
	if !woken(next, 5*time.Second) {
		t.Fatal("a change through the other controller did not wake this one's waiters")
	}
	t.Logf("woken %v after the other controller's commit", time.Since(start))
}

// TestChangesSurviveListenLoss: when the LISTEN connection is cut (here by
// the server terminating its backend, as a restart or a failover would),
// the controller connects and listens again, and then hears the other
// controller's changes as before — not only at the fallback re-check,
// which is set to a minute here.
func TestChangesSurviveListenLoss(t *testing.T) {
	t.Parallel()
	a, b, schema := twoControllers(t)
	listening(t, a)
	before, _ := a.Changes().Listens()

	admin, err := sql.Open("pgx", storetest.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var cut int
	if err := admin.QueryRow(`SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE query = 'LISTEN "tsunagi_changes.' || $1 || '"'`, schema).Scan(&cut); err != nil || cut != 1 {
		t.Fatalf("terminated %d LISTEN backends, %v", cut, err)
	}
	nstest.WaitFor(t, "a new LISTEN session", 15*time.Second, func() (bool, string) {
		n, err := a.Changes().Listens()
		return n > before, errString(err)
	})
	if _, err := a.Changes().Listens(); err != nil {
		t.Errorf("the live session still reports the loss: %v", err)
	}
	// The new session woke the waiters once on its start; from here on only
	// a notification can.
	next := a.Changes().Next()
	changed(t, b)
	if !woken(next, 5*time.Second) {
		t.Fatal("after the reconnection, a change through the other controller did not wake this one's waiters")
	}
}
