package signing_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/secretbox"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

func TestSignVerifyRotate(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := audit.WithActor(context.Background(), audit.System)
		k := signing.New(db, audit.New(db))
		msg := []byte(`{"hello":"world"}`)
		sig, err := k.Sign(ctx, msg)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := k.PublicKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 1 || keys[0].ID != sig.KeyID || keys[0].RetiredAt != nil || sig.Alg != "ed25519" {
			t.Fatalf("keys %+v, signature %+v", keys, sig)
		}
		if err := signing.Verify(keys, msg, sig); err != nil {
			t.Fatal(err)
		}
		// One byte changed, in the message or the signature: refused.
		bad := append([]byte(nil), msg...)
		bad[2] ^= 1
		if err := signing.Verify(keys, bad, sig); !errors.Is(err, signing.ErrBadSig) {
			t.Fatalf("changed message: %v", err)
		}
		if err := signing.Verify(nil, msg, sig); !errors.Is(err, signing.ErrUnknownKey) {
			t.Fatalf("no keys: %v", err)
		}

		newID, err := k.Rotate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sig2, err := k.Sign(ctx, msg)
		if err != nil {
			t.Fatal(err)
		}
		if sig2.KeyID != newID || newID == sig.KeyID {
			t.Fatalf("after rotation signed with %s, want the new key %s", sig2.KeyID, newID)
		}
		keys, err = k.PublicKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 2 || keys[0].RetiredAt == nil || keys[1].RetiredAt != nil {
			t.Fatalf("after rotation: %+v", keys)
		}
		// The retired key still verifies what it signed.
		for _, s := range []signing.Signature{sig, sig2} {
			if err := signing.Verify(keys, msg, s); err != nil {
				t.Fatal(err)
			}
		}
		// The current private key is sealed at rest, never stored in
		// clear; a retired key's is gone.
		rows, err := db.Query(ctx, `SELECT id, sealed_private FROM signing_keys`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id, s string
			if err := rows.Scan(&id, &s); err != nil {
				t.Fatal(err)
			}
			if id == newID && !secretbox.IsSealed(s) {
				t.Fatalf("private key not sealed: %q", s)
			}
			if id == sig.KeyID && s != "" {
				t.Fatalf("the retired key's private half is still stored")
			}
		}
		// Creation and rotation are audited.
		entries, err := audit.New(db).List(ctx, audit.AllChains())
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, e := range entries {
			seen[e.Action]++
		}
		if seen["signing_key.create"] != 2 || seen["signing_key.rotate"] != 1 {
			t.Fatalf("audited %v", seen)
		}
	})
}
