package lifecycle

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// platformTables hold no customer's rows by their nature; every other table
// with a customer_id or account_id column must be seeded with a row of the
// fixture (seedCustomer), so that the walk has something to miss: a new
// table of customer data fails the walk until it is seeded and erased, or
// kept with a reason (Kept).
var platformTables = map[string]string{
	"goose_db_version":      "the schema version",
	"regions":               "operator inventory",
	"hub_nodes":             "operator inventory",
	"physical_ports":        "operator inventory",
	"nat_pools":             "operator inventory (an allocation is the customer's, the pool is not)",
	"node_underlay":         "operator inventory",
	"node_ca":               "the controller's node CA",
	"node_enrolment_tokens": "operator inventory",
	"node_certs":            "operator inventory",
	"node_status":           "what nodes report of themselves",
	"change_counter":        "the count of changes that may alter a node's document (no customer data)",
	"secret_key_check":      "the controller's key check value",
	"job_leases":            "the scheduler's leases",
	"signing_keys":          "the controller's signing keys",
	"report_counter":        "the last report number handed out (one row, no customer's data)",
}

// keptRows are rows of a table that is otherwise erased, kept with a reason:
// a condition on the table's rows.
var keptRows = map[string]struct{ where, why string }{
	"mail_outbox": {`cause = '` + noticeCause + `'`, "the erasure notice: the operator's record of having sent the customer its certificate"},
}

// TestWalkEveryTable erases customer a and walks every table and every
// column: no value may hold a's ID or the IDs, login IDs or addresses of
// its accounts, outside the kept tables (Kept) and kept rows (keptRows);
// customer b loses nothing.
func TestWalkEveryTable(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seedPlatform(t, db)
		a := seedCustomer(t, db, "a", 1, terminatedOn)
		b := seedCustomer(t, db, "b", 2, addDays(t, terminatedOn, 60))
		kept := map[string]bool{}
		for _, k := range Kept {
			kept[k.Table] = true
		}
		tables := listTables(t, db)
		before := map[string]int{}
		for table, cols := range tables {
			if platformTables[table] != "" || kept[table] {
				continue
			}
			hasOwner := false
			for _, c := range cols {
				hasOwner = hasOwner || c == "customer_id" || c == "account_id"
			}
			if n := references(t, db, table, cols, needles(a), ""); hasOwner && n == 0 {
				t.Errorf("table %s has a customer_id or account_id column but no row of the fixture: seed it in seedCustomer, "+
					"or list it in platformTables or Kept with why", table)
			}
			before[table] = references(t, db, table, cols, needles(b), "")
		}
		p, _ := newPurger(t, db, 30, addDays(t, terminatedOn, 30))
		if err := p.Purge(ctx, a.id); err != nil {
			t.Fatal(err)
		}
		for table, cols := range tables {
			if kept[table] {
				continue
			}
			except := ""
			if k, ok := keptRows[table]; ok {
				except = k.where
			}
			if n := references(t, db, table, cols, needles(a), except); n > 0 {
				t.Errorf("after the purge, %d rows of %s still reference customer %s", n, table, a.id)
			}
			if n := references(t, db, table, cols, needles(b), ""); n != before[table] && platformTables[table] == "" {
				t.Errorf("customer b lost rows of %s: %d → %d", table, before[table], n)
			}
		}
		// The kept records are still there.
		for _, q := range []string{`SELECT COUNT(*) FROM customers WHERE id = ? AND purged_at IS NOT NULL AND name <> ''`,
			`SELECT COUNT(*) FROM contracts WHERE customer_id = ?`, `SELECT COUNT(*) FROM contract_options WHERE customer_id = ?`,
			`SELECT COUNT(*) FROM erasures WHERE customer_id = ? AND certificate IS NOT NULL`} {
			var n int
			if err := db.QueryRow(ctx, q, a.id).Scan(&n); err != nil || n == 0 {
				t.Errorf("%s: %d, %v", q, n, err)
			}
		}
	})
}

// needles are the values that identify f or its accounts.
func needles(f fixture) []string {
	out := []string{string(f.id)}
	out = append(out, f.accounts...)
	out = append(out, f.logins...)
	return append(out, f.emails...)
}

// listTables maps every table of the database to its columns.
func listTables(t *testing.T, db *store.DB) map[string][]string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
	cq := `SELECT name FROM pragma_table_info(?)`
	if db.Dialect() == store.Postgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
		cq = `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?`
	}
	out := map[string][]string{}
	for _, table := range column(t, db, q) {
		out[table] = column(t, db, cq, table)
	}
	if len(out) < 30 {
		t.Fatalf("only %d tables: %v", len(out), out)
	}
	return out
}

func column(t *testing.T, db *store.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(context.Background(), q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// references counts the rows of table with any column holding any of the
// needles (anywhere in its text), except rows matching except.
func references(t *testing.T, db *store.DB, table string, cols, needles []string, except string) int {
	t.Helper()
	var conds []string
	var args []any
	for _, c := range cols {
		for _, n := range needles {
			conds = append(conds, fmt.Sprintf(`CAST("%s" AS TEXT) LIKE ? ESCAPE '\'`, c))
			args = append(args, "%"+strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(n)+"%")
		}
	}
	q := fmt.Sprintf(`SELECT COUNT(*) FROM "%s" WHERE (%s)`, table, strings.Join(conds, " OR "))
	if except != "" {
		q += ` AND NOT (` + except + `)`
	}
	var n int
	if err := db.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", table, err)
	}
	return n
}

// countRows is the number of rows in the whole database.
func countRows(t *testing.T, db *store.DB) (total int) {
	t.Helper()
	for table := range listTables(t, db) {
		var n int
		if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM "`+table+`"`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		total += n
	}
	return total
}

// assertErased checks that no table outside the kept ones references f.
func assertErased(t *testing.T, db *store.DB, f fixture) {
	t.Helper()
	kept := map[string]bool{}
	for _, k := range Kept {
		kept[k.Table] = true
	}
	for table, cols := range listTables(t, db) {
		if kept[table] {
			continue
		}
		except := ""
		if k, ok := keptRows[table]; ok {
			except = k.where
		}
		if n := references(t, db, table, cols, needles(f), except); n > 0 {
			t.Errorf("%d rows of %s still reference customer %s", n, table, f.id)
		}
	}
	// The contract record is kept, the free text typed at its
	// cancellation is not.
	if n := column(t, db, `SELECT cancel_reason FROM contracts WHERE customer_id = ? AND cancel_reason <> ''`, f.id); len(n) > 0 {
		t.Errorf("the kept contracts of %s still hold their cancellation reasons %q", f.id, n)
	}
}

// scheduler runs p's job on db as controller name, on the clock now.
func scheduler(t *testing.T, db *store.DB, p *Purger, name string, now func() time.Time) *schedule.Scheduler {
	t.Helper()
	s, err := schedule.New(db, audit.New(db), name, p.Job())
	if err != nil {
		t.Fatal(err)
	}
	s.Now = now
	return s
}
