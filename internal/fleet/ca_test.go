package fleet_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
	"github.com/tsunagi-net/tsunagi/internal/pki"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

func storedCAKey(t *testing.T, db *store.DB) string {
	t.Helper()
	var key string
	if err := store.Scan(db.QueryRow(context.Background(), `SELECT key_pem FROM node_ca WHERE id = 1`), &key); err != nil {
		t.Fatal(err)
	}
	return key
}

// TestCAKeySealedAtRest: the node CA's private key is never in the database
// in clear — neither when made, nor after a start on a database where an
// earlier version stored it in clear — and the CA still signs.
func TestCAKeySealedAtRest(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		log := audit.New(db)
		f, err := fleet.New(ctx, db, log)
		if err != nil {
			t.Fatal(err)
		}
		if key := storedCAKey(t, db); strings.Contains(key, "PRIVATE KEY") || !strings.HasPrefix(key, "v1:") {
			t.Fatalf("node CA key at rest: %.60q…, want sealed", key)
		}
		again, err := fleet.New(ctx, db, log)
		if err != nil || string(again.CA().CertPEM) != string(f.CA().CertPEM) {
			t.Fatalf("reload: %v", err)
		}

		// An earlier version's clear key is sealed at the next start.
		_, certPEM, keyPEM, err := pki.NewCA("tsunagi node CA")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, `UPDATE node_ca SET cert_pem = ?, key_pem = ? WHERE id = 1`, string(certPEM), string(keyPEM)); err != nil {
			t.Fatal(err)
		}
		f, err = fleet.New(ctx, db, log)
		if err != nil {
			t.Fatal(err)
		}
		if key := storedCAKey(t, db); strings.Contains(key, "PRIVATE KEY") {
			t.Fatalf("clear CA key left at rest after a start")
		}
		if string(f.CA().CertPEM) != string(certPEM) {
			t.Fatalf("the clear CA was replaced instead of sealed")
		}
		_, csr, _ := pki.NewNodeKey("x")
		req, err := pki.ParseCSR(csr)
		if err != nil {
			t.Fatal(err)
		}
		serial, _ := pki.Serial()
		if _, _, err := f.CA().SignNode(req, "tyo-1", serial, fleet.CertValidity); err != nil {
			t.Fatalf("sign with the sealed CA: %v", err)
		}
	})
}
