package main

import (
	"context"
	"crypto/tls"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/tsunagi-net/tsunagi/internal/secretbox"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestSetupLinksStayOutOfTheLog: the first operator's link is shown on the
// terminal and kept in a 0600 file in the data directory, the demo customers'
// links go only by mail (here the --mail-dir sink), and none is ever in the
// structured log (which log shippers collect); and everything the controller
// keeps in its data directory is the owner's alone.
func TestSetupLinksStayOutOfTheLog(t *testing.T) {
	t.Parallel()
	s := startServe(t, serveOpts{args: []string{"--demo"}})
	if s.setupURL == "" {
		t.Fatalf("no first-operator link on stdout:\n%s", s.stdout)
	}
	out := s.stdout.String()
	if n := strings.Count(out, "/setup?token=tsu_"); n != 0 {
		t.Errorf("stdout has %d customer setup links, want none (they go by mail):\n%s", n, out)
	}
	mailed := func() int {
		n := 0
		files, _ := filepath.Glob(filepath.Join(s.dataDir, "mail", "*.eml"))
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), "/setup?token=tsu_") {
				n++
			}
		}
		return n
	}
	for deadline := time.Now().Add(20 * time.Second); mailed() < 2 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	if n := mailed(); n != 2 {
		t.Errorf("%d demo setup links in the mail directory, want 2", n)
	}
	if log := s.stderr.String(); strings.Contains(log, "token=") || strings.Contains(log, "tsu_") {
		t.Errorf("the structured log carries a setup link:\n%s", log)
	}
	if _, ok := s.logged("first operator setup link issued"); !ok {
		t.Errorf("the log does not say that a setup link was issued (without it)")
	}
	file := filepath.Join(s.dataDir, "setup-links.txt")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("setup links file: %v", err)
	}
	if string(b) != out {
		t.Errorf("setup links file differs from what was shown:\n%s\nvs stdout:\n%s", b, out)
	}

	s.createOperator() // a write, so that SQLite has its -wal and -shm
	var seen []string
	err = filepath.WalkDir(s.dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		rel, _ := filepath.Rel(s.dataDir, path)
		seen = append(seen, rel)
		if info.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", rel, info.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tsunagi.db", "tsunagi.db-wal", "secret.key", "setup-links.txt", "tls/key.pem", "tls/cert.pem"} {
		if !strings.Contains(" "+strings.Join(seen, " ")+" ", " "+f+" ") {
			t.Errorf("%s missing from the data directory (have %v)", f, seen)
		}
	}
}

// TestAgentAllowListClosesBeforeTLS: a source outside --agent-allow is closed
// before a byte of TLS; an allowed one gets the handshake.
func TestAgentAllowListClosesBeforeTLS(t *testing.T) {
	t.Parallel()
	if l, err := net.Listen("tcp", "127.0.0.2:0"); err != nil {
		t.Skipf("127.0.0.2 is not usable on this host (%v); the allow-list test needs a second loopback source", err)
	} else {
		l.Close()
	}
	s := startServe(t, serveOpts{agentAllow: "127.0.0.2/32"})
	handshake := func(from string) (int64, error) {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 30 * time.Second}
		raw, err := d.Dial("tcp", s.agent)
		if err != nil {
			t.Fatalf("tcp connect to the agent listener from %s: %v", from, err)
		}
		defer raw.Close()
		cc := &countingConn{Conn: raw}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cfg := s.tlsConfig()
		cfg.ServerName = "localhost"
		err = tls.Client(cc, cfg).HandshakeContext(ctx)
		return cc.n.Load(), err
	}
	if n, err := handshake("127.0.0.1"); err == nil || n != 0 {
		t.Errorf("refused source: TLS handshake error %v after %d bytes from the server; want an error and 0 bytes", err, n)
	}
	if n, err := handshake("127.0.0.2"); err != nil || n == 0 {
		t.Errorf("allowed source: TLS handshake %v after %d bytes from the server; want it to succeed", err, n)
	}
	waitFor(t, startTimeout, "the log record of the refused agent connection", func() bool {
		rec, ok := s.logged("agent connection refused: source not allow-listed")
		src, _ := rec["source"].(string)
		return ok && strings.HasPrefix(src, "127.0.0.1:")
	})
	tok := s.bootstrap()
	r := s.must("GET", s.mgmtURL("/metrics"), nil, bearer(tok))
	if v := metricValue(string(r.body), "tsunagi_agent_connections_refused_total"); v < 1 {
		t.Errorf("tsunagi_agent_connections_refused_total = %v, want ≥ 1", v)
	}
}

// TestControllersShareTheSecretKey: two controllers on one PostgreSQL with the
// same key file: a TOTP seed enrolled through one opens on the other. A
// controller with another key, or with none, refuses to start and says to
// copy the key.
func TestControllersShareTheSecretKey(t *testing.T) {
	t.Parallel()
	dsn := storetest.PostgresDSN(t) // skips with a message when unset
	a := startServe(t, serveOpts{db: dsn})
	a.createOperator()
	cookie := map[string]string{"Cookie": a.login().String()}
	r := a.must("POST", a.mgmtURL("/api/v1/me/totp"), nil, cookie)
	if r.status != http.StatusCreated {
		t.Fatalf("begin TOTP on the first controller: %d %s", r.status, r.body)
	}
	seed := r.str("secret")
	code, err := totp.GenerateCode(seed, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r = a.must("POST", a.mgmtURL("/api/v1/me/totp/confirm"), map[string]any{"code": code}, cookie); r.status != http.StatusOK {
		t.Fatalf("confirm TOTP on the first controller: %d %s", r.status, r.body)
	}

	// The second controller gets a copy of the first's key.
	key, err := os.ReadFile(filepath.Join(a.dataDir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	bDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(bDir, "copied.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	b := startServe(t, serveOpts{db: dsn, dataDir: bDir, args: []string{"--secret-key-file", filepath.Join(bDir, "copied.key")}})
	pending := b.login()
	// A code of the next step: the current one was used by the enrolment.
	code, err = totp.GenerateCode(seed, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	r = b.must("POST", b.mgmtURL("/api/v1/session/mfa"), map[string]any{"code": code}, map[string]string{"Cookie": pending.String()})
	if r.status != http.StatusNoContent {
		t.Fatalf("MFA login on the second controller: %d %s", r.status, r.body)
	}

	// Another key: refused at start, with what to do.
	cDir := t.TempDir()
	if _, err := secretbox.CreateKey(filepath.Join(cDir, "secret.key")); err != nil {
		t.Fatal(err)
	}
	refused := func(dir, want string) {
		t.Helper()
		p := launch(t, "serve", "--db", dsn, "--data-dir", dir, "--listen", "127.0.0.1:0", "--mgmt-listen", "127.0.0.1:0",
			"--agent-listen", "127.0.0.1:0")
		if code, _ := p.wait(exitTimeout); code == 0 {
			t.Errorf("a controller in %s started against the database", dir)
		}
		if !strings.Contains(p.stderr.String(), want) {
			t.Errorf("refusal lacks %q:\n%s", want, p.stderr)
		}
	}
	refused(cDir, "is not the key of this database")
	dDir := t.TempDir()
	refused(dDir, "copy that controller's key file")
	if _, err := os.Stat(filepath.Join(dDir, "secret.key")); err == nil {
		t.Errorf("a controller made a new key against a database with sealed values")
	}
}
