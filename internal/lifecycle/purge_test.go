package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/mail"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

const terminatedOn = "2027-03-31"

// wantCounts are the rows of each class that seedCustomer writes.
var wantCounts = map[string]int64{ClassVersions: 1, ClassDraft: 2, ClassNetwork: 11, ClassPortsHubs: 2, ClassMail: 3, ClassSecurity: 1,
	ClassDevices: 1, ClassBreakGlass: 1, ClassRecoveries: 1, ClassCredentials: 3 * 10, ClassAccounts: 3, ClassNotes: 1,
	ClassNotices: 4, ClassReports: 3, ClassUsage: 2, ClassFlows: 2, ClassMonitors: 3, ClassWebhooks: 3}

func TestParseAfterDays(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{"": 30, "1": 1, "30": 30, "90": 90} {
		if got, err := ParseAfterDays(in); err != nil || got != want {
			t.Errorf("ParseAfterDays(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "-1", "91", "365", "thirty"} {
		if _, err := ParseAfterDays(in); err == nil {
			t.Errorf("ParseAfterDays(%q) accepted", in)
		}
	}
	if _, err := ParseAfterDays("91"); err == nil || !strings.Contains(err.Error(), "never later") {
		t.Errorf("91 days: %v, want a refusal saying never later", err)
	}
}

// TestNothingPurgedBeforeTheDueDay: neither the job nor a direct call
// erases anything before day purge-after; on that day the job erases it.
func TestNothingPurgedBeforeTheDueDay(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seedPlatform(t, db)
		a := seedCustomer(t, db, "a", 1, terminatedOn)
		active := seedCustomer(t, db, "act", 2, terminatedOn)
		execSQL(t, db, `UPDATE customers SET status = 'active', terminated_on = NULL, purge_due_on = NULL WHERE id = ?`, active.id)
		p, clk := newPurger(t, db, 30, terminatedOn)
		before := countRows(t, db)
		for _, day := range []string{"2027-03-30", terminatedOn, addDays(t, terminatedOn, 1), addDays(t, terminatedOn, 29)} {
			clk.set(t, day)
			if due, err := p.Due(ctx); err != nil || len(due) != 0 {
				t.Fatalf("%s: due %v, %v", day, due, err)
			}
			if err := p.Purge(ctx, a.id); !errors.Is(err, ErrNotDue) {
				t.Fatalf("%s: Purge = %v, want ErrNotDue", day, err)
			}
		}
		clk.set(t, addDays(t, terminatedOn, 400))
		if err := p.Purge(ctx, active.id); !errors.Is(err, ErrNotDue) {
			t.Fatalf("an active customer: Purge = %v, want ErrNotDue", err)
		}
		if after := countRows(t, db); after != before {
			t.Fatalf("rows changed before the due day: %d → %d", before, after)
		}
		clk.set(t, addDays(t, terminatedOn, 30))
		if due, err := p.Due(ctx); err != nil || !slices.Equal(due, []catalog.CustomerID{a.id}) {
			t.Fatalf("day 30: due %v, %v", due, err)
		}
	})
}

// TestDay90EvenWithPurgeAfter90: the latest setting erases on day 90,
// through the scheduled job.
func TestDay90EvenWithPurgeAfter90(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t)
	seedPlatform(t, db)
	a := seedCustomer(t, db, "a", 1, terminatedOn)
	p, clk := newPurger(t, db, 90, addDays(t, terminatedOn, 89))
	sch := scheduler(t, db, p, "ctl", clk.now)
	if _, err := sch.RunDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	if purgedAt(t, db, a.id) {
		t.Fatal("erased on day 89 with purge-after 90")
	}
	clk.set(t, addDays(t, terminatedOn, 90))
	runs, err := sch.RunDue(context.Background())
	if err != nil || len(runs) != 1 || runs[0].Done != 1 {
		t.Fatalf("day 90: runs %+v, %v", runs, err)
	}
	if !purgedAt(t, db, a.id) {
		t.Fatal("not erased on day 90")
	}
	assertErased(t, db, a)
}

