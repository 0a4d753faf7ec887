package main

// The end-to-end harness: the tsunagi binary is built once per test run and
// `tsunagi serve` runs as a real process, on loopback only, with its own data
// directory. Listeners are bound to port 0 and the harness reads the actual
// addresses from the "tsunagi controller started" log line, so that no port
// picked in advance can be taken by someone else in between. Every process a
// test starts is killed and reaped in t.Cleanup.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/apicontract"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// tsunagiBin is the binary built by TestMain.
var tsunagiBin string

// Generous bounds: the machine that runs these tests may be a loaded 2-core box.
const (
	startTimeout = 90 * time.Second // process start to "controller started"
	exitTimeout  = 60 * time.Second // a process that should end, ending
)

// buildFlags are passed to the binary's build; under `go test -race` the
// controller runs with the race detector too (race_test.go), so a data race
// in the server fails the test through the exit status 66.
var buildFlags []string

func TestMain(m *testing.M) { os.Exit(runWithBinary(m)) }

func runWithBinary(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tsunagi-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	tsunagiBin = filepath.Join(dir, "tsunagi")
	build := exec.Command("go", append(append([]string{"build"}, buildFlags...), "-o", tsunagiBin, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: go build:", err)
		return 1
	}
	return m.Run()
}

// syncBuffer collects a process's output; the process writes while the test
// reads.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is one running tsunagi process.
type proc struct {
	t              testing.TB
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	launched       time.Time
	exited         chan struct{} // closed once the process has been reaped
	waitErr        error         // valid after exited is closed
	exitedAt       time.Time     // valid after exited is closed
}

// launch starts the binary with args and makes sure it is gone when the test
// ends.
func launch(t testing.TB, args ...string) *proc {
	t.Helper()
	return launchEnv(t, nil, args...)
}

// launchEnv is launch with env (KEY=value) added to the process's
// environment: a test passes what the process needs this way instead of
// t.Setenv, which would keep the test from running in parallel.
func launchEnv(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(tsunagiBin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	// Keep the environment from steering the controller: TSUNAGI_DB and
	// friends are flag defaults.
	p.cmd.Env = []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TSUNAGI_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Env = append(p.cmd.Env, env...)
	p.launched = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		p.exitedAt = time.Now()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if !p.hasExited() {
			_ = p.cmd.Process.Kill()
		}
		select {
		case <-p.exited:
		case <-time.After(exitTimeout):
			t.Errorf("pid %d did not go away after SIGKILL", p.cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("pid %d stderr (tail):\n%s", p.cmd.Process.Pid, tail(p.stderr.String(), 6000))
		}
	})
	return p
}

func (p *proc) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// wait waits for the process to end and returns its exit code (-1 when a
// signal ended it) and how long it ran.
func (p *proc) wait(timeout time.Duration) (code int, ran time.Duration) {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.t.Fatalf("pid %d still running after %v", p.cmd.Process.Pid, timeout)
	}
	return p.cmd.ProcessState.ExitCode(), p.exitedAt.Sub(p.launched)
}

func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v to pid %d: %v", sig, p.cmd.Process.Pid, err)
	}
}

