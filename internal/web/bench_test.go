package web_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/mailtest"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
	"github.com/tsunagi-net/tsunagi/internal/tlsutil"
	"github.com/tsunagi-net/tsunagi/internal/web"
)

// benchClients is the number of concurrent API clients in BenchmarkCatalogGet.
const benchClients = 50

// BenchmarkCatalogGet measures the customer API under benchClients concurrent
// clients over real TLS: each client is a worker with its own keep-alive
// HTTP/1.1 connection (HTTP/2 is switched off so that the 50 clients are 50
// connections, as 50 separate API users would be), taking requests from a
// shared budget of b.N. Every request's latency is recorded; p50-ms, p99-ms
// and req/s are reported. Every answer must be 200.
//
//	go test -run '^$' -bench CatalogGet -benchtime 5000x ./internal/web/
//
// The postgres sub-benchmarks run when TSUNAGI_TEST_POSTGRES is set. Nothing
// here asserts a time; the numbers are for the README.
func BenchmarkCatalogGet(b *testing.B) {
	engines := []struct {
		name string
		open func(testing.TB) *store.DB
	}{
		{"sqlite", storetest.SQLite},
		{"postgres", storetest.Postgres},
	}
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) {
			env := startPerfEnv(b, e.open(b), slog.NewJSONHandler(io.Discard, nil))
			b.Run("get", func(b *testing.B) {
				benchGET(b, env, "/api/v1/contracts/"+env.serviceCode)
			})
			b.Run("list", func(b *testing.B) {
				benchGET(b, env, "/api/v1/contracts")
			})
		})
	}
}

