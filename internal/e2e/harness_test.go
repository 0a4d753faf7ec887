package e2e_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"github.com/tsunagi-net/tsunagi/internal/lookingglass"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/agent"
	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/evidence"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
	"github.com/tsunagi-net/tsunagi/internal/flows"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/mailtest"
	"github.com/tsunagi-net/tsunagi/internal/monitor"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/nstest"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
	"github.com/tsunagi-net/tsunagi/internal/tlsutil"
	"github.com/tsunagi-net/tsunagi/internal/usage"
	"github.com/tsunagi-net/tsunagi/internal/web"
)

// harness is a controller in the test process (store, catalog, service
// model, fleet, the agent listener over TLS) and the hub nodes the tests
// add to its inventory, each played by a namespace of its own; shared by
// the end-to-end tests and the benchmarks. The region "tokyo" exists from
// the start.
type harness struct {
	ctx      context.Context
	prefix   string // per-run name prefix
	db       *store.DB
	audit    *audit.Log
	cat      *catalog.Catalog
	netSvc   *network.Service
	mon      *monitor.Service // reachability monitors: in the desired state, and the reports' probes
	fl       *fleet.Fleet
	ids      *identity.Service
	srv      *web.Server
	cert     tls.Certificate
	agentSrv *httptest.Server
	roots    *x509.CertPool // verifies the controller's certificate
	usage    *usage.Usage   // takes the nodes' reports as the controller's ingester
	flows    *flows.Store   // the nodes' flow records (flows_test.go)
}

// node is a hub node of the inventory. Its namespace stands for the
// machine: port interfaces wait there until a hub takes them, and the
// underlay ends there. Each node has a run directory of its own, as each
// machine has its /run/tsunagi: an agent removes the hubs in its run
// directory that its document no longer names.
type node struct {
	name, region string
	ns           string // the node's namespace
	runDir       string // its data plane's run directory
}

func newHarness(tb testing.TB) *harness {
	tb.Helper()
	nstest.RequireRoot(tb)
	h := &harness{ctx: audit.WithActor(context.Background(), audit.Actor{ID: "acc_e2e", Kind: "operator", Name: "e2e"})}
	h.prefix = nstest.RunPrefix(tb)
	h.db = storetest.SQLite(tb)
	h.audit = audit.New(h.db)
	h.cat = catalog.New(h.db, h.audit)
	h.netSvc = network.New(h.db, h.audit, network.DefaultSettings)
	var err error
	if h.fl, err = fleet.New(h.ctx, h.db, h.audit); err != nil {
		tb.Fatal(err)
	}
	h.flows = flows.New(h.db, 0)
	h.mon = monitor.New(h.db, h.audit, h.netSvc.Workflow, slog.New(slog.DiscardHandler), nil)
	h.netSvc.Compiler.UseMonitors(h.mon.Desired)
	h.ids = identity.New(h.db, h.audit, identity.Config{Argon2: identity.Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1}})
	h.usage = usage.New(h.db, evidence.DefaultRetention.Usage)
	h.srv = web.New(web.Config{}, web.Deps{DB: h.db, Catalog: h.cat, Audit: h.audit, Fleet: h.fl,
		Usage: h.usage, Ingesters: []fleet.Ingester{h.mon, h.usage, h.netSvc.RouteQuota()},
		Workflow: h.netSvc.Workflow, NetOps: h.netSvc.Operations, Compiler: h.netSvc.Compiler,
		DesiredState: h.netSvc.Compiler.DesiredStateDoc, Changes: h.db.Changes(), Log: slog.New(slog.DiscardHandler), Identity: h.ids,
		LookingGlass: lookingglass.New(h.db, lookingglass.Options{}), Flows: h.flows,
		Monitors:     h.mon,
		OnUnrecorded: func(route string) { tb.Errorf("%s succeeded without an audit record", route) }})
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
	h.addRegion(tb, "tokyo", "Tokyo", "東京")
	return h
}

func (h *harness) addRegion(tb testing.TB, code, en, ja string) {
	tb.Helper()
	if _, err := h.cat.CreateRegion(h.ctx, catalog.RegionInput{Code: code, NameEN: en, NameJA: ja, DataLocation: "Japan"}); err != nil {
		tb.Fatal(err)
	}
}

// addNode registers a node of the region with its physical ports in the
// inventory and makes its namespace and run directory.
func (h *harness) addNode(tb testing.TB, region, name string, phys []catalog.PhysicalPort) *node {
	tb.Helper()
	n := &node{name: name, region: region, ns: h.prefix + "-" + name,
		runDir: filepath.Join("/tmp", h.prefix+"-"+name)} // short: BIRD's socket path must fit in 107 bytes
	nstest.AddNamespace(tb, n.ns)
	if err := os.MkdirAll(n.runDir, 0o700); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(n.runDir) })
	if _, err := h.cat.CreateNode(h.ctx, catalog.NodeInput{Region: region, Name: name, Ports: phys}); err != nil {
		tb.Fatal(err)
	}
	return n
}

