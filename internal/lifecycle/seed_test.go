package lifecycle

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/mail"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// fixture is a customer with a row in every table that can hold one of its
// rows, written directly (every table, not only those a service path
// reaches in a short test), so that the walk over every table has
// something to find.
type fixture struct {
	id       catalog.CustomerID
	name     string
	accounts []string // IDs
	logins   []string
	emails   []string
}

const operatorAccount = "acc_operator"

// seedPlatform writes the operator's rows the customers' rows refer to.
func seedPlatform(t *testing.T, db *store.DB) {
	t.Helper()
	now := clock.Store(clock.Now())
	execSQL(t, db,
		`INSERT INTO regions (id, code, name_en, name_ja, data_location, created_at) VALUES ('reg_1', 'tyo', 'Tokyo', '東京', 'JP', ?)`, now)
	execSQL(t, db, `INSERT INTO hub_nodes (id, region_id, name, created_at) VALUES ('node_1', 'reg_1', 'tyo-1', ?)`, now)
	execSQL(t, db, `INSERT INTO physical_ports (id, node_id, name, speed_mbps, kind, oversubscription, created_at)
		VALUES ('pp_1', 'node_1', 'eth1', 10000, 'ethernet', 1, ?)`, now)
	execSQL(t, db, `INSERT INTO nat_pools (id, region_id, prefix, purpose, created_at) VALUES ('pool_1', 'reg_1', '198.51.100.0/24', 'static', ?)`, now)
	execSQL(t, db, `INSERT INTO accounts (id, customer_id, login_id, display_name, email, role, password_hash, created_at)
		VALUES (?, NULL, 'operator', 'Operator', 'operator@example.net', 'operator', 'x', ?)`, operatorAccount, now)
}

