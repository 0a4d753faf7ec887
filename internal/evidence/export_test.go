package evidence

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// seedNotice lays down a published notice reaching the customers given,
// with its steps at the times given (the first is its publication), as
// announcing leaves it.
func (e *env) seedNotice(title string, steps []time.Time, reached ...string) string {
	e.t.Helper()
	ctx := context.Background()
	id := ids.New("ntc")
	if _, err := e.db.Exec(ctx, `INSERT INTO notices (id, kind, category, severity, status, title_ja, title_en, body_ja, body_en,
		starts_at, ends_at, scope, affects_forwarding, security, data_affected, created_by, created_at, published_at, updated_at, revision)
		VALUES (?, 'announcement', 'maintenance', '', 'published', ?, ?, ?, ?, NULL, NULL, ?, FALSE, FALSE, '', 'acc_op', ?, ?, ?, ?)`,
		id, title+" ja", title+" en", title+" body ja", title+" body en", `{"customers":["`+strings.Join(reached, `","`)+`"]}`,
		clock.Store(steps[0]), clock.Store(steps[0]), clock.Store(steps[len(steps)-1]), len(steps)+1); err != nil {
		e.t.Fatal(err)
	}
	kinds := append([]string{"create"}, "publish")
	for range steps[1:] {
		kinds = append(kinds, "update")
	}
	at := append([]time.Time{steps[0]}, steps...)
	for i, k := range kinds {
		if _, err := e.db.Exec(ctx, `INSERT INTO notice_updates (notice_id, seq, kind, status, title_ja, title_en, body_ja, body_en, at, by_account)
			VALUES (?, ?, ?, 'published', ?, ?, ?, ?, ?, 'acc_op')`, id, i+1, k, title+" ja", title+" en", title+" step ja",
			title+" step en", clock.Store(at[i])); err != nil {
			e.t.Fatal(err)
		}
	}
	for _, c := range reached {
		if _, err := e.db.Exec(ctx, `INSERT INTO notice_customers (notice_id, customer_id, since_seq, reasons) VALUES (?, ?, 2, ?)`,
			id, c, `[{"kind":"customer"}]`); err != nil {
			e.t.Fatal(err)
		}
	}
	return id
}

// seedDelivery records a mail of notice id to recipient of cust at at.
func (e *env) seedDelivery(id, cust, recipient string, at time.Time) {
	e.t.Helper()
	ctx := context.Background()
	mailID := ids.New("mail")
	if _, err := e.db.Exec(ctx, `INSERT INTO mail_outbox (id, customer_id, cause, recipient, language, subject, body, status, attempts,
		next_attempt_at, last_error, created_at, sent_at) VALUES (?, ?, 'notice.publish', ?, 'ja', 's', '', 'sent', 1, ?, '', ?, ?)`,
		mailID, cust, recipient, clock.Store(at), clock.Store(at), clock.Store(at.Add(time.Second))); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.db.Exec(ctx, `INSERT INTO notice_deliveries (id, notice_id, seq, customer_id, recipient, language, mail_id, created_at)
		VALUES (?, ?, 2, ?, ?, 'ja', ?, ?)`, ids.New("ndel"), id, cust, recipient, mailID, clock.Store(at)); err != nil {
		e.t.Fatal(err)
	}
}

// lastHour is a window that ends now.
func lastHour() Window {
	now := clock.Now()
	return Window{From: now.Add(-time.Hour), To: now.Add(time.Hour)}
}

