package mail

import (
	"context"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/smtptest"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

const mallory = "mallory@evil.example"

// smtpTo returns a sender to a fresh smtptest server, sending as from.
func smtpTo(t *testing.T, db *store.DB, from string) (*Sender, *smtptest.Server) {
	t.Helper()
	m := smtptest.Start(t, smtptest.Options{})
	tr, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: m.Port, Username: smtptest.User, Password: smtptest.Password,
		From: from, TLSConfig: m.Client, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &Sender{Outbox: NewOutbox(db), Transport: tr}, m
}

// onlyTo fails unless the server received exactly one message, for to
// alone (one RCPT), without a Bcc or Cc header and without mallory
// anywhere in its header; it returns that message.
func onlyTo(t *testing.T, m *smtptest.Server, to string) smtptest.Message {
	t.Helper()
	got := m.Received()
	if len(got) != 1 {
		t.Fatalf("the server received %d messages, want 1: %+v", len(got), got)
	}
	r := got[0]
	if r.To != to || len(r.Envelope) != 1 || r.Envelope[0] != to {
		t.Errorf("envelope: to %q, RCPT %q; want %q alone", r.To, r.Envelope, to)
	}
	head, _, _ := strings.Cut(r.Data, "\r\n\r\n")
	if r.Header["Bcc"] != nil || r.Header["Cc"] != nil || strings.Contains(strings.ToLower(head), mallory) {
		t.Errorf("an injected header reached the server:\n%s", head)
	}
	return r
}

// TestInjectionRefusedAtEnqueue: a subject or a recipient with a line break
// (or another control character) is refused with its transaction, so no
// Bcc header and no extra RCPT can come of it; a clean message goes to its
// one recipient.
func TestInjectionRefusedAtEnqueue(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bad := []Message{
			{To: "alice@example.jp", Subject: "x\r\nBcc: " + mallory},
			{To: "alice@example.jp", Subject: "x\nBcc: " + mallory},
			{To: "alice@example.jp", Subject: "x\rBcc: " + mallory},
			{To: "alice@example.jp", Subject: "x\x00y"},
			{To: "alice@example.jp", Subject: "x\u2028Bcc: " + mallory},
			{To: "alice@example.jp\r\nBcc: " + mallory, Subject: "x"},
			{To: "alice@example.jp, " + mallory, Subject: "x"},
			{To: "Alice <alice@example.jp>", Subject: "x"},
		}
		for _, m := range bad {
			m.Cause, m.Body = "test", "b"
			err := db.InTx(ctx, func(tx *store.Tx) error { _, err := Enqueue(ctx, tx, m); return err })
			if err == nil {
				t.Errorf("queued: to %q subject %q", m.To, m.Subject)
			}
		}
		s, srv := smtpTo(t, db, "noreply@tsunagi.example")
		if n, err := s.Drain(ctx); err != nil || n != 0 {
			t.Fatalf("refused messages reached the outbox: %d, %v", n, err)
		}
		enqueue(t, db, "alice@example.jp")
		if _, err := s.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		onlyTo(t, srv, "alice@example.jp")
	})
}

// TestComposerRefusesStoredInjection: rows that did not pass Enqueue (an
// earlier version, a hand-made row) with a line break in the subject or
// the recipient fail permanently; nothing reaches the server for them.
func TestComposerRefusesStoredInjection(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := clock.Store(clock.Now())
		for id, row := range map[string][2]string{
			"mail_aaaa": {"alice@example.jp", "x\r\nBcc: " + mallory},
			"mail_bbbb": {"alice@example.jp\r\nBcc: " + mallory, "x"},
		} {
			if _, err := db.Exec(ctx, `INSERT INTO mail_outbox (id, cause, recipient, language, subject, body, status, attempts,
				next_attempt_at, last_error, created_at) VALUES (?, 'test', ?, 'en', ?, 'b', 'pending', 0, ?, '', ?)`,
				id, row[0], row[1], now, now); err != nil {
				t.Fatal(err)
			}
		}
		good := enqueue(t, db, "alice@example.jp")
		s, srv := smtpTo(t, db, "noreply@tsunagi.example")
		if _, err := s.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"mail_aaaa", "mail_bbbb"} {
			if e := status(t, s.Outbox, id); e.Status != Failed {
				t.Errorf("%s: %s, want failed", id, e.Status)
			}
		}
		if r := onlyTo(t, srv, "alice@example.jp"); r.Header.Get("Message-ID") != "<"+MessageID(good)+">" {
			t.Errorf("received %q, want the clean message", r.Header.Get("Message-ID"))
		}
	})
}

