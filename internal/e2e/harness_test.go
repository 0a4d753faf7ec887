package e2e_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/agent"
	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/nstest"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tlsutil"
	"github.com/tsunagi-net/tsunagi/internal/web"
)

// harness is a controller in the test process (store, catalog, service
// model, fleet, the agent listener over TLS) and the namespace that plays
// its hub node "tyo-1", shared by the end-to-end test and the benchmarks.
type harness struct {
	ctx          context.Context
	prefix, node string // per-run name prefix; the node's namespace
	runDir       string // the data plane's run directory
	cat          *catalog.Catalog
	netSvc       *network.Service
	fl           *fleet.Fleet
	ids          *identity.Service
	srv          *web.Server
	cert         tls.Certificate
	agentSrv     *httptest.Server
	roots        *x509.CertPool // verifies the controller's certificate
}

func newHarness(tb testing.TB) *harness {
	tb.Helper()
	nstest.RequireRoot(tb)
	h := &harness{ctx: audit.WithActor(context.Background(), audit.Actor{ID: "acc_e2e", Kind: "operator", Name: "e2e"})}
	h.prefix = nstest.RunPrefix(tb)
	h.node = h.prefix + "-node"
	nstest.AddNamespace(tb, h.node)
	h.runDir = filepath.Join("/tmp", h.prefix) // short: BIRD's socket path must fit in 107 bytes
	if err := os.MkdirAll(h.runDir, 0o700); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(h.runDir) })

	db := storetest.SQLite(tb)
	log := audit.New(db)
	h.cat = catalog.New(db, log)
	h.netSvc = network.New(db, log, network.DefaultSettings)
	var err error
	if h.fl, err = fleet.New(h.ctx, db, log); err != nil {
		tb.Fatal(err)
	}
	h.ids = identity.New(db, log, identity.Config{Argon2: identity.Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1}})
	h.srv = web.New(web.Config{}, web.Deps{DB: db, Catalog: h.cat, Audit: log, Fleet: h.fl, Network: h.netSvc,
		DesiredState: h.netSvc.DesiredStateDoc, Log: slog.New(slog.DiscardHandler), Identity: h.ids})
	if h.cert, _, err = tlsutil.SelfSigned(tb.TempDir()); err != nil {
		tb.Fatal(err)
	}
	h.agentSrv = httptest.NewUnstartedServer(h.srv.AgentHandler())
	h.agentSrv.TLS = web.AgentTLS(tlsutil.ServerConfig(h.cert), h.fl)
	h.agentSrv.StartTLS()
	tb.Cleanup(h.agentSrv.Close)
	leaf, _ := x509.ParseCertificate(h.cert.Certificate[0])
	h.roots = x509.NewCertPool()
	h.roots.AddCert(leaf)
	if _, err := h.cat.CreateRegion(h.ctx, catalog.RegionInput{Code: "tokyo", NameEN: "Tokyo", NameJA: "東京", DataLocation: "Japan"}); err != nil {
		tb.Fatal(err)
	}
	return h
}

// addNode registers tyo-1 with its physical ports in the inventory.
func (h *harness) addNode(tb testing.TB, phys []catalog.PhysicalPort) {
	tb.Helper()
	if _, err := h.cat.CreateNode(h.ctx, catalog.NodeInput{Region: "tokyo", Name: "tyo-1", Ports: phys}); err != nil {
		tb.Fatal(err)
	}
}

// enrol enrols an agent for tyo-1 and returns its client and state directory.
func (h *harness) enrol(tb testing.TB) (*agent.Client, string) {
	tb.Helper()
	tok, err := h.fl.IssueEnrolToken(h.ctx, "tyo-1")
	if err != nil {
		tb.Fatal(err)
	}
	state := tb.TempDir()
	if err := agent.Enrol(h.ctx, h.agentSrv.URL, h.roots, tok.Token, state); err != nil {
		tb.Fatal(err)
	}
	client, err := agent.NewClient(h.agentSrv.URL, h.roots, state)
	if err != nil {
		tb.Fatal(err)
	}
	return client, state
}

// converged waits until tyo-1 reports the generation of its current desired
// state as applied.
func (h *harness) converged(tb testing.TB, what string) {
	tb.Helper()
	_, want, err := h.netSvc.DesiredStateDoc(h.ctx, "tyo-1")
	if err != nil {
		tb.Fatal(err)
	}
	nstest.WaitFor(tb, "the node to reach the generation "+what, 90*time.Second, func() (bool, string) {
		st, err := h.fl.NodeStatus(h.ctx, "tyo-1")
		if err != nil {
			return false, err.Error()
		}
		return st.AppliedGeneration == want, fmt.Sprintf("applied %q, report %s", st.AppliedGeneration, st.Report)
	})
}

// runAgent runs the agent's loop, logging warnings to the test, until the
// returned stop is called (at cleanup at the latest).
func runAgent(tb testing.TB, loop *agent.Loop) (stop func()) {
	loop.Log = slog.New(slog.NewTextHandler(logWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		loop.Run(ctx)
	}()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	tb.Cleanup(stop)
	return stop
}

type logWriter struct{ tb testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
