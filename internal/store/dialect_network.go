package store

import "github.com/pressly/goose/v3"

// networkMigrations are the service model's dialect-specific migrations
// (versions 20–29; the portable schema is 00020_network.sql).
func (db *DB) networkMigrations() []*goose.Migration {
	return []*goose.Migration{
		goose.NewGoMigration(21, &goose.GoFunc{RunTx: db.execDialect(versionsImmutableUp)}, &goose.GoFunc{RunTx: db.execDialect(versionsImmutableDown)}),
	}
}

// versionsImmutableUp forbids UPDATE on configuration versions: an applied
// version is the customer's saved data as it was, and is never rewritten.
// DELETE stays possible because a terminated customer's saved data must be
// erased (CLD.8.1.5).
var versionsImmutableUp = perDialect{
	SQLite: {
		`CREATE TRIGGER net_versions_no_update BEFORE UPDATE ON net_versions
		 BEGIN SELECT RAISE(ABORT, 'configuration versions are immutable'); END`,
	},
	Postgres: {
		`CREATE FUNCTION net_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
		 BEGIN RAISE EXCEPTION 'configuration versions are immutable'; END $$`,
		`CREATE TRIGGER net_versions_no_update BEFORE UPDATE ON net_versions
		 FOR EACH ROW EXECUTE FUNCTION net_versions_immutable()`,
	},
}

var versionsImmutableDown = perDialect{
	SQLite: {`DROP TRIGGER net_versions_no_update`},
	Postgres: {
		`DROP TRIGGER net_versions_no_update ON net_versions`,
		`DROP FUNCTION net_versions_immutable()`,
	},
}
