package main

// End-to-end tests of `tsunagi serve` as a real process: first start, TLS
// floor, the management allow-list, the data-directory lock, an unreachable
// database, graceful shutdown, and — the one the store's design rests on —
// a SIGKILL in the middle of a stream of writes losing nothing that was
// acknowledged. The harness is in e2e_helpers_test.go.

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/apicontract"
	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

func TestServeFreshStart(t *testing.T) {
	t.Parallel()
	s := startServe(t, serveOpts{})
	t.Logf("start-up on a fresh data directory: %v to the \"started\" log line (controller's own measure: %.0f ms)",
		s.startup.Round(time.Millisecond), s.startupMS)

	r := s.must("GET", s.customerURL("/healthz"), nil, nil)
	if r.status != http.StatusOK || r.object(t)["status"] != "ok" {
		t.Errorf("customer /healthz: %d %s, want 200 {\"status\":\"ok\"}", r.status, r.body)
	}
	checkHSTS(t, "customer /healthz", r)
	r = s.must("GET", s.mgmtURL("/readyz"), nil, nil)
	if r.status != http.StatusOK {
		t.Errorf("management /readyz: %d %s, want 200", r.status, r.body)
	}
	checkHSTS(t, "management /readyz", r)

	// The link points at the management listener.
	u, err := url.Parse(s.setupURL)
	if err != nil || s.setupURL == "" {
		t.Fatalf("setup link %q on stdout: %v\n%s", s.setupURL, err, s.stdout)
	}
	if _, port, _ := net.SplitHostPort(s.mgmt); u.Host != "localhost:"+port {
		t.Errorf("setup link host %s, want localhost:%s (the management listener)", u.Host, port)
	}

	in := s.createOperator()
	r = s.must("POST", s.mgmtURL("/api/v1/setup"), in, nil)
	if r.status != http.StatusNotFound {
		t.Fatalf("second use of the setup link: %d %s, want 404", r.status, r.body)
	}
	if code := r.errorCode(t); code != "not_found" {
		t.Errorf("second use of the setup link: error code %q, want not_found", code)
	}
	checkHSTS(t, "setup error", r)

	session := s.login()
	tok := s.createToken(session)
	r = s.must("GET", s.mgmtURL("/api/v1/me"), nil, bearer(tok))
	if r.status != http.StatusOK || r.object(t)["login_id"] != opLogin {
		t.Errorf("management /api/v1/me with the token: %d %s", r.status, r.body)
	}

	// serve runs the scheduler: the speed-change job's first run (a job new
	// to the database is due at once) is listed for operators.
	for deadline := time.Now().Add(10 * time.Second); ; {
		r = s.must("GET", s.mgmtURL("/api/v1/job-runs?job=bandwidth.apply&outcome=ok"), nil, bearer(tok))
		if r.status == http.StatusOK && strings.Contains(string(r.body), `"job":"bandwidth.apply"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /api/v1/job-runs: %d %s, want the bandwidth.apply job's first run", r.status, r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Operator credentials are valid on the management listener only.
	for _, c := range []struct {
		what string
		hdr  map[string]string
	}{
		{"operator token", bearer(tok)},
		{"operator session cookie", map[string]string{"Cookie": session.String()}},
	} {
		for _, path := range []string{"/api/v1/me", "/api/v1/regions"} {
			r := s.must("GET", s.customerURL(path), nil, c.hdr)
			if r.status != http.StatusUnauthorized {
				t.Errorf("customer %s with the %s: %d %s, want 401", path, c.what, r.status, r.body)
				continue
			}
			if code := r.errorCode(t); code != "unauthorized" {
				t.Errorf("customer %s with the %s: error code %q, want unauthorized", path, c.what, code)
			}
		}
	}
}

func checkHSTS(t *testing.T, what string, r resp) {
	t.Helper()
	if h := r.header.Get("Strict-Transport-Security"); !strings.Contains(h, "max-age=") {
		t.Errorf("%s: Strict-Transport-Security %q, want a max-age", what, h)
	}
}

func TestTLSBelow12Refused(t *testing.T) {
	t.Parallel()
	s := startServe(t, serveOpts{})
	listeners := []struct{ name, addr, path string }{
		{"customer", s.customer, "/healthz"},
		{"management", s.mgmt, "/readyz"},
	}
	for _, l := range listeners {
		// MinVersion is set on purpose: Go clients refuse TLS 1.1 by default,
		// and the handshake must fail at the server, not in this process.
		cfg := &tls.Config{RootCAs: s.certPool(), MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", l.addr, cfg)
		if err == nil {
			conn.Close()
			t.Errorf("%s: a TLS 1.1 handshake succeeded", l.name)
			continue
		}
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "remote error" {
			t.Errorf("%s: TLS 1.1 handshake failed with %v; want an alert from the server", l.name, err)
			continue
		}
		t.Logf("%s: TLS 1.1 refused by the server: %v", l.name, err)
	}
	for _, l := range listeners {
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			cfg := &tls.Config{RootCAs: s.certPool(), MinVersion: v, MaxVersion: v}
			c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 60 * time.Second}
			res, err := c.Get("https://" + l.addr + l.path)
			if err != nil {
				t.Errorf("%s: %s: %v", l.name, tls.VersionName(v), err)
				continue
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			c.CloseIdleConnections()
			if res.StatusCode != http.StatusOK || res.TLS == nil || res.TLS.Version != v {
				t.Errorf("%s: %s: status %d, TLS state %+v", l.name, tls.VersionName(v), res.StatusCode, res.TLS)
				continue
			}
			t.Logf("%s: %s ok, %s", l.name, tls.VersionName(v), tls.CipherSuiteName(res.TLS.CipherSuite))
		}
	}
}

// countingConn counts the bytes the server sent.
type countingConn struct {
	net.Conn
	n atomic.Int64
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.Add(int64(n))
	return n, err
}

func TestMgmtAllowListClosesBeforeTLS(t *testing.T) {
	t.Parallel()
	if l, err := net.Listen("tcp", "127.0.0.2:0"); err != nil {
		t.Skipf("127.0.0.2 is not usable on this host (%v); the allow-list test needs a second loopback source", err)
	} else {
		l.Close()
	}
	s := startServe(t, serveOpts{mgmtAllow: "127.0.0.2/32"})
	from := func(ip string) *net.Dialer {
		return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 30 * time.Second}
	}

	// 127.0.0.1 is not allow-listed: the server closes without a byte, first
	// for a client that waits, then for one that sends a ClientHello.
	c, err := from("127.0.0.1").Dial("tcp", s.mgmt)
	if err != nil {
		t.Fatalf("tcp connect to the management listener: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, err := c.Read(make([]byte, 512))
	c.Close()
	if n != 0 || !(errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
		t.Errorf("refused source: read %d bytes, %v; want 0 bytes and EOF or reset", n, err)
	}
	raw, err := from("127.0.0.1").Dial("tcp", s.mgmt)
	if err != nil {
		t.Fatalf("tcp connect to the management listener: %v", err)
	}
	cc := &countingConn{Conn: raw}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err = tls.Client(cc, s.tlsConfig()).HandshakeContext(ctx)
	cancel()
	raw.Close()
	if err == nil || cc.n.Load() != 0 {
		t.Errorf("refused source: TLS handshake error %v after %d bytes from the server; want an error and 0 bytes", err, cc.n.Load())
	}

	// 127.0.0.2 is allow-listed.
	allowed := s.httpClient(from("127.0.0.2"))
	defer allowed.CloseIdleConnections()
	get := func(method, path string) resp {
		t.Helper()
		// A POST without its body, on purpose: only the answer is checked.
		r, err := doCall(apicontract.InvalidRequest(context.Background()), allowed, method, s.mgmtURL(path), nil, nil)
		if err != nil {
			t.Fatalf("%s management %s from 127.0.0.2: %v", method, path, err)
		}
		return r
	}
	if r := get("GET", "/healthz"); r.status != http.StatusOK || r.object(t)["status"] != "ok" {
		t.Errorf("management /healthz from 127.0.0.2: %d %s", r.status, r.body)
	}
	if r := get("POST", "/api/v1/customers"); r.status != http.StatusUnauthorized {
		t.Errorf("management POST /api/v1/customers without credentials: %d %s, want 401", r.status, r.body)
	}
	r := get("GET", "/metrics")
	if r.status != http.StatusOK {
		t.Errorf("management /metrics: %d %s", r.status, r.body)
	} else if v := metricValue(string(r.body), "tsunagi_mgmt_connections_refused_total"); v < 2 {
		t.Errorf("tsunagi_mgmt_connections_refused_total = %v, want ≥ 2", v)
	} else if v := metricValue(string(r.body), "tsunagi_mail_outbox_oldest_pending_age_seconds"); v < 0 {
		t.Errorf("management /metrics has no operator metrics read from the database (tsunagi_mail_outbox_oldest_pending_age_seconds)")
	}
	rec, ok := s.logged("management connection refused: source not allow-listed")
	if src, _ := rec["source"].(string); !ok || !strings.HasPrefix(src, "127.0.0.1:") {
		t.Errorf("no log record of the refused management connection from 127.0.0.1 (got %v)", rec)
	}

	// The customer listener has no operator endpoints and no metrics: 404,
	// not 401, so they do not exist there at all.
	for _, c := range []struct{ method, path string }{
		{"POST", "/api/v1/customers"},
		{"GET", "/api/v1/customers"},
		{"GET", "/api/v1/staff"},
		{"POST", "/api/v1/nodes"},
		{"GET", "/api/v1/audit/verify"},
		{"GET", "/metrics"},
	} {
		r := s.must(c.method, s.customerURL(c.path), nil, nil)
		if r.status != http.StatusNotFound {
			t.Errorf("customer listener %s %s: %d %s, want 404", c.method, c.path, r.status, r.body)
			continue
		}
		if code := r.errorCode(t); code != "not_found" {
			t.Errorf("customer listener %s %s: error code %q", c.method, c.path, code)
		}
	}
}

// metricValue reads an unlabelled sample from Prometheus text; -1 if absent.
func metricValue(text, name string) float64 {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

func TestSecondServeRefused(t *testing.T) {
	t.Parallel()
	s := startServe(t, serveOpts{})
	second := launch(t, "serve", "--data-dir", s.dataDir, "--listen", "127.0.0.1:0", "--mgmt-listen", "127.0.0.1:0", "--agent-listen", "127.0.0.1:0")
	code, ran := second.wait(exitTimeout)
	t.Logf("second serve exited %d after %v", code, ran.Round(time.Millisecond))
	if code == 0 {
		t.Errorf("second serve on the same data directory exited 0")
	}
	if !strings.Contains(second.stderr.String(), "in use by another tsunagi process") {
		t.Errorf("second serve's stderr lacks \"in use by another tsunagi process\":\n%s", second.stderr)
	}
	if r := s.must("GET", s.customerURL("/healthz"), nil, nil); r.status != http.StatusOK {
		t.Errorf("first serve after the refused second one: /healthz %d", r.status)
	}
}

func TestUnreachableDatabaseAtStart(t *testing.T) {
	p := launch(t, "serve", "--db", "postgres://u:p@127.0.0.1:1/x?connect_timeout=2", "--data-dir", t.TempDir(),
		"--listen", "127.0.0.1:0", "--mgmt-listen", "127.0.0.1:0", "--agent-listen", "127.0.0.1:0")
	code, ran := p.wait(exitTimeout)
	t.Logf("serve with an unreachable database exited %d after %v", code, ran.Round(time.Millisecond))
	if code == 0 {
		t.Errorf("serve with an unreachable database exited 0")
	}
	lines := strings.Split(strings.TrimRight(p.stderr.String(), "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "tsunagi: database unreachable:") {
		t.Errorf("stderr has %d lines, want exactly one starting \"tsunagi: database unreachable:\":\n%s", len(lines), p.stderr)
	}
	if out := p.stdout.String(); out != "" {
		t.Errorf("stdout should be empty, got:\n%s", out)
	}
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	s := startServe(t, serveOpts{})
	tok := s.bootstrap()

	var (
		terminated atomic.Bool
		wg         sync.WaitGroup
		mu         sync.Mutex // guards acked, early
		acked      []string   // customer IDs answered 201
		early      []string   // failures before SIGTERM
		answered   atomic.Int64
	)
	fail := func(format string, args ...any) {
		if !terminated.Load() {
			mu.Lock()
			early = append(early, fmt.Sprintf(format, args...))
			mu.Unlock()
		}
	}
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !terminated.Load(); i++ {
				var r resp
				var err error
				if w == 0 {
					r, err = s.call(context.Background(), "GET", s.mgmtURL("/readyz"), nil, nil)
				} else {
					r, err = s.call(context.Background(), "POST", s.mgmtURL("/api/v1/customers"),
						map[string]any{"name": fmt.Sprintf("graceful-w%d-%d", w, i)}, bearer(tok))
				}
				switch {
				case err != nil:
					fail("request: %v", err)
					return
				case w == 0 && r.status != http.StatusOK, w > 0 && r.status != http.StatusCreated:
					fail("status %d: %s", r.status, r.body)
					return
				}
				answered.Add(1)
				if w > 0 {
					id := r.str("id")
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				}
				time.Sleep(30 * time.Millisecond)
			}
		}()
	}
	waitFor(t, startTimeout, "first answers of the request stream", func() bool { return answered.Load() >= 6 })
	time.Sleep(500 * time.Millisecond)
	terminated.Store(true)
	sent := time.Now()
	s.signal(syscall.SIGTERM)
	code, _ := s.wait(exitTimeout)
	took := s.exitedAt.Sub(sent)
	wg.Wait()
	t.Logf("exit %d %v after SIGTERM; %d requests answered, %d customers acknowledged", code, took.Round(time.Millisecond),
		answered.Load(), len(acked))
	for _, e := range early {
		t.Errorf("before SIGTERM: %s", e)
	}
	if code != 0 {
		t.Errorf("serve exited %d after SIGTERM, want 0", code)
	}
	if took > 20*time.Second {
		t.Errorf("serve took %v to stop after SIGTERM", took)
	}
	if _, ok := s.logged("tsunagi controller stopped"); !ok {
		t.Errorf("log lacks \"tsunagi controller stopped\":\n%s", tail(s.stderr.String(), 4000))
	}
	if strings.Contains(s.stderr.String(), `"panic"`) {
		t.Errorf("log records a panic")
	}

	// The lock is released and every acknowledged write is there.
	ctx := context.Background()
	db, err := store.Open(ctx, store.Options{DataDir: s.dataDir})
	if err != nil {
		t.Fatalf("open the data directory after shutdown: %v", err)
	}
	defer db.Close()
	if err := db.IntegrityCheck(ctx); err != nil {
		t.Errorf("integrity check: %v", err)
	}
	cat := catalog.New(db, audit.New(db))
	for _, id := range acked {
		if _, err := cat.GetCustomer(ctx, tenanttest.Operator(catalog.CustomerID(id))); err != nil {
			t.Errorf("acknowledged customer %s: %v", id, err)
		}
	}
	// A stop signs the heads of the chains that grew: no customer's chain
	// is left with a tail no signed head covers.
	var unsigned int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM audit_chains c WHERE c.chain <> 'platform'
		AND c.seq > COALESCE((SELECT MAX(h.seq) FROM audit_signed_heads h WHERE h.chain = c.chain), 0)`).Scan(&unsigned); err != nil || unsigned != 0 {
		t.Errorf("customer chains with an unsigned tail after the stop: %d, %v", unsigned, err)
	}
}

// ackLog records what the controller acknowledged during the crash test.
type ackLog struct {
	mu         sync.Mutex        // guards the fields below
	customers  map[string]string // customer ID → name
	contracts  map[string]string // service code → customer ID
	inFlight   []string          // requests without an answer when the process died
	unexpected []string          // anything else that went wrong before the kill
}

func (a *ackLog) counts() (customers, contracts int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.customers), len(a.contracts)
}

