package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestDatabaseOutageAndRecovery puts a TCP proxy between the controller and
// PostgreSQL, cuts it and restores it on the same address, and checks what
// clients see: during the outage /readyz and every API route answer 503 with
// the JSON error shape and Retry-After (never a 500, never a stack trace);
// afterwards everything answers 200 again without restarting the server.
// Client load runs throughout, so that the cut also lands in the middle of
// queries. Waits are bounded polls, generous for a loaded machine.
func TestDatabaseOutageAndRecovery(t *testing.T) {
	t.Parallel()
	dsn := storetest.PostgresDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse DSN: %v", err)
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5432")
	}
	proxy := newTCPProxy(t, target)
	u.Host = proxy.addr

	logs := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	})
	db, err := store.Open(context.Background(), store.Options{DSN: u.String()})
	if err != nil {
		t.Fatalf("open through proxy: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	env := startPerfEnv(t, db, slog.NewJSONHandler(logs, nil))

	api := []string{
		env.base + "/api/v1/contracts/" + env.serviceCode,
		env.base + "/api/v1/contracts",
		env.base + "/api/v1/ports/" + env.portCode,
		env.base + "/api/v1/hubs",
	}
	readyz, healthz := env.base+"/readyz", env.base+"/healthz"

	// Before: everything works.
	for _, u := range api {
		if _, err := env.get(u); err != nil {
			t.Fatalf("before the outage: %v", err)
		}
	}
	expectStatus(t, env, readyz, http.StatusOK, `"ready"`)

	load := startOutageLoad(env, api, 4)
	waitForLoad(t, load, http.StatusOK, 8)

	// Cut. The first requests still find the server believing the database is
	// up, so they reach it over dead or refused connections: their errors must
	// be classified as unavailable too.
	proxy.cut()
	var wg sync.WaitGroup
	burst := make([]error, 4*len(api))
	for i := range burst {
		wg.Go(func() { burst[i] = checkUnavailable(env, api[i%len(api)]) })
	}
	wg.Wait()
	if err := errors.Join(burst...); err != nil {
		t.Errorf("right after the cut: %v", err)
	}
	// The watch first: /readyz stores the flag itself, and the watch logs
	// only the transitions it makes.
	poll(t, 15*time.Second, "the database watch to notice", func() (bool, string) {
		return strings.Contains(logs.String(), `"msg":"database unreachable"`), "no \"database unreachable\" log line"
	})
	poll(t, 15*time.Second, "/readyz to answer 503", func() (bool, string) {
		code, _, body, err := env.do(readyz, false)
		if err != nil {
			return false, err.Error()
		}
		return code == http.StatusServiceUnavailable && bytes.Contains(body, []byte(`"status":"unavailable"`)),
			fmt.Sprintf("%d %s", code, bytes.TrimSpace(body))
	})
	for _, u := range api {
		if err := checkUnavailable(env, u); err != nil {
			t.Errorf("during the outage: %v", err)
		}
	}
	expectStatus(t, env, healthz, http.StatusOK, `"ok"`)

	// Restore on the same address; the server must recover by itself. Poll
	// the API first: while the server believes the database is down, API
	// requests do not touch it, so only the background watch can bring it
	// back (a /readyz probe would flip the flag itself).
	proxy.restore(t)
	poll(t, 20*time.Second, "the API to answer 200 again", func() (bool, string) {
		code, _, body, err := env.do(api[0], true)
		if err != nil {
			return false, err.Error()
		}
		if code == http.StatusServiceUnavailable {
			if err := unavailableShape(api[0], code, nil, body); err != nil {
				t.Fatalf("while recovering: %v", err)
			}
		} else if code != http.StatusOK {
			t.Fatalf("while recovering: GET %s: %d %s", api[0], code, bytes.TrimSpace(body))
		}
		return code == http.StatusOK, fmt.Sprintf("%d %s", code, bytes.TrimSpace(body))
	})
	// Connections that died in the cut may still sit in the pool; the first
	// requests over them may fail (as 503) but must not stay failing.
	for _, u := range api {
		poll(t, 10*time.Second, "GET "+u+" to answer 200", func() (bool, string) {
			_, err := env.get(u)
			if err != nil {
				return false, err.Error()
			}
			return true, ""
		})
	}
	expectStatus(t, env, readyz, http.StatusOK, `"ready"`)
	waitForLoad(t, load, http.StatusOK, load.count(http.StatusOK)+8)
	if bad := load.stop(); bad != nil {
		t.Errorf("under load across the outage: %v", bad)
	}
	if n := load.count(http.StatusServiceUnavailable); n == 0 {
		t.Errorf("the load saw no 503 during the outage")
	}
	if l := logs.String(); !strings.Contains(l, `"msg":"database reachable again"`) {
		t.Errorf("no \"database reachable again\" log line")
	} else if strings.Contains(l, `"msg":"panic"`) {
		t.Errorf("the server recovered from a panic during the test")
	}
}

// checkUnavailable GETs url and wants the 503 answer of an unreachable database.
func checkUnavailable(env *perfEnv, url string) error {
	code, h, body, err := env.do(url, true)
	if err != nil {
		return err
	}
	return unavailableShape(url, code, h, body)
}

// unavailableShape checks a 503 answer: the one JSON error shape with code
// "unavailable", Retry-After (when headers are given), and nothing that looks
// like internal detail.
func unavailableShape(url string, code int, h http.Header, body []byte) error {
	if code != http.StatusServiceUnavailable {
		return fmt.Errorf("GET %s: %d %s, want 503", url, code, bytes.TrimSpace(body))
	}
	if h != nil {
		if h.Get("Retry-After") == "" {
			return fmt.Errorf("GET %s: 503 without Retry-After", url)
		}
		if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			return fmt.Errorf("GET %s: 503 with Content-Type %q", url, ct)
		}
	}
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != "unavailable" || e.Error.Message == "" {
		return fmt.Errorf("GET %s: 503 body %s, want {\"error\":{\"code\":\"unavailable\",...}}", url, bytes.TrimSpace(body))
	}
	for _, leak := range []string{"goroutine ", ".go:", "panic", "pgconn", "dial tcp", "SQLSTATE"} {
		if bytes.Contains(body, []byte(leak)) {
			return fmt.Errorf("GET %s: 503 body leaks internal detail (%q): %s", url, leak, body)
		}
	}
	return nil
}

