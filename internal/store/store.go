// Package store is tsunagi's SQL layer: one database/sql handle over either an
// embedded SQLite file (the default) or PostgreSQL (production, several
// controllers), one set of embedded goose migrations for both, transactions, the
// broadcast of committed changes to waiters on every controller (changes.go), and
// the mapping of driver errors to a few typed ones.
//
// Queries are written once with '?' placeholders and rebound for PostgreSQL.
// Instants are stored as fixed-width UTC text (see package clock) and
// identifiers as random text (see package ids), which keeps the schema portable
// without per-dialect column types.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver

	"github.com/tsunagi-net/tsunagi/internal/secretbox"
)

// Dialect names the database engine behind a DB.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Options say which database to open.
type Options struct {
	// DSN is a postgres:// or postgresql:// URL; empty means SQLite in DataDir.
	DSN string
	// DataDir holds the SQLite file and its lock; it is created when missing.
	DataDir string
	// MaxConns bounds the PostgreSQL pool; 0 means 4 per core, at least 8.
	MaxConns int
	// SkipLock leaves the data-directory lock alone. Only tests that open the
	// same file twice on purpose set it.
	SkipLock bool
	// SecretKeyFile is the controller's secret key, which seals values at
	// rest (see Secrets and secrets.go). It is checked against the database's
	// key check value, and made when neither exists. Empty uses a key that
	// lives as long as the process: for tests and tools that keep nothing
	// sealed.
	SecretKeyFile string
	// ListenFallback is how often Changes wakes its waiters while the
	// PostgreSQL LISTEN connection is down; 0 means DefaultListenFallback.
	ListenFallback time.Duration
}

// DB is an open database. It is safe for concurrent use.
type DB struct {
	sql     *sql.DB
	dialect Dialect
	unlock  func()
	stmts   stmtCache
	secrets *secretbox.Box
	// keyMade says that Open made the secret key file.
	keyMade bool
	changes *Changes
}

// Open connects, checks that the database answers, and applies migrations.
// A database that does not answer within 5 seconds is an error whose text
// fits on one line.
func Open(ctx context.Context, o Options) (*DB, error) {
	db, err := open(ctx, o)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.useSecretKey(ctx, o.SecretKeyFile); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// OpenNoMigrate connects without applying migrations (for `tsunagi migrate
// status` and tests of the migrations themselves).
func OpenNoMigrate(ctx context.Context, o Options) (*DB, error) { return open(ctx, o) }

func open(ctx context.Context, o Options) (*DB, error) {
	db := DB{secrets: secretbox.Ephemeral(), changes: newChanges()}
	var err error
	switch {
	case strings.HasPrefix(o.DSN, "postgres://"), strings.HasPrefix(o.DSN, "postgresql://"):
		db.dialect = Postgres
		db.sql, err = sql.Open("pgx", o.DSN)
		if err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
		// A few connections per core: more only queue inside PostgreSQL
		// (measured: p99 of a catalog read at 50 clients fell from 64 ms with
		// 32 connections to 43 ms with 8 on 2 cores). As many idle as open: a
		// pool that closes connections under load pays a backend fork and a
		// SCRAM handshake for each.
		n := o.MaxConns
		if n <= 0 {
			n = max(8, 4*runtime.GOMAXPROCS(0))
		}
		db.sql.SetMaxOpenConns(n)
		db.sql.SetMaxIdleConns(n)
		db.sql.SetConnMaxIdleTime(5 * time.Minute)
	case o.DSN == "":
		db.dialect = SQLite
		if o.DataDir == "" {
			return nil, errors.New("database: no data directory given for SQLite")
		}
		if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
		if !o.SkipLock {
			db.unlock, err = lockDir(o.DataDir)
			if err != nil {
				return nil, err
			}
		}
		file := filepath.Join(o.DataDir, "tsunagi.db")
		if err := privateDB(o.DataDir, file); err != nil {
			db.Close()
			return nil, fmt.Errorf("database: %w", err)
		}
		db.sql, err = sql.Open("sqlite", sqliteDSN(file))
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("database: %w", err)
		}
		// One writer at a time is SQLite's rule; a small pool keeps readers
		// concurrent under WAL without queueing many writers on busy_timeout.
		db.sql.SetMaxOpenConns(8)
		db.sql.SetMaxIdleConns(8)
	default:
		return nil, errors.New("database: --db must be a postgres:// URL (leave it empty for the embedded SQLite)")
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.sql.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("database unreachable: %s", oneLine(err))
	}
	if db.dialect == Postgres {
		if err := db.changes.usePostgres(pingCtx, &db, o.DSN, o.ListenFallback); err != nil {
			db.Close()
			return nil, fmt.Errorf("database: %w", err)
		}
	}
	return &db, nil
}

