// Package storetest gives tests a fresh, migrated database on each engine: a
// SQLite file in a temporary directory, and — when TSUNAGI_TEST_POSTGRES holds
// a DSN — a PostgreSQL schema of its own, dropped at the end. Tests run in
// parallel because no two share a database.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/tsunagi-net/tsunagi/internal/store"
)

// EnvPostgres names the variable holding the PostgreSQL DSN for tests.
const EnvPostgres = "TSUNAGI_TEST_POSTGRES"

// Each runs fn once per engine as subtests "sqlite" and "postgres".
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}

// SQLite returns a migrated SQLite database in a DataDir of its own: a
// copy of a database the process migrated once (see migrated), opened with
// store.Open as any database is, which finds every migration applied.
func SQLite(t testing.TB) *store.DB {
	t.Helper()
	dir := DataDir(t)
	b, err := migrated()
	if err != nil {
		t.Fatalf("migrated sqlite: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tsunagi.db"), b, 0o600); err != nil {
		t.Fatalf("copy the migrated sqlite: %v", err)
	}
	db, err := store.Open(context.Background(), store.Options{DataDir: dir})
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// migrated returns the file of a SQLite database with every migration
// applied, made once per process. Migrating costs a second of CPU under the
// race detector (the SQLite engine is Go code, instrumented like the rest),
// which the packages' hundreds of fresh databases paid each; the migrations
// themselves are tested by package store, on empty databases.
var migrated = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp(memDir, "tsunagi-migrated-")
	if err != nil {
		if dir, err = os.MkdirTemp("", "tsunagi-migrated-"); err != nil {
			return nil, err
		}
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := store.Open(ctx, store.Options{DataDir: dir})
	if err != nil {
		return nil, err
	}
	// Everything into the main file, so that it alone is the database.
	if _, err := db.Exec(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.Close(); err != nil {
		return nil, err
	}
	return os.ReadFile(filepath.Join(dir, "tsunagi.db"))
})

// memDir is the memory file system DataDir prefers (Linux's /dev/shm).
const memDir = "/dev/shm"

// DataDir returns a fresh directory for a test's database files, removed
// when the test ends: under /dev/shm when the machine has it, else
// t.TempDir(). The store commits with synchronous=FULL, an fsync of the WAL
// each commit — 5 to 9 ms on the CI machine's disk, nothing in memory —;
// what the fsync buys, a commit that survives a crash of the machine, no
// test can observe. The same SQLite
// code runs either way, and a killed process (the crash tests) loses
// nothing the page cache holds on either file system.
func DataDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp(memDir, "tsunagi-test-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	return dir
}

// PostgresDSN returns a DSN for a fresh schema of its own (dropped at the end
// of the test), or skips the test when TSUNAGI_TEST_POSTGRES is not set.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		t.Skipf("PostgreSQL half skipped: set %s to a postgres:// DSN to run it", EnvPostgres)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("postgres: create schema: %v", err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer a.Close()
		_, _ = a.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("postgres: %s: %v", EnvPostgres, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	// A commit need not wait for the WAL flush (about 5 ms a commit on the
	// CI machine, 0.5 ms without): a test's schema is thrown away and no
	// test crashes the PostgreSQL server, so what the wait buys — a commit
	// surviving a crash of the server — is never tested; every commit is
	// still visible at once to every session, as the tests expect. pgx sends
	// the parameter at connection start, also for a serve given this DSN.
	if !q.Has("synchronous_commit") {
		q.Set("synchronous_commit", "off")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Postgres returns a migrated database in a fresh PostgreSQL schema, or skips.
func Postgres(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), store.Options{DSN: PostgresDSN(t)})
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Controllers returns two handles on one fresh PostgreSQL schema, as two
// controllers sharing a database hold it: one secret key file between them
// (the database's sealed values must open on both), each closed at the end.
// It skips the test when TSUNAGI_TEST_POSTGRES is not set.
func Controllers(t testing.TB) (*store.DB, *store.DB) {
	t.Helper()
	o := store.Options{DSN: PostgresDSN(t), SecretKeyFile: filepath.Join(t.TempDir(), "secret.key")}
	open := func() *store.DB {
		db, err := store.Open(context.Background(), o)
		if err != nil {
			t.Fatalf("open postgres: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	return open(), open()
}