// benchGET spreads b.N GETs of path over benchClients workers.
func benchGET(b *testing.B, env *perfEnv, path string) {
	url := env.base + path
	// Warm up outside the timer: one request per worker at the same time, so
	// that every worker finds a connection already handshaken.
	var wg sync.WaitGroup
	errs := make([]error, benchClients)
	for i := range benchClients {
		wg.Go(func() { _, errs[i] = env.get(url) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.Fatalf("warm-up: %v", err)
	}

	before := env.db.SQL().Stats()
	var (
		next   atomic.Int64
		failed atomic.Bool
		lat    = make([][]time.Duration, benchClients)
	)
	b.ResetTimer()
	start := time.Now()
	for w := range benchClients {
		wg.Go(func() {
			mine := make([]time.Duration, 0, b.N/benchClients+1)
			for next.Add(1) <= int64(b.N) && !failed.Load() {
				t0 := time.Now()
				if _, err := env.get(url); err != nil {
					errs[w] = err
					failed.Store(true)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			lat[w] = mine
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	all := slices.Concat(lat...)
	if len(all) != b.N {
		b.Fatalf("recorded %d latencies for %d requests", len(all), b.N)
	}
	slices.Sort(all)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(percentile(all, 0.50)), "p50-ms")
	b.ReportMetric(ms(percentile(all, 0.99)), "p99-ms")
	b.ReportMetric(ms(all[len(all)-1]), "max-ms")
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
	// How the connection pool behaved: waits for a free connection, and
	// connections closed because the idle pool was full (each one is a new
	// connection, for PostgreSQL a new backend, on a later request).
	after := env.db.SQL().Stats()
	b.ReportMetric(float64(after.WaitCount-before.WaitCount)/float64(b.N), "pool-waits/op")
	b.ReportMetric(float64(after.MaxIdleClosed-before.MaxIdleClosed)/float64(b.N), "pool-closed/op")
}

// percentile returns the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// perfEnv is a running controller over a seeded database: one customer with a
// few contracts, a hub and a port, and an API token of one of its user
// accounts. The benchmark and the database-outage test share it.
type perfEnv struct {
	db          *store.DB
	base        string // https://127.0.0.1:port of the customer listener
	client      *http.Client
	token       string
	serviceCode string // a contract of the customer
	portCode    string // a port of that contract
}

// startPerfEnv seeds db, serves the controller on loopback until the test
// ends, and returns a client that trusts its certificate. Server logs go to h.
func startPerfEnv(tb testing.TB, db *store.DB, h slog.Handler) *perfEnv {
	tb.Helper()
	ctx := audit.WithActor(context.Background(), audit.Actor{ID: "system", Kind: "system", Name: "test seed"})
	auditLog := audit.New(db)
	cat := catalog.New(db, auditLog)
	idn := identity.New(db, auditLog, identity.Config{
		Argon2:      identity.Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1},
		SessionIdle: 30 * time.Minute, SessionAbsolute: 12 * time.Hour,
	})
	env := &perfEnv{db: db}
	must := func(what string, err error) {
		tb.Helper()
		if err != nil {
			tb.Fatalf("seed %s: %v", what, err)
		}
	}
	_, err := cat.CreateRegion(ctx, catalog.RegionInput{Code: "tokyo", NameEN: "Tokyo", NameJA: "東京", DataLocation: "Japan"})
	must("region", err)
	_, err = cat.CreateNode(ctx, catalog.NodeInput{Region: "tokyo", Name: "tyo-hub-01", Ports: []catalog.PhysicalPort{
		{Name: "eth1", SpeedMbps: 10_000, Kind: "onprem"}, {Name: "eth3", SpeedMbps: 100_000, Kind: "cloud-aws"}}})
	must("node", err)
	cu, err := cat.CreateCustomer(ctx, catalog.CustomerInput{Name: "Bench Trading K.K."})
	must("customer", err)
	for i := range 5 {
		k, err := cat.CreateContract(ctx, tenanttest.Operator(cu.ID), catalog.ContractInput{Plan: "smart-hub"})
		must("contract", err)
		if i == 0 {
			env.serviceCode = k.ServiceCode
		}
	}
	hub, err := cat.CreateHub(ctx, tenanttest.Operator(cu.ID), catalog.HubInput{ServiceCode: env.serviceCode, Region: "tokyo", Priority: "main"})
	must("hub", err)
	pt, err := cat.CreatePort(ctx, tenanttest.Operator(cu.ID), catalog.PortInput{ServiceCode: env.serviceCode, HubID: hub.ID, Kind: "onprem", SpeedMbps: 10_000})
	must("port", err)
	env.portCode = pt.PortCode
	_, err = idn.Invite(ctx, tenanttest.Customer(cu.ID), identity.InviteInput{LoginID: "bench-user", DisplayName: "Bench user",
		Email: "bench@example.co.jp", Role: identity.RoleUser})
	must("invite", err)
	setup := mailtest.LinkToken(tb, idn.Outbox(), "bench@example.co.jp", "account.invite")
	const pw = "correct horse battery staple 7"
	_, err = idn.CompleteSetup(ctx, identity.CustomerSide, identity.SetupInput{Token: setup, Password: pw})
	must("setup", err)
	_, p, err := idn.Login(ctx, identity.CustomerSide, "bench-user", pw, "bench")
	must("login", err)
	_, env.token, err = idn.CreateToken(ctx, p, identity.TokenInput{Name: "bench", ExpiresAt: time.Now().Add(24 * time.Hour)})
	must("token", err)

	cert, _, err := tlsutil.SelfSigned(tb.TempDir())
	must("certificate", err)
	srv := web.New(web.Config{
		CustomerAddr: "127.0.0.1:0", MgmtAddr: "127.0.0.1:0",
		MgmtAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		TLS:       tlsutil.ServerConfig(cert), ShutdownGrace: 5 * time.Second,
	}, web.Deps{DB: db, Catalog: cat, Identity: idn, Audit: auditLog, Log: slog.New(h)})
	ls, err := srv.Listen()
	must("listen", err)
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ls) }()
	tb.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			tb.Errorf("serve: %v", err)
		}
	})
	env.base = "https://" + ls.Customer.Addr().String()

	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	must("certificate", err)
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	var protos http.Protocols
	protos.SetHTTP1(true)
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		Protocols:           &protos,
		MaxIdleConns:        2 * benchClients,
		MaxIdleConnsPerHost: 2 * benchClients,
		IdleConnTimeout:     time.Minute,
	}
	tb.Cleanup(tr.CloseIdleConnections)
	env.client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	if _, bench := tb.(*testing.B); !bench {
		// Tests check every exchange against the served OpenAPI document;
		// the benchmark measures the controller, not the check.
		env.client.Transport = web.OpenAPIChecked(tb, tr)
	}
	return env
}

// get sends an authenticated GET and returns the body; any status but 200 is
// an error that carries the status and body.
func (e *perfEnv) get(url string) ([]byte, error) {
	code, _, body, err := e.do(url, true)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %s", url, code, bytes.TrimSpace(body))
	}
	return body, nil
}

// do sends a GET (with the bearer token when auth is set) and reads the whole
// answer, so that the connection goes back to the pool.
func (e *perfEnv) do(url string, auth bool) (int, http.Header, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("GET %s: reading body: %w", url, err)
	}
	return resp.StatusCode, resp.Header, body, nil
}
