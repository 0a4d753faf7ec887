package evidence_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/evidence"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// retainEnv is one controller's evidence service over db, its audit log
// and its keyring, with the first signing key made (as serve does).
type retainEnv struct {
	db   *store.DB
	log  *audit.Log
	keys *signing.Keyring
	svc  *evidence.Service
	ctx  context.Context
}

func newRetainEnv(t testing.TB, db *store.DB) *retainEnv {
	t.Helper()
	e := &retainEnv{db: db, log: audit.New(db), ctx: audit.WithActor(context.Background(), audit.System)}
	e.keys = signing.New(db, e.log)
	if err := e.keys.Ensure(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.svc = evidence.New(db, e.log, e.keys)
	return e
}

// record appends n events of cust's chain ("" for the platform's), one
// transaction each.
func (e *retainEnv) record(t testing.TB, cust string, n int) {
	t.Helper()
	for i := range n {
		err := e.db.InTx(e.ctx, func(tx *store.Tx) error {
			return e.log.RecordTx(e.ctx, tx, audit.Event{Action: "port.update", Target: "port:p" + string(rune('a'+i%26)),
				CustomerID: cust, Detail: map[string]any{"count": i}})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// expire runs records.expire once at now, as the scheduler would, and
// returns the items it acted on.
func (e *retainEnv) expire(t testing.TB, r evidence.Retention, now time.Time) []string {
	t.Helper()
	job := e.svc.ExpireJob(r)
	due, err := job.Due(e.ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	var did []string
	for _, it := range due {
		ok, err := job.Do(e.ctx, now, it)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			did = append(did, it)
		}
	}
	return did
}

// signHeads runs audit.sign_heads once.
func (e *retainEnv) signHeads(t testing.TB) {
	t.Helper()
	job := e.svc.SignJob()
	due, err := job.Due(e.ctx, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range due {
		if _, err := job.Do(e.ctx, clock.Now(), c); err != nil {
			t.Fatal(err)
		}
	}
}

// entries are chain's stored entries, in order.
func (e *retainEnv) entries(t testing.TB, chain string) []audit.Entry {
	t.Helper()
	es, err := e.log.ListStored(e.ctx, audit.OfChain(chain).Page(0, 10000))
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func seqs(es []audit.Entry) []int64 {
	var out []int64
	for _, x := range es {
		out = append(out, x.Seq)
	}
	return out
}

// checkpoint reads chain's checkpoint row as stored.
func (e *retainEnv) checkpoint(t testing.TB, chain string) (evidence.Checkpoint, bool) {
	t.Helper()
	c := evidence.Checkpoint{Chain: chain, Signature: signing.Signature{Alg: signing.Alg}}
	var entryAt, madeAt string
	err := store.Scan(e.db.QueryRow(e.ctx, `SELECT seq, hash, entry_at, made_at, key_id, sig FROM audit_checkpoints WHERE chain = ?`,
		chain), &c.Seq, &c.Hash, &entryAt, &madeAt, &c.Signature.KeyID, &c.Signature.Sig)
	if errors.Is(err, store.ErrNotFound) {
		return c, false
	}
	if err != nil {
		t.Fatal(err)
	}
	c.EntryAt, _ = clock.Parse(entryAt)
	c.MadeAt, _ = clock.Parse(madeAt)
	return c, true
}

// checkCheckpoint: chain's checkpoint is at want, with want's hash and
// time, and its signature verifies with the published keys.
func (e *retainEnv) checkCheckpoint(t testing.TB, chain string, want audit.Entry) evidence.Checkpoint {
	t.Helper()
	cp, ok := e.checkpoint(t, chain)
	if !ok {
		t.Fatalf("%s: no checkpoint", chain)
	}
	if cp.Seq != want.Seq || cp.Hash != want.Hash || !cp.EntryAt.Equal(want.At) {
		t.Errorf("%s: checkpoint %d %s %v, want entry %d %s %v", chain, cp.Seq, cp.Hash, cp.EntryAt, want.Seq, want.Hash, want.At)
	}
	keys, err := e.keys.PublicKeys(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := signing.Verify(keys, cp.Message(), cp.Signature); err != nil {
		t.Errorf("%s: checkpoint signature: %v", chain, err)
	}
	return cp
}

// expiries are the records.expire entries of the platform chain, their
// details decoded.
func (e *retainEnv) expiries(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, x := range e.entries(t, audit.Platform) {
		if x.Action == evidence.ExpireAction {
			out = append(out, x.Detail)
		}
	}
	return out
}

// pause makes the next entry's time later than the last one's: times are
// kept to the microsecond.
func pause() { time.Sleep(2 * time.Millisecond) }

// TestExpireAuditChains: with fake time a year on, records.expire removes
// from each chain exactly the entries older than the cut-off, leaves a
// checkpoint at the last one whose signature verifies, keeps the signed
// heads from the checkpoint on, and the chains still verify; a second run
// changes nothing, and entries appended afterwards link to the
// checkpoint, also in a chain cut entirely.
func TestExpireAuditChains(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		e := newRetainEnv(t, db)
		e.record(t, "cus_a", 3)
		e.record(t, "cus_b", 2)
		e.record(t, "", 2)
		e.signHeads(t) // heads of cus_a at 3, cus_b at 2, the platform's
		if err := db.InTx(e.ctx, func(tx *store.Tx) error {
			_, err := e.svc.SignHeadTx(e.ctx, tx, "cus_a", evidence.WhyExport) // a second head at 3
			return err
		}); err != nil {
			t.Fatal(err)
		}
		oldA, oldB, oldP := e.entries(t, "cus_a"), e.entries(t, "cus_b"), e.entries(t, audit.Platform)
		pause()
		cut := clock.Now()
		pause()
		e.record(t, "cus_a", 2)
		e.record(t, "", 1)
		e.signHeads(t) // cus_a at 5

		now := cut.Add(evidence.DefaultRetention.Audit)
		// An entry exactly a year old stays: only older ones go.
		if did := e.expire(t, evidence.DefaultRetention, oldP[0].At.Add(evidence.DefaultRetention.Audit)); len(did) != 0 {
			t.Fatalf("when the first entry is exactly a year old, expired %v", did)
		}
		did := e.expire(t, evidence.DefaultRetention, now)
		if want := []string{"audit:cus_a", "audit:cus_b", "audit:platform"}; !slices.Equal(did, want) {
			t.Fatalf("expired %v, want %v", did, want)
		}
		if got := seqs(e.entries(t, "cus_a")); !slices.Equal(got, []int64{4, 5}) {
			t.Errorf("cus_a keeps %v, want [4 5]", got)
		}
		if got := e.entries(t, "cus_b"); len(got) != 0 {
			t.Errorf("cus_b keeps %v, want nothing: all its entries are old", seqs(got))
		}
		for _, x := range e.entries(t, audit.Platform) {
			if x.Seq <= oldP[len(oldP)-1].Seq {
				t.Errorf("the platform chain keeps old entry %d", x.Seq)
			}
		}
		e.checkCheckpoint(t, "cus_a", oldA[len(oldA)-1])
		cpB := e.checkCheckpoint(t, "cus_b", oldB[len(oldB)-1])
		e.checkCheckpoint(t, audit.Platform, oldP[len(oldP)-1])
		if cp, _ := e.checkpoint(t, "cus_a"); !cp.MadeAt.Equal(now) {
			t.Errorf("checkpoint made at %v, want the run's time %v", cp.MadeAt, now)
		}
		heads, err := evidence.SignedHeads(e.ctx, db, "cus_a", 0, 1<<62)
		if err != nil {
			t.Fatal(err)
		}
		var headSeqs []int64
		for _, h := range heads {
			headSeqs = append(headSeqs, h.Seq)
		}
		if !slices.Equal(headSeqs, []int64{3, 3, 5}) {
			t.Errorf("cus_a's signed heads after expiry at %v, want [3 3 5]: those at the checkpoint and above stay", headSeqs)
		}
		if n, err := e.log.Verify(e.ctx); err != nil {
			t.Fatalf("the chains do not verify after expiry (%d checked): %v", n, err)
		}
		// The removal is recorded in the platform chain, one entry per cut.
		byChain := map[string]map[string]any{}
		for _, d := range e.expiries(t) {
			byChain[d["chain"].(string)] = d
		}
		if d := byChain["cus_a"]; d == nil || d["class"] != "audit" || d["up_to"] != float64(3) || d["removed"] != float64(3) ||
			d["retention_days"] != float64(365) {
			t.Errorf("cus_a's expiry recorded as %v", d)
		}
		if len(byChain) != 3 {
			t.Errorf("expiries recorded for %v, want the three chains", byChain)
		}

		// Again at the same time: nothing is due, nothing changes.
		before := len(e.expiries(t))
		if did := e.expire(t, evidence.DefaultRetention, now); len(did) != 0 {
			t.Errorf("a second run expired %v", did)
		}
		if cp, _ := e.checkpoint(t, "cus_a"); cp.Seq != 3 {
			t.Errorf("a second run moved the checkpoint to %d", cp.Seq)
		}
		if n := len(e.expiries(t)); n != before {
			t.Errorf("a second run recorded %d expiries", n-before)
		}

		// New entries link on: cus_b's next entry follows its checkpoint.
		e.record(t, "cus_b", 1)
		e.record(t, "cus_a", 1)
		b := e.entries(t, "cus_b")
		if len(b) != 1 || b[0].Seq != cpB.Seq+1 || b[0].PrevHash != cpB.Hash {
			t.Errorf("cus_b's next entry %v does not link to its checkpoint %d %s", b, cpB.Seq, cpB.Hash)
		}
		if _, err := e.log.Verify(e.ctx); err != nil {
			t.Fatalf("the chains do not verify after new entries: %v", err)
		}

		// A year after the new entries the rest goes, the checkpoint moves.
		later := clock.Now().Add(evidence.DefaultRetention.Audit + time.Second)
		e.expire(t, evidence.DefaultRetention, later)
		last := e.entries(t, "cus_a")
		if len(last) != 0 {
			t.Errorf("cus_a keeps %v a year after its last entry", seqs(last))
		}
		if cp, _ := e.checkpoint(t, "cus_a"); cp.Seq != 6 {
			t.Errorf("cus_a's checkpoint at %d, want 6", cp.Seq)
		}
		if _, err := e.log.Verify(e.ctx); err != nil {
			t.Fatalf("the chains do not verify after the second cut: %v", err)
		}
	})
}

// TestExpireRefusesABrokenPrefix: a prefix that does not verify is not
// cut — a checkpoint signed over it would hide the break — and the run
// fails, saying where.
func TestExpireRefusesABrokenPrefix(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		e := newRetainEnv(t, db)
		e.record(t, "cus_a", 3)
		// An entry altered behind the log's back (the trigger dropped and
		// put back, as the database's owner could).
		alter := map[store.Dialect][]string{
			store.SQLite: {`DROP TRIGGER audit_events_no_update`,
				`UPDATE audit_events SET action = 'forged' WHERE chain = 'cus_a' AND seq = 2`,
				`CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END`},
			store.Postgres: {`ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update`,
				`UPDATE audit_events SET action = 'forged' WHERE chain = 'cus_a' AND seq = 2`,
				`ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update`},
		}
		for _, q := range alter[db.Dialect()] {
			if _, err := db.Exec(e.ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		job := e.svc.ExpireJob(evidence.DefaultRetention)
		_, err := job.Do(e.ctx, clock.Now().Add(evidence.DefaultRetention.Audit+time.Second), "audit:cus_a")
		if err == nil || !strings.Contains(err.Error(), "entry 2 was altered") {
			t.Fatalf("expiry over an altered entry: %v", err)
		}
		if got := seqs(e.entries(t, "cus_a")); !slices.Equal(got, []int64{1, 2, 3}) {
			t.Errorf("cus_a keeps %v after a refused expiry", got)
		}
		if _, ok := e.checkpoint(t, "cus_a"); ok {
			t.Error("a refused expiry left a checkpoint")
		}
	})
}

// TestRetentionCheck: each class's bounds, and the flag named when one is
// out of them.
func TestRetentionCheck(t *testing.T) {
	d := evidence.Day
	with := func(f func(*evidence.Retention)) evidence.Retention {
		r := evidence.DefaultRetention
		f(&r)
		return r
	}
	for _, c := range []struct {
		r    evidence.Retention
		flag string // "" when accepted
	}{
		{evidence.DefaultRetention, ""},
		{with(func(r *evidence.Retention) { r.Audit = 90 * d }), ""},
		{with(func(r *evidence.Retention) { r.Audit = 89 * d }), "--retain-audit-days"},
		{with(func(r *evidence.Retention) { r.Audit = 3650 * d }), ""},
		{with(func(r *evidence.Retention) { r.Audit = 3651 * d }), "--retain-audit-days"},
		{with(func(r *evidence.Retention) { r.Mail = 30 * d }), ""},
		{with(func(r *evidence.Retention) { r.Mail = 29 * d }), "--retain-mail-days"},
		{with(func(r *evidence.Retention) { r.NotificationLog = 3651 * d }), "--retain-notification-log-days"},
		{with(func(r *evidence.Retention) { r.NotificationLog = 0 }), "--retain-notification-log-days"},
		{with(func(r *evidence.Retention) { r.JobRuns = 30 * d }), ""},
		{with(func(r *evidence.Retention) { r.JobRuns = 40*d + time.Hour }), "--retain-job-runs-days"},
		{with(func(r *evidence.Retention) { r.Usage = 62 * d }), ""},
		{with(func(r *evidence.Retention) { r.Usage = 61 * d }), "--retain-usage-days"},
		{with(func(r *evidence.Retention) { r.Flows = 7 * d }), ""},
		{with(func(r *evidence.Retention) { r.Flows = 6 * d }), "--retain-flows-days"},
		{with(func(r *evidence.Retention) { r.Flows = 365 * d }), ""},
		{with(func(r *evidence.Retention) { r.Flows = 366 * d }), "--retain-flows-days"},
		{with(func(r *evidence.Retention) { r.Monitor = 90 * d }), ""},
		{with(func(r *evidence.Retention) { r.Monitor = 89 * d }), "--retain-monitor-days"},
		{with(func(r *evidence.Retention) { r.WebhookDeliveries = 29 * d }), "--retain-webhook-deliveries-days"},
	} {
		err := c.r.Check()
		switch {
		case c.flag == "" && err != nil:
			t.Errorf("%+v refused: %v", c.r, err)
		case c.flag != "" && (err == nil || !strings.HasPrefix(err.Error(), c.flag+": ")):
			t.Errorf("%+v: %v, want a refusal naming %s", c.r, err, c.flag)
		}
	}
	err := evidence.Retention{Audit: 30 * d, Mail: 365 * d, NotificationLog: 365 * d, JobRuns: 365 * d, Usage: 62 * d, Flows: 30 * d, Monitor: 90 * d,
		WebhookDeliveries: 30 * d}.Check()
	if err == nil || err.Error() != "--retain-audit-days: the audit log is kept 90 to 3650 days, in whole days, not 30" {
		t.Errorf("refusal reads %q", err)
	}
}

// ago is an instant days (and a bit) before now, as stored.
func ago(now time.Time, days int) string {
	return clock.Store(now.Add(-time.Duration(days)*evidence.Day - time.Minute))
}

// TestExpireOtherClasses: mail, the notification log, job runs and the
// webhook delivery log lose
// exactly their rows older than the cut-off: never a pending or sending
// mail, never a running job, and not a mail the notification log still
// names; a second run changes nothing.
func TestExpireOtherClasses(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		e := newRetainEnv(t, db)
		now := clock.Now()
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := db.Exec(e.ctx, q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		exec(`INSERT INTO customers (id, name, status, created_at) VALUES ('cus_a', 'A', 'active', ?)`, ago(now, 500))
		exec(`INSERT INTO notices (id, kind, category, status, title_ja, title_en, body_ja, body_en, scope, created_by, created_at, updated_at)
			VALUES ('ntc_1', 'announcement', 'maintenance', 'published', 't', 't', 'b', 'b', '{}', 'acc_o', ?, ?)`, ago(now, 500), ago(now, 500))
		mail := func(id, status string, createdDays int, sentDays int) {
			t.Helper()
			var sent any
			if sentDays >= 0 {
				sent = ago(now, sentDays)
			}
			exec(`INSERT INTO mail_outbox (id, customer_id, cause, recipient, language, subject, body, status, attempts,
				next_attempt_at, last_error, created_at, sent_at) VALUES (?, 'cus_a', 'test', 'a@example.jp', 'ja', 's', '', ?, 1, ?, '', ?, ?)`,
				id, status, ago(now, createdDays), ago(now, createdDays), sent)
		}
		mail("mail_sent_old", "sent", 400, 400)
		mail("mail_failed_old", "failed", 400, -1)
		mail("mail_pending_old", "pending", 400, -1)
		mail("mail_sending_old", "sending", 400, -1)
		mail("mail_sent_new", "sent", 400, 300) // made long ago, sent within the year
		mail("mail_logged_new", "sent", 400, 400)
		mail("mail_logged_old", "sent", 400, 400)
		delivery := func(id, mailID string, days int) {
			t.Helper()
			exec(`INSERT INTO notice_deliveries (id, notice_id, seq, customer_id, recipient, language, mail_id, created_at)
				VALUES (?, 'ntc_1', 1, 'cus_a', ?, 'ja', ?, ?)`, id, id+"@example.jp", mailID, ago(now, days))
		}
		delivery("dlv_new", "mail_logged_new", 300)
		delivery("dlv_old", "mail_logged_old", 400)
		run := func(id, outcome string, startedDays int, finished bool) {
			t.Helper()
			var fin any
			if finished {
				fin = ago(now, startedDays)
			}
			exec(`INSERT INTO job_runs (id, job, controller, started_at, finished_at, outcome) VALUES (?, 'x', 'ctl', ?, ?, ?)`,
				id, ago(now, startedDays), fin, outcome)
		}
		run("run_ok_old", "ok", 400, true)
		run("run_failed_old", "failed", 366, true)
		run("run_running_old", "running", 400, false)
		run("run_ok_new", "ok", 364, true)
		flow := func(id string, days int) {
			t.Helper()
			exec(`INSERT INTO flow_records (customer_id, id, hub_id, node_id, start_at, end_at, protocol, orig_src, orig_dst, orig_sport, orig_dport,
				reply_src, reply_dst, reply_sport, reply_dport, translated, orig_bytes, orig_packets, reply_bytes, reply_packets)
				VALUES ('cus_a', ?, 'hub_a', 'node_a', ?, ?, 6, '10.0.0.1', '192.0.2.1', 1, 2, '192.0.2.1', '10.0.0.1', 2, 1, 'none', 0, 0, 0, 0)`,
				id, ago(now, days), ago(now, days))
			exec(`INSERT INTO flow_hours (customer_id, hour) VALUES ('cus_a', ?)`, ago(now, days))
		}
		flow("flow_old", 31)
		flow("flow_new", 29)

		hook := func(id, status string, finishedDays int) {
			t.Helper()
			var fin any
			if finishedDays >= 0 {
				fin = ago(now, finishedDays)
			}
			exec(`INSERT INTO webhook_deliveries (id, webhook_id, customer_id, event_id, event_type, subject, event_time, data, status,
				next_attempt_at, created_at, finished_at) VALUES (?, 'wh_1', 'cus_a', 'evt_1', 't', 's', ?, '{}', ?, ?, ?, ?)`,
				id, ago(now, 400), status, ago(now, 400), ago(now, 400), fin)
		}
		hook("whd_delivered_old", "delivered", 31)
		hook("whd_failed_old", "failed", 40)
		hook("whd_pending_old", "pending", -1)
		hook("whd_delivered_new", "delivered", 29)

		did := e.expire(t, evidence.DefaultRetention, now)
		if want := []string{"notification-log", "mail", "job-runs", "flows", "flow-hours", "webhook-deliveries"}; !slices.Equal(did, want) {
			t.Errorf("expired %v, want %v", did, want)
		}
		ids := func(q string) []string {
			t.Helper()
			got, err := store.Strings(e.ctx, db, q)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		for q, want := range map[string][]string{
			`SELECT id FROM mail_outbox ORDER BY id`:        {"mail_logged_new", "mail_pending_old", "mail_sending_old", "mail_sent_new"},
			`SELECT id FROM notice_deliveries ORDER BY id`:  {"dlv_new"},
			`SELECT id FROM job_runs ORDER BY id`:           {"run_ok_new", "run_running_old"},
			`SELECT id FROM flow_records ORDER BY id`:       {"flow_new"},
			`SELECT COUNT(*) FROM flow_hours`:               {"1"},
			`SELECT id FROM webhook_deliveries ORDER BY id`: {"whd_delivered_new", "whd_pending_old"},
		} {
			if got := ids(q); !slices.Equal(got, want) {
				t.Errorf("%s: %v, want %v", q, got, want)
			}
		}
		counts := map[string]float64{}
		for _, d := range e.expiries(t) {
			if want := map[bool]float64{true: 30, false: 365}[strings.HasPrefix(d["class"].(string), "flow") || d["class"] == "webhook_deliveries"]; d["retention_days"] != want {
				t.Errorf("expiry recorded as %v", d)
			}
			counts[d["class"].(string)] = d["removed"].(float64)
		}
		if want := map[string]float64{"notification_log": 1, "mail": 3, "job_runs": 2, "flows": 1, "flow_hours": 1, "webhook_deliveries": 2}; !maps.Equal(counts, want) {
			t.Errorf("recorded removals %v, want %v", counts, want)
		}
		if did := e.expire(t, evidence.DefaultRetention, now); len(did) != 0 {
			t.Errorf("a second run expired %v", did)
		}
		if n := len(e.expiries(t)); n != 6 {
			t.Errorf("%d expiries recorded after a second run, want 6", n)
		}
	})
}
