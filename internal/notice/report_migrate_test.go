package notice

import (
	"context"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// TestReportCounterMigration: migration 00077 starts the counter at the
// highest number filed before it, so the first report after the upgrade
// takes the next number.
func TestReportCounterMigration(t *testing.T) {
	for name, dsn := range map[string]func(testing.TB) string{"sqlite": func(testing.TB) string { return "" }, "postgres": storetest.PostgresDSN} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db, err := store.OpenNoMigrate(ctx, store.Options{DataDir: t.TempDir(), DSN: dsn(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if err := db.MigrateTo(ctx, 76); err != nil {
				t.Fatal(err)
			}
			const at = "2026-11-20T00:00:00.000000Z"
			for _, q := range []string{
				`INSERT INTO customers (id, name, status, created_at) VALUES ('cust_a', 'a', 'active', '` + at + `')`,
				`INSERT INTO reports (id, number, customer_id, category, subject, status, created_by, created_at, updated_at)
					VALUES ('rpt_5', 5, 'cust_a', 'other', 's', 'open', 'acc_test', '` + at + `', '` + at + `')`,
				`INSERT INTO reports (id, number, customer_id, category, subject, status, created_by, created_at, updated_at)
					VALUES ('rpt_9', 9, 'cust_a', 'other', 's', 'open', 'acc_test', '` + at + `', '` + at + `')`,
			} {
				if _, err := db.Exec(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			r := NewReports(db, audit.New(db), Config{})
			ctx = audit.WithActor(ctx, audit.Actor{ID: "acc_test", Kind: "customer", Name: "acc_test"})
			d, err := r.File(ctx, tenanttest.Customer("cust_a"), outageReport)
			if err != nil || d.Report.Number != "R-000010" {
				t.Fatalf("first report after the upgrade: %q, %v", d.Report.Number, err)
			}
		})
	}
}
