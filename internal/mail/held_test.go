package mail

import (
	"context"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestHoldRelease: a held entry is never claimed until Release gives it its
// text and owner; it is released once, and then sent with that text.
func TestHoldRelease(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		o := NewOutbox(db)
		ctx := context.Background()
		var id string
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			var err error
			id, err = Hold(ctx, tx, Message{CustomerID: "cus_x", Cause: "customer.erasure", To: "admin@example.jp", Language: "en"})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := o.claim(ctx, clock.Now().Add(365*24*time.Hour), time.Hour); ok || err != nil {
			t.Fatalf("a held entry was claimed: %v %v", ok, err)
		}
		release := func() error {
			return db.InTx(ctx, func(tx *store.Tx) error { return Release(ctx, tx, id, "", "the subject", "the body") })
		}
		if err := release(); err != nil {
			t.Fatal(err)
		}
		if err := release(); err == nil {
			t.Fatal("released twice")
		}
		e, ok, err := o.claim(ctx, clock.Now().Add(time.Second), time.Hour)
		if !ok || err != nil || e.ID != id || e.CustomerID != "" || e.Subject != "the subject" {
			t.Fatalf("the released entry: %+v %v %v", e, ok, err)
		}
		if body, err := openBody(db, e.ID, e.body); err != nil || body != "the body" {
			t.Fatalf("body %q, %v", body, err)
		}
	})
}
