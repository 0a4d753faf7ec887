package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

func (db *DB) provider() (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(db.goMigrations()...)}
	dialect := goose.DialectSQLite3
	if db.dialect == Postgres {
		dialect = goose.DialectPostgres
		// Several controllers may start at once against one PostgreSQL; an
		// advisory lock makes exactly one of them migrate.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(dialect, db.sql, sub, opts...)
}

// Migrate applies every pending migration.
func (db *DB) Migrate(ctx context.Context) error {
	p, err := db.provider()
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrations: %s", oneLine(err))
	}
	return nil
}

// MigrateTo applies the pending migrations up to version, for tests of a
// migration's carrying over of data written by the versions before it.
func (db *DB) MigrateTo(ctx context.Context, version int64) error {
	p, err := db.provider()
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		return fmt.Errorf("migrations: %s", oneLine(err))
	}
	return nil
}

// MigrationStatus reports each migration and whether it is applied.
func (db *DB) MigrationStatus(ctx context.Context) ([]string, error) {
	p, err := db.provider()
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(st))
	for _, s := range st {
		out = append(out, fmt.Sprintf("%05d %-8s %s", s.Source.Version, s.State, s.Source.Path))
	}
	return out, nil
}

// IntegrityCheck asks the engine to verify its files (SQLite's
// PRAGMA integrity_check; PostgreSQL keeps its own and answers "ok").
func (db *DB) IntegrityCheck(ctx context.Context) error {
	if db.dialect != SQLite {
		return nil
	}
	var res string
	if err := db.sql.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res); err != nil {
		return err
	}
	if res != "ok" {
		return fmt.Errorf("integrity check: %s", res)
	}
	var fk int
	rows, err := db.sql.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		fk++
	}
	if fk > 0 {
		return fmt.Errorf("integrity check: %d foreign-key violations", fk)
	}
	return rows.Err()
}

// SchemaVersions reports the database's applied migration version (0 for a
// database never migrated) and the newest version this binary carries, so
// that a restore can refuse an archive it cannot migrate to before writing.
func (db *DB) SchemaVersions(ctx context.Context) (current, latest int64, err error) {
	p, err := db.provider()
	if err != nil {
		return 0, 0, fmt.Errorf("migrations: %w", err)
	}
	if src := p.ListSources(); len(src) > 0 {
		latest = src[len(src)-1].Version
	}
	var exists int
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'goose_db_version'`
	if db.dialect == Postgres {
		q = `SELECT COUNT(*) FROM (SELECT to_regclass('goose_db_version') AS t) r WHERE t IS NOT NULL`
	}
	if err := db.sql.QueryRowContext(ctx, q).Scan(&exists); err != nil {
		return 0, 0, fmt.Errorf("migrations: %w", err)
	}
	if exists == 0 {
		return 0, latest, nil
	}
	current, err = p.GetDBVersion(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("migrations: %s", oneLine(err))
	}
	return current, latest, nil
}
