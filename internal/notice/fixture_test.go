package notice

import (
	"context"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// env is two customers on two nodes, built directly in the tables:
//
//	cus_a: hub hub_a in region tyo on node tyo-1, port PORT-A with its
//	       primary leg on tyo-1/xe-0; operations administrators alice (ja,
//	       also a notice contact, in other case) and aline (en), one
//	       disabled and one without a password; notice contact carol (en).
//	cus_b: hub hub_b in region osa on node osa-1, port PORT-B on osa-1/xe-0;
//	       operations administrator bob (ja).
type env struct {
	t   *testing.T
	db  *store.DB
	svc *Service
	ctx context.Context
}

func newEnv(t *testing.T, db *store.DB) *env {
	t.Helper()
	e := &env{t: t, db: db, ctx: audit.WithActor(context.Background(), audit.Actor{ID: "acc_op", Kind: "operator", Name: "op"})}
	e.svc = New(db, audit.New(db), Config{CustomerLink: func(p string) string { return "https://panel.example" + p }})
	now := clock.Store(clock.Now())
	e.exec(`INSERT INTO regions (id, code, name_en, name_ja, data_location, created_at) VALUES
		('reg_t', 'tyo', 'Tokyo', '東京', 'JP', ?), ('reg_o', 'osa', 'Osaka', '大阪', 'JP', ?)`, now, now)
	e.exec(`INSERT INTO hub_nodes (id, region_id, name, created_at) VALUES ('nod_t', 'reg_t', 'tyo-1', ?), ('nod_o', 'reg_o', 'osa-1', ?)`, now, now)
	e.exec(`INSERT INTO physical_ports (id, node_id, name, speed_mbps, kind, oversubscription, created_at) VALUES
		('pp_t0', 'nod_t', 'xe-0', 10000, 'ethernet', 1, ?), ('pp_t1', 'nod_t', 'xe-1', 10000, 'ethernet', 1, ?),
		('pp_o0', 'nod_o', 'xe-0', 10000, 'ethernet', 1, ?)`, now, now, now)
	for _, c := range []struct{ id, name, region, node, port, pp string }{
		{"cus_a", "Alpha KK", "reg_t", "nod_t", "PORT-A", "pp_t0"},
		{"cus_b", "Beta KK", "reg_o", "nod_o", "PORT-B", "pp_o0"},
	} {
		hub := "hub_" + c.id[4:]
		e.exec(`INSERT INTO customers (id, name, status, created_at) VALUES (?, ?, 'active', ?)`, c.id, c.name, now)
		e.exec(`INSERT INTO issued_codes (code, kind, issued_at) VALUES (?, 'shb', ?), (?, 'shc', ?)`, "SHB-"+c.id, now, c.port, now)
		e.exec(`INSERT INTO contracts (id, customer_id, service_code, plan, status, start_date, created_at)
			VALUES (?, ?, ?, 'standard', 'active', '2026-01-01', ?)`, "con_"+c.id, c.id, "SHB-"+c.id, now)
		e.exec(`INSERT INTO hubs (id, customer_id, contract_id, region_id, priority, created_at) VALUES (?, ?, ?, ?, 'main', ?)`,
			hub, c.id, "con_"+c.id, c.region, now)
		e.exec(`INSERT INTO hub_placements (hub_id, customer_id, node_id, created_at) VALUES (?, ?, ?, ?)`, hub, c.id, c.node, now)
		e.exec(`INSERT INTO ports (id, customer_id, contract_id, hub_id, port_code, kind, speed_mbps, redundant, status, created_at)
			VALUES (?, ?, ?, ?, ?, 'onprem', 100, ?, 'active', ?)`, "prt_"+c.id, c.id, "con_"+c.id, hub, c.port, false, now)
		e.exec(`INSERT INTO port_placements (id, customer_id, port_id, leg, physical_port_id, proposed, reason, created_at)
			VALUES (?, ?, ?, 'primary', ?, ?, '', ?)`, "ppl_"+c.id, c.id, "prt_"+c.id, c.pp, false, now)
	}
	for _, a := range []struct {
		id, cust, email, lang string
		password, disabled    bool
	}{
		{"acc_alice", "cus_a", "alice@a.example", "ja", true, false},
		{"acc_aline", "cus_a", "aline@a.example", "en", true, false},
		{"acc_gone", "cus_a", "gone@a.example", "ja", true, true},
		{"acc_new", "cus_a", "new@a.example", "ja", false, false},
		{"acc_bob", "cus_b", "bob@b.example", "ja", true, false},
	} {
		var pw, dis any
		if a.password {
			pw = "argon2id$x"
		}
		if a.disabled {
			dis = now
		}
		e.exec(`INSERT INTO accounts (id, customer_id, login_id, display_name, email, role, password_hash, created_at, disabled_at, language)
			VALUES (?, ?, ?, ?, ?, 'ops-admin', ?, ?, ?, ?)`, a.id, a.cust, a.id, a.id, a.email, pw, now, dis, a.lang)
	}
	e.contact("cus_a", "ALICE@a.example", "en")
	e.contact("cus_a", "carol@a.example", "en")
	return e
}

func (e *env) exec(q string, args ...any) {
	e.t.Helper()
	if _, err := e.db.Exec(context.Background(), q, args...); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
}

func (e *env) contact(cust, addr, lang string) {
	e.t.Helper()
	e.exec(`INSERT INTO notice_contacts (id, customer_id, email, name, language, created_at, created_by)
		VALUES (?, ?, ?, 'contact', ?, ?, 'acc_x')`, "nct_"+addr, cust, addr, lang, clock.Store(clock.Now()))
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// audits returns the details of the audit events of action, in order.
func (e *env) audits(action string) []audit.Entry {
	e.t.Helper()
	all, err := audit.New(e.db).List(context.Background(), audit.AllChains().Page(0, 1000))
	if err != nil {
		e.t.Fatal(err)
	}
	var out []audit.Entry
	for _, a := range all {
		if a.Action == action {
			out = append(out, a)
		}
	}
	return out
}

// maintenance is a valid announcement draft on node tyo-1, starting in
// days days.
func maintenance(days int) Draft {
	start := clock.Now().Add(time.Duration(days) * 24 * time.Hour).Truncate(time.Second)
	end := start.Add(2 * time.Hour)
	return Draft{Kind: Announcement, Category: "maintenance", TitleJA: "tyo-1 の保守", TitleEN: "Maintenance of tyo-1",
		BodyJA: "ルータを交換します。", BodyEN: "We replace a router.", StartsAt: &start, EndsAt: &end,
		Scope: Scope{Nodes: []string{"tyo-1"}}}
}

// outage is a valid incident draft on scope.
func outage(sc Scope) Draft {
	return Draft{Kind: Incident, Category: "outage", Severity: "major", TitleJA: "通信断", TitleEN: "Outage",
		BodyJA: "調査しています。", BodyEN: "We are investigating.", Scope: sc}
}