// TestExportVerifies: a customer's own export and an officer's evidence
// request verify offline; each is audited in the customer's chain with the
// window and the counts (the officer's with the purpose), and, its window
// reaching now, holds its own export record as the last entry, under the
// head signed at the export.
func TestExportVerifies(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		cust := e.customer("Acme")
		e.record(customerCtx("alice"), cust, "port.update", map[string]any{"port": "shc00000001", "email": "alice@acme.example"})
		e.record(customerCtx("alice"), cust, "hub.update", nil)
		now := clock.Now()
		n := e.seedNotice("maintenance", []time.Time{now.Add(-30 * time.Minute)}, cust)
		e.seedDelivery(n, cust, "ops@acme.example", now.Add(-29*time.Minute))
		old := e.seedNotice("long ago", []time.Time{now.Add(-72 * time.Hour)}, cust)
		e.seedDelivery(old, cust, "ops@acme.example", now.Add(-72*time.Hour))

		archive := e.exportOwn(cust, lastHour())
		rep := e.verify(archive)
		if rep.Customer != cust || rep.Entries != 3 || rep.Notices != 1 || rep.Deliveries != 1 || rep.Files != 7 {
			t.Errorf("report = %+v, want customer %s, 3 entries (2 and the export), 1 notice, 1 delivery, 7 files", rep, cust)
		}
		if rep.Segment.Start.Kind != AnchorGenesis || rep.Segment.End.Seq != 3 || rep.RequestedBy.Kind != "customer" {
			t.Errorf("segment %+v requested by %+v: want genesis to entry 3, by the customer", rep.Segment, rep.RequestedBy)
		}
		files := unpack(t, archive)
		var names []string
		for _, f := range files {
			names = append(names, f.name)
		}
		if got := strings.Join(names, " "); got != "manifest.json README.txt keys.json heads.jsonl audit.jsonl notices.jsonl notification-log.jsonl" {
			t.Errorf("files = %s", got)
		}
		audited := lines(get(t, files, FileAudit))
		var first, last audit.Entry
		if err := json.Unmarshal(audited[0], &first); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(audited[len(audited)-1], &last); err != nil {
			t.Fatal(err)
		}
		if first.ActorName != "alice" || first.Detail["email"] != "alice@acme.example" {
			t.Errorf("first entry's personal fields are not opened: %+v", first)
		}
		if last.Action != "evidence.export" || last.Detail["notices"] != float64(1) || last.Detail["deliveries"] != float64(1) ||
			last.Detail["from"] != rep.Window.From.Format(time.RFC3339Nano) || last.Detail["to"] != rep.Window.To.Format(time.RFC3339Nano) {
			t.Errorf("last entry = %+v, want the export's record with its window and counts", last)
		}
		heads := lines(get(t, files, FileHeads))
		var h SignedHead
		if err := json.Unmarshal(heads[len(heads)-1], &h); err != nil {
			t.Fatal(err)
		}
		if h.Why != WhyExport || h.Seq != last.Seq || h.Hash != last.Hash {
			t.Errorf("last head %+v does not sign the export's record %d", h, last.Seq)
		}

		var b bytes.Buffer
		purpose := "  Police request 2026-117: access to port shc00000001  "
		if err := e.svc.ExportFor(staffCtx(), tenant.CustomerID(cust), lastHour(), purpose, &b); err != nil {
			t.Fatal(err)
		}
		rep = e.verify(b.Bytes())
		if rep.RequestedBy != (Requester{Kind: "operator", ID: "acc_officer", Purpose: strings.TrimSpace(purpose)}) {
			t.Errorf("requested by %+v, want the officer with the trimmed purpose", rep.RequestedBy)
		}
		audited = lines(get(t, unpack(t, b.Bytes()), FileAudit))
		if err := json.Unmarshal(audited[len(audited)-1], &last); err != nil {
			t.Fatal(err)
		}
		if last.Action != "evidence.export" || last.Reason != strings.TrimSpace(purpose) || last.ActorID != "acc_officer" {
			t.Errorf("the officer's export is recorded as %+v", last)
		}
		if got := e.entries(cust, "evidence.export"); got != 2 {
			t.Errorf("%d export records, want 2", got)
		}
	})
}

