// Package smtptest is a real SMTP server for tests
// (github.com/emersion/go-smtp) on loopback: it requires AUTH PLAIN over
// TLS (STARTTLS, or TLS from the first byte) and records every message it
// accepts, so that a test asserts on what a mail server truly received.
// Recipients steer it: busy@… gets a 451 (retry later) on its first
// attempt, nobody@… always a 550 (no such user).
package smtptest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/mail"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/tsunagi-net/tsunagi/internal/tlsutil"
)

// The credentials the server accepts.
const (
	User     = "tsunagi"
	Password = "mail-secret"
)

// Message is one message as the server received it, for one recipient.
type Message struct {
	From, To string
	Data     string        // the whole message as it came in DATA
	Header   mail.Header   // Data's header, parsed
	Body     string        // Data's body, raw (still transfer-encoded)
	User     string        // who authenticated
	TLS      bool          // the session ran over TLS
	At       time.Time     // when it was accepted
	Envelope []string      // every RCPT of the transaction
	parsed   *mail.Message // nil when Data did not parse
}

// Server is a running test server.
type Server struct {
	Port int
	// Client trusts the server's self-signed certificate (ServerName
	// "localhost").
	Client *tls.Config
	// CertFile is that certificate (PEM), for a client in another process
	// (a tsunagi serve under test trusts it through SSL_CERT_FILE).
	CertFile string

	mu       sync.Mutex // guards the fields below
	received []Message
	busySeen map[string]int
	delay    time.Duration
}

// Options say how the server behaves.
type Options struct {
	Implicit bool          // TLS from the first byte (SMTPS) instead of STARTTLS
	Delay    time.Duration // wait this long in DATA before accepting each message
}

// Start serves SMTP on 127.0.0.1 until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	dir := t.TempDir()
	cert, _, err := tlsutil.SelfSigned(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := &Server{busySeen: map[string]int{}, delay: o.Delay}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{m: m, c: c}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.Implicit {
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
	m.Port = l.Addr().(*net.TCPAddr).Port
	m.CertFile = filepath.Join(dir, "tls", "cert.pem")
	m.Client = &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	return m
}

// Received returns what the server accepted so far, in order.
func (m *Server) Received() []Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Message(nil), m.received...)
}

// To returns what the server accepted for addr, in order.
func (m *Server) To(addr string) []Message {
	var out []Message
	for _, r := range m.Received() {
		if strings.EqualFold(r.To, addr) {
			out = append(out, r)
		}
	}
	return out
}

// Text returns the message's body decoded from its transfer encoding
// (quoted-printable or base64) as UTF-8 text.
func (r Message) Text() (string, error) {
	if r.parsed == nil {
		return "", errors.New("smtptest: the message did not parse")
	}
	return decodeBody(r.Header.Get("Content-Transfer-Encoding"), r.Body)
}

// Subject returns the decoded Subject header.
func (r Message) Subject() string {
	dec := new(mimeWordDecoder)
	s, err := dec.DecodeHeader(r.Header.Get("Subject"))
	if err != nil {
		return r.Header.Get("Subject")
	}
	return s
}

type session struct {
	m     *Server
	c     *smtp.Conn
	user  string
	from  string
	rcpts []string
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != User || pass != Password {
			return errors.New("bad credentials")
		}
		s.user = user
		return nil
	}), nil
}
func (s *session) Reset()        { s.from, s.rcpts = "", nil }
func (s *session) Logout() error { return nil }
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
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
func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.m.delay > 0 {
		time.Sleep(s.m.delay)
	}
	_, isTLS := s.c.TLSConnectionState()
	msg := Message{From: s.from, Data: string(b), User: s.user, TLS: isTLS, At: time.Now(), Envelope: append([]string(nil), s.rcpts...)}
	if p, err := mail.ReadMessage(strings.NewReader(msg.Data)); err == nil {
		body, _ := io.ReadAll(p.Body)
		msg.Header, msg.Body, msg.parsed = p.Header, string(body), p
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	for _, to := range s.rcpts {
		msg.To = to
		s.m.received = append(s.m.received, msg)
	}
	return nil
}
