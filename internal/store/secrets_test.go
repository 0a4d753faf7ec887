package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/secretbox"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestSQLiteFilesArePrivate: the database and everything SQLite writes beside
// it is 0600 in a 0700 directory, and looser modes left by an earlier
// version are tightened at open.
func TestSQLiteFilesArePrivate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls", "cert.pem"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	// A write makes SQLite create its -wal and -shm files.
	if _, err := db.Exec(ctx, `INSERT INTO issued_codes (code, kind, issued_at) VALUES ('shb00000009', 'shb', '2026-01-01T00:00:00.000000Z')`); err != nil {
		t.Fatal(err)
	}
	checkPrivate(t, dir, "tsunagi.db", "tsunagi.db-wal", "tsunagi.db-shm", "tsunagi.lock", "tls/cert.pem")
	db.Close()

	// An earlier version left the files readable: the next open tightens them.
	for _, f := range []string{"tsunagi.db", "tsunagi.db-wal", "tsunagi.db-shm"} {
		_ = os.Chmod(filepath.Join(dir, f), 0o644)
	}
	_ = os.Chmod(dir, 0o755)
	db, err = store.Open(ctx, store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checkPrivate(t, dir, "tsunagi.db")
}

func checkPrivate(t *testing.T, dir string, files ...string) {
	t.Helper()
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("data directory: %v, %v; want mode 0700", st.Mode().Perm(), err)
	}
	for _, f := range files {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", f, st.Mode().Perm())
		}
	}
}

// TestSecretKeyCheck: controllers on one database must hold one key. The
// first makes it and stores a check value; the same key opens again; a
// different key, or no key file against a database with a check value, is
// refused at open with a message that says to copy the key.
func TestSecretKeyCheck(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			data := t.TempDir()
			opts := func(key string) store.Options {
				o := store.Options{DataDir: data, SecretKeyFile: key, SkipLock: true}
				if engine == "postgres" {
					o.DSN = storetest.PostgresDSN(t)
				}
				return o
			}
			base := opts("")
			open := func(key string) (*store.DB, error) {
				o := base
				o.SecretKeyFile = key
				return store.Open(ctx, o)
			}
			keyA := filepath.Join(t.TempDir(), "a.key")
			db, err := open(keyA)
			if err != nil {
				t.Fatalf("first open: %v", err)
			}
			if !db.SecretKeyCreated() {
				t.Errorf("first open against an empty database did not make the key")
			}
			sealed := db.Secrets().Seal("seed", "totp:acc_x")
			db.Close()
			if st, err := os.Stat(keyA); err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("key file: %v %v, want mode 0600", st, err)
			}

			// The same key, copied: opens, and opens what the first sealed.
			copyA := filepath.Join(t.TempDir(), "copy.key")
			raw, _ := os.ReadFile(keyA)
			if err := os.WriteFile(copyA, raw, 0o600); err != nil {
				t.Fatal(err)
			}
			db, err = open(copyA)
			if err != nil {
				t.Fatalf("open with a copy of the key: %v", err)
			}
			if db.SecretKeyCreated() {
				t.Errorf("open with an existing key file reports it made one")
			}
			if v, err := db.Secrets().Open(sealed, "totp:acc_x"); err != nil || v != "seed" {
				t.Errorf("a value sealed by the first open: %q, %v", v, err)
			}
			db.Close()

			// Another key: refused.
			keyB := filepath.Join(t.TempDir(), "b.key")
			if _, err := secretbox.CreateKey(keyB); err != nil {
				t.Fatal(err)
			}
			if _, err := open(keyB); !errors.Is(err, store.ErrSecretKey) || !strings.Contains(err.Error(), "same key file") {
				t.Errorf("open with another key: %v, want a refusal that says to use the same key file", err)
			}

			// No key file: refused, and no key is made.
			missing := filepath.Join(t.TempDir(), "missing.key")
			if _, err := open(missing); !errors.Is(err, store.ErrSecretKey) || !strings.Contains(err.Error(), "copy that controller's key file") {
				t.Errorf("open without a key file: %v, want a refusal that says to copy the key", err)
			}
			if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a key file was made against a database that has a check value: %v", err)
			}
		})
	}
}

// TestSecretKeyCheckOfAnEarlierDatabase: a database from before check values
// holds TOTP seeds sealed under some key; only that key is accepted, and
// without a key file none is made.
func TestSecretKeyCheckOfAnEarlierDatabase(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			o := store.Options{DataDir: t.TempDir(), SkipLock: true}
			if engine == "postgres" {
				o.DSN = storetest.PostgresDSN(t)
			}
			db, err := store.Open(ctx, o) // no key file: nothing checked or stored
			if err != nil {
				t.Fatal(err)
			}
			keyA := filepath.Join(t.TempDir(), "a.key")
			ka, err := secretbox.CreateKey(keyA)
			if err != nil {
				t.Fatal(err)
			}
			boxA, _ := secretbox.New(ka)
			if _, err := db.Exec(ctx, `INSERT INTO accounts (id, login_id, display_name, email, role, created_at)
				VALUES ('acc_1', 'op', 'Op', 'op@example.net', 'operator', '2026-01-01T00:00:00.000000Z')`); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(ctx, `INSERT INTO totp_secrets (account_id, secret, confirmed_at, last_step) VALUES ('acc_1', ?, NULL, 0)`,
				boxA.Seal("JBSWY3DPEHPK3PXP", "totp:acc_1")); err != nil {
				t.Fatal(err)
			}
			db.Close()

			open := func(key string) error {
				o := o
				o.SecretKeyFile = key
				db, err := store.Open(ctx, o)
				if err == nil {
					db.Close()
				}
				return err
			}
			keyB := filepath.Join(t.TempDir(), "b.key")
			if _, err := secretbox.CreateKey(keyB); err != nil {
				t.Fatal(err)
			}
			if err := open(keyB); !errors.Is(err, store.ErrSecretKey) {
				t.Errorf("another key against sealed seeds: %v, want refused", err)
			}
			missing := filepath.Join(t.TempDir(), "none.key")
			if err := open(missing); !errors.Is(err, store.ErrSecretKey) {
				t.Errorf("no key file against sealed seeds: %v, want refused", err)
			}
			if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a key was made against sealed seeds: %v", err)
			}
			if err := open(keyA); err != nil {
				t.Errorf("the seeds' own key: %v", err)
			}
			// Its check value is stored now: another key is still refused.
			if err := open(keyB); !errors.Is(err, store.ErrSecretKey) {
				t.Errorf("another key after the check value was stored: %v, want refused", err)
			}
		})
	}
}
