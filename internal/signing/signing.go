// Package signing holds the controller's Ed25519 signing keyring: the keys
// with which the controller signs documents that others must be able to
// check without trusting the database they came from — a deletion
// certificate today, the audit log's heads later. The private keys are
// stored in the database sealed with the controller's secret key
// (store.Secrets), so every controller on one database signs with the same
// current key; the public keys are published unauthenticated
// (GET /api/v1/signing-keys) and checked with Verify.
//
// Exactly one key is current. Rotate retires it and makes a new one; a
// retired key never signs again, but its public half stays listed (with its
// retired_at) for as long as the database lives, because what it signed
// must keep verifying.
package signing

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// Alg is the only signature algorithm.
const Alg = "ed25519"

// Signature is a detached signature and the key that made it.
type Signature struct {
	KeyID string `json:"key_id"`
	Alg   string `json:"alg"`
	Sig   string `json:"sig"` // standard base64 of the 64-byte Ed25519 signature
}

// PublicKey is one key of the keyring as it is published.
type PublicKey struct {
	ID        string     `json:"id"`
	Algorithm string     `json:"algorithm"`
	PublicKey string     `json:"public_key"` // standard base64 of the 32-byte Ed25519 public key
	CreatedAt time.Time  `json:"created_at"`
	RetiredAt *time.Time `json:"retired_at"`
}

// Keyring signs with the current key of the keyring kept in db.
type Keyring struct {
	db    *store.DB
	audit *audit.Log
}

// New returns the keyring kept in db; its first key is made on first use.
func New(db *store.DB, log *audit.Log) *Keyring { return &Keyring{db: db, audit: log} }

// sealContext binds a sealed private key to its key ID, so that one row's
// sealed value cannot be moved into another row.
func sealContext(id string) string { return "signing:" + id }

// Sign signs msg with the current key, making the first key if there is
// none yet.
func (k *Keyring) Sign(ctx context.Context, msg []byte) (Signature, error) {
	var sig Signature
	err := k.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		sig, err = k.SignTx(ctx, tx, msg)
		return err
	})
	return sig, err
}

// SignTx signs msg with the current key inside tx (making the first key
// there if there is none), for a signature that commits with what it signs.
func (k *Keyring) SignTx(ctx context.Context, tx *store.Tx, msg []byte) (Signature, error) {
	id, priv, err := k.current(ctx, tx)
	if err != nil {
		return Signature{}, err
	}
	return Signature{KeyID: id, Alg: Alg, Sig: base64.StdEncoding.EncodeToString(ed25519.Sign(priv, msg))}, nil
}

// current returns the current key, making it when the keyring is empty.
// Two controllers making the first key at once may both insert one: both
// are published and verify, and every signer takes the oldest, so they agree
// from then on (and the next Rotate retires both).
func (k *Keyring) current(ctx context.Context, tx *store.Tx) (string, ed25519.PrivateKey, error) {
	for range 2 {
		var id, sealed string
		err := store.Scan(tx.QueryRow(ctx, `SELECT id, sealed_private FROM signing_keys WHERE retired_at IS NULL
			ORDER BY created_at, id LIMIT 1`), &id, &sealed)
		if err == nil {
			seed, err := tx.Secrets().Open(sealed, sealContext(id))
			if err != nil {
				return "", nil, fmt.Errorf("signing key %s: %w", id, err)
			}
			if len(seed) != ed25519.SeedSize {
				return "", nil, fmt.Errorf("signing key %s: bad seed", id)
			}
			return id, ed25519.NewKeyFromSeed([]byte(seed)), nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return "", nil, fmt.Errorf("signing key: %w", err)
		}
		if _, err := k.add(ctx, tx); err != nil {
			return "", nil, err
		}
	}
	return "", nil, errors.New("signing key: none after making one")
}

