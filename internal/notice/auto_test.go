package notice

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// t0 is the watch tests' "now": 2026-12-01 12:00 JST.
var t0 = time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)

func execSQL(t *testing.T, db *store.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// seedWatch makes region tyo with nodes and one hub per customer:
//
//	tyo-1: hub_1, last report 10 minutes ago (silent)
//	tyo-2: hub_2, reports, and says hub_2 cannot reach version 5 (runs 4)
//	tyo-3: hub_3, retired, silent
//	tyo-4: hub_4, enrolled an hour ago, never reported
//	tyo-5: no hub, silent
func seedWatch(t *testing.T, db *store.DB) {
	at := func(d time.Duration) string { return clock.Store(t0.Add(d)) }
	execSQL(t, db, `INSERT INTO regions (id, code, name_en, name_ja, data_location, created_at) VALUES ('reg_1', 'tyo', 'Tokyo', '東京', 'JP', ?)`, at(-time.Hour))
	for i := 1; i <= 5; i++ {
		node := fmt.Sprintf("node_%d", i)
		execSQL(t, db, `INSERT INTO hub_nodes (id, region_id, name, created_at) VALUES (?, 'reg_1', ?, ?)`, node, fmt.Sprintf("tyo-%d", i), at(-2*time.Hour))
		execSQL(t, db, `INSERT INTO node_certs (serial, node_id, issued_at, not_after) VALUES (?, ?, ?, ?)`, fmt.Sprintf("s%d", i), node, at(-time.Hour), at(time.Hour*24*365))
		if i <= 4 {
			c, hub, code := fmt.Sprintf("cus_%d", i), fmt.Sprintf("hub_%d", i), fmt.Sprintf("SHC%07d", i)
			execSQL(t, db, `INSERT INTO customers (id, name, status, created_at) VALUES (?, ?, 'active', ?)`, c, "Customer "+c, at(-time.Hour))
			execSQL(t, db, `INSERT INTO issued_codes (code, kind, issued_at) VALUES (?, 'shc', ?)`, code, at(-time.Hour))
			execSQL(t, db, `INSERT INTO contracts (id, customer_id, service_code, plan, status, start_date, created_at) VALUES (?, ?, ?, 'hub', 'active', '2026-01-01', ?)`,
				"con_"+c, c, code, at(-time.Hour))
			execSQL(t, db, `INSERT INTO hubs (id, customer_id, contract_id, region_id, priority, created_at) VALUES (?, ?, ?, 'reg_1', 'main', ?)`, hub, c, "con_"+c, at(-time.Hour))
			execSQL(t, db, `INSERT INTO hub_placements (hub_id, customer_id, node_id, created_at) VALUES (?, ?, ?, ?)`, hub, c, node, at(-time.Hour))
		}
	}
	execSQL(t, db, `UPDATE hub_nodes SET state = 'retired' WHERE id = 'node_3'`)
	for node, ago := range map[string]time.Duration{"node_1": 10 * time.Minute, "node_2": 30 * time.Second, "node_3": time.Hour, "node_5": time.Hour} {
		execSQL(t, db, `INSERT INTO node_status (node_id, reported_at, applied_generation, agent_version, report) VALUES (?, ?, 'g', 'v', '{}')`, node, at(-ago))
	}
	execSQL(t, db, `INSERT INTO hub_observations (hub_id, node_id, customer_id, reported_at, wanted_version, config_version, error, problems, body)
		VALUES ('hub_2', 'node_2', 'cus_2', ?, 5, 4, 'bird refused the configuration', 0, '{}')`, at(-30*time.Second))
}

// report makes node report at t: its status, and hub_2's versions when
// node is tyo-2.
func report(t *testing.T, db *store.DB, node string, at time.Time, wanted, running int64) {
	execSQL(t, db, `UPDATE node_status SET reported_at = ? WHERE node_id = ?`, clock.Store(at), node)
	if node == "node_2" {
		errText := ""
		if running < wanted {
			errText = "bird refused the configuration"
		}
		execSQL(t, db, `UPDATE hub_observations SET reported_at = ?, wanted_version = ?, config_version = ?, error = ? WHERE node_id = ?`,
			clock.Store(at), wanted, running, errText, node)
	}
}

type draftRow struct {
	ID, Source, Kind, Category, Severity, Status, TitleJA, TitleEN, BodyJA, BodyEN string
	Scope                                                                          Scope
}

func drafts(t *testing.T, db *store.DB) map[string]draftRow {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT auto_key, id, source, kind, category, severity, status, title_ja, title_en, body_ja, body_en, scope
		FROM notices WHERE auto_key IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]draftRow{}
	for rows.Next() {
		var k, scope string
		var d draftRow
		if err := rows.Scan(&k, &d.ID, &d.Source, &d.Kind, &d.Category, &d.Severity, &d.Status, &d.TitleJA, &d.TitleEN, &d.BodyJA, &d.BodyEN, &scope); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(scope), &d.Scope); err != nil {
			t.Fatal(err)
		}
		out[k] = d
	}
	return out
}