// TestExportRefusals: bad windows and purposes, another customer's ID, and
// a scope without audit.own are refused with a clear fault, and nothing
// is recorded.
func TestExportRefusals(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		cust := e.customer("Acme")
		now := clock.Now()
		for _, c := range []struct {
			name  string
			win   Window
			field string
		}{
			{"from in the future", Window{From: now.Add(time.Hour), To: now.Add(2 * time.Hour)}, "from"},
			{"from after to", Window{From: now.Add(-time.Hour), To: now.Add(-2 * time.Hour)}, "from"},
			{"from equal to to", Window{From: now.Add(-time.Hour), To: now.Add(-time.Hour)}, "from"},
			{"zero window", Window{}, "from"},
			{"401 days", Window{From: now.Add(-401 * 24 * time.Hour), To: now}, "from"},
		} {
			err := e.svc.ExportOwn(customerCtx("alice"), tenanttest.Customer(cust), c.win, &bytes.Buffer{})
			if f, ok := fault.As(err); !ok || f.Kind != fault.Invalid || f.Field != c.field {
				t.Errorf("%s: err = %v, want a fault on %s", c.name, err, c.field)
			}
		}
		if _, err := checkWindow(Window{From: now.Add(-400 * 24 * time.Hour), To: now}, now); err != nil {
			t.Errorf("400 days refused: %v", err)
		}
		if w, _ := checkWindow(Window{From: now.Add(-time.Hour), To: now.Add(time.Hour)}, now); !w.To.Equal(now) {
			t.Errorf("to is not clamped to now: %v", w.To)
		}
		for _, purpose := range []string{"", "   ", "two\nlines", strings.Repeat("x", 501)} {
			err := e.svc.ExportFor(staffCtx(), tenant.CustomerID(cust), lastHour(), purpose, &bytes.Buffer{})
			if f, ok := fault.As(err); !ok || f.Field != "purpose" {
				t.Errorf("purpose %q: err = %v, want a fault on purpose", purpose, err)
			}
		}
		if err := e.svc.ExportFor(staffCtx(), tenant.CustomerID(cust), lastHour(), strings.Repeat("y", 500), &bytes.Buffer{}); err != nil {
			t.Errorf("a purpose of 500 characters is refused: %v", err)
		}
		for _, id := range []string{"", "cus_nobody"} {
			if err := e.svc.ExportFor(staffCtx(), tenant.CustomerID(id), lastHour(), "audit", &bytes.Buffer{}); !fault.Is(err, fault.NotFound) {
				t.Errorf("customer %q: err = %v, want not found", id, err)
			}
		}
		sc := tenanttest.As(cust, "user", "network.read")
		if err := e.svc.ExportOwn(customerCtx("bob"), sc, lastHour(), &bytes.Buffer{}); !fault.Is(err, fault.Forbidden) {
			t.Errorf("a scope without audit.own: err = %v, want forbidden", err)
		}
		if err := e.svc.ExportOwn(customerCtx("bob"), tenant.Scope{}, lastHour(), &bytes.Buffer{}); err == nil {
			t.Error("the zero scope exported")
		}
		if got := e.entries(cust, "evidence.export"); got != 1 {
			t.Errorf("%d export records, want only the one export that was done", got)
		}
	})
}

// TestExportIsolation: a customer's archive holds nothing of another
// customer — not its ID, its people's names and addresses, its notices or
// its mails — although the two share a notice.
func TestExportIsolation(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a, b := e.customer("Acme"), e.customer("Planted Other KK")
		now := clock.Now()
		e.record(customerCtx("alice"), a, "port.update", nil)
		e.record(customerCtx("planted-bob-login"), b, "port.update", map[string]any{"email": "planted-bob@other.example",
			"port": "shc99999999"})
		shared := e.seedNotice("shared maintenance", []time.Time{now.Add(-10 * time.Minute)}, a, b)
		e.seedDelivery(shared, a, "ops@acme.example", now.Add(-9*time.Minute))
		e.seedDelivery(shared, b, "planted-ops@other.example", now.Add(-9*time.Minute))
		onlyB := e.seedNotice("planted-b-notice", []time.Time{now.Add(-8 * time.Minute)}, b)
		e.seedDelivery(onlyB, b, "planted-ops@other.example", now.Add(-7*time.Minute))
		var staff bytes.Buffer
		if err := e.svc.ExportFor(staffCtx(), tenant.CustomerID(a), lastHour(), "evidence for an audit", &staff); err != nil {
			t.Fatal(err)
		}
		for name, archive := range map[string][]byte{"own": e.exportOwn(a, lastHour()), "officer": staff.Bytes()} {
			rep := e.verify(archive)
			if rep.Notices != 1 || rep.Deliveries != 1 {
				t.Errorf("%s: %d notices and %d deliveries, want the shared notice and A's mail", name, rep.Notices, rep.Deliveries)
			}
			for _, f := range unpack(t, archive) {
				for _, leak := range []string{b, "planted", "shc99999999", "Other KK"} {
					if bytes.Contains(f.body, []byte(leak)) {
						t.Errorf("%s: %s holds %q of the other customer", name, f.name, leak)
					}
				}
			}
		}
	})
}

