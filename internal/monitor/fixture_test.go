package monitor

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// t0 is the fixture's start of time.
var t0 = time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)

// env is two customers built directly in the tables:
//
//	cus_a: hub hub_a on node tyo-1, port shc00000001; operations
//	       administrators alice (ja) and aline (en), notice contact carol;
//	       the reachability-monitor option, quantity 2.
//	cus_b: hub hub_b on node osa-1, port shc00000002; operations
//	       administrator bob; no option.
type env struct {
	t   *testing.T
	db  *store.DB
	svc *Service
	ctx context.Context
	mu  sync.Mutex // guards now
	now time.Time
}

var (
	scA = tenanttest.Customer("cus_a")
	scB = tenanttest.Customer("cus_b")
)

func newEnv(t *testing.T, db *store.DB) *env {
	t.Helper()
	e := &env{t: t, db: db, now: t0,
		ctx: audit.WithActor(context.Background(), audit.Actor{ID: "acc_alice", Kind: "customer", Name: "alice"})}
	e.svc = e.service(db)
	seed(t, db)
	return e
}

// service is a monitor service on db (a second controller's) sharing e's clock.
func (e *env) service(db *store.DB) *Service {
	s := New(db, audit.New(db), nil, slog.New(slog.DiscardHandler), func(p string) string { return "https://panel.example" + p })
	s.Now = e.clock
	return s
}

func (e *env) clock() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return e.now }

func (e *env) advance(d time.Duration) { e.mu.Lock(); e.now = e.now.Add(d); e.mu.Unlock() }

func seed(t *testing.T, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	now := clock.Store(t0)
	exec(`INSERT INTO regions (id, code, name_en, name_ja, data_location, created_at) VALUES
		('reg_t', 'tyo', 'Tokyo', '東京', 'JP', ?), ('reg_o', 'osa', 'Osaka', '大阪', 'JP', ?)`, now, now)
	exec(`INSERT INTO hub_nodes (id, region_id, name, created_at) VALUES ('nod_t', 'reg_t', 'tyo-1', ?), ('nod_o', 'reg_o', 'osa-1', ?)`, now, now)
	for _, c := range []struct{ id, region, node, port string }{
		{"cus_a", "reg_t", "nod_t", "shc00000001"},
		{"cus_b", "reg_o", "nod_o", "shc00000002"},
	} {
		hub := "hub_" + c.id[4:]
		exec(`INSERT INTO customers (id, name, status, created_at) VALUES (?, ?, 'active', ?)`, c.id, c.id, now)
		exec(`INSERT INTO issued_codes (code, kind, issued_at) VALUES (?, 'shb', ?), (?, 'shc', ?)`, "shb-"+c.id, now, c.port, now)
		exec(`INSERT INTO contracts (id, customer_id, service_code, plan, status, start_date, created_at)
			VALUES (?, ?, ?, 'smart-hub', 'active', '2026-01-01', ?)`, "ctr_"+c.id, c.id, "shb-"+c.id, now)
		exec(`INSERT INTO hubs (id, customer_id, contract_id, region_id, priority, created_at) VALUES (?, ?, ?, ?, 'main', ?)`,
			hub, c.id, "ctr_"+c.id, c.region, now)
		exec(`INSERT INTO hub_placements (hub_id, customer_id, node_id, created_at) VALUES (?, ?, ?, ?)`, hub, c.id, c.node, now)
		exec(`INSERT INTO ports (id, customer_id, contract_id, hub_id, port_code, kind, speed_mbps, redundant, status, created_at)
			VALUES (?, ?, ?, ?, ?, 'onprem', 100, ?, 'active', ?)`, "prt_"+c.id, c.id, "ctr_"+c.id, hub, c.port, false, now)
	}
	exec(`INSERT INTO contract_options (id, customer_id, contract_id, name, quantity, created_at)
		VALUES ('opt_a', 'cus_a', 'ctr_cus_a', ?, 2, ?)`, Option, now)
	for _, a := range []struct{ id, cust, email, lang string }{
		{"acc_alice", "cus_a", "alice@a.example", "ja"},
		{"acc_aline", "cus_a", "aline@a.example", "en"},
		{"acc_bob", "cus_b", "bob@b.example", "ja"},
	} {
		exec(`INSERT INTO accounts (id, customer_id, login_id, display_name, email, role, password_hash, created_at, language)
			VALUES (?, ?, ?, ?, ?, 'ops-admin', 'argon2id$x', ?, ?)`, a.id, a.cust, a.id, a.id, a.email, now, a.lang)
	}
	exec(`INSERT INTO notice_contacts (id, customer_id, email, name, language, created_at, created_by)
		VALUES ('ncon_c', 'cus_a', 'carol@a.example', 'Carol', 'en', ?, 'acc_alice')`, now)
}

// recipientsA is how many addresses cus_a's alert mail goes to.
const recipientsA = 3

func (e *env) create(sc tenant.Scope, in Input) Monitor {
	e.t.Helper()
	m, err := e.svc.Create(e.ctx, sc, in)
	if err != nil {
		e.t.Fatalf("create %+v: %v", in, err)
	}
	return m
}

func icmp(name string) Input {
	return Input{Name: name, PortCode: "shc00000001", Target: "192.0.2.10", Probe: "icmp", IntervalSeconds: 10, FailAfter: 2}
}

// report is node tyo-1's report of probes of monitors on hub_a.
func report(hub, cust string, mons ...observed.MonitorReport) observed.Report {
	return observed.Report{Hubs: []observed.Hub{{HubID: hub, CustomerID: cust, Monitors: mons}}}
}

// probes are n probes of id every 10 s from at, ok or failed.
func probes(id string, at time.Time, ok ...bool) observed.MonitorReport {
	r := observed.MonitorReport{ID: id}
	for i, o := range ok {
		p := observed.Probe{At: at.Add(time.Duration(i) * 10 * time.Second), OK: o}
		if o {
			p.RTTMicros = int64(1000 * (i + 1))
		} else {
			p.Error = "timeout"
		}
		r.Probes = append(r.Probes, p)
	}
	return r
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := store.Scan(e.db.QueryRow(context.Background(), q, args...), &n); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return n
}

func (e *env) state(id string) string {
	e.t.Helper()
	m, err := e.svc.Get(e.ctx, scA, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return m.State
}

// reported records node's last report at at.
func (e *env) reported(node string, at time.Time) {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.db.Exec(ctx, `DELETE FROM node_status WHERE node_id = ?`, node); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.db.Exec(ctx, `INSERT INTO node_status (node_id, reported_at, applied_generation, agent_version, report)
		VALUES (?, ?, '', '', '{}')`, node, clock.Store(at)); err != nil {
		e.t.Fatal(err)
	}
}
