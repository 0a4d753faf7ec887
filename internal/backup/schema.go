package backup

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/store"
)

// kind is a column's value class, the same on both engines: the archive
// carries values by kind so that a SQLite export restores into PostgreSQL.
type kind string

const (
	kText    kind = "text"
	kInteger kind = "integer"
	kBoolean kind = "boolean"
	kReal    kind = "real"
	kBlob    kind = "blob"
)

func kindOf(declared string) kind {
	t := strings.ToUpper(declared)
	switch {
	case strings.Contains(t, "INT"):
		return kInteger
	case strings.Contains(t, "BOOL"):
		return kBoolean
	case strings.Contains(t, "DOUBLE"), strings.Contains(t, "REAL"), strings.Contains(t, "FLOA"), strings.Contains(t, "NUMERIC"):
		return kReal
	case strings.Contains(t, "BLOB"), strings.Contains(t, "BYTEA"):
		return kBlob
	}
	return kText
}

type column struct {
	Name string
	Kind kind
}

// table is what the archive needs of one table: its columns, its primary key
// (the export's row order) and the tables its foreign keys point at (the
// restore's insert order).
type table struct {
	Name    string
	Columns []column
	Key     []string
	Refs    []string
}

// skipped are the tables that are not the controller's data: goose's own
// record of applied migrations is written by migrating the restored database
// to the archive's schema version.
var skipped = map[string]bool{"goose_db_version": true}

// queryer is a connection or a transaction.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// listTables reads every table of the database from its catalogue — never a
// list written here, so a table a later migration adds is in every backup.
// The result is ordered so that a table comes after the tables it refers to.
func listTables(ctx context.Context, q queryer, d store.Dialect) ([]table, error) {
	var names []string
	var err error
	if d == store.Postgres {
		names, err = strs(ctx, q, `SELECT table_name FROM information_schema.tables
			WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`)
	} else {
		names, err = strs(ctx, q, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	}
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	var out []table
	for _, n := range names {
		if skipped[n] {
			continue
		}
		t := table{Name: n}
		if d == store.Postgres {
			err = pgTable(ctx, q, &t)
		} else {
			err = sqliteTable(ctx, q, &t)
		}
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", n, err)
		}
		out = append(out, t)
	}
	return dependencyOrder(out)
}

func strs(ctx context.Context, q queryer, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func sqliteTable(ctx context.Context, q queryer, t *table) error {
	// Table names come from sqlite_master; quoting keeps any name literal.
	rows, err := q.QueryContext(ctx, `SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid`, t.Name)
	if err != nil {
		return err
	}
	keys := map[int]string{}
	for rows.Next() {
		var name, typ string
		var pk int
		if err := rows.Scan(&name, &typ, &pk); err != nil {
			rows.Close()
			return err
		}
		t.Columns = append(t.Columns, column{Name: name, Kind: kindOf(typ)})
		if pk > 0 {
			keys[pk] = name
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for i := 1; i <= len(keys); i++ {
		t.Key = append(t.Key, keys[i])
	}
	t.Refs, err = strs(ctx, q, `SELECT DISTINCT "table" FROM pragma_foreign_key_list(?)`, t.Name)
	return err
}

func pgTable(ctx context.Context, q queryer, t *table) error {
	rows, err := q.QueryContext(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, t.Name)
	if err != nil {
		return err
	}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			rows.Close()
			return err
		}
		t.Columns = append(t.Columns, column{Name: name, Kind: kindOf(typ)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	t.Key, err = strs(ctx, q, `SELECT k.column_name FROM information_schema.table_constraints c
		JOIN information_schema.key_column_usage k
		  ON k.constraint_schema = c.constraint_schema AND k.constraint_name = c.constraint_name AND k.table_name = c.table_name
		WHERE c.table_schema = current_schema() AND c.table_name = $1 AND c.constraint_type = 'PRIMARY KEY'
		ORDER BY k.ordinal_position`, t.Name)
	if err != nil {
		return err
	}
	t.Refs, err = strs(ctx, q, `SELECT DISTINCT ccu.table_name FROM information_schema.table_constraints c
		JOIN information_schema.constraint_column_usage ccu
		  ON ccu.constraint_schema = c.constraint_schema AND ccu.constraint_name = c.constraint_name
		WHERE c.table_schema = current_schema() AND c.table_name = $1 AND c.constraint_type = 'FOREIGN KEY'`, t.Name)
	return err
}

// dependencyOrder sorts tables so that each follows the tables it refers to
// (ties by name, for a deterministic archive). A reference to itself does
// not order anything; a cycle between tables is an error, since no insert
// order could satisfy immediate foreign keys on PostgreSQL.
func dependencyOrder(ts []table) ([]table, error) {
	byName := map[string]table{}
	for _, t := range ts {
		byName[t.Name] = t
	}
	names := make([]string, 0, len(ts))
	for _, t := range ts {
		names = append(names, t.Name)
	}
	sort.Strings(names)
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var out []table
	var visit func(n string) error
	visit = func(n string) error {
		switch state[n] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("foreign keys form a cycle through %s", n)
		}
		state[n] = visiting
		refs := append([]string(nil), byName[n].Refs...)
		sort.Strings(refs)
		for _, r := range refs {
			if _, ok := byName[r]; ok && r != n {
				if err := visit(r); err != nil {
					return err
				}
			}
		}
		state[n] = done
		out = append(out, byName[n])
		return nil
	}
	for _, n := range names {
		if err := visit(n); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// quote makes an identifier from the catalogue safe in SQL on both engines.
func quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }
