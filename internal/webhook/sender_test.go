package webhook

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// receiver is a customer's HTTPS endpoint: it verifies each delivery as a
// customer would (signature, timestamp, CloudEvents shape) and counts the
// events it took, by ID.
type receiver struct {
	t      *testing.T
	secret func() string
	now    func() time.Time // the receiver's clock: the sender's
	mu     sync.Mutex       // guards down, got, events, taken
	down   bool             // answer 503
	got    map[string]int
	events []map[string]any
	taken  chan<- string // told each event taken, when set
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/cloudevents+json" {
		rc.t.Errorf("Content-Type %q", ct)
	}
	if err := Verify(rc.secret(), r.Header.Get(HeaderID), r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body,
		rc.now()); err != nil {
		rc.t.Errorf("receiver: %v", err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var ev map[string]any
	if err := json.Unmarshal(body, &ev); err != nil {
		rc.t.Errorf("body: %v", err)
	}
	for _, k := range []string{"specversion", "id", "source", "type", "time", "datacontenttype", "data"} {
		if _, ok := ev[k]; !ok {
			rc.t.Errorf("CloudEvent without %q: %s", k, body)
		}
	}
	if ev["specversion"] != "1.0" || ev["id"] != r.Header.Get(HeaderID) || ev["datacontenttype"] != "application/json" {
		rc.t.Errorf("CloudEvent attributes: %s", body)
	}
	rc.got[ev["id"].(string)]++
	rc.events = append(rc.events, ev)
	if rc.taken != nil {
		rc.taken <- ev["id"].(string)
	}
}

func (rc *receiver) setDown(d bool) { rc.mu.Lock(); rc.down = d; rc.mu.Unlock() }

func (rc *receiver) counts() map[string]int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := map[string]int{}
	for k, v := range rc.got {
		out[k] = v
	}
	return out
}

// hooksEnv is a store with the webhook service, a receiver over HTTPS on
// 127.0.0.1 with its own certificate, and a sender trusting it.
// The sender's clock starts a minute ahead, so that what the test
// queues is due at once.
type hooksEnv struct {
	db     *store.DB
	svc    *Service
	rc     *receiver
	srv    *httptest.Server
	pool   *x509.CertPool
	guard  *Guard
	cust   tenant.Scope
	now    time.Time
	nowMu  sync.Mutex
	secret string
}

func newHooksEnv(t *testing.T, db *store.DB, ln net.Listener) *hooksEnv {
	e := &hooksEnv{db: db, now: clock.Now().Add(time.Minute), cust: tenanttest.Customer("cus_a")}
	allow, _ := ParseNetworks("127.0.0.0/8")
	e.guard = &Guard{Allow: allow}
	e.svc = NewService(db, audit.New(db), e.guard)
	e.rc = &receiver{t: t, got: map[string]int{}, secret: func() string { return e.secret }, now: e.clock}
	e.srv = httptest.NewUnstartedServer(e.rc)
	if ln != nil {
		e.srv.Listener.Close()
		e.srv.Listener = ln
	}
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)
	e.pool = x509.NewCertPool()
	e.pool.AddCert(e.srv.Certificate())
	return e
}

func (e *hooksEnv) clock() time.Time { e.nowMu.Lock(); defer e.nowMu.Unlock(); return e.now }
func (e *hooksEnv) advance(d time.Duration) {
	e.nowMu.Lock()
	e.now = e.now.Add(d)
	e.nowMu.Unlock()
}

func (e *hooksEnv) sender(db *store.DB) *Sender {
	return &Sender{DB: db, Client: e.guard.Client(e.pool), Source: "https://panel.example", Now: e.clock}
}

func (e *hooksEnv) register(t *testing.T, events ...string) Webhook {
	t.Helper()
	w, secret, err := e.svc.Create(context.Background(), e.cust, Input{URL: e.srv.URL + "/hook", Events: events})
	if err != nil {
		t.Fatal(err)
	}
	e.secret = secret
	return w
}