func (a *ackLog) note(list *[]string, format string, args ...any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	*list = append(*list, fmt.Sprintf(format, args...))
}

func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		dir := storetest.DataDir(t)
		crashAndCheck(t, serveOpts{dataDir: dir}, store.Options{DataDir: dir})
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := storetest.PostgresDSN(t) // skips with a message when unset
		crashAndCheck(t, serveOpts{dataDir: t.TempDir(), db: dsn}, store.Options{DSN: dsn})
	})
}

// crashAndCheck runs writers against a controller, SIGKILLs it mid-stream,
// restarts it and checks that every acknowledged write survived and that the
// database and the audit chain are intact.
func crashAndCheck(t *testing.T, o serveOpts, dbOpts store.Options) {
	const writers = 8
	s := startServe(t, o)
	tok := s.bootstrap()

	acks := &ackLog{customers: map[string]string{}, contracts: map[string]string{}}
	var killed atomic.Bool
	// failed sorts a request error: after the kill it is a write in flight,
	// before it a test failure.
	failed := func(what string, err error) {
		if killed.Load() {
			acks.note(&acks.inFlight, "%s: %v", what, err)
		} else {
			acks.note(&acks.unexpected, "%s: %v", what, err)
		}
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for i := 0; !killed.Load(); i++ {
				name := fmt.Sprintf("crash-w%d-%05d", w, i)
				r, err := s.call(ctx, "POST", s.mgmtURL("/api/v1/customers"), map[string]any{"name": name}, bearer(tok))
				if err != nil {
					failed("create customer "+name, err)
					return
				}
				if r.status != http.StatusCreated {
					acks.note(&acks.unexpected, "create customer %s: %d %s", name, r.status, r.body)
					continue
				}
				id := r.str("id")
				if id == "" {
					acks.note(&acks.unexpected, "create customer %s: no id in %s", name, r.body)
					continue
				}
				acks.mu.Lock()
				acks.customers[id] = name
				acks.mu.Unlock()

				r, err = s.call(ctx, "POST", s.mgmtURL("/api/v1/customers/"+id+"/contracts"), map[string]any{"plan": "smart-hub"}, bearer(tok))
				if err != nil {
					failed("create contract for "+id, err)
					return
				}
				if r.status != http.StatusCreated {
					acks.note(&acks.unexpected, "create contract for %s: %d %s", id, r.status, r.body)
					continue
				}
				code := r.str("service_code")
				acks.mu.Lock()
				acks.contracts[code] = id
				acks.mu.Unlock()
			}
		}()
	}

	// Kill at a random moment 1.5–3 s into the stream (counted from the first
	// acknowledgement, so that a slow start does not leave nothing to check).
	waitFor(t, startTimeout, "first acknowledged write", func() bool { c, _ := acks.counts(); return c > 0 })
	time.Sleep(1500*time.Millisecond + rand.N(1500*time.Millisecond))
	killed.Store(true)
	s.signal(syscall.SIGKILL)
	s.wait(exitTimeout)
	if ws, ok := s.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("serve did not die of SIGKILL: %v", s.cmd.ProcessState)
	}
	writersDone := make(chan struct{})
	go func() { wg.Wait(); close(writersDone) }()
	select {
	case <-writersDone:
	case <-time.After(exitTimeout):
		t.Fatalf("writers still running %v after the kill", exitTimeout)
	}
	s.client.CloseIdleConnections()

	nCust, nCtr := len(acks.customers), len(acks.contracts)
	t.Logf("killed mid-stream: %d customers and %d contracts acknowledged, %d writes in flight at the kill",
		nCust, nCtr, len(acks.inFlight))
	for _, u := range acks.unexpected {
		t.Errorf("before the kill: %s", u)
	}
	if nCust == 0 {
		t.Fatalf("no write was acknowledged before the kill")
	}

	// Restart on the same store; the kernel has dropped the flock.
	s2 := startServe(t, serveOpts{dataDir: o.dataDir, db: o.db})
	t.Logf("restart after the crash: %v to the \"started\" log line", s2.startup.Round(time.Millisecond))
	if s2.setupURL != "" {
		t.Errorf("restart printed a first-operator setup link although the operator exists")
	}
	verifyAcked(t, s2, tok, acks)
	present := countCustomers(t, s2, tok, "crash-")
	t.Logf("after restart: %d crash-test customers present (%d acknowledged, %d committed without an answer)",
		present, nCust, present-nCust)
	s2.stop()

	ctx := context.Background()
	db, err := store.Open(ctx, dbOpts)
	if err != nil {
		t.Fatalf("open the store after the crash and restart: %v", err)
	}
	defer db.Close()
	if err := db.IntegrityCheck(ctx); err != nil {
		t.Errorf("integrity check after the crash: %v", err)
	}
	n, err := audit.New(db).Verify(ctx)
	if err != nil {
		t.Errorf("audit chain after the crash: %v (after %d good entries)", err, n)
	}
	if n < int64(nCust+nCtr) {
		t.Errorf("audit chain holds %d entries, fewer than the %d acknowledged writes", n, nCust+nCtr)
	}
	t.Logf("audit chain intact: %d entries", n)
}

