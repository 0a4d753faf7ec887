package lifecycle

import (
	"context"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/notice"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// TestPurgeKeepsReportNumbers: the purge erases the report holding the
// highest number; the next report filed gets a new number, never the
// erased one's.
func TestPurgeKeepsReportNumbers(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		seedPlatform(t, db)
		a := seedCustomer(t, db, "a", 1, terminatedOn)
		b := seedCustomer(t, db, "b", 2, addDays(t, terminatedOn, 60))
		// The fixture writes its reports (numbers 1 and 2) directly; the
		// counter is where filing them would have left it.
		execSQL(t, db, `UPDATE report_counter SET last = (SELECT MAX(number) FROM reports) WHERE id = 1`)
		reports := notice.NewReports(db, audit.New(db), notice.Config{})
		file := func(f fixture) string {
			t.Helper()
			ctx := audit.WithActor(context.Background(), audit.Actor{ID: f.accounts[0], Kind: "customer", Name: f.logins[0]})
			d, err := reports.File(ctx, tenanttest.Customer(f.id), notice.ReportInput{Category: "other", Subject: "s", Description: "d"})
			if err != nil {
				t.Fatal(err)
			}
			return d.Report.Number
		}
		if n := file(a); n != "R-000003" {
			t.Fatalf("a's report: %s", n)
		}
		p, _ := newPurger(t, db, 30, addDays(t, terminatedOn, 30))
		if err := p.Purge(context.Background(), a.id); err != nil {
			t.Fatal(err)
		}
		if n := file(b); n != "R-000004" {
			t.Fatalf("b's report after a's purge: %s, want R-000004 (R-000003 was a's)", n)
		}
	})
}
