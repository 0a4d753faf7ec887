package store

import (
	"context"
	"database/sql"

	"github.com/pressly/goose/v3"
)

// goMigrations hold what cannot be written once for both engines. Each states
// the SQL for every dialect side by side so that a difference is explicit.
func (db *DB) goMigrations() []*goose.Migration {
	ms := []*goose.Migration{
		goose.NewGoMigration(2, &goose.GoFunc{RunTx: db.execDialect(appendOnlyUp)}, &goose.GoFunc{RunTx: db.execDialect(appendOnlyDown)}),
	}
	ms = append(ms, db.networkMigrations()...)
	ms = append(ms, db.auditChainMigrations()...)
	return ms
}

type perDialect map[Dialect][]string

// appendOnlyUp forbids UPDATE and DELETE on the audit log inside the database,
// so that not even a bug in tsunagi (or a careless SQL session) can rewrite it.
var appendOnlyUp = perDialect{
	SQLite: {
		`CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
		 BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END`,
		`CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
		 BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END`,
	},
	Postgres: {
		`CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
		 BEGIN RAISE EXCEPTION 'audit log is append-only'; END $$`,
		`CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
		 FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()`,
		`CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
		 FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()`,
	},
}

var appendOnlyDown = perDialect{
	SQLite: {`DROP TRIGGER audit_events_no_update`, `DROP TRIGGER audit_events_no_delete`},
	Postgres: {
		`DROP TRIGGER audit_events_no_truncate ON audit_events`,
		`DROP TRIGGER audit_events_no_update ON audit_events`,
		`DROP FUNCTION audit_events_append_only()`,
	},
}

func (db *DB) execDialect(stmts perDialect) func(context.Context, *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		for _, s := range stmts[db.dialect] {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return err
			}
		}
		return nil
	}
}
