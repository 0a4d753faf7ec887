package mail

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/smtptest"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

func enqueue(t *testing.T, db *store.DB, to string) string {
	t.Helper()
	var id string
	err := db.InTx(context.Background(), func(tx *store.Tx) error {
		var err error
		id, err = Enqueue(context.Background(), tx, Message{Cause: "test", To: to, Language: "en", Subject: "Hello " + to,
			Body: "本文 body for " + to})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func status(t *testing.T, o *Outbox, id string) Entry {
	t.Helper()
	e, _, err := o.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestSenderSMTP(t *testing.T) {
	for _, implicit := range []bool{false, true} {
		name := "starttls"
		if implicit {
			name = "implicit-tls"
		}
		t.Run(name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) { testSender(t, db, implicit) })
		})
	}
}

func testSender(t *testing.T, db *store.DB, implicit bool) {
	m := smtptest.Start(t, smtptest.Options{Implicit: implicit})
	port, tc := m.Port, m.Client
	mode := TLSStartTLS
	if implicit {
		mode = TLSImplicit
	}
	tr, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: port, TLS: mode, Username: "tsunagi", Password: "mail-secret",
		From: "noreply@tsunagi.example", TLSConfig: tc, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	o := NewOutbox(db)
	s := &Sender{Outbox: o, Transport: tr, Backoff: time.Minute, MaxBackoff: time.Hour}
	ok1, ok2 := enqueue(t, db, "alice@example.jp"), enqueue(t, db, "bob@example.jp")
	busy, dead := enqueue(t, db, "busy@example.jp"), enqueue(t, db, "nobody@example.jp")
	ctx := context.Background()
	if n, err := s.Drain(ctx); err != nil || n != 4 {
		t.Fatalf("drain: %d, %v", n, err)
	}
	for _, id := range []string{ok1, ok2} {
		if e := status(t, o, id); e.Status != Sent || e.SentAt == nil || e.Attempts != 1 || e.body != "" {
			t.Errorf("%s: %+v", id, e)
		}
	}
	if e := status(t, o, busy); e.Status != Pending || e.Attempts != 1 || !strings.Contains(e.LastError, "451") ||
		e.NextAttemptAt.Before(time.Now().Add(50*time.Second)) {
		t.Errorf("4xx: %+v", e)
	}
	if e := status(t, o, dead); e.Status != Failed || !strings.Contains(e.LastError, "550") {
		t.Errorf("5xx: %+v", e)
	}
	// The operator's listing shows the failure.
	failed, err := o.List(ctx, Failed, "", 10)
	if err != nil || len(failed) != 1 || failed[0].ID != dead {
		t.Errorf("failed list: %v %v", failed, err)
	}
	// Not before its back-off…
	if n, err := s.Drain(ctx); n != 0 || err != nil {
		t.Fatalf("retried early: %d %v", n, err)
	}
	// …and after it, retried and delivered.
	if _, err := db.Exec(ctx, `UPDATE mail_outbox SET next_attempt_at = ? WHERE id = ?`, clock.Store(clock.Now()), busy); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if e := status(t, o, busy); e.Status != Sent || e.Attempts != 2 {
		t.Errorf("retry: %+v", e)
	}
	got := m.Received()
	if len(got) != 3 {
		t.Fatalf("server received %d messages, want 3: %+v", len(got), got)
	}
	for _, r := range got {
		if !r.TLS || r.User != "tsunagi" || r.From != "noreply@tsunagi.example" {
			t.Errorf("delivery without TLS or AUTH: %+v", r)
		}
		if !strings.HasPrefix(r.Header.Get("Message-ID"), "<mail_") || r.Subject() != "Hello "+r.To {
			t.Errorf("message: %s", r.Data)
		}
	}
}

func TestSenderRestartDeliversOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m := smtptest.Start(t, smtptest.Options{})
		port, tc := m.Port, m.Client
		o := NewOutbox(db)
		id := enqueue(t, db, "carol@example.jp")
		// The first controller claims the message and is killed before the
		// server accepts it: its claim stays "sending" and nothing else is
		// written, which is exactly the state a claim leaves behind.
		if _, ok, err := o.claim(context.Background(), clock.Now(), 1500*time.Millisecond); !ok || err != nil {
			t.Fatalf("claim: %v %v", ok, err)
		}
		if e := status(t, o, id); e.Status != Sending {
			t.Fatalf("after the crash: %+v", e)
		}
		tr, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: port, Username: "tsunagi", Password: "mail-secret",
			From: "noreply@tsunagi.example", TLSConfig: tc})
		if err != nil {
			t.Fatal(err)
		}
		// The restarted controller leaves the claim alone while it is held…
		next := &Sender{Outbox: o, Transport: tr, Lease: 1500 * time.Millisecond}
		if n, err := next.Drain(context.Background()); n != 0 || err != nil {
			t.Fatalf("a held claim was taken: %d %v", n, err)
		}
		// …and delivers it once after the lease ends.
		time.Sleep(1600 * time.Millisecond)
		for range 3 {
			if _, err := next.Drain(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if e := status(t, o, id); e.Status != Sent {
			t.Fatalf("after restart: %+v", e)
		}
		if got := m.Received(); len(got) != 1 {
			t.Fatalf("delivered %d times", len(got))
		}
	})
}

func TestEnqueueRollsBackWithItsEvent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		boom := errors.New("the event failed")
		err := db.InTx(context.Background(), func(tx *store.Tx) error {
			if _, err := Enqueue(context.Background(), tx, Message{Cause: "x", To: "dave@example.jp", Subject: "s", Body: "b"}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		items, err := NewOutbox(db).List(context.Background(), "", "", 10)
		if err != nil || len(items) != 0 {
			t.Fatalf("a mail outlived its rolled-back event: %v %v", items, err)
		}
		if err := db.InTx(context.Background(), func(tx *store.Tx) error {
			_, err := Enqueue(context.Background(), tx, Message{Cause: "x", To: "not an address", Subject: "s", Body: "b"})
			return err
		}); err == nil {
			t.Fatal("a bad recipient was queued")
		}
	})
}