func execSQL(t *testing.T, db *store.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// seedCustomer writes customer tag, terminated on terminatedOn, with two
// operations administrators (one English) and a user.
func seedCustomer(t *testing.T, db *store.DB, tag string, n int, terminatedOn string) fixture {
	t.Helper()
	ctx := audit.WithActor(context.Background(), audit.System)
	now := clock.Store(clock.Now())
	f := fixture{id: catalog.CustomerID("cust_" + tag), name: "株式会社" + tag + " & Co."}
	c := string(f.id)
	execSQL(t, db, `INSERT INTO customers (id, name, status, created_at, terminated_on, purge_due_on) VALUES (?, ?, 'terminated', ?, ?, ?)`,
		c, f.name, now, terminatedOn, catalog.PurgeDueOn(terminatedOn))
	svc, port := fmt.Sprintf("SHC%07d", n), fmt.Sprintf("SHB%07d", n)
	execSQL(t, db, `INSERT INTO issued_codes (code, kind, issued_at) VALUES (?, 'shc', ?), (?, 'shb', ?)`, svc, now, port, now)
	execSQL(t, db, `INSERT INTO contracts (id, customer_id, service_code, plan, status, start_date, termination_date, cancelled_at, cancel_reason, created_at)
		VALUES (?, ?, ?, 'hub', 'cancelled', '2026-01-01', ?, ?, 'moving', ?)`, "con_"+tag, c, svc, terminatedOn, now, now)
	execSQL(t, db, `INSERT INTO contract_options (id, customer_id, contract_id, name, quantity, created_at) VALUES (?, ?, ?, 'static_nat', 1, ?)`,
		"opt_"+tag, c, "con_"+tag, now)
	hub, pid := "hub_"+tag, "port_"+tag
	execSQL(t, db, `INSERT INTO hubs (id, customer_id, contract_id, region_id, priority, created_at) VALUES (?, ?, ?, 'reg_1', 'main', ?)`,
		hub, c, "con_"+tag, now)
	execSQL(t, db, `INSERT INTO ports (id, customer_id, contract_id, hub_id, port_code, kind, speed_mbps, redundant, status, created_at)
		VALUES (?, ?, ?, ?, ?, 'private', 1000, FALSE, 'cancelled', ?)`, pid, c, "con_"+tag, hub, port, now)
	for i, a := range []struct{ role, lang string }{{"ops-admin", "ja"}, {"ops-admin", "en"}, {"user", "ja"}} {
		id, login := fmt.Sprintf("acc_%s_%d", tag, i), fmt.Sprintf("%s-login-%d", tag, i)
		email := fmt.Sprintf("%s.person%d@example.com", tag, i)
		f.accounts, f.logins, f.emails = append(f.accounts, id), append(f.logins, login), append(f.emails, email)
		execSQL(t, db, `INSERT INTO accounts (id, customer_id, login_id, display_name, email, role, password_hash, password_changed_at, created_at, language, invited_by)
			VALUES (?, ?, ?, ?, ?, ?, 'hash', ?, ?, ?, ?)`, id, c, login, "Person "+tag, email, a.role, now, now, a.lang, operatorAccount)
		execSQL(t, db, `INSERT INTO sessions (id_hash, account_id, created_at, last_seen_at, expires_at, source_ip, user_agent, role, id, auth_at)
			VALUES (?, ?, ?, ?, ?, '192.0.2.1', 'test', ?, ?, ?)`, "sh_"+id, id, now, now, now, a.role, "ses_"+id, now)
		execSQL(t, db, `INSERT INTO api_tokens (id, account_id, name, token_hash, created_at, expires_at, role) VALUES (?, ?, 'ci', ?, ?, ?, ?)`,
			"tok_"+id, id, "th_"+id, now, now, a.role)
		execSQL(t, db, `INSERT INTO totp_secrets (account_id, secret, confirmed_at, last_step) VALUES (?, 'seed', ?, 0)`, id, now)
		execSQL(t, db, `INSERT INTO recovery_codes (account_id, code_hash) VALUES (?, ?)`, id, "rc_"+id)
		execSQL(t, db, `INSERT INTO webauthn_credentials (id, account_id, name, credential, created_at) VALUES (?, ?, 'key', '{}', ?)`, "wa_"+id, id, now)
		execSQL(t, db, `INSERT INTO webauthn_challenges (session_id, purpose, data, expires_at) VALUES (?, 'login', '{}', ?)`, "ses_"+id, now)
		execSQL(t, db, `INSERT INTO setup_tokens (token_hash, purpose, account_id, created_at, expires_at) VALUES (?, 'invite', ?, ?, ?)`,
			"st_"+id, id, now, now)
		execSQL(t, db, `INSERT INTO login_failures (login_key, source_ip, at, side) VALUES (?, '192.0.2.1', ?, 'customer'), (?, '192.0.2.1', ?, 'management')`,
			login, now, "mgmt:"+login, now)
		execSQL(t, db, `INSERT INTO login_locks (login_key, locked_until, reset_at) VALUES (?, ?, '')`, login, now)
	}
	execSQL(t, db, `INSERT INTO customer_security (customer_id, allow_list, require_mfa, require_device, updated_at) VALUES (?, '', TRUE, FALSE, ?)`, c, now)
	execSQL(t, db, `INSERT INTO break_glass_grants (id, account_id, customer_id, reason, created_at, expires_at) VALUES (?, ?, ?, 'incident', ?, ?)`,
		"bg_"+tag, operatorAccount, c, now, now)
	execSQL(t, db, `INSERT INTO device_certificates (id, customer_id, name, fingerprint, subject, not_after, created_at) VALUES (?, ?, 'laptop', ?, 'CN=x', ?, ?)`,
		"dev_"+tag, c, "fp_"+tag, now, now)
	execSQL(t, db, `INSERT INTO account_recoveries (id, customer_id, status, reason, login_id, display_name, email, language, requested_by,
		requested_by_login, requested_at, expires_at, account_id) VALUES (?, ?, 'approved', 'locked out', ?, 'Person', ?, 'ja', ?, 'operator', ?, ?, ?)`,
		"rec_"+tag, c, f.logins[0], f.emails[0], operatorAccount, now, now, f.accounts[0])
	// Notices: the operator's notice (kept: its scope names the customer),
	// whom it reached, the mails it caused, and the customer's contacts,
	// feed token and report with a message and an attachment.
	execSQL(t, db, `INSERT INTO notices (id, kind, category, status, title_ja, title_en, body_ja, body_en, scope, created_by, created_at, updated_at, revision)
		VALUES (?, 'announcement', 'maintenance', 'published', 't', 't', 'b', 'b', ?, ?, ?, ?, 2)`,
		"ntc_"+tag, `{"customers":["`+c+`"]}`, operatorAccount, now, now)
	execSQL(t, db, `INSERT INTO notice_updates (notice_id, seq, kind, status, title_ja, title_en, body_ja, body_en, at, by_account)
		VALUES (?, 2, 'publish', 'published', 't', 't', 'b', 'b', ?, ?)`, "ntc_"+tag, now, operatorAccount)
	execSQL(t, db, `INSERT INTO notice_customers (notice_id, customer_id, since_seq, reasons) VALUES (?, ?, 2, '[]')`, "ntc_"+tag, c)
	execSQL(t, db, `INSERT INTO notice_deliveries (id, notice_id, seq, customer_id, recipient, language, mail_id, created_at)
		VALUES (?, ?, 2, ?, ?, 'ja', 'mail_x', ?)`, "nd_"+tag, "ntc_"+tag, c, f.emails[0], now)
	execSQL(t, db, `INSERT INTO notice_contacts (id, customer_id, email, name, language, created_at, created_by) VALUES (?, ?, ?, 'NOC', 'en', ?, ?)`,
		"nc_"+tag, c, "noc-"+f.emails[0], now, f.accounts[0])
	execSQL(t, db, `INSERT INTO notice_feed_tokens (id, customer_id, token_hash, label, created_at, created_by) VALUES (?, ?, ?, 'rss', ?, ?)`,
		"nft_"+tag, c, "h_"+tag, now, f.accounts[0])
	execSQL(t, db, `INSERT INTO webhooks (id, customer_id, url, events, secret, created_at, created_by) VALUES (?, ?, 'https://a.example/', 't', 's', ?, ?)`,
		"wh_"+tag, c, now, f.accounts[0])
	execSQL(t, db, `INSERT INTO webhook_deliveries (id, webhook_id, customer_id, event_id, event_type, subject, event_time, data, status,
		next_attempt_at, created_at) VALUES (?, ?, ?, 'evt_1', 't', 's', ?, '{}', 'pending', ?, ?)`, "whd_"+tag, "wh_"+tag, c, now, now, now)
	execSQL(t, db, `INSERT INTO webhook_hub_versions (hub_id, customer_id, version) VALUES (?, ?, 3)`, hub, c)
	execSQL(t, db, `INSERT INTO reports (id, number, customer_id, category, subject, status, created_by, created_at, updated_at)
		VALUES (?, ?, ?, 'outage', 's', 'open', ?, ?, ?)`, "rep_"+tag, n, c, f.accounts[0], now, now)
	execSQL(t, db, `INSERT INTO report_messages (report_id, seq, customer_id, author_side, author_id, author_name, body, created_at)
		VALUES (?, 1, ?, 'customer', ?, ?, 'b', ?)`, "rep_"+tag, c, f.accounts[0], f.logins[0], now)
	execSQL(t, db, `INSERT INTO report_attachments (id, report_id, seq, customer_id, filename, content_type, size, sha256, content, created_at)
		VALUES (?, ?, 1, ?, 'a.txt', 'text/plain', 1, 'x', 'x', ?)`, "ra_"+tag, "rep_"+tag, c, now)
	execSQL(t, db, `INSERT INTO net_versions (customer_id, version, base_version, config, review, applied_at, applied_by) VALUES (?, 1, 0, '{}', '{}', ?, ?)`,
		c, now, f.logins[0])
	execSQL(t, db, `INSERT INTO net_drafts (customer_id, base_version, config, updated_at, updated_by) VALUES (?, 1, '{}', ?, ?)`, c, now, f.logins[0])
	execSQL(t, db, `INSERT INTO net_locks (customer_id, account_id, holder, since, last_active) VALUES (?, ?, ?, ?, ?)`, c, f.accounts[0], f.logins[0], now, now)
	execSQL(t, db, `INSERT INTO hub_placements (hub_id, customer_id, node_id, created_at) VALUES (?, ?, 'node_1', ?)`, hub, c, now)
	execSQL(t, db, `INSERT INTO port_placements (id, customer_id, port_id, leg, physical_port_id, proposed, reason, created_at)
		VALUES (?, ?, ?, 'primary', 'pp_1', FALSE, '', ?)`, "pl_"+tag, c, pid, now)
	execSQL(t, db, `INSERT INTO bandwidth_changes (id, customer_id, port_id, from_mbps, to_mbps, effective_date, status, requested_at, requested_by)
		VALUES (?, ?, ?, 1000, 2000, '2026-02-01', 'pending', ?, 'operator')`, "bw_"+tag, c, pid, now)
	// Usage records (internal/usage): a link's last counters and a bin.
	execSQL(t, db, `INSERT INTO usage_counters (customer_id, port_id, node, connection, leg, ifindex, observed_at, rx_bytes, rx_packets, rx_drops,
		tx_bytes, tx_packets, tx_drops) VALUES (?, ?, 'node-1', 'single', '', 7, ?, 1, 1, 0, 1, 1, 0)`, c, pid, now)
	execSQL(t, db, `INSERT INTO usage_bins (customer_id, port_id, leg, bin_start, in_bytes, in_packets, in_drops, out_bytes, out_packets, out_drops,
		peak_in_bps, peak_out_bps) VALUES (?, ?, '', ?, 1, 1, 0, 1, 1, 0, 8, 8)`, c, pid, now)
	execSQL(t, db, `INSERT INTO nat_allocations (id, pool_id, customer_id, purpose, prefix, created_at) VALUES (?, 'pool_1', ?, 'static', ?, ?)`,
		"nat_"+tag, c, fmt.Sprintf("198.51.100.%d/32", n), now)
	execSQL(t, db, `INSERT INTO backbone_vnis (customer_id, vni) VALUES (?, ?)`, c, 1000+n)
	execSQL(t, db, `INSERT INTO hub_observations (hub_id, node_id, customer_id, reported_at, wanted_version, config_version, error, problems, body)
		VALUES (?, 'node_1', ?, ?, 1, 1, '', 0, '{}')`, hub, c, now)
	execSQL(t, db, `INSERT INTO monitors (id, customer_id, port_id, hub_id, name, target, probe, tcp_port, interval_seconds, fail_after,
		state, state_since, fails, probed, last_error, stop_reason, created_at, created_by, updated_at)
		VALUES (?, ?, ?, ?, 'web', '192.0.2.10', 'icmp', 0, 60, 3, 'up', ?, 0, 2, '', '', ?, ?, ?)`, "mon_"+tag, c, pid, hub, now, now, f.accounts[0], now)
	execSQL(t, db, `INSERT INTO monitor_events (id, monitor_id, customer_id, from_state, to_state, at, reason, mailed)
		VALUES (?, ?, ?, 'unknown', 'up', ?, 'answered', TRUE)`, "mev_"+tag, "mon_"+tag, c, now)
	execSQL(t, db, `INSERT INTO monitor_bins (monitor_id, customer_id, bin_start, sent, answered, rtt_min_us, rtt_sum_us, rtt_max_us)
		VALUES (?, ?, ?, 2, 2, 100, 300, 200)`, "mon_"+tag, c, now)
	execSQL(t, db, `INSERT INTO port_holds (port_id, customer_id, kind, session, reason, detail, since, seq, node, recorded_at)
		VALUES (?, ?, 'route_limit', '', 'limit', '', ?, 0, 'tyo-1', ?)`, pid, c, now, now)
	execSQL(t, db, `INSERT INTO flow_records (customer_id, id, hub_id, node_id, start_at, end_at, protocol, orig_src, orig_dst, orig_sport, orig_dport,
		reply_src, reply_dst, reply_sport, reply_dport, translated, orig_bytes, orig_packets, reply_bytes, reply_packets)
		VALUES (?, ?, ?, 'node_1', ?, ?, 6, '10.0.0.1', '192.0.2.1', 1, 2, '192.0.2.1', '10.0.0.1', 2, 1, 'none', 0, 0, 0, 0)`, c, "flw_"+tag, hub, now, now)
	execSQL(t, db, `INSERT INTO flow_hours (customer_id, hour) VALUES (?, ?)`, c, now)
	execSQL(t, db, `INSERT INTO port_reenables (port_id, customer_id, seq, updated_at) VALUES (?, ?, 1, ?)`, pid, c, now)
	execSQL(t, db, `INSERT INTO lg_queries (id, customer_id, hub_id, node, port_code, session, created_at, answered_at, answer)
		VALUES (?, ?, ?, 'tyo-1', 'shc00000000', 'single', ?, ?, '{}')`, "lgq_"+tag, c, hub, now, now)
	execSQL(t, db, `INSERT INTO route_quota (port_id, customer_id, session, warned_at, imported, route_limit) VALUES (?, ?, 'single', ?, 1800, 2000)`,
		pid, c, now)
	execSQL(t, db, `INSERT INTO port_ends (id, customer_id, port_id, end_date, reason, requested_at, requested_by, done_at)
		VALUES (?, ?, ?, ?, 'contract', ?, 'operator', ?)`, "pe_"+tag, c, pid, terminatedOn, now, now)
	err := db.InTx(ctx, func(tx *store.Tx) error {
		for i, e := range f.emails {
			if _, err := mail.Enqueue(ctx, tx, mail.Message{CustomerID: c, Cause: "account.invite", To: e, Subject: "invite", Body: "link " + f.logins[i]}); err != nil {
				return err
			}
		}
		return audit.New(db).RecordTx(audit.WithActor(ctx, audit.Actor{ID: f.accounts[0], Kind: "customer", Name: f.logins[0]}), tx,
			audit.Event{Action: "network.apply", Target: "customer:" + c, CustomerID: c})
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// newPurger returns a purger on db whose clock reads the JST day day at
// 03:00.
func newPurger(t *testing.T, db *store.DB, after int, day string) (*Purger, *clockAt) {
	t.Helper()
	p, err := New(db, audit.New(db), signing.New(db, audit.New(db)), after)
	if err != nil {
		t.Fatal(err)
	}
	c := &clockAt{}
	c.set(t, day)
	p.Now = c.now
	return p, c
}

// clockAt is a fake clock set to 03:00 JST of a day.
type clockAt struct{ t time.Time }

func (c *clockAt) now() time.Time { return c.t }

func (c *clockAt) set(t *testing.T, day string) {
	t.Helper()
	d, err := clock.ParseDate(day)
	if err != nil {
		t.Fatal(err)
	}
	c.t = d.Add(3 * time.Hour).UTC()
}

// addDays is the JST date days after date.
func addDays(t *testing.T, date string, days int) string {
	t.Helper()
	d, err := clock.ParseDate(date)
	if err != nil {
		t.Fatal(err)
	}
	return d.AddDate(0, 0, days).Format(clock.DateLayout)
}
