package notice

import (
	"context"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// The customer side reads the tables announce writes; these tests write
// the rows themselves with SQL, as a published notice leaves them.

func custCtx() context.Context {
	return audit.WithActor(context.Background(), audit.Actor{ID: "acc_test", Kind: "customer", Name: "tester", SourceIP: "127.0.0.1"})
}

func seedCustomer(t *testing.T, db *store.DB, name string) string {
	t.Helper()
	id := ids.New("cus")
	if _, err := db.Exec(context.Background(), `INSERT INTO customers (id, name, status, created_at) VALUES (?, ?, 'active', ?)`,
		id, name, clock.Store(clock.Now())); err != nil {
		t.Fatal(err)
	}
	return id
}

// seedNote is a notice as the tests lay it down.
type seedNote struct {
	Kind, Category, Severity, Status string
	Title, Body                      string // the same in both languages, tagged [ja]/[en]
	Ends                             *time.Time
	Security                         bool
	DataAffected                     string
	Published                        time.Time
	Reached                          []string // customer IDs
	Updates                          []string // kinds after "create" (publish, edit, status, …)
}

func seedNotice(t *testing.T, db *store.DB, n seedNote) string {
	t.Helper()
	ctx := context.Background()
	id := ids.New("ntc")
	now := clock.Store(clock.Now())
	var pub, ends any
	if n.Status != StatusDraft {
		pub = clock.Store(n.Published)
	}
	if n.Ends != nil {
		ends = clock.Store(*n.Ends)
	}
	if _, err := db.Exec(ctx, `INSERT INTO notices (id, kind, category, severity, status, title_ja, title_en, body_ja, body_en,
		starts_at, ends_at, scope, affects_forwarding, security, data_affected, created_by, created_at, published_at, updated_at, revision)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, '{"regions":["secret-region"]}', TRUE, ?, ?, 'acc_op', ?, ?, ?, ?)`,
		id, n.Kind, n.Category, n.Severity, n.Status, n.Title+" [ja]", n.Title+" [en]", n.Body+" [ja]", n.Body+" [en]",
		ends, n.Security, n.DataAffected, now, pub, clock.Store(n.Published), len(n.Updates)+1); err != nil {
		t.Fatal(err)
	}
	for i, k := range append([]string{"create"}, n.Updates...) {
		if _, err := db.Exec(ctx, `INSERT INTO notice_updates (notice_id, seq, kind, status, title_ja, title_en, body_ja, body_en, at, by_account)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'acc_op')`, id, i+1, k, n.Status, k+" title ja", k+" title en", k+" body ja", k+" body en",
			clock.Store(n.Published.Add(time.Duration(i)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range n.Reached {
		if _, err := db.Exec(ctx, `INSERT INTO notice_customers (notice_id, customer_id, since_seq, reasons) VALUES (?, ?, 2, ?)`,
			id, c, `[{"kind":"hub-node","hub":"hub_x","node":"tky-1"}]`); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

// seedDelivery records a mail of notice id to recipient of cust with the
// outbox status status, as publishing leaves it.
func seedDelivery(t *testing.T, db *store.DB, id, cust, recipient, status string, at time.Time) string {
	t.Helper()
	ctx := context.Background()
	mailID, dID := ids.New("mail"), ids.New("ndel")
	var sent any
	if status == "sent" {
		sent = clock.Store(at.Add(time.Second))
	}
	if _, err := db.Exec(ctx, `INSERT INTO mail_outbox (id, customer_id, cause, recipient, language, subject, body, status, attempts,
		next_attempt_at, last_error, created_at, sent_at) VALUES (?, ?, 'notice.publish', ?, 'ja', 's', '', ?, 1, ?, ?, ?, ?)`,
		mailID, cust, recipient, status, clock.Store(at), map[bool]string{true: "550 no such user"}[status == "failed"],
		clock.Store(at), sent); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO notice_deliveries (id, notice_id, seq, customer_id, recipient, language, mail_id, created_at)
		VALUES (?, ?, 2, ?, ?, 'ja', ?, ?)`, dID, id, cust, recipient, mailID, clock.Store(at)); err != nil {
		t.Fatal(err)
	}
	return dID
}