// run lists what is due at now and acts on it, as one scheduler run.
func run(t *testing.T, s *Service, now time.Time) []string {
	t.Helper()
	ctx := audit.WithActor(context.Background(), audit.System)
	due, err := s.dueAutoDrafts(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	var opened []string
	for _, k := range due {
		ok, err := s.openAutoDraft(ctx, now, k)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			opened = append(opened, k)
		}
	}
	return opened
}

// TestAutoDrafts: a silent node and a node that never reported, each with
// hubs, open an outage draft scoped to the node; a hub not realised for
// longer than NodeSilentAfter a degradation draft scoped to the hub; a
// retired node, a node without hubs and a short-lived condition open none;
// one draft per episode, a new episode a new one; nothing is mailed.
func TestAutoDrafts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		seedWatch(t, db)
		s := New(db, audit.New(db), Config{NodeSilentAfter: 5 * time.Minute})
		silent1 := "node-silent:node_1:" + clock.Store(t0.Add(-10*time.Minute))
		want := []string{silent1, "node-silent:node_4:never"}
		if got := run(t, s, t0); !slices.Equal(got, want) {
			t.Fatalf("opened at t0: %q, want %q", got, want)
		}
		if got := run(t, s, t0.Add(30*time.Second)); len(got) != 0 {
			t.Fatalf("opened again: %q", got)
		}
		d := drafts(t, db)
		n1 := d[silent1]
		if n1.Source != SourceNodeSilent || n1.Kind != Incident || n1.Category != "outage" || n1.Severity != "major" || n1.Status != StatusDraft ||
			!slices.Equal(n1.Scope.Nodes, []string{"tyo-1"}) || len(n1.Scope.Hubs) != 0 {
			t.Errorf("tyo-1's draft: %+v", n1)
		}
		if !strings.Contains(n1.TitleJA, "tyo-1") || !strings.Contains(n1.TitleEN, "tyo-1") ||
			!strings.Contains(n1.BodyEN, "since 2026-12-01T11:50:00+09:00") || !strings.Contains(n1.BodyJA, "2026-12-01T11:50:00+09:00") {
			t.Errorf("tyo-1's texts: %+v", n1)
		}
		if n4 := d["node-silent:node_4:never"]; !strings.Contains(n4.BodyEN, "never reported") || !strings.Contains(n4.BodyJA, "一度も") {
			t.Errorf("tyo-4's texts: %+v", n4)
		}

		// hub_2 has been unrealised for 5 minutes only at t0+5m; tyo-2
		// keeps reporting it.
		report(t, db, "node_2", t0.Add(4*time.Minute), 5, 4)
		if got := run(t, s, t0.Add(4*time.Minute)); len(got) != 0 {
			t.Fatalf("opened before the hub was unrealised for long: %q", got)
		}
		report(t, db, "node_2", t0.Add(5*time.Minute), 5, 4)
		if got := run(t, s, t0.Add(5*time.Minute)); !slices.Equal(got, []string{"hub-unrealised:hub_2:5"}) {
			t.Fatalf("opened at t0+5m: %q", got)
		}
		h := drafts(t, db)["hub-unrealised:hub_2:5"]
		if h.Source != SourceHubUnrealised || h.Category != "degradation" || h.Severity != "major" || !slices.Equal(h.Scope.Hubs, []string{"hub_2"}) ||
			len(h.Scope.Nodes) != 0 || !strings.Contains(h.BodyEN, "version 5") || !strings.Contains(h.BodyJA, "tyo-2") {
			t.Errorf("hub_2's draft: %+v", h)
		}

		// tyo-1 reports, then falls silent again: a new episode.
		report(t, db, "node_1", t0.Add(6*time.Minute), 0, 0)
		if got := run(t, s, t0.Add(6*time.Minute)); len(got) != 0 {
			t.Fatalf("opened while tyo-1 reports: %q", got)
		}
		if ok, err := s.openAutoDraft(audit.WithActor(context.Background(), audit.System), t0.Add(20*time.Minute), silent1); err != nil || ok {
			t.Errorf("the old episode's draft opened again: %v %v", ok, err)
		}
		// hub_2 is realised, then fails at version 6 for a minute only.
		report(t, db, "node_2", t0.Add(7*time.Minute), 5, 5)
		run(t, s, t0.Add(7*time.Minute))
		report(t, db, "node_2", t0.Add(8*time.Minute), 6, 5)
		run(t, s, t0.Add(8*time.Minute))
		report(t, db, "node_2", t0.Add(9*time.Minute), 6, 6)
		execSQL(t, db, `INSERT INTO node_status (node_id, reported_at, applied_generation, agent_version, report) VALUES ('node_4', ?, 'g', 'v', '{}')`,
			clock.Store(t0.Add(9*time.Minute)))
		want = []string{"node-silent:node_1:" + clock.Store(t0.Add(6*time.Minute))}
		if got := run(t, s, t0.Add(12*time.Minute)); !slices.Equal(got, want) {
			t.Fatalf("opened at t0+12m: %q, want %q", got, want)
		}
		if n := len(drafts(t, db)); n != 4 {
			t.Errorf("%d drafts, want 4", n)
		}
		var watched, mails, deliveries int
		if err := store.Scan(db.QueryRow(context.Background(), `SELECT (SELECT COUNT(*) FROM notice_watch), (SELECT COUNT(*) FROM mail_outbox),
			(SELECT COUNT(*) FROM notice_deliveries)`), &watched, &mails, &deliveries); err != nil {
			t.Fatal(err)
		}
		if watched != 0 || mails != 0 || deliveries != 0 {
			t.Errorf("watched %d (want 0: no condition lasts), mails %d, deliveries %d (want none before publishing)", watched, mails, deliveries)
		}
	})
}

