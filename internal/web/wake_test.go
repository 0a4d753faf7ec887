package web_test

import (
	"context"
	"crypto/x509"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/agent"
	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
	"github.com/tsunagi-net/tsunagi/internal/tlsutil"
	"github.com/tsunagi-net/tsunagi/internal/web"
)

// controller is one tsunagi controller on db: the service model and the
// agent listener, wired as `tsunagi serve` wires them.
type controller struct {
	db    *store.DB
	cat   *catalog.Catalog
	net   *network.Service
	fleet *fleet.Fleet
	url   string
	roots *x509.CertPool
}

func startController(t testing.TB, ctx context.Context, db *store.DB) *controller {
	t.Helper()
	log := audit.New(db)
	c := &controller{db: db, cat: catalog.New(db, log), net: network.New(db, log, network.DefaultSettings)}
	var err error
	if c.fleet, err = fleet.New(ctx, db, log); err != nil {
		t.Fatal(err)
	}
	s := web.New(web.Config{}, web.Deps{DB: db, Catalog: c.cat, Audit: log, Fleet: c.fleet, Log: slog.New(slog.DiscardHandler),
		Identity: identity.New(db, log, identity.Config{Argon2: identity.Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1}}),
		Workflow: c.net.Workflow, NetOps: c.net.Operations, Compiler: c.net.Compiler,
		DesiredState: c.net.Compiler.DesiredStateDoc, Changes: db.Changes()})
	cert, _, err := tlsutil.SelfSigned(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s.AgentHandler())
	srv.TLS = web.AgentTLS(tlsutil.ServerConfig(cert), c.fleet)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	c.url, c.roots = srv.URL, x509.NewCertPool()
	c.roots.AddCert(leaf)
	return c
}

// wakeSite is a customer with a hub and an on-premises port placed on node
// tyo-1, and the configuration the test changes.
type wakeSite struct {
	cust catalog.CustomerID
	cfg  network.Config
}

