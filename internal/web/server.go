// Package web is tsunagi's HTTP side: two TLS listeners — the customer
// listener (control panel and customer API) and the operator's management
// listener (operator API, metrics), bound and allow-listed separately
// (ISO/IEC 27017 CLD.9.5.1, CLD.9.5.2, 13.1.3) — their middleware, the route
// tables, and the mapping of domain faults to HTTP. It knows nothing of SQL.
package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/backup"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/evidence"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
	"github.com/tsunagi-net/tsunagi/internal/flows"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/lifecycle"
	"github.com/tsunagi-net/tsunagi/internal/lookingglass"
	"github.com/tsunagi-net/tsunagi/internal/monitor"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/notice"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/usage"
	"github.com/tsunagi-net/tsunagi/internal/web/panel"
	"github.com/tsunagi-net/tsunagi/internal/webhook"
)

// Config is the HTTP configuration.
type Config struct {
	CustomerAddr string // ":8443"
	MgmtAddr     string // "127.0.0.1:9443"
	// MgmtAllow lists the source prefixes that may connect to the management
	// listener; other connections are closed before the TLS handshake.
	MgmtAllow []netip.Prefix
	TLS       *tls.Config
	// AgentAddr is the agent listener (":9444"); empty disables it. AgentTLS
	// requests node client certificates (see AgentTLS).
	AgentAddr string
	AgentTLS  *tls.Config
	// AgentAllow lists the source prefixes that may connect to the agent
	// listener (the hub nodes); other connections are closed before the TLS
	// handshake, like the management listener's.
	AgentAllow []netip.Prefix
	// ShutdownGrace bounds how long in-flight requests may take to finish.
	ShutdownGrace time.Duration
}

// Pinger checks the database.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps are the domain services the handlers call.
type Deps struct {
	DB       Pinger
	Catalog  *catalog.Catalog
	Identity *identity.Service
	Audit    *audit.Log
	Fleet    *fleet.Fleet
	// Ingesters take each accepted node report's measurements, in order
	// (monitor probes, usage counters, route quota, webhook events).
	Ingesters []fleet.Ingester
	// LookingGlass keeps the customers' looking-glass queries for the
	// nodes' agents; nil leaves its routes answering 503.
	LookingGlass *lookingglass.Service
	// Flows keeps the nodes' flow records; nil answers their routes 503.
	Flows *flows.Store
	// DesiredState computes a node's desired-state document (the hub service
	// model); nil until it is wired.
	DesiredState DesiredStateFunc
	// Changes wakes held desired-state long polls when a change that may
	// alter a node's document commits, on this or another controller
	// (store.DB.Changes). Nil leaves them to the slow safety re-check.
	Changes Changes
	// Workflow, NetOps and Compiler are the hub service model's parts
	// (network.New): the customer's reviewed-change workflow, the
	// operator's placement and capacity, the desired-state compiler and the
	// nodes' reports. Nil leaves their routes answering 503.
	Workflow *network.Workflow
	NetOps   *network.Operations
	Compiler *network.Compiler
	// Jobs is the controller's scheduler of dated jobs; nil leaves
	// GET /api/v1/job-runs answering 503.
	Jobs *schedule.Scheduler
	// Backups is serve's backup configuration; nil (no --backup-dir) lists
	// no backups and refuses "back up now".
	Backups *backup.Service
	// Purger erases terminated customers and keeps their deletion
	// certificates; Keys is the controller's signing keyring, whose
	// public keys both listeners publish. Nil leaves their routes
	// answering 503.
	Purger *lifecycle.Purger
	Keys   *signing.Keyring
	// Evidence signs the audit chains' heads, exports and verifies evidence.
	Evidence *evidence.Service
	// Usage reads the customers' usage records (traffic per port).
	Usage *usage.Usage
	// Notices are the announcements, incidents, notice contacts, feeds
	// and the notification log; Reports the customers' reports to the
	// operator. Nil leaves their routes answering 503.
	Notices *notice.Service
	Reports *notice.Reports
	// Monitors are the customers' reachability monitors; nil leaves their
	// routes answering 503.
	Monitors *monitor.Service
	// Metrics are further collectors the management listener's /metrics
	// exports (opsmetrics: what the operator pages on).
	Metrics []prometheus.Collector
	// Webhooks are the customers' event webhooks; nil leaves their
	// routes answering 503.
	Webhooks *webhook.Service
	Log      *slog.Logger
	// OnUnrecorded, when set, is called with the route ("METHOD /pattern")
	// of every change that succeeded without being audited, after the
	// router recorded request.unrecorded for it (guard.go). The tests set
	// it to fail.
	OnUnrecorded func(route string)
}

// sharedPanel parses the panel once per process: the renderer is made from
// embedded files only and never changes, and its 79 pages in two languages
// take most of a second to parse under the race detector — once for every
// server a test starts, otherwise.
var sharedPanel = sync.OnceValues(panel.New)

// Server serves both listeners.
type Server struct {
	cfg     Config
	deps    Deps
	ready   atomic.Bool // last database check succeeded
	metrics *metrics
	reg     *prometheus.Registry
	panel   *panel.Renderer
	// onServed, set only by tests before serving, is told the route and
	// status of every guarded request: the page tests' count of which
	// changes some test made successfully.
	onServed func(route string, code int)
}