// TestAutoDraftsTwoControllers: two controllers on one PostgreSQL, each
// running notice.watch through its scheduler and calling Do directly at
// the same time, open one draft per episode.
func TestAutoDraftsTwoControllers(t *testing.T) {
	db1, db2 := storetest.Controllers(t) // two controllers, one database, one secret key
	seedWatch(t, db1)
	cfg := Config{NodeSilentAfter: 5 * time.Minute}
	svcs := []*Service{New(db1, audit.New(db1), cfg), New(db2, audit.New(db2), cfg)}
	var clockMu sync.Mutex
	now := t0
	getNow := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	var schedulers []*schedule.Scheduler
	for i, s := range svcs {
		sch, err := schedule.New(s.db, s.audit, fmt.Sprintf("ctl-%d", i+1), s.WatchJob())
		if err != nil {
			t.Fatal(err)
		}
		sch.Now = getNow
		schedulers = append(schedulers, sch)
	}
	keys := []string{"node-silent:node_1:" + clock.Store(t0.Add(-10*time.Minute)), "node-silent:node_4:never", "hub-unrealised:hub_2:5"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	fail := func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }
	for round := range 3 {
		if round == 1 {
			// hub_2 has been unrealised for longer than NodeSilentAfter.
			clockMu.Lock()
			now = t0.Add(6 * time.Minute)
			clockMu.Unlock()
			report(t, db1, "node_2", now, 5, 4)
		}
		for i, sch := range schedulers {
			wg.Add(2)
			go func() {
				defer wg.Done()
				if _, err := sch.RunDue(context.Background()); err != nil {
					fail(err)
				}
			}()
			go func() {
				defer wg.Done()
				ctx := audit.WithActor(context.Background(), audit.System)
				for k := range keys {
					if _, err := svcs[i].openAutoDraft(ctx, getNow(), keys[(k+i)%len(keys)]); err != nil {
						fail(err)
					}
				}
			}()
		}
		wg.Wait()
	}
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	got := drafts(t, db1)
	if len(got) != len(keys) {
		t.Errorf("%d drafts, want %d: %v", len(got), len(keys), got)
	}
	for _, k := range keys {
		if _, ok := got[k]; !ok {
			t.Errorf("no draft for %s", k)
		}
	}
	var n int
	if err := store.Scan(db1.QueryRow(context.Background(), `SELECT COUNT(*) FROM notices`), &n); err != nil || n != len(keys) {
		t.Errorf("%d notices, %v; want %d", n, err, len(keys))
	}
}