func seedWakeSite(t testing.TB, ctx context.Context, c *controller) wakeSite {
	t.Helper()
	must := func(what string, err error) {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	_, err := c.cat.CreateRegion(ctx, catalog.RegionInput{Code: "tokyo", NameEN: "Tokyo", NameJA: "東京", DataLocation: "Japan"})
	must("region", err)
	_, err = c.cat.CreateNode(ctx, catalog.NodeInput{Region: "tokyo", Name: "tyo-1", Ports: []catalog.PhysicalPort{
		{Name: "eth1", SpeedMbps: 10_000, Kind: "onprem"}}})
	must("node", err)
	cu, err := c.cat.CreateCustomer(ctx, catalog.CustomerInput{Name: "Wake K.K."})
	must("customer", err)
	op := tenanttest.Operator(cu.ID)
	k, err := c.cat.CreateContract(ctx, op, catalog.ContractInput{Plan: "smart-hub"})
	must("contract", err)
	h, err := c.cat.CreateHub(ctx, op, catalog.HubInput{ServiceCode: k.ServiceCode, Region: "tokyo", Priority: "main"})
	must("hub", err)
	p, err := c.cat.CreatePort(ctx, op, catalog.PortInput{ServiceCode: k.ServiceCode, HubID: h.ID, Kind: "onprem", SpeedMbps: 10_000})
	must("port", err)
	_, err = c.net.Operations.Place(ctx, op, p.PortCode, network.PlaceInput{Primary: &network.PhysRef{Node: "tyo-1", Port: "eth1"}, Reason: "test"})
	must("placement", err)
	cfg := network.Config{ASN: 64900, Ports: []network.PortConfig{{PortCode: p.PortCode, OnPrem: &network.OnPremConnection{
		HubAddress: "10.0.0.1", CustomerAddress: "10.0.0.2", PrefixLength: 30, PeerASN: 65001,
		L2Guard: network.L2Guard{StormControlPPS: 1000, FlapLimit: 5, FlapWindowSeconds: 60, MACLimit: 5, MACAgeingSeconds: 2400, MTU: 1500}}}}}
	s := wakeSite{cust: cu.ID, cfg: cfg}
	s.apply(t, ctx, c, "accept")
	return s
}

// apply applies the site's configuration through c's workflow with a
// firewall that does action to everything.
func (s wakeSite) apply(t testing.TB, ctx context.Context, c *controller, action string) {
	t.Helper()
	cfg := s.cfg
	cfg.Ports = []network.PortConfig{s.cfg.Ports[0]}
	cfg.Ports[0].Firewall = &network.Firewall{Mode: "stateful", Rules: []network.Rule{
		{Action: action, Sources: []string{"any"}, Destinations: []string{"any"}}}}
	p := tenanttest.Customer(s.cust)
	if _, err := c.net.Workflow.StartEditing(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := c.net.Workflow.SaveDraft(ctx, p, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := c.net.Workflow.Review(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := c.net.Workflow.Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
}

// enrolAgent enrols tyo-1 through c and returns its client.
func enrolAgent(t testing.TB, ctx context.Context, c *controller) *agent.Client {
	t.Helper()
	tok, err := c.fleet.IssueEnrolToken(ctx, "tyo-1")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := agent.Enrol(context.Background(), c.url, c.roots, tok.Token, dir); err != nil {
		t.Fatal(err)
	}
	cl, err := agent.NewClient(c.url, c.roots, dir)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// heldPollWokenByApply holds tyo-1's long poll on the agent's controller,
// applies a change through via once the poll is held, and checks that the
// poll answers with the new document well before the held poll's own 5 s
// re-check could have found it: it was woken by the apply's commit.
func heldPollWokenByApply(t *testing.T, ctx context.Context, cl *agent.Client, via *controller, s wakeSite) {
	t.Helper()
	doc, err := cl.DesiredState(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	before, err := desired.Decode(doc)
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		doc []byte
		err error
		at  time.Time
	}
	got := make(chan answer, 1)
	go func() {
		doc, err := cl.DesiredState(ctx, before.Generation, 30*time.Second)
		got <- answer{doc, err, time.Now()}
	}()
	// Long enough for the request to be held at the controller; an earlier
	// answer is a failure in itself (nothing changed yet).
	select {
	case a := <-got:
		t.Fatalf("the long poll answered before any change: %d bytes, %v", len(a.doc), a.err)
	case <-time.After(time.Second):
	}
	s.apply(t, ctx, via, "drop")
	applied := time.Now()
	a := <-got
	if a.err != nil || a.doc == nil {
		t.Fatalf("held long poll: %d bytes, %v", len(a.doc), a.err)
	}
	after, err := desired.Decode(a.doc)
	if err != nil || after.Generation == before.Generation {
		t.Fatalf("held long poll answered generation %s (was %s), %v", after.Generation, before.Generation, err)
	}
	d := a.at.Sub(applied)
	t.Logf("held long poll answered %v after the apply returned", d)
	if d > 2500*time.Millisecond {
		t.Errorf("held long poll answered %v after the apply: found by the re-check, not woken", d)
	}
}

// TestHeldPollWokenByApply: an agent's held long poll answers as soon as a
// customer's apply commits on the same controller (SQLite: the in-process
// broadcast).
func TestHeldPollWokenByApply(t *testing.T) {
	t.Parallel()
	ctx := audit.WithActor(context.Background(), audit.Actor{ID: "acc_op", Kind: "operator", Name: "op"})
	c := startController(t, ctx, storetest.SQLite(t))
	s := seedWakeSite(t, ctx, c)
	heldPollWokenByApply(t, ctx, enrolAgent(t, ctx, c), c, s)
}

// TestHeldPollWokenAcrossControllers: two controllers on one PostgreSQL
// schema; the agent long-polls controller A, the customer applies through
// controller B, and A's held poll answers at once (PostgreSQL NOTIFY to A's
// LISTEN connection), not at its re-check.
func TestHeldPollWokenAcrossControllers(t *testing.T) {
	t.Parallel()
	ctx := audit.WithActor(context.Background(), audit.Actor{ID: "acc_op", Kind: "operator", Name: "op"})
	dsn := storetest.PostgresDSN(t)
	key := filepath.Join(t.TempDir(), "secret.key")
	var ctl [2]*controller
	for i := range ctl {
		o := store.Options{DSN: dsn, SecretKeyFile: key, MaxConns: 4}
		if i == 0 {
			// Only a notification can then wake A's poll within the test's
			// bound, even were its LISTEN connection down.
			o.ListenFallback = time.Minute
		}
		db, err := store.Open(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		ctl[i] = startController(t, ctx, db)
	}
	a, b := ctl[0], ctl[1]
	s := seedWakeSite(t, ctx, a)
	heldPollWokenByApply(t, ctx, enrolAgent(t, ctx, a), b, s)
}

// BenchmarkApplyToHeldPoll measures the controller's part of an apply's way
// to the node: from the return of the customer's apply to the answer of the
// node's held long poll with the new document — the wake, the document's
// recomputation and the HTTP answer, without the node's data plane
// (BenchmarkApplyToForwarding in internal/e2e has the whole path). On
// PostgreSQL (when TSUNAGI_TEST_POSTGRES is set) the apply goes through a
// second controller, so the wake travels by NOTIFY.
func BenchmarkApplyToHeldPoll(b *testing.B) {
	ctx := audit.WithActor(context.Background(), audit.Actor{ID: "acc_op", Kind: "operator", Name: "op"})
	b.Run("sqlite", func(b *testing.B) {
		c := startController(b, ctx, storetest.SQLite(b))
		benchApplyToHeldPoll(b, ctx, c, c)
	})
	b.Run("postgres-two-controllers", func(b *testing.B) {
		dsn := storetest.PostgresDSN(b)
		key := filepath.Join(b.TempDir(), "secret.key")
		var ctl [2]*controller
		for i := range ctl {
			db, err := store.Open(ctx, store.Options{DSN: dsn, SecretKeyFile: key})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			ctl[i] = startController(b, ctx, db)
		}
		benchApplyToHeldPoll(b, ctx, ctl[0], ctl[1])
	})
}

func benchApplyToHeldPoll(b *testing.B, ctx context.Context, polled, via *controller) {
	s := seedWakeSite(b, ctx, polled)
	cl := enrolAgent(b, ctx, polled)
	doc, err := cl.DesiredState(ctx, "", 0)
	if err != nil {
		b.Fatal(err)
	}
	st, err := desired.Decode(doc)
	if err != nil {
		b.Fatal(err)
	}
	gen := st.Generation
	n := max(b.N, 30)
	lat := make([]time.Duration, 0, n)
	b.ResetTimer()
	for i := range n {
		got := make(chan []byte, 1)
		go func() {
			doc, err := cl.DesiredState(ctx, gen, 30*time.Second)
			if err != nil {
				b.Error(err)
			}
			got <- doc
		}()
		time.Sleep(50 * time.Millisecond) // the poll is held
		s.apply(b, ctx, via, [2]string{"drop", "accept"}[i%2])
		applied := time.Now()
		doc := <-got
		lat = append(lat, time.Since(applied))
		st, err := desired.Decode(doc)
		if err != nil || st.Generation == gen {
			b.Fatalf("sample %d: generation %s after %s: %v", i, st.Generation, gen, err)
		}
		gen = st.Generation
	}
	b.StopTimer()
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[(len(lat)*99+99)/100-1]), "p99-ms")
	b.ReportMetric(float64(len(lat)), "samples")
}