// TestExportAfterErasure: once a customer's personal fields were erased
// (its audit key destroyed), its archive shows them erased and still
// verifies.
func TestExportAfterErasure(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		cust := e.customer("Acme")
		e.record(customerCtx("alice-erased-login"), cust, "account.create", map[string]any{"email": "alice@acme.example"})
		ctx := audit.WithActor(context.Background(), audit.System)
		if err := db.InTx(ctx, func(tx *store.Tx) error { return e.log.ForgetCustomerTx(ctx, tx, cust) }); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := e.svc.ExportFor(staffCtx(), tenant.CustomerID(cust), lastHour(), "records of a purged customer", &b); err != nil {
			t.Fatal(err)
		}
		rep := e.verify(b.Bytes())
		if rep.Entries != 3 {
			t.Errorf("%d entries, want the account, the key's destruction and the export", rep.Entries)
		}
		body := get(t, unpack(t, b.Bytes()), FileAudit)
		if bytes.Contains(body, []byte(`"alice-erased-login"`)) || bytes.Contains(body, []byte("alice@acme.example")) ||
			!bytes.Contains(body, []byte(`"actor_name":"(erased)"`)) {
			t.Errorf("audit.jsonl does not show the personal fields erased:\n%s", body)
		}
	})
}

// TestVerifyArchiveKeys: the manifest must be signed by a trusted key; a
// key given bare (base64, no ID) is trusted for any key ID.
func TestVerifyArchiveKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t))
	cust := e.customer("Acme")
	archive := e.exportOwn(cust, lastHour())
	keys := e.published()
	bare, err := ParseKeys([]byte(keys[0].PublicKey + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyArchive(bytes.NewReader(archive), bare); err != nil {
		t.Errorf("the bare key: %v", err)
	}
	listed, err := json.Marshal(map[string]any{"items": keys})
	if err != nil {
		t.Fatal(err)
	}
	if k, err := ParseKeys(listed); err != nil || len(k) != 1 || k[0].ID != keys[0].ID {
		t.Errorf("ParseKeys of the served JSON = %v, %v", k, err)
	}
	inArchive, err := ArchiveKeys(bytes.NewReader(archive))
	if err != nil || len(inArchive) != 1 || inArchive[0].PublicKey != keys[0].PublicKey {
		t.Errorf("ArchiveKeys = %v, %v", inArchive, err)
	}
	if _, err := e.keys.Rotate(audit.WithActor(context.Background(), audit.System)); err != nil {
		t.Fatal(err)
	}
	other := e.published()[1]
	for _, c := range []struct {
		name    string
		keys    []signing.PublicKey
		problem string
	}{
		{"another key under the same ID", []signing.PublicKey{{ID: keys[0].ID, Algorithm: "ed25519", PublicKey: other.PublicKey}}, "signature does not verify"},
		{"another key, bare", []signing.PublicKey{{Algorithm: "ed25519", PublicKey: other.PublicKey}}, "signature does not verify"},
		{"only the new key", []signing.PublicKey{other}, "which is not among the trusted keys"},
		{"no key", nil, "which is not among the trusted keys"},
	} {
		_, err := VerifyArchive(bytes.NewReader(archive), c.keys)
		var ae *ArchiveError
		if !errors.As(err, &ae) || ae.File != FileManifest || !strings.Contains(ae.Problem, c.problem) {
			t.Errorf("%s: err = %v, want manifest.json: …%s", c.name, err, c.problem)
		}
	}
	if _, err := VerifyArchive(bytes.NewReader(archive), e.published()); err != nil {
		t.Errorf("the retired key no longer verifies what it signed: %v", err)
	}
}