func expectStatus(t *testing.T, env *perfEnv, url string, want int, contains string) {
	t.Helper()
	code, _, body, err := env.do(url, false)
	if err != nil {
		t.Fatal(err)
	}
	if code != want || !bytes.Contains(body, []byte(contains)) {
		t.Fatalf("GET %s: %d %s, want %d with %s", url, code, bytes.TrimSpace(body), want, contains)
	}
}

// poll calls cond every 100 ms until it holds, failing the test after limit
// with cond's last description of what it saw.
func poll(t *testing.T, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; last saw: %s", limit, what, saw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// outageLoad is background client traffic; every answer must be a 200 or a
// well-formed 503.
type outageLoad struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex // guards bad and seen
	bad    []error
	seen   map[int]int // answers by status
}

func startOutageLoad(env *perfEnv, urls []string, workers int) *outageLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &outageLoad{cancel: cancel, seen: map[int]int{}}
	for w := range workers {
		l.wg.Go(func() {
			for i := w; ctx.Err() == nil; i++ {
				u := urls[i%len(urls)]
				code, h, body, err := env.do(u, true)
				if err == nil && code != http.StatusOK {
					err = unavailableShape(u, code, h, body)
				}
				l.mu.Lock()
				l.seen[code]++
				if err != nil && len(l.bad) < 10 {
					l.bad = append(l.bad, err)
				}
				l.mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	return l
}

func (l *outageLoad) stop() error {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return errors.Join(l.bad...)
}

// count says how many answers with status code the load has seen so far.
func (l *outageLoad) count(code int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seen[code]
}

// waitForLoad waits until the load has seen n answers with status code.
func waitForLoad(t *testing.T, l *outageLoad, code, n int) {
	t.Helper()
	poll(t, 15*time.Second, fmt.Sprintf("the load to see %d answers %d", n, code), func() (bool, string) {
		got := l.count(code)
		return got >= n, fmt.Sprintf("%d", got)
	})
}

// tcpProxy forwards connections from a loopback address to target. cut closes
// the listener and every forwarded connection, so that the database looks
// gone (connections reset, new ones refused); restore listens again on the
// same address.
type tcpProxy struct {
	target, addr string

	mu    sync.Mutex // guards ln and conns
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p := &tcpProxy{target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(func() {
		p.cut()
		p.wg.Wait()
	})
	return p
}

// restore listens on the proxy's address again. Go sets SO_REUSEADDR, so
// connections of the previous listener in TIME_WAIT do not block the bind; a
// few retries cover anything else transient.
func (p *tcpProxy) restore(t *testing.T) {
	t.Helper()
	var err error
	for range 50 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(ln)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("proxy: listen again on %s: %v", p.addr, err)
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Go(func() { p.forward(ln, c) })
		}
	})
}

func (p *tcpProxy) forward(ln net.Listener, c net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln != ln { // cut while dialling
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done // either side ending ends both
	c.Close()
	up.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// cut stops accepting and closes every forwarded connection.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

// lockedBuffer collects the server's log lines from many goroutines.
type lockedBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
