package fleet_test

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
	"github.com/tsunagi-net/tsunagi/internal/pki"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

func TestFleet(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		log := audit.New(db)
		cat := catalog.New(db, log)
		if _, err := cat.CreateRegion(ctx, catalog.RegionInput{Code: "tokyo", NameEN: "Tokyo", NameJA: "東京", DataLocation: "Japan"}); err != nil {
			t.Fatal(err)
		}
		if _, err := cat.CreateNode(ctx, catalog.NodeInput{Region: "tokyo", Name: "tyo-1"}); err != nil {
			t.Fatal(err)
		}

		// Controllers starting together agree on one CA.
		var wg sync.WaitGroup
		cas := make([][]byte, 4)
		for i := range cas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f, err := fleet.New(ctx, db, log)
				if err != nil {
					t.Error(err)
					return
				}
				cas[i] = f.CA().CertPEM
			}()
		}
		wg.Wait()
		for i := range cas {
			if !bytes.Equal(cas[i], cas[0]) {
				t.Fatal("controllers hold different node CAs")
			}
		}
		f, err := fleet.New(ctx, db, log)
		if err != nil {
			t.Fatal(err)
		}
		_, csr, _ := pki.NewNodeKey("x")

		// An expired token is refused like an unknown one.
		tok, err := f.IssueEnrolToken(ctx, "tyo-1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, `UPDATE node_enrolment_tokens SET expires_at = '2000-01-01T00:00:00.000000Z'`); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Enrol(ctx, tok.Token, csr); !fault.Is(err, fault.Unauthorized) {
			t.Errorf("expired token: %v", err)
		}
		// A new token withdraws the previous unused one.
		t1, _ := f.IssueEnrolToken(ctx, "tyo-1")
		t2, _ := f.IssueEnrolToken(ctx, "tyo-1")
		if _, err := f.Enrol(ctx, t1.Token, csr); !fault.Is(err, fault.Unauthorized) {
			t.Errorf("withdrawn token: %v", err)
		}
		e, err := f.Enrol(ctx, t2.Token, csr)
		if err != nil || e.Node != "tyo-1" {
			t.Fatalf("enrol = %+v, %v", e, err)
		}
		for _, bad := range [][]byte{nil, []byte("garbage"), csr[:len(csr)/2]} {
			t3, _ := f.IssueEnrolToken(ctx, "tyo-1")
			if _, err := f.Enrol(ctx, t3.Token, bad); !fault.Is(err, fault.Invalid) {
				t.Errorf("bad CSR %q: %v", bad, err)
			}
		}
		if _, err := f.Revoke(ctx, "tyo-9", "x"); !fault.Is(err, fault.NotFound) {
			t.Errorf("revoke unknown node: %v", err)
		}
		if _, err := f.Revoke(ctx, "tyo-1", ""); !fault.Is(err, fault.Invalid) {
			t.Errorf("revoke without reason: %v", err)
		}
		if n, err := f.Revoke(ctx, "tyo-1", "stolen"); err != nil || n != 1 {
			t.Errorf("revoke = %d, %v", n, err)
		}
		if _, err := log.Verify(ctx); err != nil {
			t.Error(err)
		}
	})
}
