package web_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/agent"
	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/pki"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
	"github.com/tsunagi-net/tsunagi/internal/tlsutil"
	"github.com/tsunagi-net/tsunagi/internal/web"
)

// agentEnv is a controller's agent listener with one hub node "tyo-1" and a
// desired state whose generation the test can change.
type agentEnv struct {
	db    *store.DB
	fleet *fleet.Fleet
	cat   *catalog.Catalog
	srv   *httptest.Server
	roots *x509.CertPool
	ctx   context.Context

	mu    sync.Mutex // guards state
	state desired.State
}

func newAgentEnv(t *testing.T) *agentEnv {
	t.Helper()
	db := storetest.SQLite(t)
	ctx := audit.WithActor(context.Background(), audit.Actor{ID: "acc_op", Kind: "operator", Name: "op"})
	log := audit.New(db)
	cat := catalog.New(db, log)
	if _, err := cat.CreateRegion(ctx, catalog.RegionInput{Code: "tokyo", NameEN: "Tokyo", NameJA: "東京", DataLocation: "Japan"}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"tyo-1", "tyo-2"} {
		if _, err := cat.CreateNode(ctx, catalog.NodeInput{Region: "tokyo", Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	fl, err := fleet.New(ctx, db, log)
	if err != nil {
		t.Fatal(err)
	}
	e := &agentEnv{db: db, fleet: fl, cat: cat, ctx: ctx, state: desired.State{Schema: desired.Schema, Node: "tyo-1", Region: "tokyo", RouteLimit: 2000, Hubs: []desired.Hub{}}}
	s := web.New(web.Config{}, web.Deps{DB: db, Catalog: cat, Audit: log, Fleet: fl,
		Identity:     identity.New(db, log, identity.Config{Argon2: identity.Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1}}),
		Log:          slog.New(slog.DiscardHandler),
		Changes:      db.Changes(),
		OnUnrecorded: func(route string) { t.Errorf("%s succeeded without an audit record", route) },
		DesiredState: func(_ context.Context, node string) ([]byte, string, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			st := e.state
			st.Node = node
			doc, err := desired.Encode(&st)
			return doc, st.Generation, err
		}})
	cert, _, err := tlsutil.SelfSigned(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewUnstartedServer(s.AgentHandler())
	e.srv.TLS = web.AgentTLS(tlsutil.ServerConfig(cert), fl)
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	e.roots = x509.NewCertPool()
	e.roots.AddCert(leaf)
	return e
}

// placeHub makes a customer with a hub and puts the hub in the nodes'
// desired state.
func (e *agentEnv) placeHub(t *testing.T) (catalog.CustomerID, catalog.HubID) {
	t.Helper()
	cu, err := e.cat.CreateCustomer(e.ctx, catalog.CustomerInput{Name: "Report K.K."})
	if err != nil {
		t.Fatal(err)
	}
	k, err := e.cat.CreateContract(e.ctx, tenanttest.Operator(cu.ID), catalog.ContractInput{Plan: "smart-hub"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := e.cat.CreateHub(e.ctx, tenanttest.Operator(cu.ID), catalog.HubInput{ServiceCode: k.ServiceCode, Region: "tokyo", Priority: "main"})
	if err != nil {
		t.Fatal(err)
	}
	e.set(t, func(s *desired.State) {
		s.Hubs = append(s.Hubs, desired.Hub{HubID: string(h.ID), CustomerID: string(cu.ID), Namespace: "hub-r", ConfigVersion: 1,
			Priority: "main", ASN: 64600, InternalNetwork: "100.64.0.0/24", MonitoringNetwork: "100.64.1.0/28", Backbone: desired.Backbone{VNI: 4242},
			Ports: []desired.Port{}, StaticNAT: []desired.StaticNAT{}})
	})
	return cu.ID, h.ID
}

// set changes the desired state and, as the service model's changes do,
// commits a transaction that wakes the held long polls.
func (e *agentEnv) set(t *testing.T, change func(*desired.State)) {
	e.mu.Lock()
	change(&e.state)
	e.mu.Unlock()
	if err := e.db.InTx(e.ctx, func(tx *store.Tx) error { tx.Changed(); return nil }); err != nil {
		t.Error(err)
	}
}

func (e *agentEnv) enrol(t *testing.T, node string) string {
	t.Helper()
	tok, err := e.fleet.IssueEnrolToken(e.ctx, node)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := agent.Enrol(context.Background(), e.srv.URL, e.roots, tok.Token, dir); err != nil {
		t.Fatal(err)
	}
	if !agent.Enrolled(dir) {
		t.Fatal("identity not stored")
	}
	return dir
}

func TestAgentEnrolmentAndMutualTLS(t *testing.T) {
	t.Parallel()
	e := newAgentEnv(t)
	ctx := context.Background()

	// Without a certificate only enrolment is open.
	resp, err := e.srv.Client().Get(e.srv.URL + "/agent/v1/desired-state")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("desired state without a certificate: %d", resp.StatusCode)
	}

	tok, err := e.fleet.IssueEnrolToken(e.ctx, "tyo-1")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// A bad CSR is refused on its field and does not use up the token.
	bad, err := e.srv.Client().Post(e.srv.URL+"/agent/v1/enrol", "application/json",
		strings.NewReader(`{"token":"`+tok.Token+`","csr":"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}`))
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Error struct{ Code, Field string } }
	_ = json.NewDecoder(bad.Body).Decode(&body)
	bad.Body.Close()
	if bad.StatusCode != http.StatusBadRequest || body.Error.Field != "csr" {
		t.Fatalf("bad CSR: %d %+v", bad.StatusCode, body)
	}
	err = agent.Enrol(ctx, e.srv.URL, e.roots, tok.Token, dir+"/x")
	if err != nil {
		t.Fatalf("first enrolment: %v", err)
	}
	// The token was single use.
	if err := agent.Enrol(ctx, e.srv.URL, e.roots, tok.Token, dir+"/y"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("reused token: %v", err)
	}
	c, err := agent.NewClient(e.srv.URL, e.roots, dir+"/x")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := c.DesiredState(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	st, err := desired.Decode(doc)
	if err != nil || st.Node != "tyo-1" {
		t.Fatalf("document for the wrong node or invalid: %+v %v", st, err)
	}
	// Long poll: nothing changes for a second → no document.
	start := time.Now()
	if doc, err := c.DesiredState(ctx, st.Generation, time.Second); err != nil || doc != nil {
		t.Fatalf("unchanged long poll: %d bytes, %v", len(doc), err)
	}
	if time.Since(start) < 900*time.Millisecond {
		t.Errorf("long poll answered after %v, before its wait", time.Since(start))
	}
	// A change during the long poll is delivered at once: woken, well
	// before the held poll's 5 s re-check.
	start = time.Now()
	go func() {
		time.Sleep(300 * time.Millisecond)
		e.set(t, func(st *desired.State) { st.RouteLimit = 1000 })
	}()
	doc, err = c.DesiredState(ctx, st.Generation, 10*time.Second)
	if err != nil || doc == nil {
		t.Fatalf("changed long poll: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("a change 300 ms into the long poll was delivered after %v: not woken", d)
	}
	if st2, _ := desired.Decode(doc); st2.RouteLimit != 1000 || st2.Generation == st.Generation {
		t.Errorf("change not delivered: %+v", st2)
	}

	rep := observed.Report{Schema: observed.Schema, AppliedGeneration: st.Generation, AgentVersion: "test-1", ObservedAt: time.Now().UTC(), Hubs: []observed.Hub{}}
	if err := c.SendReport(ctx, rep); err != nil {
		t.Fatal(err)
	}
	status, err := e.fleet.NodeStatus(ctx, "tyo-1")
	if err != nil || status.AppliedGeneration != st.Generation || status.AgentVersion != "test-1" {
		t.Fatalf("status = %+v, %v", status, err)
	}
	// Bad reports are answered 400 and change nothing: one that fails its
	// checks, one naming a hub the node's desired state does not place on
	// it (a node cannot write another node's hub), one with a field the
	// schema does not have.
	badGen := rep
	badGen.AppliedGeneration = "not hex!"
	stranger := rep
	stranger.AppliedGeneration = strings.Repeat("1", 64)
	stranger.Hubs = []observed.Hub{{HubID: "hub_elsewhere", CustomerID: "cus_other"}}
	for name, r := range map[string]observed.Report{"bad generation": badGen, "hub not placed here": stranger} {
		if err := c.SendReport(ctx, r); err == nil || !strings.Contains(err.Error(), "400") {
			t.Errorf("%s: %v", name, err)
		}
	}
	good, _ := observed.Encode(rep)
	unknown := strings.Replace(string(good), `"agent_version"`, `"surprise":1,"agent_version"`, 1)
	if code := postReport(t, c, e, unknown); code != http.StatusBadRequest {
		t.Errorf("a report with an unknown field: %d", code)
	}
	if st2, _ := e.fleet.NodeStatus(ctx, "tyo-1"); st2.AppliedGeneration != st.Generation {
		t.Errorf("a refused report was stored: %+v", st2)
	}
	// A node reports more than an API body may hold: a hub with every
	// port's sessions listing their refused prefixes (about 5 MB) is
	// accepted, and stored under the hub.
	cust, hub := e.placeHub(t)
	big := observed.Hub{HubID: string(hub), CustomerID: string(cust), WantedVersion: 1, ConfigVersion: 1}
	for i := range observed.MaxPorts {
		p := observed.Port{PortCode: fmt.Sprintf("shc%08d", i+1)}
		for _, name := range []string{"primary", "secondary"} {
			sess := observed.Session{Name: name, State: "up", Info: "Established"}
			for j := range observed.MaxRefused {
				sess.Refused = append(sess.Refused, observed.Refused{Prefix: fmt.Sprintf("10.%d.%d.0/24", i, j), Reason: "bogon"})
			}
			p.Sessions = append(p.Sessions, sess)
		}
		big.Ports = append(big.Ports, p)
	}
	rep.Hubs = []observed.Hub{big}
	if b, _ := observed.Encode(rep); len(b) < 2*web.MaxBody {
		t.Fatalf("the big report is only %d bytes", len(b))
	}
	if err := c.SendReport(ctx, rep); err != nil {
		t.Errorf("a big report: %v", err)
	}
	if st2, err := e.fleet.NodeStatus(ctx, "tyo-1"); err != nil || len(st2.Hubs) != 1 || st2.Hubs[0].HubID != hub {
		t.Errorf("the big report's hub not stored: %+v, %v", st2, err)
	}

	// Revocation takes effect on the very next request.
	if n, err := e.fleet.Revoke(e.ctx, "tyo-1", "node decommissioned"); err != nil || n != 1 {
		t.Fatalf("revoke = %d, %v", n, err)
	}
	if _, err := c.DesiredState(ctx, "", 0); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("revoked node: %v", err)
	}
}

func TestAgentCredentialsAreBoundToTheirNode(t *testing.T) {
	t.Parallel()
	e := newAgentEnv(t)
	ctx := context.Background()
	dir := e.enrol(t, "tyo-2")
	c, err := agent.NewClient(e.srv.URL, e.roots, dir)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := c.DesiredState(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var st desired.State
	if err := json.Unmarshal(doc, &st); err != nil || st.Node != "tyo-2" {
		t.Fatalf("tyo-2 received the document of %q (%v)", st.Node, err)
	}
	// A certificate signed by another CA, even with the right name, is
	// refused in the handshake or by the controller.
	other, _, _, err := pki.NewCA("someone else")
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, csrPEM, _ := pki.NewNodeKey("tyo-2")
	csr, _ := pki.ParseCSR(csrPEM)
	serial, _ := pki.Serial()
	certPEM, _, err := other.SignNode(csr, "tyo-2", serial, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := tls.X509KeyPair(certPEM, keyPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.roots, Certificates: []tls.Certificate{forged}}}}
	resp, err := hc.Get(e.srv.URL + "/agent/v1/desired-state")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("forged certificate: %d", resp.StatusCode)
		}
	}
	// Enrolment for a node that does not exist cannot even get a token.
	if _, err := e.fleet.IssueEnrolToken(e.ctx, "nowhere"); err == nil {
		t.Error("token issued for an unknown node")
	}
}

// recordingApplier stands in for the data plane (exercised for real by the
// dataplane package's namespace tests) and records what it was asked to do.
type recordingApplier struct {
	mu      sync.Mutex // guards applied
	applied []string
}

func (a *recordingApplier) Apply(_ context.Context, s desired.State) ([]observed.Hub, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.applied = append(a.applied, s.Generation)
	return []observed.Hub{}, nil
}

func (a *recordingApplier) last() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.applied) == 0 {
		return ""
	}
	return a.applied[len(a.applied)-1]
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAgentLoopConvergesAndSurvivesTheController(t *testing.T) {
	t.Parallel()
	e := newAgentEnv(t)
	dir := e.enrol(t, "tyo-1")
	c, err := agent.NewClient(e.srv.URL, e.roots, dir)
	if err != nil {
		t.Fatal(err)
	}
	gen := func() string {
		doc, err := c.DesiredState(context.Background(), "", 0)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := desired.Decode(doc)
		return st.Generation
	}
	g1 := gen()
	app := &recordingApplier{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&agent.Loop{Client: c, Applier: app, Dir: dir, Version: "test", Wait: time.Second, Resync: time.Hour, MaxBackoff: time.Second}).Run(ctx)
	}()
	waitFor(t, "first apply", func() bool { return app.last() == g1 })
	waitFor(t, "status report", func() bool {
		st, err := e.fleet.NodeStatus(context.Background(), "tyo-1")
		return err == nil && st.AppliedGeneration == g1
	})
	e.set(t, func(st *desired.State) { st.RouteLimit = 500 })
	g2 := gen()
	waitFor(t, "second apply", func() bool { return app.last() == g2 })
	// The agent writes the document while it applies it; the report that
	// acknowledges it follows the write.
	waitFor(t, "second status report", func() bool {
		st, err := e.fleet.NodeStatus(context.Background(), "tyo-1")
		return err == nil && st.AppliedGeneration == g2
	})
	if st, ok, err := agent.LoadLastState(dir); err != nil || !ok || st.Generation != g2 {
		t.Fatalf("state on disk = %v %v %v", st.Generation, ok, err)
	}
	// The controller goes away: the loop keeps running without crashing.
	e.srv.Close()
	time.Sleep(1500 * time.Millisecond)
	cancel()
	<-done

	// A restarted agent with no controller re-applies the state from disk.
	dead, err := agent.NewClient("https://127.0.0.1:1", e.roots, dir)
	if err != nil {
		t.Fatal(err)
	}
	app2 := &recordingApplier{}
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan struct{})
	go func() {
		defer close(done2)
		(&agent.Loop{Client: dead, Applier: app2, Dir: dir, Version: "test", Wait: time.Second, MaxBackoff: time.Second}).Run(ctx2)
	}()
	waitFor(t, "offline apply from disk", func() bool { return app2.last() == g2 })
	cancel2()
	<-done2
}

// postReport posts a raw report body with the node's certificate (the
// agent's client only sends well-formed reports) and returns the status.
func postReport(t *testing.T, c *agent.Client, e *agentEnv, body string) int {
	t.Helper()
	resp, err := c.HTTP().Post(e.srv.URL+"/agent/v1/status", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