// add makes a new key, stores it and audits it.
func (k *Keyring) add(ctx context.Context, tx *store.Tx) (string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("signing key: %w", err)
	}
	id := ids.New("sk")
	if _, err := tx.Exec(ctx, `INSERT INTO signing_keys (id, public_key, sealed_private, created_at) VALUES (?, ?, ?, ?)`,
		id, base64.StdEncoding.EncodeToString(pub), tx.Secrets().Seal(string(priv.Seed()), sealContext(id)),
		clock.Store(clock.Now())); err != nil {
		return "", fmt.Errorf("signing key: %w", err)
	}
	if err := k.audit.RecordTx(ctx, tx, audit.Event{Action: "signing_key.create", Target: "signing_key:" + id}); err != nil {
		return "", err
	}
	return id, nil
}

// Rotate retires every current key and makes a new one, which signs from
// now on; it returns the new key's ID. The caller's actor is audited.
func (k *Keyring) Rotate(ctx context.Context) (string, error) {
	var id string
	err := k.db.InTx(ctx, func(tx *store.Tx) error {
		var retired []string
		rows, err := tx.Query(ctx, `SELECT id FROM signing_keys WHERE retired_at IS NULL ORDER BY id`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var r string
			if err := rows.Scan(&r); err != nil {
				rows.Close()
				return err
			}
			retired = append(retired, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		// A retired key never signs again: its private half goes, so a
		// rotation after a leak leaves nothing here to sign with.
		if _, err := tx.Exec(ctx, `UPDATE signing_keys SET retired_at = ?, sealed_private = '' WHERE retired_at IS NULL`,
			clock.Store(clock.Now())); err != nil {
			return err
		}
		if id, err = k.add(ctx, tx); err != nil {
			return err
		}
		return k.audit.RecordTx(ctx, tx, audit.Event{Action: "signing_key.rotate", Target: "signing_key:" + id,
			Detail: map[string]any{"retired": retired}})
	})
	if err != nil {
		return "", fmt.Errorf("rotate signing key: %w", err)
	}
	return id, nil
}

// Ensure makes the first key if there is none, so that the published list
// is never empty; serve calls it at start. (Sign makes one too.)
func (k *Keyring) Ensure(ctx context.Context) error {
	return k.db.InTx(ctx, func(tx *store.Tx) error {
		_, _, err := k.current(ctx, tx)
		return err
	})
}

// PublicKeys lists every key, current and retired, oldest first. It only
// reads: the list is served to anyone, unauthenticated.
func (k *Keyring) PublicKeys(ctx context.Context) ([]PublicKey, error) {
	rows, err := k.db.Query(ctx, `SELECT id, public_key, created_at, retired_at FROM signing_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	defer rows.Close()
	out := []PublicKey{}
	for rows.Next() {
		var p PublicKey
		var created string
		var retired *string
		if err := rows.Scan(&p.ID, &p.PublicKey, &created, &retired); err != nil {
			return nil, fmt.Errorf("signing keys: %w", err)
		}
		p.Algorithm = Alg
		p.CreatedAt, _ = clock.Parse(created)
		if retired != nil {
			t, _ := clock.Parse(*retired)
			p.RetiredAt = &t
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	return out, nil
}

// Errors of Verify.
var (
	ErrUnknownKey = errors.New("signing: unknown key")
	ErrBadSig     = errors.New("signing: signature does not verify")
)

// Verify checks sig over msg against the published keys, retired ones
// included: a retired key still verifies what it signed. Whether a
// document was signed before the key's retirement is the document's to
// say (VerifyCertificate compares its signed time).
func Verify(keys []PublicKey, msg []byte, sig Signature) error {
	if sig.Alg != Alg {
		return fmt.Errorf("%w: algorithm %q", ErrBadSig, sig.Alg)
	}
	for _, k := range keys {
		if k.ID != sig.KeyID {
			continue
		}
		pub, err := base64.StdEncoding.DecodeString(k.PublicKey)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return fmt.Errorf("signing: key %s is not an Ed25519 public key", k.ID)
		}
		raw, err := base64.StdEncoding.DecodeString(sig.Sig)
		if err != nil || !ed25519.Verify(ed25519.PublicKey(pub), msg, raw) {
			return ErrBadSig
		}
		return nil
	}
	return fmt.Errorf("%w %q", ErrUnknownKey, sig.KeyID)
}