// sqliteDSN sets what every connection needs: foreign keys enforced, WAL,
// synchronous=FULL so that an acknowledged commit survives a crash of the
// machine as well as of the process, a busy timeout instead of immediate
// SQLITE_BUSY, and BEGIN IMMEDIATE so a read-then-write transaction never
// fails halfway on a lock upgrade.
func sqliteDSN(path string) string {
	q := url.Values{}
	for _, p := range []string{"foreign_keys(1)", "journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// Dialect says which engine this is.
func (db *DB) Dialect() Dialect { return db.dialect }

// SQL exposes the handle for migrations and integrity checks.
func (db *DB) SQL() *sql.DB { return db.sql }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.sql.PingContext(ctx) }

// Close closes the pool and releases the data-directory lock.
func (db *DB) Close() error {
	var err error
	db.changes.close()
	db.stmts.close()
	if db.sql != nil {
		err = db.sql.Close()
	}
	if db.unlock != nil {
		db.unlock()
		db.unlock = nil
	}
	return err
}

// Querier is what both DB and Tx offer; store methods take one so they can run
// inside or outside a transaction.
type Querier interface {
	Exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) *sql.Row
	Dialect() Dialect
	// Secrets seals and opens the values kept sealed at rest.
	Secrets() *secretbox.Box
}

func (db *DB) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := db.stmt(ctx, q); st != nil {
		r, err := st.ExecContext(ctx, args...)
		return r, wrap(err)
	}
	r, err := db.sql.ExecContext(ctx, rebind(db.dialect, q), args...)
	return r, wrap(err)
}

func (db *DB) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := db.stmt(ctx, q); st != nil {
		r, err := st.QueryContext(ctx, args...)
		return r, wrap(err)
	}
	r, err := db.sql.QueryContext(ctx, rebind(db.dialect, q), args...)
	return r, wrap(err)
}

func (db *DB) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st := db.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return db.sql.QueryRowContext(ctx, rebind(db.dialect, q), args...)
}

// Tx is a transaction.
//
// Queries in a transaction are not served from the statement cache: preparing
// a statement takes a second pool connection while the transaction holds one,
// and with SQLite's small pool that can starve every writer.
type Tx struct {
	tx      *sql.Tx
	dialect Dialect
	secrets *secretbox.Box
	changed bool // see Changed
	local   map[any]any
	before  []func(context.Context) error // see Local
	after   []func()                      // see AfterCommit
}

func (t *Tx) Dialect() Dialect { return t.dialect }

// Local returns the transaction's value under key, making it with init the
// first time: init returns the value and a function that runs inside the
// transaction when fn has returned nil, just before the commit (in the
// order the keys were first used). A package buffers per-transaction work
// this way — the audit log appends a transaction's events at its end, so
// that it holds its chains' locks only for the commit.
func (t *Tx) Local(key any, init func() (any, func(context.Context) error)) any {
	if v, ok := t.local[key]; ok {
		return v
	}
	if t.local == nil {
		t.local = map[any]any{}
	}
	v, before := init()
	t.local[key] = v
	if before != nil {
		t.before = append(t.before, before)
	}
	return v
}

// AfterCommit registers fn to run once the transaction has committed, in
// this process (never when it rolls back): a waiter in this process that
// acts on what the transaction wrote — the mail sender on a queued mail —
// is told at once instead of at its next poll.
func (t *Tx) AfterCommit(fn func()) { t.after = append(t.after, fn) }

// finish runs the functions registered with Local; one may register
// another.
func (t *Tx) finish(ctx context.Context) error {
	for i := 0; i < len(t.before); i++ {
		if err := t.before[i](ctx); err != nil {
			return err
		}
	}
	return nil
}

func (t *Tx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	r, err := t.tx.ExecContext(ctx, rebind(t.dialect, q), args...)
	return r, wrap(err)
}

func (t *Tx) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	r, err := t.tx.QueryContext(ctx, rebind(t.dialect, q), args...)
	return r, wrap(err)
}

func (t *Tx) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, rebind(t.dialect, q), args...)
}

// InTx runs fn in a transaction and commits when fn returns nil. The commit is
// durable when InTx returns nil; only then may a caller acknowledge the write.
// A transaction fn marked Changed wakes the waiters on db.Changes once it
// has committed (see changes.go).
func (db *DB) InTx(ctx context.Context, fn func(*Tx) error) error {
	sqlTx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return wrap(err)
	}
	tx := &Tx{tx: sqlTx, dialect: db.dialect, secrets: db.secrets}
	if err := fn(tx); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := tx.finish(ctx); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := tx.notifyChanged(ctx, db.changes); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return wrap(err)
	}
	if tx.changed {
		db.changes.wake()
	}
	for _, fn := range tx.after {
		fn()
	}
	return nil
}

// rebind turns '?' placeholders into PostgreSQL's $1, $2, …. Queries in tsunagi
// never contain a literal '?', so no quoting rules are needed.
func rebind(d Dialect, q string) string {
	if d != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// Strings runs a query of one text column and returns its values in order.
func Strings(ctx context.Context, q Querier, query string, args ...any) ([]string, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, wrap(err)
		}
		out = append(out, s)
	}
	return out, wrap(rows.Err())
}