// enrol enrols an agent for the node and returns its client and state
// directory.
func (h *harness) enrol(tb testing.TB, n *node) (*agent.Client, string) {
	tb.Helper()
	tok, err := h.fl.IssueEnrolToken(h.ctx, n.name)
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

// startAgent enrols the node's agent and runs it with a data-plane manager
// of its own until cleanup. Once the agent has stopped, every hub left in
// the node's run directory is torn down, its BIRD killed and its namespace
// deleted, whatever state a failed test left it in.
func (h *harness) startAgent(tb testing.TB, n *node) *dataplane.Manager {
	tb.Helper()
	client, state := h.enrol(tb, n)
	m := dataplane.NewManager(dataplane.Options{RunDir: n.runDir, NodeNamespace: n.ns})
	tb.Cleanup(func() { removeHubs(m, n.runDir) })
	runAgent(tb, newLoop(client, m, n.runDir, state)) // its cleanup runs first: no agent rebuilds what is removed
	return m
}

// removeHubs tears down every hub with a directory in runDir: by the
// manager first, then by force for what it could not remove. The
// namespaces are named after hubs of this test's controller only.
func removeHubs(m *dataplane.Manager, runDir string) {
	entries, _ := os.ReadDir(runDir)
	for _, e := range entries {
		ns := e.Name()
		if !e.IsDir() || !strings.HasPrefix(ns, dataplane.NamespacePrefix) {
			continue
		}
		_ = m.Remove(context.Background(), strings.TrimPrefix(ns, dataplane.NamespacePrefix))
		nstest.KillPidFile(filepath.Join(runDir, ns, "bird.pid"))
		_ = exec.Command("ip", "netns", "del", ns).Run()
	}
}

// underlay joins the nodes' namespaces by a bridge in a namespace of its
// own, node i at 10.255.0.i/24 on its device "underlay", and registers
// each address as the node's tunnel endpoint through the service model.
func (h *harness) underlay(tb testing.TB, nodes ...*node) {
	tb.Helper()
	br := h.prefix + "-ul"
	nstest.AddNamespace(tb, br)
	nstest.IPBatch(tb, br, []string{"link add br0 type bridge", "link set br0 up"})
	for i, n := range nodes {
		addr := fmt.Sprintf("10.255.0.%d", i+1)
		port := fmt.Sprintf("n%d", i+1)
		nstest.Sh(tb, "ip", "-n", br, "link", "add", port, "type", "veth", "peer", "name", "underlay", "netns", n.ns)
		nstest.IPBatch(tb, br, []string{"link set " + port + " master br0", "link set " + port + " up"})
		nstest.IPBatch(tb, n.ns, []string{"addr add " + addr + "/24 dev underlay", "link set underlay up"})
		if _, err := h.netSvc.Operations.SetUnderlay(h.ctx, n.name, network.UnderlayInput{Address: addr}); err != nil {
			tb.Fatal(err)
		}
	}
}

// converged waits until the node reports the generation of its current
// desired state as processed in full: every hub of it reached, or reported
// with the reason it keeps its last good state.
func (h *harness) converged(tb testing.TB, n *node, what string) {
	tb.Helper()
	_, want, err := h.netSvc.Compiler.DesiredStateDoc(h.ctx, n.name)
	if err != nil {
		tb.Fatal(err)
	}
	nstest.WaitFor(tb, n.name+" to reach the generation "+what, 90*time.Second, func() (bool, string) {
		st, err := h.fl.NodeStatus(h.ctx, n.name)
		if err != nil {
			return false, err.Error()
		}
		return st.AppliedGeneration == want, fmt.Sprintf("applied %q, status %+v", st.AppliedGeneration, st)
	})
}

// customerAPI serves the controller's customer API over HTTPS until
// cleanup; its client trusts the controller's certificate.
func (h *harness) customerAPI(tb testing.TB) *httptest.Server {
	tb.Helper()
	srv := httptest.NewUnstartedServer(h.srv.CustomerHandler())
	srv.TLS = tlsutil.ServerConfig(h.cert)
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	return srv
}

// customerToken makes an API token for a new ops-admin account of the
// customer, invited, set up and logged in as a person would be.
func (h *harness) customerToken(tb testing.TB, cust catalog.CustomerID) string {
	tb.Helper()
	const pw = "e2e-password-long-enough"
	login := "ops-" + strings.ToLower(string(cust))[4:12]
	if _, err := h.ids.Invite(h.ctx, tenanttest.Customer(cust), identity.InviteInput{LoginID: login, DisplayName: "Ops", Email: login + "@example.net", Role: identity.RoleOpsAdmin}); err != nil {
		tb.Fatal(err)
	}
	tok := mailtest.LinkToken(tb, h.ids.Outbox(), login+"@example.net", "account.invite")
	if _, err := h.ids.CompleteSetup(h.ctx, identity.CustomerSide, identity.SetupInput{Token: tok, Password: pw}); err != nil {
		tb.Fatal(err)
	}
	_, p, err := h.ids.Login(h.ctx, identity.CustomerSide, login, pw, "e2e")
	if err != nil {
		tb.Fatal(err)
	}
	_, secret, err := h.ids.CreateToken(h.ctx, p, identity.TokenInput{Name: "e2e", ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		tb.Fatal(err)
	}
	return secret
}

// getJSON GETs path with the bearer token, decodes the body into v and
// returns the status code.
func getJSON(tb testing.TB, srv *httptest.Server, token, path string, v any) int {
	tb.Helper()
	req, _ := http.NewRequest("GET", srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := srv.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(v)
	return resp.StatusCode
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
