package mail

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// chanTransport hands each sent message's recipient to a channel.
type chanTransport chan string

func (c chanTransport) Send(_ context.Context, _ string, m Message) error {
	c <- m.To
	return nil
}

// TestSenderWakesOnEnqueue: a transaction that queued mail wakes the
// senders when it commits, one rolled back does not; a sender in Run with an
// hour's poll delivers the mail at once.
func TestSenderWakesOnEnqueue(t *testing.T) {
	db := storetest.SQLite(t)
	sent := make(chanTransport, 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	s := &Sender{Outbox: NewOutbox(db), Transport: sent, Poll: time.Hour}
	// The first drain finds the outbox empty; the sender then waits.
	go func() { defer close(done); s.Run(ctx) }()

	boom := errors.New("rolled back")
	woken := queued.next()
	err := db.InTx(context.Background(), func(tx *store.Tx) error {
		if _, err := Enqueue(context.Background(), tx, Message{Cause: "test", To: "gone@example.jp", Subject: "s", Body: "b"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	select {
	case <-woken:
		t.Fatal("a rolled-back enqueue woke the senders")
	default:
	}
	enqueue(t, db, "erin@example.jp")
	select {
	case <-woken:
	default:
		t.Fatal("a committed enqueue did not wake the senders")
	}
	// Well within the hour's poll: only the wake can deliver it.
	select {
	case to := <-sent:
		if to != "erin@example.jp" {
			t.Fatalf("sent to %s, want erin@example.jp", to)
		}
	case <-time.After(time.Minute):
		t.Fatal("the queued mail was not sent: the sender was not woken by its commit")
	}
}
