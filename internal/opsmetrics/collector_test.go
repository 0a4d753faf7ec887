package opsmetrics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// t0 is the tests' "now": 2026-12-01 12:00 JST.
var t0 = time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)

func at(d time.Duration) string { return clock.Store(t0.Add(d)) }

func execSQL(t *testing.T, db *store.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// hubBody is a stored hub observation with one customer port session in
// portState and one backbone session in backboneState.
func hubBody(hub, cust, portState, backboneState string) string {
	return fmt.Sprintf(`{"hub_id":%q,"customer_id":%q,"wanted_version":5,"config_version":5,"problems":[],
		"ports":[{"port_code":"SHC0000001","bgp_sessions":[{"name":"single","state":%q,"info":"","since":"2026-12-01T02:00:00Z",
		"imported_prefixes":0,"filtered_prefixes":0,"exported_prefixes":0,"refused":[]}],"links":[],"firewall_rules":[]}],
		"backbone":[{"name":"sub","state":%q,"info":"","since":"2026-12-01T02:00:00Z","imported_prefixes":0,"filtered_prefixes":0,
		"exported_prefixes":0,"refused":[]}],"holds":[],"events":[]}`, hub, cust, portState, backboneState)
}

// plant makes region tyo with
//
//	tyo-1: hub_1 (customer cus_1), reported 30 s ago, at the current
//	       generation g1; port SHC0000001 held by the route limit; its
//	       port session up, its backbone session start; monitors up, down, stopped
//	tyo-2: hub_2 (cus_2), silent (reported 10 minutes ago) at generation
//	       old while g2 is current; says hub_2 runs version 4 of 5
//	tyo-3: retired (exports nothing)
//	tyo-4: created, never enrolled
//
// and the controller's records: job backup.run whose last run failed,
// job notice.watch whose run failed but ran well (quietly) since, job
// bandwidth.apply that ran well; two mails pending (the oldest 2 minutes
// old), one sent; webhook deliveries, one pending for 90 s, one delivered.
func plant(t *testing.T, db *store.DB) {
	execSQL(t, db, `INSERT INTO regions (id, code, name_en, name_ja, data_location, created_at) VALUES ('reg_1', 'tyo', 'Tokyo', '東京', 'JP', ?)`, at(-time.Hour))
	for i := 1; i <= 4; i++ {
		node := fmt.Sprintf("node_%d", i)
		execSQL(t, db, `INSERT INTO hub_nodes (id, region_id, name, created_at) VALUES (?, 'reg_1', ?, ?)`, node, fmt.Sprintf("tyo-%d", i), at(-2*time.Hour))
		if i == 4 {
			continue
		}
		execSQL(t, db, `INSERT INTO node_certs (serial, node_id, issued_at, not_after) VALUES (?, ?, ?, ?)`, fmt.Sprintf("s%d", i), node, at(-time.Hour), at(24*time.Hour))
		c, hub, code, port := fmt.Sprintf("cus_%d", i), fmt.Sprintf("hub_%d", i), fmt.Sprintf("SHB%08d", i), fmt.Sprintf("SHC%07d", i)
		execSQL(t, db, `INSERT INTO customers (id, name, status, created_at) VALUES (?, ?, 'active', ?)`, c, "Customer "+c, at(-time.Hour))
		execSQL(t, db, `INSERT INTO issued_codes (code, kind, issued_at) VALUES (?, 'shb', ?)`, code, at(-time.Hour))
		execSQL(t, db, `INSERT INTO issued_codes (code, kind, issued_at) VALUES (?, 'shc', ?)`, port, at(-time.Hour))
		execSQL(t, db, `INSERT INTO contracts (id, customer_id, service_code, plan, status, start_date, created_at) VALUES (?, ?, ?, 'hub', 'active', '2026-01-01', ?)`,
			"con_"+c, c, code, at(-time.Hour))
		execSQL(t, db, `INSERT INTO hubs (id, customer_id, contract_id, region_id, priority, created_at) VALUES (?, ?, ?, 'reg_1', 'main', ?)`, hub, c, "con_"+c, at(-time.Hour))
		execSQL(t, db, `INSERT INTO hub_placements (hub_id, customer_id, node_id, created_at) VALUES (?, ?, ?, ?)`, hub, c, node, at(-time.Hour))
		execSQL(t, db, `INSERT INTO ports (id, customer_id, contract_id, hub_id, port_code, kind, speed_mbps, redundant, status, created_at)
			VALUES (?, ?, ?, ?, ?, 'onprem', 1000, false, 'active', ?)`, fmt.Sprintf("prt_%d", i), c, "con_"+c, hub, port, at(-time.Hour))
	}
	execSQL(t, db, `UPDATE hub_nodes SET state = 'retired' WHERE id = 'node_3'`)
	for node, st := range map[string]struct {
		ago time.Duration
		gen string
	}{"node_1": {30 * time.Second, "g1"}, "node_2": {10 * time.Minute, "old"}, "node_3": {time.Hour, "g3"}} {
		execSQL(t, db, `INSERT INTO node_status (node_id, reported_at, applied_generation, agent_version, report) VALUES (?, ?, ?, 'v', '{}')`,
			node, at(-st.ago), st.gen)
	}
	execSQL(t, db, `INSERT INTO hub_observations (hub_id, node_id, customer_id, reported_at, wanted_version, config_version, error, problems, body)
		VALUES ('hub_1', 'node_1', 'cus_1', ?, 5, 5, '', 0, ?)`, at(-30*time.Second), hubBody("hub_1", "cus_1", "up", "start"))
	execSQL(t, db, `INSERT INTO hub_observations (hub_id, node_id, customer_id, reported_at, wanted_version, config_version, error, problems, body)
		VALUES ('hub_2', 'node_2', 'cus_2', ?, 5, 4, 'bird refused the configuration', 0, ?)`, at(-10*time.Minute), hubBody("hub_2", "cus_2", "down", "up"))
	execSQL(t, db, `INSERT INTO port_holds (port_id, customer_id, kind, session, reason, detail, since, prefixes, route_limit, seq, node, recorded_at)
		VALUES ('prt_1', 'cus_1', 'route_limit', 'single', 'limit', '', ?, 2001, 2000, 0, 'tyo-1', ?)`, at(-time.Hour), at(-time.Hour))
	for i, state := range []string{"up", "down", "stopped"} {
		execSQL(t, db, `INSERT INTO monitors (id, customer_id, port_id, hub_id, name, target, probe, tcp_port, interval_seconds, fail_after,
				state, state_since, fails, probed, last_error, stop_reason, created_at, created_by, updated_at)
			VALUES (?, 'cus_1', 'prt_1', 'hub_1', ?, '192.0.2.1', 'icmp', 0, 60, 3, ?, ?, 0, 0, '', '', ?, 'acc_1', ?)`,
			fmt.Sprintf("mon_%d", i), "m"+state, state, at(-time.Hour), at(-time.Hour), at(-time.Hour))
	}

	job := func(name string, next time.Duration, runs ...string) {
		execSQL(t, db, `INSERT INTO job_leases (job, next_run_at) VALUES (?, ?)`, name, at(next))
		for i, outcome := range runs {
			started := -time.Duration(len(runs)-i) * 10 * time.Minute
			execSQL(t, db, `INSERT INTO job_runs (id, job, controller, started_at, finished_at, outcome) VALUES (?, ?, 'c', ?, ?, ?)`,
				fmt.Sprintf("run_%s_%d", name, i), name, at(started), at(started+time.Second), outcome)
		}
	}
	// backup.run's failure (started 10 minutes ago) set it due 5 minutes
	// later; it has not run since.
	job("backup.run", -5*time.Minute, "ok", "failed")
	// notice.watch failed 10 minutes ago, ran well since: due in a minute.
	job("notice.watch", time.Minute, "failed")
	job("bandwidth.apply", 21*time.Hour, "ok")

	mail := func(id, status string, age time.Duration) {
		execSQL(t, db, `INSERT INTO mail_outbox (id, cause, recipient, language, subject, body, status, attempts, next_attempt_at, last_error, created_at)
			VALUES (?, 'test', 'ops@example.com', 'en', 's', '', ?, 0, ?, '', ?)`, id, status, at(-age), at(-age))
	}
	mail("mail_1", "pending", 2*time.Minute)
	mail("mail_2", "pending", time.Minute)
	mail("mail_3", "sent", time.Hour)

	hook := func(id, status string, age time.Duration) {
		execSQL(t, db, `INSERT INTO webhook_deliveries (id, webhook_id, customer_id, event_id, event_type, subject, event_time, data, status,
				next_attempt_at, created_at) VALUES (?, 'whk_1', 'cus_1', ?, 'monitor.down', 'mon_1', ?, '{}', ?, ?, ?)`,
			id, "evt_"+id, at(-age), status, at(-age), at(-age))
	}
	hook("dlv_1", "pending", 90*time.Second)
	hook("dlv_2", "delivered", time.Hour)
}

// generations is the desired state's current generation per node.
func generations(gens map[string]string) func(context.Context, string) ([]byte, string, error) {
	return func(_ context.Context, node string) ([]byte, string, error) {
		g, ok := gens[node]
		if !ok {
			return nil, "", errors.New("no such node")
		}
		return []byte("{}"), g, nil
	}
}

const wantExposition = `
# HELP tsunagi_job_last_run_failed 1 when the job's last run failed, else 0.
# TYPE tsunagi_job_last_run_failed gauge
tsunagi_job_last_run_failed{job="backup.run"} 1
tsunagi_job_last_run_failed{job="bandwidth.apply"} 0
tsunagi_job_last_run_failed{job="notice.watch"} 0
# HELP tsunagi_job_last_success_timestamp_seconds End of the job's last recorded successful run (Unix time); a watcher's runs that found nothing leave no record.
# TYPE tsunagi_job_last_success_timestamp_seconds gauge
tsunagi_job_last_success_timestamp_seconds{job="backup.run"} 1.796092801e+09
tsunagi_job_last_success_timestamp_seconds{job="bandwidth.apply"} 1.796093401e+09
# HELP tsunagi_mail_outbox_messages Mails in the outbox by status.
# TYPE tsunagi_mail_outbox_messages gauge
tsunagi_mail_outbox_messages{status="failed"} 0
tsunagi_mail_outbox_messages{status="pending"} 2
tsunagi_mail_outbox_messages{status="sending"} 0
tsunagi_mail_outbox_messages{status="sent"} 1
# HELP tsunagi_mail_outbox_oldest_pending_age_seconds Age of the oldest mail not yet delivered (pending or sending); 0 when none.
# TYPE tsunagi_mail_outbox_oldest_pending_age_seconds gauge
tsunagi_mail_outbox_oldest_pending_age_seconds 120
# HELP tsunagi_metrics_read_failures_total Parts of the operator metrics that could not be read from the database (the scrape exports the others).
# TYPE tsunagi_metrics_read_failures_total counter
tsunagi_metrics_read_failures_total{part="bgp_sessions"} 0
tsunagi_metrics_read_failures_total{part="generation"} 0
tsunagi_metrics_read_failures_total{part="hubs"} 0
tsunagi_metrics_read_failures_total{part="jobs"} 0
tsunagi_metrics_read_failures_total{part="mail"} 0
tsunagi_metrics_read_failures_total{part="monitors"} 0
tsunagi_metrics_read_failures_total{part="nodes"} 0
tsunagi_metrics_read_failures_total{part="port_holds"} 0
tsunagi_metrics_read_failures_total{part="webhooks"} 0
# HELP tsunagi_node_bgp_sessions BGP sessions in the node's last report by BIRD protocol state; peer is port (a customer's peer) or backbone.
# TYPE tsunagi_node_bgp_sessions gauge
tsunagi_node_bgp_sessions{node="tyo-1",peer="backbone",state="down"} 0
tsunagi_node_bgp_sessions{node="tyo-1",peer="backbone",state="start"} 1
tsunagi_node_bgp_sessions{node="tyo-1",peer="backbone",state="up"} 0
tsunagi_node_bgp_sessions{node="tyo-1",peer="port",state="down"} 0
tsunagi_node_bgp_sessions{node="tyo-1",peer="port",state="start"} 0
tsunagi_node_bgp_sessions{node="tyo-1",peer="port",state="up"} 1
tsunagi_node_bgp_sessions{node="tyo-2",peer="backbone",state="down"} 0
tsunagi_node_bgp_sessions{node="tyo-2",peer="backbone",state="start"} 0
tsunagi_node_bgp_sessions{node="tyo-2",peer="backbone",state="up"} 1
tsunagi_node_bgp_sessions{node="tyo-2",peer="port",state="down"} 1
tsunagi_node_bgp_sessions{node="tyo-2",peer="port",state="start"} 0
tsunagi_node_bgp_sessions{node="tyo-2",peer="port",state="up"} 0
tsunagi_node_bgp_sessions{node="tyo-4",peer="backbone",state="down"} 0
tsunagi_node_bgp_sessions{node="tyo-4",peer="backbone",state="start"} 0
tsunagi_node_bgp_sessions{node="tyo-4",peer="backbone",state="up"} 0
tsunagi_node_bgp_sessions{node="tyo-4",peer="port",state="down"} 0
tsunagi_node_bgp_sessions{node="tyo-4",peer="port",state="start"} 0
tsunagi_node_bgp_sessions{node="tyo-4",peer="port",state="up"} 0
# HELP tsunagi_node_desired_state_reached 1 when the node's last report applied the current desired-state generation, else 0 (absent before enrolment).
# TYPE tsunagi_node_desired_state_reached gauge
tsunagi_node_desired_state_reached{node="tyo-1"} 1
tsunagi_node_desired_state_reached{node="tyo-2"} 0
# HELP tsunagi_node_hubs Customer hubs placed on the node.
# TYPE tsunagi_node_hubs gauge
tsunagi_node_hubs{node="tyo-1"} 1
tsunagi_node_hubs{node="tyo-2"} 1
tsunagi_node_hubs{node="tyo-4"} 0
# HELP tsunagi_node_hubs_unrealised Hubs whose last report from the node runs another version than the one wanted, or names an error.
# TYPE tsunagi_node_hubs_unrealised gauge
tsunagi_node_hubs_unrealised{node="tyo-1"} 0
tsunagi_node_hubs_unrealised{node="tyo-2"} 1
tsunagi_node_hubs_unrealised{node="tyo-4"} 0
# HELP tsunagi_node_info Every hub node not retired (value 1), with its region and state (active, draining).
# TYPE tsunagi_node_info gauge
tsunagi_node_info{node="tyo-1",region="tyo",state="active"} 1
tsunagi_node_info{node="tyo-2",region="tyo",state="active"} 1
tsunagi_node_info{node="tyo-4",region="tyo",state="active"} 1
# HELP tsunagi_node_monitors Reachability monitors of the hubs placed on the node, by state.
# TYPE tsunagi_node_monitors gauge
tsunagi_node_monitors{node="tyo-1",state="down"} 1
tsunagi_node_monitors{node="tyo-1",state="stopped"} 1
tsunagi_node_monitors{node="tyo-1",state="unknown"} 0
tsunagi_node_monitors{node="tyo-1",state="up"} 1
tsunagi_node_monitors{node="tyo-2",state="down"} 0
tsunagi_node_monitors{node="tyo-2",state="stopped"} 0
tsunagi_node_monitors{node="tyo-2",state="unknown"} 0
tsunagi_node_monitors{node="tyo-2",state="up"} 0
tsunagi_node_monitors{node="tyo-4",state="down"} 0
tsunagi_node_monitors{node="tyo-4",state="stopped"} 0
tsunagi_node_monitors{node="tyo-4",state="unknown"} 0
tsunagi_node_monitors{node="tyo-4",state="up"} 0
# HELP tsunagi_node_ports_held Ports the node holds down until the customer re-enables them, by kind.
# TYPE tsunagi_node_ports_held gauge
tsunagi_node_ports_held{kind="l2_guard",node="tyo-1"} 0
tsunagi_node_ports_held{kind="l2_guard",node="tyo-2"} 0
tsunagi_node_ports_held{kind="l2_guard",node="tyo-4"} 0
tsunagi_node_ports_held{kind="route_limit",node="tyo-1"} 1
tsunagi_node_ports_held{kind="route_limit",node="tyo-2"} 0
tsunagi_node_ports_held{kind="route_limit",node="tyo-4"} 0
# HELP tsunagi_node_report_age_seconds Seconds since the node's last accepted report; since its enrolment when it never reported (absent before enrolment).
# TYPE tsunagi_node_report_age_seconds gauge
tsunagi_node_report_age_seconds{node="tyo-1"} 30
tsunagi_node_report_age_seconds{node="tyo-2"} 600
# HELP tsunagi_webhook_deliveries Webhook deliveries by status.
# TYPE tsunagi_webhook_deliveries gauge
tsunagi_webhook_deliveries{status="delivered"} 1
tsunagi_webhook_deliveries{status="failed"} 0
tsunagi_webhook_deliveries{status="pending"} 1
# HELP tsunagi_webhook_oldest_pending_age_seconds Age of the oldest webhook delivery still pending; 0 when none.
# TYPE tsunagi_webhook_oldest_pending_age_seconds gauge
tsunagi_webhook_oldest_pending_age_seconds 90
`

// TestOperatorMetrics: a planted database gives the values an operator
// pages on — the silent node's age and its generation not reached, its
// hub not realised, the held port, the failed job (and not the one that
// ran well quietly since), the pending mail and webhook deliveries — and
// the exposition passes promlint.
func TestOperatorMetrics(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		plant(t, db)
		c := New(db, Config{DesiredState: generations(map[string]string{"tyo-1": "g1", "tyo-2": "g2", "tyo-4": "g4"}),
			Now: func() time.Time { return t0 }})
		names := []string{"tsunagi_job_last_run_failed", "tsunagi_job_last_success_timestamp_seconds", "tsunagi_mail_outbox_messages",
			"tsunagi_mail_outbox_oldest_pending_age_seconds", "tsunagi_metrics_read_failures_total", "tsunagi_node_bgp_sessions",
			"tsunagi_node_desired_state_reached", "tsunagi_node_hubs", "tsunagi_node_hubs_unrealised", "tsunagi_node_info",
			"tsunagi_node_monitors", "tsunagi_node_ports_held", "tsunagi_node_report_age_seconds", "tsunagi_webhook_deliveries",
			"tsunagi_webhook_oldest_pending_age_seconds"}
		if err := testutil.CollectAndCompare(c, strings.NewReader(wantExposition), names...); err != nil {
			t.Fatal(err)
		}
		// The job's next due time is exported for every job; the read
		// duration once.
		if n := testutil.CollectAndCount(c, "tsunagi_job_next_run_timestamp_seconds"); n != 3 {
			t.Errorf("%d next-run series, want 3", n)
		}
		if n := testutil.CollectAndCount(c, "tsunagi_metrics_read_duration_seconds"); n != 1 {
			t.Errorf("%d read-duration series, want 1", n)
		}
		problems, err := testutil.CollectAndLint(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
		// Registered as /metrics registers it: every metric described.
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(c)
		if _, err := reg.Gather(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestOperatorMetricsPartFails: a part that cannot be read (its table
// gone, the desired state of a node — tyo-2 — failing) leaves only its own metrics out and
// counts the failure; the rest is exported and the scrape does not fail.
func TestOperatorMetricsPartFails(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		plant(t, db)
		execSQL(t, db, `ALTER TABLE mail_outbox RENAME TO mail_outbox_gone`)
		c := New(db, Config{DesiredState: generations(map[string]string{"tyo-1": "g1"}), Now: func() time.Time { return t0 }})
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(c)
		if _, err := reg.Gather(); err != nil {
			t.Fatalf("the scrape failed: %v", err)
		}
		const want = `
# HELP tsunagi_metrics_read_failures_total Parts of the operator metrics that could not be read from the database (the scrape exports the others).
# TYPE tsunagi_metrics_read_failures_total counter
tsunagi_metrics_read_failures_total{part="bgp_sessions"} 0
tsunagi_metrics_read_failures_total{part="generation"} 1
tsunagi_metrics_read_failures_total{part="hubs"} 0
tsunagi_metrics_read_failures_total{part="jobs"} 0
tsunagi_metrics_read_failures_total{part="mail"} 1
tsunagi_metrics_read_failures_total{part="monitors"} 0
tsunagi_metrics_read_failures_total{part="nodes"} 0
tsunagi_metrics_read_failures_total{part="port_holds"} 0
tsunagi_metrics_read_failures_total{part="webhooks"} 0
# HELP tsunagi_node_desired_state_reached 1 when the node's last report applied the current desired-state generation, else 0 (absent before enrolment).
# TYPE tsunagi_node_desired_state_reached gauge
tsunagi_node_desired_state_reached{node="tyo-1"} 1
`
		if err := testutil.CollectAndCompare(c, strings.NewReader(want), "tsunagi_metrics_read_failures_total",
			"tsunagi_node_desired_state_reached"); err != nil {
			t.Fatal(err)
		}
		for name, n := range map[string]int{"tsunagi_mail_outbox_messages": 0, "tsunagi_mail_outbox_oldest_pending_age_seconds": 0,
			"tsunagi_webhook_deliveries": 3, "tsunagi_node_report_age_seconds": 2, "tsunagi_job_last_run_failed": 3} {
			if got := testutil.CollectAndCount(c, name); got != n {
				t.Errorf("%s: %d series, want %d", name, got, n)
			}
		}
	})
}

// TestOperatorMetricsCached: scrapes within CacheFor share one reading
// (a change in between is not seen), a scrape after it reads again.
func TestOperatorMetricsCached(t *testing.T) {
	db := storetest.SQLite(t)
	plant(t, db)
	now := t0
	c := New(db, Config{Now: func() time.Time { return now }, CacheFor: 5 * time.Second})
	pending := func() float64 {
		t.Helper()
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(c)
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "tsunagi_mail_outbox_messages" {
				continue
			}
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == "pending" {
					return m.GetGauge().GetValue()
				}
			}
		}
		t.Fatal("no pending mail series")
		return 0
	}
	if got := pending(); got != 2 {
		t.Fatalf("pending mail %v, want 2", got)
	}
	execSQL(t, db, `UPDATE mail_outbox SET status = 'pending' WHERE id = 'mail_3'`)
	now = t0.Add(4 * time.Second)
	if got := pending(); got != 2 {
		t.Fatalf("pending mail %v within the cache period, want the cached 2", got)
	}
	now = t0.Add(5 * time.Second)
	if got := pending(); got != 3 {
		t.Fatalf("pending mail %v after the cache period, want 3", got)
	}
}