func TestBackoff(t *testing.T) {
	s := &Sender{Backoff: time.Second, MaxBackoff: 10 * time.Second}
	for attempts, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 30: 10 * time.Second} {
		if got := s.backoff(attempts); got != want {
			t.Errorf("backoff(%d) = %v, want %v", attempts, got, want)
		}
	}
}

// A message held until a time is claimed by no sender before it, and one
// withdrawn is claimed never.
func TestHeldAndWithdrawn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		o := NewOutbox(db)
		ctx := context.Background()
		later := clock.Now().Add(24 * time.Hour)
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			for _, to := range []string{"held@example.jp", "gone@example.jp"} {
				if _, err := Enqueue(ctx, tx, Message{Cause: "account.invite", To: to, Subject: "s", Body: "b", After: later}); err != nil {
					return err
				}
			}
			n, err := Withdraw(ctx, tx, "", "gone@example.jp", "account.invite", "withdrawn: test")
			if err == nil && n != 1 {
				t.Errorf("withdrew %d", n)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := o.claim(ctx, clock.Now(), time.Hour); ok || err != nil {
			t.Fatalf("a held message was claimed early: %v %v", ok, err)
		}
		e, ok, err := o.claim(ctx, later.Add(time.Second), time.Hour)
		if !ok || err != nil || e.Recipient != "held@example.jp" {
			t.Fatalf("the held message after its time: %+v %v %v", e, ok, err)
		}
		if e, ok, err := o.claim(ctx, later.Add(time.Minute), time.Hour); ok || err != nil {
			t.Fatalf("a withdrawn message was claimed: %+v %v", e, err)
		}
	})
}

// TestListNewestFirst: the outbox lists by creation time, newest first,
// whatever the random IDs, and pages on from an entry; an unknown after is
// an empty page, not the whole list.
func TestListNewestFirst(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		base := time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC)
		for i := 0; i < 7; i++ {
			var id string
			if err := db.InTx(ctx, func(tx *store.Tx) error {
				var err error
				id, err = Enqueue(ctx, tx, Message{Cause: "x", To: "dave@example.jp", Subject: "s", Body: "b"})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			// Two entries share an instant: their IDs order them.
			at := base.Add(time.Duration(i/2*2) * time.Minute)
			if _, err := db.Exec(ctx, `UPDATE mail_outbox SET created_at = ? WHERE id = ?`, clock.Store(at), id); err != nil {
				t.Fatal(err)
			}
		}
		o := NewOutbox(db)
		all, err := o.List(ctx, "", "", 100)
		if err != nil || len(all) != 7 {
			t.Fatalf("list: %v %v", all, err)
		}
		for i := 1; i < len(all); i++ {
			a, b := all[i-1], all[i]
			if a.CreatedAt.Before(b.CreatedAt) || (a.CreatedAt.Equal(b.CreatedAt) && a.ID < b.ID) {
				t.Fatalf("not newest first at %d: %v then %v", i, a, b)
			}
		}
		var paged []string
		after := ""
		for {
			page, err := o.List(ctx, "", after, 3)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, e := range page {
				paged = append(paged, e.ID)
			}
			after = page[len(page)-1].ID
		}
		if len(paged) != 7 {
			t.Fatalf("paged %d entries, want 7: %v", len(paged), paged)
		}
		for i := range paged {
			if paged[i] != all[i].ID {
				t.Fatalf("page order differs from the list at %d", i)
			}
		}
		if page, err := o.List(ctx, "", "mail_unknown", 10); err != nil || len(page) != 0 {
			t.Fatalf("unknown after: %v %v", page, err)
		}
	})
}

// TestThreadedMail: a mail that names earlier ones answers the last
// (In-Reply-To) and lists them all (References), as the server receives
// it; a reference that is not a tsunagi Message-ID is refused.
func TestThreadedMail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m := smtptest.Start(t, smtptest.Options{})
		tr, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: m.Port, Username: smtptest.User, Password: smtptest.Password,
			From: "noreply@tsunagi.example", TLSConfig: m.Client})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		first := enqueue(t, db, "erin@example.jp")
		var second string
		err = db.InTx(ctx, func(tx *store.Tx) error {
			second, err = Enqueue(ctx, tx, Message{Cause: "test", To: "erin@example.jp", Subject: "Re", Body: "b",
				References: []string{MessageID(first)}})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		err = db.InTx(ctx, func(tx *store.Tx) error {
			_, err := Enqueue(ctx, tx, Message{Cause: "test", To: "erin@example.jp", Subject: "x", Body: "b",
				References: []string{"x@evil\r\nBcc: mallory@example.net"}})
			return err
		})
		if err == nil {
			t.Error("a reference with a line break was queued")
		}
		s := &Sender{Outbox: NewOutbox(db), Transport: tr}
		if _, err := s.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		got := m.To("erin@example.jp")
		if len(got) != 2 {
			t.Fatalf("received %d", len(got))
		}
		for _, r := range got {
			if r.Header.Get("Message-ID") != "<"+MessageID(second)+">" {
				continue
			}
			if r.Header.Get("In-Reply-To") != "<"+MessageID(first)+">" || r.Header.Get("References") != "<"+MessageID(first)+">" {
				t.Errorf("threading headers: %q %q", r.Header.Get("In-Reply-To"), r.Header.Get("References"))
			}
			return
		}
		t.Errorf("the reply was not received: %+v", got)
	})
}