func (e *hooksEnv) emit(t *testing.T, typ, subject string) {
	t.Helper()
	err := e.db.InTx(context.Background(), func(tx *store.Tx) error {
		return Emit(context.Background(), tx, Event{Customer: "cus_a", Type: typ, Subject: subject, Time: clock.Now(),
			Data: map[string]any{"subject": subject}})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDeliveryEndToEnd: a real Emit reaches a real HTTPS receiver through
// the sender, signed and in CloudEvents form, only for subscribed types,
// and the delivery log says so.
func TestDeliveryEndToEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newHooksEnv(t, db, nil)
		w := e.register(t, TypeMonitorDown, TypeNoticePublished)
		e.emit(t, TypeMonitorDown, "ports/p1/monitors/mon_1")
		e.emit(t, TypeMonitorUp, "ports/p1/monitors/mon_1") // not subscribed
		if _, err := e.sender(db).Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := e.rc.counts()
		if len(got) != 1 {
			t.Fatalf("receiver got %v, want the one subscribed event", got)
		}
		ev := e.rc.events[0]
		if ev["type"] != TypeMonitorDown || ev["subject"] != "ports/p1/monitors/mon_1" || ev["source"] != "https://panel.example/customers/cus_a" {
			t.Fatalf("event %v", ev)
		}
		log, err := e.svc.Deliveries(context.Background(), e.cust, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(log) != 1 || log[0].Status != Delivered || log[0].Attempts != 1 || log[0].LastStatus != 200 || log[0].FinishedAt == nil {
			t.Fatalf("delivery log %+v", log)
		}
		// Another customer sees neither the webhook nor its log.
		if _, err := e.svc.Deliveries(context.Background(), tenanttest.Customer("cus_b"), w.ID); err == nil {
			t.Fatal("another customer read the delivery log")
		}
	})
}

// TestReceiverDownThenUp: a receiver that refuses connections and then
// answers 503 for an hour gets every event once it is back, each once,
// and the log shows the attempts; a delivery still failing after GiveUp
// is failed.
func TestReceiverDownThenUp(t *testing.T) {
	db := storetest.SQLite(t)
	// The receiver's port is taken and let go: connections to it are
	// refused until the receiver starts on it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	e := &hooksEnv{db: db, now: clock.Now().Add(time.Minute), cust: tenanttest.Customer("cus_a")}
	allow, _ := ParseNetworks("127.0.0.0/8")
	e.guard = &Guard{Allow: allow}
	e.svc = NewService(db, audit.New(db), e.guard)
	w, secret, err := e.svc.Create(context.Background(), e.cust, Input{URL: "https://" + addr + "/hook", Events: Types})
	if err != nil {
		t.Fatal(err)
	}
	e.secret = secret
	for range 3 {
		e.emit(t, TypeSessionChanged, "hubs/h1/sessions/single")
	}
	s := &Sender{DB: db, Client: e.guard.Client(nil), Now: e.clock}
	if n, _ := s.Drain(context.Background()); n != 3 {
		t.Fatalf("first pass attempted %d, want 3", n)
	}
	// Now the receiver runs on that port but answers 503 for an hour.
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the receiver's port was taken meanwhile: %v", err)
	}
	full := newHooksEnv(t, db, ln)
	full.secret = secret
	full.rc.now = e.clock
	full.rc.setDown(true)
	s.Client = e.guard.Client(full.pool)
	for range 12 {
		e.advance(5 * time.Minute)
		if _, err := s.Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := full.rc.counts(); len(got) != 0 {
		t.Fatalf("a down receiver took %v", got)
	}
	full.rc.setDown(false)
	for range 4 {
		e.advance(30 * time.Minute)
		if _, err := s.Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	got := full.rc.counts()
	if len(got) != 3 {
		t.Fatalf("after the receiver's return it has %v, want 3 events", got)
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("event %s received %d times", id, n)
		}
	}
	log, err := e.svc.Deliveries(context.Background(), e.cust, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range log {
		if d.Status != Delivered || d.Attempts < 3 {
			t.Errorf("delivery %+v: want delivered after several attempts", d)
		}
	}
	// Down for good: the delivery is failed once GiveUp has passed.
	full.rc.setDown(true)
	e.emit(t, TypeConfigApplied, "hubs/h1")
	for range 30 {
		e.advance(time.Hour)
		if _, err := s.Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	log, _ = e.svc.Deliveries(context.Background(), e.cust, w.ID)
	if log[0].EventType != TypeConfigApplied || log[0].Status != Failed || log[0].LastStatus != 503 || log[0].NextAttemptAt != nil {
		t.Fatalf("the undeliverable event: %+v", log[0])
	}
}

// TestTwoControllersDeliverOnce: two controllers' senders on one
// PostgreSQL database drain the same queue at once; every event reaches
// the receiver exactly once.
func TestTwoControllersDeliverOnce(t *testing.T) {
	a, b := storetest.Controllers(t)
	e := newHooksEnv(t, a, nil)
	e.register(t, TypeMonitorUp)
	const n = 40
	for range n {
		e.emit(t, TypeMonitorUp, "ports/p1/monitors/mon_1")
	}
	var wg sync.WaitGroup
	for _, db := range []*store.DB{a, b} {
		wg.Go(func() {
			if _, err := e.sender(db).Drain(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got := e.rc.counts()
	if len(got) != n {
		t.Fatalf("received %d events, want %d", len(got), n)
	}
	for id, k := range got {
		if k != 1 {
			t.Errorf("event %s received %d times", id, k)
		}
	}
}

// TestSenderWakesOnEmit: a running sender that would otherwise sleep for
// an hour delivers an event queued on another controller as soon as the
// change broadcast reaches it, and again for the next event.
func TestSenderWakesOnEmit(t *testing.T) {
	a, b := storetest.Controllers(t)
	e := newHooksEnv(t, a, nil)
	e.register(t, TypeMonitorDown)
	got := make(chan string, 10)
	e.rc.mu.Lock()
	e.rc.taken = got
	e.rc.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s := e.sender(b)
	s.Idle = time.Hour
	go func() { defer close(done); s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for i := range 2 {
		e.emit(t, TypeMonitorDown, "ports/p1/monitors/mon_1")
		select {
		case <-got:
		case <-time.After(5 * time.Minute):
			t.Fatalf("event %d not delivered: the sender did not wake", i+1)
		}
	}
	if n := len(e.rc.counts()); n != 2 {
		t.Fatalf("%d events received, want 2", n)
	}
}

// TestSlowCustomerDoesNotHoldUpOthers: customer A's five webhooks point at
// a receiver that hangs, with more of A's events queued, and older, than
// there are workers; customer B's events are delivered while A's receiver
// still hangs, and A never has more than one delivery in flight.
func TestSlowCustomerDoesNotHoldUpOthers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newHooksEnv(t, db, nil)
		release := make(chan struct{})
		var mu sync.Mutex // guards inFlight, most
		inFlight, most := 0, 0
		hang := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			inFlight++
			most = max(most, inFlight)
			mu.Unlock()
			defer func() { mu.Lock(); inFlight--; mu.Unlock() }()
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		hang.StartTLS()
		// httptest servers share one certificate, so e.pool trusts this
		// one too; release before Close, which waits for the handlers.
		t.Cleanup(hang.Close)
		var once sync.Once
		free := func() { once.Do(func() { close(release) }) }
		t.Cleanup(free)
		for range 5 {
			if _, _, err := e.svc.Create(context.Background(), e.cust, Input{URL: hang.URL + "/a", Events: Types}); err != nil {
				t.Fatal(err)
			}
		}
		for range 3 {
			e.emit(t, TypeMonitorDown, "ports/p1/monitors/mon_1")
		}
		custB := tenanttest.Customer("cus_b")
		_, secret, err := e.svc.Create(context.Background(), custB, Input{URL: e.srv.URL + "/b", Events: Types})
		if err != nil {
			t.Fatal(err)
		}
		e.secret = secret
		taken := make(chan string, 10)
		e.rc.mu.Lock()
		e.rc.taken = taken
		e.rc.mu.Unlock()
		for range 3 {
			err := db.InTx(context.Background(), func(tx *store.Tx) error {
				return Emit(context.Background(), tx, Event{Customer: "cus_b", Type: TypeMonitorUp, Subject: "ports/p2/monitors/mon_2",
					Time: clock.Now(), Data: map[string]any{}})
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		done := make(chan error, 1)
		go func() { _, err := e.sender(db).Drain(context.Background()); done <- err }()
		// Well under Timeout: B's events must not wait for A's to time out.
		deadline := time.After(Timeout / 2)
		for i := range 3 {
			select {
			case <-taken:
			case <-deadline:
				t.Fatalf("customer B got %d of 3 events while A's receiver hung", i)
			}
		}
		mu.Lock()
		peak := most
		mu.Unlock()
		if peak > 1 {
			t.Errorf("A's receiver held %d requests at once, want at most 1", peak)
		}
		free()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n := len(e.rc.counts()); n != 3 {
			t.Fatalf("customer B received %d events, want 3", n)
		}
		mu.Lock()
		defer mu.Unlock()
		if most != 1 {
			t.Fatalf("A had %d deliveries in flight at once, want 1", most)
		}
	})
}

// TestDeliveryErrorKeepsNoURL: a failed attempt's error, in the customer's
// delivery log, says what went wrong without the receiver's URL, whose
// path may be a secret.
func TestDeliveryErrorKeepsNoURL(t *testing.T) {
	db := storetest.SQLite(t)
	e := newHooksEnv(t, db, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // connections to addr are refused
	const secretPath = "/hooks/s3cr3t-t0ken"
	w, _, err := e.svc.Create(context.Background(), e.cust, Input{URL: "https://" + addr + secretPath + "?k=v", Events: Types})
	if err != nil {
		t.Fatal(err)
	}
	e.emit(t, TypeMonitorDown, "ports/p1/monitors/mon_1")
	if n, _ := e.sender(db).Drain(context.Background()); n != 1 {
		t.Fatalf("attempted %d, want 1", n)
	}
	log, err := e.svc.Deliveries(context.Background(), e.cust, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 1 || log[0].LastError == "" {
		t.Fatalf("delivery log %+v: want one failed attempt with its error", log)
	}
	if msg := log[0].LastError; strings.Contains(msg, "s3cr3t") || strings.Contains(msg, "https://") || strings.Contains(msg, "k=v") {
		t.Fatalf("the stored error holds the URL: %q", msg)
	}
}