// verifyAcked reads back every acknowledged customer and contract.
func verifyAcked(t *testing.T, s *server, tok string, acks *ackLog) {
	type check struct{ path, field, want string }
	var checks []check
	for id, name := range acks.customers {
		checks = append(checks, check{"/api/v1/customers/" + id, "name", name})
	}
	for code, id := range acks.contracts {
		checks = append(checks, check{"/api/v1/customers/" + id + "/contracts/" + code, "service_code", code})
	}
	jobs := make(chan check)
	var (
		mu      sync.Mutex // guards missing
		missing []string
		wg      sync.WaitGroup
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range jobs {
				r, err := s.call(context.Background(), "GET", s.mgmtURL(c.path), nil, bearer(tok))
				var problem string
				switch {
				case err != nil:
					problem = err.Error()
				case r.status != http.StatusOK:
					problem = fmt.Sprintf("%d %s", r.status, r.body)
				default:
					if got := r.str(c.field); got != c.want {
						problem = fmt.Sprintf("%s is %q, want %s", c.field, got, c.want)
					}
				}
				if problem != "" {
					mu.Lock()
					missing = append(missing, c.path+": "+problem)
					mu.Unlock()
				}
			}
		}()
	}
	for _, c := range checks {
		jobs <- c
	}
	close(jobs)
	wg.Wait()
	for i, m := range missing {
		if i == 20 {
			t.Errorf("… and %d more", len(missing)-20)
			break
		}
		t.Errorf("acknowledged write lost: %s", m)
	}
	if len(missing) == 0 {
		t.Logf("all %d acknowledged writes read back after the restart", len(checks))
	}
}

// countCustomers pages through the customer list and counts names with prefix.
func countCustomers(t *testing.T, s *server, tok, prefix string) int {
	n, after := 0, ""
	for {
		r := s.must("GET", s.mgmtURL("/api/v1/customers?limit=500&after="+url.QueryEscape(after)), nil, bearer(tok))
		if r.status != http.StatusOK {
			t.Fatalf("list customers: %d %s", r.status, r.body)
		}
		m := r.object(t)
		items, _ := m["items"].([]any)
		for _, it := range items {
			if name, _ := it.(map[string]any)["name"].(string); strings.HasPrefix(name, prefix) {
				n++
			}
		}
		next, _ := m["next_after"].(string)
		if next == "" {
			return n
		}
		after = next
	}
}