// TestPurgeIsIdempotent: a second run finds the erasure finished, erases
// nothing and leaves the certificate as it was; rows that come back (a
// restore) are erased again without touching the certificate.
func TestPurgeIsIdempotent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seedPlatform(t, db)
		a := seedCustomer(t, db, "a", 1, terminatedOn)
		p, _ := newPurger(t, db, 30, addDays(t, terminatedOn, 30))
		if err := p.Purge(ctx, a.id); err != nil {
			t.Fatal(err)
		}
		first, err := p.Certificate(ctx, a.id)
		if err != nil {
			t.Fatal(err)
		}
		rows, events := countRows(t, db), auditCount(t, db)
		if err := p.Purge(ctx, a.id); err != nil {
			t.Fatal(err)
		}
		second, _ := p.Certificate(ctx, a.id)
		if string(first) != string(second) || countRows(t, db) != rows || auditCount(t, db) != events {
			t.Fatalf("second run changed something: certificate equal %v, rows %d → %d, audit %d → %d",
				string(first) == string(second), rows, countRows(t, db), events, auditCount(t, db))
		}
		// A restored device certificate of the erased customer goes again.
		execSQL(t, db, `INSERT INTO device_certificates (id, customer_id, name, fingerprint, subject, not_after, created_at)
			VALUES ('dev_back', ?, 'laptop', 'fp_back', 'CN=x', 'x', 'x')`, a.id)
		if err := p.Purge(ctx, a.id); err != nil {
			t.Fatal(err)
		}
		third, _ := p.Certificate(ctx, a.id)
		// Only the sweep's audit entry is new.
		if string(third) != string(first) || countRows(t, db) != rows+1 || auditCount(t, db) != events+1 {
			t.Fatalf("sweep: certificate equal %v, rows %d (want %d), audit %d (want %d)",
				string(third) == string(first), countRows(t, db), rows+1, auditCount(t, db), events+1)
		}
	})
}

// TestCertificate: the certificate names the customer, its codes, dates and
// every class with its count, points at the customer.purge audit entry,
// verifies with the published key and fails after one byte changes.
func TestCertificate(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seedPlatform(t, db)
		a := seedCustomer(t, db, "a", 1, terminatedOn)
		p, _ := newPurger(t, db, 30, addDays(t, terminatedOn, 30))
		if err := p.Purge(ctx, a.id); err != nil {
			t.Fatal(err)
		}
		doc, err := p.Certificate(ctx, a.id)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := signing.New(db, audit.New(db)).PublicKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyCertificate(keys, doc); err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		for i := range doc {
			if doc[i] < 'a' || doc[i] > 'z' {
				continue
			}
			changed := slices.Clone(doc)
			changed[i] ^= 0x01
			if VerifyCertificate(keys, changed) == nil {
				t.Fatalf("byte %d changed (%q): still verifies", i, doc[max(0, i-20):i+1])
			}
		}
		var c Certificate
		if err := json.Unmarshal(doc, &c); err != nil {
			t.Fatal(err)
		}
		want := wantCounts
		got := map[string]int64{}
		for _, cc := range c.Classes {
			got[cc.Class] = cc.Count
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("class %s: %d rows, want %d", k, got[k], v)
			}
		}
		if len(got) != len(want) {
			t.Errorf("classes %v, want %v", got, want)
		}
		if c.Customer.ID != string(a.id) || c.Customer.Name != a.name || !slices.Equal(c.ServiceCodes, []string{"SHC0000001"}) ||
			c.TerminatedOn != terminatedOn || c.Day1 != "2027-04-01" || c.StartedAt == "" || c.FinishedAtJST == "" || len(c.NoticeMails) != 2 {
			t.Errorf("certificate %s", doc)
		}
		entries, err := audit.New(db).List(ctx, audit.OfChain(c.Audit.Chain).Page(c.Audit.Seq-1, 1))
		if err != nil || len(entries) != 1 || entries[0].Action != "customer.purge" || entries[0].Hash != c.Audit.Hash {
			t.Fatalf("audit position %+v: %+v, %v", c.Audit, entries, err)
		}
		if _, err := audit.New(db).Verify(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// TestNoticeSurvivesAndIsSent: each active operations administrator gets
// one notice in its language with the certificate inline; the notice
// outlives the purge (no customer_id) and the sender delivers it.
func TestNoticeSurvivesAndIsSent(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t)
	ctx := context.Background()
	seedPlatform(t, db)
	a := seedCustomer(t, db, "a", 1, terminatedOn)
	// A deleted administrator gets nothing.
	execSQL(t, db, `UPDATE accounts SET disabled_at = created_at, email = 'gone@example.com' WHERE id = ?`, a.accounts[2])
	execSQL(t, db, `UPDATE accounts SET role = 'ops-admin' WHERE id = ?`, a.accounts[2])
	p, _ := newPurger(t, db, 30, addDays(t, terminatedOn, 30))
	if err := p.Purge(ctx, a.id); err != nil {
		t.Fatal(err)
	}
	doc, _ := p.Certificate(ctx, a.id)
	tr := &capture{}
	n, err := (&mail.Sender{Outbox: mail.NewOutbox(db), Transport: tr}).Drain(ctx)
	if err != nil || n != 2 {
		t.Fatalf("sent %d, %v", n, err)
	}
	byTo := map[string]mail.Message{}
	for _, m := range tr.sent {
		byTo[m.To] = m
	}
	ja, en := byTo[a.emails[0]], byTo[a.emails[1]]
	if ja.Language != "ja" || en.Language != "en" || !strings.Contains(ja.Subject, a.name) || !strings.Contains(en.Subject, "deletion certificate") {
		t.Fatalf("notices %+v", tr.sent)
	}
	for _, m := range []mail.Message{ja, en} {
		if !strings.Contains(m.Body, string(doc)) || m.CustomerID != "" || m.Cause != noticeCause {
			t.Fatalf("notice to %s lacks the certificate or is the customer's: %+v", m.To, m)
		}
	}
}

