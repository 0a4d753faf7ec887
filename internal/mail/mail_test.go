package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tlsutil"
)

// mta is a real SMTP server (github.com/emersion/go-smtp) on loopback that
// requires AUTH PLAIN over TLS and records what it accepts. Recipients steer
// it: busy@ gets a 451 on its first attempt, nobody@ always a 550.
type mta struct {
	mu       sync.Mutex // guards the fields below
	received []received
	busySeen map[string]int
}

type received struct {
	from, to, data, user string
	tls                  bool
}

type mtaSession struct {
	m     *mta
	c     *smtp.Conn
	user  string
	from  string
	rcpts []string
}

func (s *mtaSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *mtaSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != "tsunagi" || pass != "mail-secret" {
			return errors.New("bad credentials")
		}
		s.user = user
		return nil
	}), nil
}
func (s *mtaSession) Reset()        { s.from, s.rcpts = "", nil }
func (s *mtaSession) Logout() error { return nil }
func (s *mtaSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}
func (s *mtaSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	switch {
	case strings.HasPrefix(to, "nobody@"):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	case strings.HasPrefix(to, "busy@"):
		s.m.mu.Lock()
		s.m.busySeen[to]++
		n := s.m.busySeen[to]
		s.m.mu.Unlock()
		if n == 1 {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
		}
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}
func (s *mtaSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.c.TLSConnectionState()
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	for _, to := range s.rcpts {
		s.m.received = append(s.m.received, received{from: s.from, to: to, data: string(b), user: s.user, tls: isTLS})
	}
	return nil
}

func (m *mta) got() []received {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]received(nil), m.received...)
}

// startMTA serves SMTP on loopback: STARTTLS on a plain listener, or TLS from
// the first byte when implicit. It returns the port and a client TLS config
// that trusts the server.
func startMTA(t *testing.T, implicit bool) (*mta, int, *tls.Config) {
	t.Helper()
	cert, _, err := tlsutil.SelfSigned(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := &mta{busySeen: map[string]int{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &mtaSession{m: m, c: c}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	var l net.Listener
	l, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if implicit {
		l = tls.NewListener(l, srv.TLSConfig)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return m, l.Addr().(*net.TCPAddr).Port, &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS12}
}

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
	m, port, tc := startMTA(t, implicit)
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
	got := m.got()
	if len(got) != 3 {
		t.Fatalf("server received %d messages, want 3: %+v", len(got), got)
	}
	for _, r := range got {
		if !r.tls || r.user != "tsunagi" || r.from != "noreply@tsunagi.example" {
			t.Errorf("delivery without TLS or AUTH: %+v", r)
		}
		if !strings.Contains(r.data, "Message-ID: <mail_") || !strings.Contains(r.data, "Subject: Hello "+r.to) {
			t.Errorf("message: %s", r.data)
		}
	}
}

func TestSenderRestartDeliversOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m, port, tc := startMTA(t, false)
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
		if got := m.got(); len(got) != 1 {
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