// TestTemplateValueCannotOpenHeader: a template value with a line break
// (a notice title typed with one) cannot make a header: the subject is the
// template's first line, so a newline ends it and the rest is body text;
// a carriage return stays in the subject and is refused at Enqueue.
func TestTemplateValueCannotOpenHeader(t *testing.T) {
	tmpl := ParseTemplates(fstest.MapFS{"t.en.txt": {Data: []byte("Subject: [tsunagi] {{.Title}}\nNotice: {{.Title}}\n")}}, "*.txt")
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		m, err := tmpl.Message("t", "test", "en", "alice@example.jp", map[string]string{"Title": "x\nBcc: " + mallory})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.InTx(ctx, func(tx *store.Tx) error { _, err := Enqueue(ctx, tx, m); return err }); err != nil {
			t.Fatal(err)
		}
		cr, err := tmpl.Message("t", "test", "en", "alice@example.jp", map[string]string{"Title": "y\r\nBcc: " + mallory})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.InTx(ctx, func(tx *store.Tx) error { _, err := Enqueue(ctx, tx, cr); return err }); err == nil {
			t.Error("a subject with a carriage return was queued")
		}
		s, srv := smtpTo(t, db, "noreply@tsunagi.example")
		if _, err := s.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		r := srv.Received()
		if len(r) != 1 || r[0].Subject() != "[tsunagi] x" || len(r[0].Envelope) != 1 || r[0].Header["Bcc"] != nil {
			t.Fatalf("received %+v", r)
		}
		if body, err := r[0].Text(); err != nil || !strings.HasPrefix(body, "Bcc: "+mallory) {
			t.Errorf("the rest of the value is not body text: %q %v", body, err)
		}
	})
}

// TestFromDisplayNameEncoded: a display name in the sender address (as
// --smtp-from gives it) arrives RFC 2047-encoded, the header itself plain
// ASCII; a sender with a line break or a second address is refused when
// the transport (or the mail sink) is made.
func TestFromDisplayNameEncoded(t *testing.T) {
	db := storetest.SQLite(t)
	s, srv := smtpTo(t, db, "つなぎ 運用 <noreply@tsunagi.example>")
	enqueue(t, db, "alice@example.jp")
	if _, err := s.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := onlyTo(t, srv, "alice@example.jp")
	raw := r.Header.Get("From")
	for _, c := range raw {
		if c > 0x7e {
			t.Fatalf("From header not encoded: %q", raw)
		}
	}
	a, err := (&mail.AddressParser{WordDecoder: new(mime.WordDecoder)}).Parse(raw)
	if err != nil || a.Name != "つなぎ 運用" || a.Address != "noreply@tsunagi.example" {
		t.Errorf("From %q decodes to %+v, %v", raw, a, err)
	}
	for _, from := range []string{"ops\r\nBcc: " + mallory + " <noreply@tsunagi.example>", "noreply@tsunagi.example, " + mallory,
		"noreply@tsunagi.example\r\nBcc: " + mallory, "not an address"} {
		if _, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", From: from}); err == nil {
			t.Errorf("NewSMTP took sender %q", from)
		}
		if _, err := NewDir(t.TempDir(), from); err == nil {
			t.Errorf("NewDir took sender %q", from)
		}
	}
}

// stuckTransport never finishes a send by itself.
type stuckTransport struct{}

func (stuckTransport) Send(ctx context.Context, _ string, _ Message) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestSendEndsWithinLease: a send that hangs is cut off at half the
// lease and retried later, so that no other sender takes the message while
// this one may still be delivering it.
func TestSendEndsWithinLease(t *testing.T) {
	db := storetest.SQLite(t)
	id := enqueue(t, db, "alice@example.jp")
	s := &Sender{Outbox: NewOutbox(db), Transport: stuckTransport{}, Lease: time.Second}
	start := time.Now()
	if _, err := s.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took >= 900*time.Millisecond {
		t.Errorf("the stuck send took %v, want it cut off well within the lease", took)
	}
	if e := status(t, s.Outbox, id); e.Status != Pending || !strings.Contains(e.LastError, "deadline") {
		t.Errorf("after the cut-off: %+v", e)
	}
}

// TestSubjectReadsAsTyped: text in a subject that reads as an encoded word
// (=?UTF-8?B?…?=) reaches the recipient as the characters typed, not as the
// subject they would decode to; a long one stays within RFC 2047's words.
func TestSubjectReadsAsTyped(t *testing.T) {
	db := storetest.SQLite(t)
	s, srv := smtpTo(t, db, "noreply@tsunagi.example")
	subject := "Maintenance =?UTF-8?B?W3RzdW5hZ2ldIFlvdXIgYWNjb3VudCBpcyBzdXNwZW5kZWQ=?=" + strings.Repeat(" and a long subject", 6)
	err := db.InTx(context.Background(), func(tx *store.Tx) error {
		_, err := Enqueue(context.Background(), tx, Message{Cause: "test", To: "alice@example.jp", Language: "en", Subject: subject, Body: "b"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := onlyTo(t, srv, "alice@example.jp")
	if got := r.Subject(); got != subject {
		t.Errorf("the subject decodes to %q, want %q as typed", got, subject)
	}
	for _, line := range strings.Split(r.Header.Get("Subject"), " ") {
		if len(line) > 75 {
			t.Errorf("an encoded word of %d characters: %q", len(line), line)
		}
	}
}