// logLines returns the JSON log records written so far.
func (p *proc) logLines() []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(p.stderr.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// logged returns the first record whose msg is msg.
func (p *proc) logged(msg string) (map[string]any, bool) {
	for _, m := range p.logLines() {
		if m["msg"] == msg {
			return m, true
		}
	}
	return nil, false
}

// server is a running `tsunagi serve`.
type server struct {
	*proc
	dataDir        string
	customer, mgmt string // host:port actually bound
	agent          string
	setupURL       string // "" when an operator already exists
	startup        time.Duration
	startupMS      float64 // as the controller measured it
	client         *http.Client
}

type serveOpts struct {
	dataDir   string // "" = a fresh temporary directory
	db        string // postgres:// URL, "" = SQLite in dataDir
	mgmtAllow string // "" = the default
	// agentAllow is --agent-allow ("" = the default); args are added last.
	agentAllow string
	args       []string
	env        []string // added to the process's environment (KEY=value)
}

var setupURLRE = regexp.MustCompile(`https://\S+/setup\?first=1&token=tsu_\S+`)

// startServe runs `tsunagi serve` and returns once it has logged that it
// started and its customer listener answers /healthz.
func startServe(t testing.TB, o serveOpts) *server {
	t.Helper()
	if o.dataDir == "" {
		o.dataDir = storetest.DataDir(t) // memory-backed where possible: see there
	}
	args := []string{"serve", "--data-dir", o.dataDir, "--listen", "127.0.0.1:0", "--mgmt-listen", "127.0.0.1:0", "--agent-listen", "127.0.0.1:0"}
	if o.db != "" {
		args = append(args, "--db", o.db)
	}
	if o.mgmtAllow != "" {
		args = append(args, "--mgmt-allow", o.mgmtAllow)
	}
	if o.agentAllow != "" {
		args = append(args, "--agent-allow", o.agentAllow)
	}
	args = append(args, o.args...)
	s := &server{proc: launchEnv(t, o.env, args...), dataDir: o.dataDir}
	deadline := time.Now().Add(startTimeout)
	for {
		if rec, ok := s.logged("tsunagi controller started"); ok {
			s.startup = time.Since(s.launched)
			s.customer, _ = rec["customer"].(string)
			s.mgmt, _ = rec["management"].(string)
			s.agent, _ = rec["agent"].(string)
			s.startupMS, _ = rec["startup_ms"].(float64)
			break
		}
		if s.hasExited() {
			t.Fatalf("serve exited during start-up (%v)\nstdout:\n%s\nstderr:\n%s", s.waitErr, s.stdout, s.stderr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start within %v\nstderr:\n%s", startTimeout, tail(s.stderr.String(), 6000))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s.customer == "" || s.mgmt == "" {
		t.Fatalf("start-up log line lacks the listener addresses:\n%s", s.stderr)
	}
	// The link is printed on stdout before the start-up line on stderr, but
	// the two pipes are read apart: when the log says a link was issued,
	// wait for it on stdout.
	if strings.Contains(s.stderr.String(), "first operator setup link issued") {
		waitFor(t, startTimeout, "the setup link on stdout", func() bool { return setupURLRE.MatchString(s.stdout.String()) })
	}
	s.setupURL = setupURLRE.FindString(s.stdout.String())
	// Every change the test makes through the controller is audited: the
	// audit guard logs one that succeeded without a record
	// (internal/web/guard.go), which fails the test.
	t.Cleanup(func() {
		for _, m := range s.logLines() {
			if m["msg"] == "a change was not audited" {
				t.Errorf("serve: %v succeeded without an audit record (status %v)", m["route"], m["status"])
			}
		}
	})
	s.client = s.httpClient(nil)
	t.Cleanup(s.client.CloseIdleConnections)
	waitFor(t, startTimeout, "customer /healthz", func() bool {
		r, err := s.call(context.Background(), "GET", s.customerURL("/healthz"), nil, nil)
		return err == nil && r.status == http.StatusOK
	})
	return s
}

// certPool trusts the self-signed certificate the controller keeps in its data
// directory, so that the tests verify the server instead of skipping it.
func (s *server) certPool() *x509.CertPool {
	s.t.Helper()
	pem, err := os.ReadFile(filepath.Join(s.dataDir, "tls", "cert.pem"))
	if err != nil {
		s.t.Fatalf("read self-signed certificate: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		s.t.Fatalf("data/tls/cert.pem holds no certificate")
	}
	return pool
}

// tlsConfig is a client configuration that trusts the controller.
func (s *server) tlsConfig() *tls.Config {
	return &tls.Config{RootCAs: s.certPool(), MinVersion: tls.VersionTLS12}
}

// httpClient returns a client trusting the controller; dialer, when given,
// sets where connections come from.
func (s *server) httpClient(dialer *net.Dialer) *http.Client {
	tr := &http.Transport{
		TLSClientConfig:     s.tlsConfig(),
		MaxIdleConnsPerHost: 16,
		TLSHandshakeTimeout: 30 * time.Second,
	}
	if dialer != nil {
		tr.DialContext = dialer.DialContext
	}
	// Every exchange is checked against the listener's OpenAPI document.
	return &http.Client{Transport: apicontract.Transport(s.t, tr), Timeout: 60 * time.Second}
}

func (s *server) customerURL(path string) string { return "https://" + s.customer + path }
func (s *server) mgmtURL(path string) string     { return "https://" + s.mgmt + path }

// stop sends SIGTERM and expects a clean exit.
func (s *server) stop() {
	s.t.Helper()
	s.client.CloseIdleConnections()
	s.signal(syscall.SIGTERM)
	if code, _ := s.wait(exitTimeout); code != 0 {
		s.t.Fatalf("serve exited %d after SIGTERM\nstderr:\n%s", code, tail(s.stderr.String(), 6000))
	}
}

// resp is an HTTP answer, read completely.
type resp struct {
	status int
	header http.Header
	body   []byte
}

// object decodes a JSON object answer.
func (r resp) object(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %v\n%s", r.status, err, r.body)
	}
	return m
}

// str returns a top-level string field of a JSON object answer, "" when
// absent. Unlike object it never stops the test, so goroutines may use it.
func (r resp) str(key string) string {
	var m map[string]any
	_ = json.Unmarshal(r.body, &m)
	v, _ := m[key].(string)
	return v
}

// errorCode checks the one error shape {"error":{"code","message",...}} and
// returns the code.
func (r resp) errorCode(t testing.TB) string {
	t.Helper()
	e, ok := r.object(t)["error"].(map[string]any)
	if !ok {
		t.Fatalf("error answer %d lacks the error object: %s", r.status, r.body)
	}
	code, _ := e["code"].(string)
	msg, _ := e["message"].(string)
	if code == "" || msg == "" {
		t.Fatalf("error answer %d lacks code or message: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error answer %d has Content-Type %q", r.status, ct)
	}
	return code
}

// call sends body (JSON-encoded unless nil) and reads the whole answer.
// hdr holds extra request headers.
func (s *server) call(ctx context.Context, method, u string, body any, hdr map[string]string) (resp, error) {
	return doCall(ctx, s.client, method, u, body, hdr)
}

func doCall(ctx context.Context, c *http.Client, method, u string, body any, hdr map[string]string) (resp, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return resp{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return resp{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		return resp{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return resp{}, err
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}, nil
}

// must is call for requests that have to get an answer.
func (s *server) must(method, u string, body any, hdr map[string]string) resp {
	s.t.Helper()
	r, err := s.call(context.Background(), method, u, body, hdr)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, u, err)
	}
	return r
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// The first operator every test creates.
const (
	opLogin    = "ops.e2e"
	opPassword = "correct-horse-battery-staple-42"
)

// createOperator completes the first-operator setup link; it returns the
// request body so that a test can send it again.
func (s *server) createOperator() map[string]any {
	s.t.Helper()
	if s.setupURL == "" {
		s.t.Fatalf("no first-operator setup link on stdout:\n%s", s.stdout)
	}
	u, err := url.Parse(s.setupURL)
	if err != nil {
		s.t.Fatalf("setup link %q: %v", s.setupURL, err)
	}
	in := map[string]any{"token": u.Query().Get("token"), "login_id": opLogin, "display_name": "E2E Operator",
		"email": "ops-e2e@example.net", "password": opPassword}
	r := s.must("POST", s.mgmtURL("/api/v1/setup"), in, nil)
	if r.status != http.StatusCreated {
		s.t.Fatalf("setup: %d %s", r.status, r.body)
	}
	if got := r.object(s.t)["login_id"]; got != opLogin {
		s.t.Fatalf("setup created login_id %v, want %s", got, opLogin)
	}
	return in
}

// login returns the operator session cookie.
func (s *server) login() *http.Cookie {
	s.t.Helper()
	r := s.must("POST", s.mgmtURL("/api/v1/session"), map[string]any{"login_id": opLogin, "password": opPassword}, nil)
	if r.status != http.StatusOK {
		s.t.Fatalf("login: %d %s", r.status, r.body)
	}
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "__Host-tsunagi-ops" {
			if !c.Secure || !c.HttpOnly || c.Path != "/" {
				s.t.Errorf("session cookie lacks Secure, HttpOnly or Path=/: %+v", c)
			}
			return c
		}
	}
	s.t.Fatalf("login set no __Host-tsunagi-ops cookie; headers %v", r.header)
	return nil
}

// createToken makes an API token from a session and returns its secret.
func (s *server) createToken(session *http.Cookie) string {
	s.t.Helper()
	in := map[string]any{"name": "e2e", "expires_at": time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339)}
	r := s.must("POST", s.mgmtURL("/api/v1/tokens"), in, map[string]string{"Cookie": session.String()})
	if r.status != http.StatusCreated {
		s.t.Fatalf("create token: %d %s", r.status, r.body)
	}
	secret, _ := r.object(s.t)["secret"].(string)
	if !strings.HasPrefix(secret, "tsk_") {
		s.t.Fatalf("token secret %q lacks the tsk_ prefix", secret)
	}
	return secret
}

// bootstrap creates the first operator and returns an API token of theirs.
func (s *server) bootstrap() string {
	s.t.Helper()
	s.createOperator()
	return s.createToken(s.login())
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
