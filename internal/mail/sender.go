package mail

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	gomail "github.com/wneessen/go-mail"

	"github.com/tsunagi-net/tsunagi/internal/clock"
)

// Transport delivers one message. A *PermanentError means the message will
// never be accepted; any other error is retried.
type Transport interface {
	Send(ctx context.Context, id string, m Message) error
}

// PermanentError is a refusal that retrying cannot fix (SMTP 5xx).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// TLS modes of an SMTP server.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS, which is required
	TLSImplicit = "implicit" // TLS from the first byte (SMTPS, port 465)
	TLSNone     = "none"     // only for a relay on the same host
)

// SMTPConfig says how to reach the mail server.
type SMTPConfig struct {
	Host     string
	Port     int
	TLS      string // TLSStartTLS (default), TLSImplicit or TLSNone
	Username string // AUTH is used when set
	Password string
	From     string
	// TLSConfig overrides the TLS client settings (tests pin their CA here).
	TLSConfig *tls.Config
	Timeout   time.Duration
}

// SMTP is a Transport over github.com/wneessen/go-mail.
type SMTP struct{ cfg SMTPConfig }

// CheckFrom checks a sender address: one address, optionally with a
// display name ("つなぎ運用 <noreply@example.jp>"), which the composer
// encodes (RFC 2047); a line break or a second address is refused.
func CheckFrom(from string) error {
	if _, err := mail.ParseAddress(from); err != nil || strings.ContainsFunc(from, unicode.IsControl) {
		return fmt.Errorf("mail: sender %q is not one address with an optional display name", from)
	}
	return nil
}

// NewSMTP checks cfg and returns the transport.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.Host == "" || cfg.From == "" {
		return nil, errors.New("mail: SMTP host and from address are required")
	}
	if err := CheckFrom(cfg.From); err != nil {
		return nil, err
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = TLSStartTLS
	case TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return nil, fmt.Errorf("mail: TLS mode %q must be starttls, implicit or none", cfg.TLS)
	}
	if cfg.Port == 0 {
		cfg.Port = 587
		if cfg.TLS == TLSImplicit {
			cfg.Port = 465
		}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &SMTP{cfg: cfg}, nil
}

// compose builds the RFC 5322 message of m from from, with its outbox ID as
// the stable Message-ID; every transport sends this same message (opts
// choose, e.g., its transfer encoding).
func compose(from, id string, m Message, opts ...gomail.MsgOption) (*gomail.Msg, error) {
	// The recipient and subject are checked again although Enqueue admits
	// neither a line break nor anything but a plain address: a row queued
	// by an earlier version, or written to the table by hand, must not
	// open a header or add a recipient either. go-mail encodes the
	// display name of from (RFC 2047) and the subject.
	if err := CheckSubject(m.Subject); err != nil {
		return nil, &PermanentError{err}
	}
	if a, err := mail.ParseAddress(m.To); err != nil || a.Address != m.To {
		return nil, &PermanentError{fmt.Errorf("mail: recipient %q is not a plain address", m.To)}
	}
	msg := gomail.NewMsg(opts...)
	if err := msg.From(from); err != nil {
		return nil, &PermanentError{err}
	}
	if err := msg.To(m.To); err != nil {
		return nil, &PermanentError{err}
	}
	if strings.Contains(m.Subject, "=?") {
		// Text that reads as an encoded word would be decoded by the
		// recipient's mail client into a subject nobody wrote: encode the
		// whole subject, so that it decodes to exactly what was typed.
		msg.SetGenHeaderPreformatted(gomail.HeaderSubject, encodeWords(m.Subject))
	} else {
		msg.Subject(m.Subject)
	}
	msg.SetMessageIDWithValue(MessageID(id))
	if n := len(m.References); n > 0 {
		// Enqueue admitted only tsunagi Message-IDs: nothing here can
		// break the header.
		refs := make([]string, n)
		for i, r := range m.References {
			refs[i] = "<" + r + ">"
		}
		msg.SetGenHeaderPreformatted(gomail.HeaderInReplyTo, refs[n-1])
		msg.SetGenHeaderPreformatted(gomail.HeaderReferences, strings.Join(refs, " "))
	}
	msg.SetDate()
	msg.SetBodyString(gomail.TypeTextPlain, m.Body)
	return msg, nil
}

// encodeWords writes s as RFC 2047 encoded words (UTF-8, base64), each of
// whole characters and at most 45 bytes of text so that a word stays within
// the 75 characters RFC 2047 allows, folded onto continuation lines.
func encodeWords(s string) string {
	var words []string
	for len(s) > 0 {
		n := 0
		for n < len(s) {
			_, size := utf8.DecodeRuneInString(s[n:])
			if n+size > 45 {
				break
			}
			n += size
		}
		words = append(words, "=?UTF-8?B?"+base64.StdEncoding.EncodeToString([]byte(s[:n]))+"?=")
		s = s[n:]
	}
	return strings.Join(words, "\r\n ")
}

