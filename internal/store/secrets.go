package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tsunagi-net/tsunagi/internal/atomicfile"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/secretbox"
)

// Every controller on one database must hold the same secret key: a value
// sealed by one (a TOTP seed, a BGP password, the node CA's key, a mail body)
// is opened by whichever controller serves the next request. The database
// keeps a check value — a fixed label sealed under the key — so that a
// controller with another key refuses to start instead of answering 500
// later, and a controller never makes a new key against a database whose
// sealed values only the existing key opens.

const (
	checkLabel   = "tsunagi secret key check"
	checkContext = "secret_key_check"
)

// Secrets returns the box that seals values at rest under the controller's
// secret key.
func (db *DB) Secrets() *secretbox.Box { return db.secrets }

// Secrets returns the box of the transaction's database.
func (t *Tx) Secrets() *secretbox.Box { return t.secrets }

// UseCheckedKey makes box this handle's secret key. It is for a handle
// opened without migrations to restore a backup into, once the caller has
// checked box against the backup's key check value (KeyOpensCheck): the
// erasures a restore re-applies sign their certificates with keys sealed
// under it. Call it before the handle is used.
func (db *DB) UseCheckedKey(box *secretbox.Box) { db.secrets = box }

// SecretKeyCreated says whether Open made the secret key file (first start).
func (db *DB) SecretKeyCreated() bool { return db.keyMade }

// ErrSecretKey is the start-up refusal of a key that is not the database's.
var ErrSecretKey = errors.New("secret key")

func keyMismatch(path string) error {
	return fmt.Errorf("%w: %s is not the key of this database (the values sealed in it do not open with it): "+
		"every controller on one database needs the same key file — copy it from a controller already running "+
		"on this database and point --secret-key-file at the copy", ErrSecretKey, path)
}

// useSecretKey loads the key file at path, checks it against the database,
// and makes it when neither the file nor sealed values exist.
func (db *DB) useSecretKey(ctx context.Context, path string) error {
	if path == "" {
		return nil // Ephemeral: nothing the process seals outlives it.
	}
	key, err := secretbox.ReadKey(path)
	switch {
	case err == nil:
		box, err := secretbox.New(key)
		if err != nil {
			return fmt.Errorf("--secret-key-file: %w", err)
		}
		if err := db.checkKey(ctx, box, path); err != nil {
			return err
		}
		db.secrets = box
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("--secret-key-file: %w", err)
	}
	sealed, err := db.holdsSealed(ctx)
	if err != nil {
		return fmt.Errorf("secret key: %w", err)
	}
	if sealed {
		return fmt.Errorf("%w: %s does not exist, but this database already holds values sealed under another "+
			"controller's key; a new key would not open them: copy that controller's key file to %s "+
			"(or point --secret-key-file at it)", ErrSecretKey, path, path)
	}
	if key, err = secretbox.CreateKey(path); err != nil {
		return fmt.Errorf("--secret-key-file: %w", err)
	}
	box, err := secretbox.New(key)
	if err != nil {
		return err
	}
	if err := db.checkKey(ctx, box, path); err != nil {
		// Another controller made its key at the same moment and stored
		// its check value first: ours would never open the values it seals.
		os.Remove(path)
		return err
	}
	db.secrets, db.keyMade = box, true
	return nil
}

// checkKey opens the stored check value with box, or stores one when there
// is none yet (after opening a TOTP seed sealed before check values existed).
func (db *DB) checkKey(ctx context.Context, box *secretbox.Box, path string) error {
	for range 2 {
		var sealed string
		err := Scan(db.QueryRow(ctx, `SELECT sealed FROM secret_key_check WHERE id = 1`), &sealed)
		if err == nil {
			if v, err := box.Open(sealed, checkContext); err != nil || v != checkLabel {
				return keyMismatch(path)
			}
			return nil
		}
		if !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("secret key: %w", err)
		}
		// A database from before check values may hold TOTP seeds sealed
		// under a key: that key, and no other, is the database's.
		var account, seed string
		err = Scan(db.QueryRow(ctx, `SELECT account_id, secret FROM totp_secrets WHERE secret LIKE 'v1:%' LIMIT 1`), &account, &seed)
		switch {
		case err == nil:
			// The context is identity's totpContext.
			if _, err := box.Open(seed, "totp:"+account); err != nil {
				return keyMismatch(path)
			}
		case !errors.Is(err, ErrNotFound):
			return fmt.Errorf("secret key: %w", err)
		}
		_, err = db.Exec(ctx, `INSERT INTO secret_key_check (id, sealed, created_at) VALUES (1, ?, ?)`,
			box.Seal(checkLabel, checkContext), clock.Store(clock.Now()))
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrConflict) {
			return fmt.Errorf("secret key: %w", err)
		}
		// Another controller stored its check value first: compare with it.
	}
	return keyMismatch(path)
}

// holdsSealed says whether the database has a check value or a sealed value
// from before check values existed.
func (db *DB) holdsSealed(ctx context.Context) (bool, error) {
	var n int
	err := Scan(db.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM secret_key_check)
		+ (SELECT COUNT(*) FROM totp_secrets WHERE secret LIKE 'v1:%')`), &n)
	return n > 0, err
}

// privateDB makes the data directory private and creates the SQLite file
// 0600 before SQLite does: SQLite gives its -wal and -shm files the mode of
// the database file, whatever the umask.
func privateDB(dir, file string) error {
	if err := atomicfile.Private(dir); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Clean(file), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// KeyOpensCheck says whether box is the key whose check value is sealed:
// a restore compares the secret key it is given with the check value in the
// archive before it writes anything.
func KeyOpensCheck(box *secretbox.Box, sealed string) bool {
	v, err := box.Open(sealed, checkContext)
	return err == nil && v == checkLabel
}