type capture struct {
	mu   sync.Mutex
	sent []mail.Message
}

func (c *capture) Send(_ context.Context, _ string, m mail.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, m)
	return nil
}

func purgedAt(t *testing.T, db *store.DB, cust catalog.CustomerID) bool {
	t.Helper()
	var at *string
	if err := db.QueryRow(context.Background(), `SELECT purged_at FROM customers WHERE id = ?`, cust).Scan(&at); err != nil {
		t.Fatal(err)
	}
	return at != nil
}

func auditCount(t *testing.T, db *store.DB) (n int) {
	t.Helper()
	if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM audit_events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCertificateVerifiesOffline runs the documented offline check (jq
// and OpenSSL, testdata/verify-certificate.sh) on a certificate and on the
// same certificate with one byte changed.
func TestCertificateVerifiesOffline(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"jq", "openssl", "base64"} {
		if _, err := osexec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	db := storetest.SQLite(t)
	ctx := context.Background()
	seedPlatform(t, db)
	a := seedCustomer(t, db, "a", 1, terminatedOn)
	p, _ := newPurger(t, db, 30, addDays(t, terminatedOn, 30))
	if err := p.Purge(ctx, a.id); err != nil {
		t.Fatal(err)
	}
	doc, _ := p.Certificate(ctx, a.id)
	keys, err := signing.New(db, audit.New(db)).PublicKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	published, _ := json.Marshal(map[string]any{"items": keys})
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	keysFile := write("keys.json", published)
	run := func(cert []byte) error {
		out, err := osexec.Command("sh", "testdata/verify-certificate.sh", write("cert.json", cert), keysFile).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	}
	if err := run(doc); err != nil {
		t.Fatalf("the documented check refuses a good certificate: %v", err)
	}
	changed := []byte(strings.Replace(string(doc), `"count":3`, `"count":2`, 1))
	if string(changed) == string(doc) {
		t.Fatal("nothing to change")
	}
	if run(changed) == nil {
		t.Fatal("the documented check accepts a changed certificate")
	}
}

// TestKeyMadeAfterThePurgeIsDestroyed: an event recorded for an erased
// customer with a personal field (a refused sign-in with its old login ID,
// say) seals it under a new audit key; the next day's run of the job
// destroys that key too, so the field is erased like the others.
func TestKeyMadeAfterThePurgeIsDestroyed(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seedPlatform(t, db)
		a := seedCustomer(t, db, "a", 1, terminatedOn)
		day := addDays(t, terminatedOn, 30)
		p, clk := newPurger(t, db, 30, day)
		if err := p.Purge(ctx, a.id); err != nil {
			t.Fatal(err)
		}
		actor := audit.WithActor(ctx, audit.Actor{ID: "anonymous", Kind: "anonymous", Name: a.logins[0], SourceIP: "192.0.2.9"})
		if err := audit.New(db).Record(actor, audit.Event{Action: "login", Target: "login:" + a.logins[0], CustomerID: string(a.id),
			Result: audit.Denied, Reason: "bad password"}); err != nil {
			t.Fatal(err)
		}
		keys := func() (n int) {
			if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM audit_keys WHERE customer_id = ?`, a.id).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if keys() != 1 {
			t.Fatal("the event after the purge made no key: nothing to test")
		}
		clk.set(t, addDays(t, day, 1))
		if _, err := scheduler(t, db, p, "c1", clk.now).RunDue(ctx); err != nil {
			t.Fatal(err)
		}
		if keys() != 0 {
			t.Errorf("the audit key made after the purge survived the next run")
		}
	})
}