// New returns a server; it does not listen yet.
func New(cfg Config, deps Deps) *Server {
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = 30 * time.Second
	}
	pages, err := sharedPanel()
	if err != nil {
		// The templates and catalogue are embedded: a failure here is a
		// defect of the build, which every test run catches.
		panic(err)
	}
	s := &Server{cfg: cfg, deps: deps, reg: prometheus.NewRegistry(), panel: pages}
	s.metrics = newMetrics(s.reg)
	s.reg.MustRegister(deps.Metrics...)
	s.ready.Store(true)
	return s
}

// Listeners are the bound sockets, so that callers (and tests) can learn the
// actual addresses before serving.
type Listeners struct {
	Customer, Mgmt, Agent net.Listener // Agent is nil when disabled
}

// Listen binds both addresses. The management listener filters sources.
func (s *Server) Listen() (Listeners, error) {
	c, err := net.Listen("tcp", s.cfg.CustomerAddr)
	if err != nil {
		return Listeners{}, fmt.Errorf("customer listener: %w", err)
	}
	m, err := net.Listen("tcp", s.cfg.MgmtAddr)
	if err != nil {
		c.Close()
		return Listeners{}, fmt.Errorf("management listener: %w", err)
	}
	ls := Listeners{Customer: c, Mgmt: &allowListener{Listener: m, name: "management", allow: s.cfg.MgmtAllow, log: s.deps.Log,
		refused: s.metrics.refused}}
	if s.cfg.AgentAddr != "" {
		a, err := net.Listen("tcp", s.cfg.AgentAddr)
		if err != nil {
			c.Close()
			m.Close()
			return Listeners{}, fmt.Errorf("agent listener: %w", err)
		}
		ls.Agent = &allowListener{Listener: a, name: "agent", allow: s.cfg.AgentAllow, log: s.deps.Log, refused: s.metrics.agentRefused}
	}
	return ls, nil
}

// Serve serves TLS on both listeners until ctx ends, then shuts down
// gracefully: listeners close at once, in-flight requests get ShutdownGrace
// to finish. Each request's writes are transactions, so none is left half
// written either way.
func (s *Server) Serve(ctx context.Context, ls Listeners) error {
	servers := []*http.Server{
		s.httpServer(s.CustomerHandler(), "customer"),
		s.httpServer(s.MgmtHandler(), "management"),
	}
	listeners := []net.Listener{tls.NewListener(ls.Customer, s.cfg.TLS), tls.NewListener(ls.Mgmt, s.cfg.TLS)}
	if ls.Agent != nil {
		as := s.httpServer(s.AgentHandler(), "agent")
		// A desired-state long poll holds its answer up to
		// MaxDesiredStateWait; the write deadline must outlast it.
		as.WriteTimeout = MaxDesiredStateWait + 30*time.Second
		servers = append(servers, as)
		listeners = append(listeners, tls.NewListener(ls.Agent, s.cfg.AgentTLS))
	}
	errc := make(chan error, len(servers))
	for i, l := range listeners {
		go func() {
			err := servers[i].Serve(l)
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errc <- err
		}()
	}
	go s.watchDB(ctx)
	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownGrace)
	defer cancel()
	var errs []error
	for _, srv := range servers {
		errs = append(errs, srv.Shutdown(sctx))
	}
	return errors.Join(append(errs, first)...)
}

func (s *Server) httpServer(h http.Handler, name string) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.deps.Log.With("listener", name).Handler(), slog.LevelWarn),
	}
}

// watchDB pings the database every second so that requests fail fast with 503
// while it is unreachable and resume by themselves when it returns.
func (s *Server) watchDB(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := s.deps.DB.Ping(pctx)
		cancel()
		s.setReady(err)
	}
}

// setReady records the outcome of a database check and logs each change, so
// that the log shows when an outage began and ended whichever check saw it.
func (s *Server) setReady(err error) {
	if was := s.ready.Swap(err == nil); was != (err == nil) {
		if err != nil {
			s.deps.Log.Error("database unreachable", "err", err)
		} else {
			s.deps.Log.Info("database reachable again")
		}
	}
}

// allowListener closes connections from sources outside allow before any
// byte of TLS is exchanged (CLD.9.5.2).
type allowListener struct {
	net.Listener
	name    string // "management" or "agent", for the log
	allow   []netip.Prefix
	log     *slog.Logger
	refused prometheus.Counter
}

func (l *allowListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.allowed(c.RemoteAddr()) {
			return c, nil
		}
		l.refused.Inc()
		l.log.Warn(l.name+" connection refused: source not allow-listed", "source", c.RemoteAddr().String())
		c.Close()
	}
}

func (l *allowListener) allowed(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return false
	}
	ip = ip.Unmap()
	for _, p := range l.allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ParseAllowList reads a comma-separated list of prefixes or addresses.
func ParseAllowList(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range splitComma(s) {
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("allow-list entry %q is not an address or prefix", f)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	if len(out) == 0 {
		return nil, errors.New("allow-list is empty: nothing could reach the listener")
	}
	return out, nil
}

// pages is the control panel's renderer.
func (s *Server) pages() *panel.Renderer { return s.panel }