// Send delivers m with its outbox ID as the stable Message-ID, so that a
// message re-sent after a crash can be recognised as the same one.
func (t *SMTP) Send(ctx context.Context, id string, m Message) error {
	msg, err := compose(t.cfg.From, id, m)
	if err != nil {
		return err
	}
	opts := []gomail.Option{gomail.WithPort(t.cfg.Port), gomail.WithTimeout(t.cfg.Timeout)}
	tc := t.cfg.TLSConfig
	if tc == nil {
		tc = &tls.Config{ServerName: t.cfg.Host, MinVersion: tls.VersionTLS12}
	}
	switch t.cfg.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL(), gomail.WithTLSConfig(tc))
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory), gomail.WithTLSConfig(tc))
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if t.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain), gomail.WithUsername(t.cfg.Username),
			gomail.WithPassword(t.cfg.Password))
	}
	c, err := gomail.NewClient(t.cfg.Host, opts...)
	if err != nil {
		return &PermanentError{err}
	}
	err = c.DialAndSendWithContext(ctx, msg)
	var se *gomail.SendError
	if errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500 {
		return &PermanentError{err}
	}
	return err
}

// Sender delivers the outbox.
type Sender struct {
	Outbox    *Outbox
	Transport Transport
	Log       *slog.Logger
	// MaxAttempts before a temporarily failing message is given up (default 10).
	MaxAttempts int
	// Backoff is the first retry delay, doubled per attempt up to MaxBackoff
	// (defaults 30 s and 1 h).
	Backoff, MaxBackoff time.Duration
	// Lease is how long a claimed message is held before another sender may
	// take it (default 2 min): after a crash, its message goes again once
	// the lease ends. One send may take half of it. Poll is the idle wait
	// (default 5 s).
	Lease, Poll time.Duration
}

func (s *Sender) defaults() {
	if s.MaxAttempts == 0 {
		s.MaxAttempts = 10
	}
	if s.Backoff == 0 {
		s.Backoff = 30 * time.Second
	}
	if s.MaxBackoff == 0 {
		s.MaxBackoff = time.Hour
	}
	if s.Lease == 0 {
		s.Lease = 2 * time.Minute
	}
	if s.Poll == 0 {
		s.Poll = 5 * time.Second
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
}

// queued tells this process's senders that mail was queued: a transaction
// that enqueued mail wakes them when it commits, so that a mail goes at
// once rather than at the next poll. Mail queued by another controller on
// the same database waits for the poll (or that controller's sender).
var queued = newSignal()

// signal is a broadcast that carries no payload: next returns a channel
// closed at the next wake.
type signal struct {
	mu sync.Mutex // guards ch
	ch chan struct{}
}

func newSignal() *signal { return &signal{ch: make(chan struct{})} }

func (g *signal) next() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ch
}

func (g *signal) wake() {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.ch)
	g.ch = make(chan struct{})
}

// Run delivers due mail until ctx ends: at once when this process queues
// mail, else every Poll.
func (s *Sender) Run(ctx context.Context) {
	s.defaults()
	for {
		// Taken before the drain, so that mail committed during it is not
		// left for the next poll.
		woken := queued.next()
		n, err := s.Drain(ctx)
		if err != nil && ctx.Err() == nil {
			s.Log.Error("mail sender", "err", err)
		}
		if n > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.Poll):
		case <-woken:
		}
	}
}

// Drain sends every message due now and returns how many it attempted.
func (s *Sender) Drain(ctx context.Context) (int, error) {
	s.defaults()
	n := 0
	for ctx.Err() == nil {
		e, ok, err := s.Outbox.claim(ctx, clock.Now(), s.Lease)
		if err != nil || !ok {
			return n, err
		}
		n++
		if err := s.deliver(ctx, e); err != nil {
			return n, err
		}
	}
	return n, ctx.Err()
}

func (s *Sender) deliver(ctx context.Context, e Entry) error {
	m := Message{CustomerID: e.CustomerID, Cause: e.Cause, To: e.Recipient, Language: e.Language, Subject: e.Subject, Body: e.body,
		References: strings.Fields(e.refs)}
	// A send never outlives its claim: once the lease ends another sender
	// may take the message, and two senders at once would break "at most
	// twice" (a crash between the server's acceptance and markSent is the
	// only way to a second copy).
	sctx, cancel := context.WithTimeout(ctx, s.Lease/2)
	err := s.Transport.Send(sctx, e.ID, m)
	cancel()
	// The outcome is recorded even if ctx has just ended.
	wctx := context.WithoutCancel(ctx)
	var perm *PermanentError
	switch {
	case err == nil:
		return s.Outbox.markSent(wctx, e.ID, clock.Now())
	case ctx.Err() != nil:
		// Shutting down: hand the message back at once for the next run.
		return s.Outbox.markRetry(wctx, e.ID, clock.Now(), "interrupted by shutdown: "+err.Error())
	case errors.As(err, &perm):
		s.Log.Warn("mail refused permanently", "mail_id", e.ID, "cause", e.Cause, "err", err)
		return s.Outbox.markFailed(wctx, e.ID, err.Error())
	case e.Attempts >= s.MaxAttempts:
		s.Log.Warn("mail given up", "mail_id", e.ID, "attempts", e.Attempts, "err", err)
		return s.Outbox.markFailed(wctx, e.ID, fmt.Sprintf("gave up after %d attempts: %v", e.Attempts, err))
	default:
		return s.Outbox.markRetry(wctx, e.ID, clock.Now().Add(s.backoff(e.Attempts)), err.Error())
	}
}

// backoff is Backoff·2^(attempts-1), capped at MaxBackoff.
func (s *Sender) backoff(attempts int) time.Duration {
	d := s.Backoff
	for i := 1; i < attempts && d < s.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, s.MaxBackoff)
}
