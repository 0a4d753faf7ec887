package mail

import (
	"context"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

type recordingTransport struct{ bodies []string }

func (r *recordingTransport) Send(_ context.Context, _ string, m Message) error {
	r.bodies = append(r.bodies, m.Body)
	return nil
}

func rawBody(t *testing.T, db *store.DB, id string) string {
	t.Helper()
	var b string
	if err := store.Scan(db.QueryRow(context.Background(), `SELECT body FROM mail_outbox WHERE id = ?`, id), &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBodySealedAtRestAndErasedWhenSent: a body (which may hold a live setup
// link) is never in the database in clear; the transport gets the clear text;
// once sent, nothing of it is left, and the metadata stays.
func TestBodySealedAtRestAndErasedWhenSent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		id := enqueue(t, db, "carol@example.jp")
		if raw := rawBody(t, db, id); strings.Contains(raw, "body for") || !strings.HasPrefix(raw, "v1:") {
			t.Fatalf("body at rest: %q, want sealed", raw)
		}
		o := NewOutbox(db)
		if _, body, err := o.Get(ctx, id); err != nil || body != "本文 body for carol@example.jp" {
			t.Fatalf("Get: %q, %v", body, err)
		}
		tr := &recordingTransport{}
		if n, err := (&Sender{Outbox: o, Transport: tr}).Drain(ctx); err != nil || n != 1 {
			t.Fatalf("drain: %d, %v", n, err)
		}
		if len(tr.bodies) != 1 || tr.bodies[0] != "本文 body for carol@example.jp" {
			t.Fatalf("transport got %q", tr.bodies)
		}
		if raw := rawBody(t, db, id); raw != "" {
			t.Errorf("body after delivery: %q, want erased", raw)
		}
		if e := status(t, o, id); e.Status != Sent || e.Recipient != "carol@example.jp" || e.Subject != "Hello carol@example.jp" || e.SentAt == nil {
			t.Errorf("metadata after delivery: %+v", e)
		}
	})
}

// TestClearBodiesSealedAtStart: bodies an earlier version stored in clear are
// sealed, and those of sent mail erased.
func TestClearBodiesSealedAtStart(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		pending, sent := enqueue(t, db, "dan@example.jp"), enqueue(t, db, "erin@example.jp")
		if _, err := db.Exec(ctx, `UPDATE mail_outbox SET body = 'clear link' WHERE id = ?`, pending); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, `UPDATE mail_outbox SET body = 'clear link', status = 'sent' WHERE id = ?`, sent); err != nil {
			t.Fatal(err)
		}
		o := NewOutbox(db)
		if n, err := o.SealStored(ctx); err != nil || n != 2 {
			t.Fatalf("SealStored: %d, %v; want 2", n, err)
		}
		if raw := rawBody(t, db, pending); !strings.HasPrefix(raw, "v1:") {
			t.Errorf("pending body: %q, want sealed", raw)
		}
		if raw := rawBody(t, db, sent); raw != "" {
			t.Errorf("sent body: %q, want erased", raw)
		}
		if _, body, err := o.Get(ctx, pending); err != nil || body != "clear link" {
			t.Errorf("Get after sealing: %q, %v", body, err)
		}
	})
}
