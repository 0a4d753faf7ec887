package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"

	"github.com/tsunagi-net/tsunagi/internal/fault"
)

// The store's errors are faults, so that one escaping a domain package still
// reaches the client as the right status with a safe message, and the web
// layer needs no knowledge of the store.
var (
	// ErrNotFound: no row matched. Callers scoped to a customer also get it
	// for rows of another customer.
	ErrNotFound error = &fault.Error{Kind: fault.NotFound, Message: "not found"}
	// ErrConflict: a unique or foreign-key constraint refused the write.
	ErrConflict error = &fault.Error{Kind: fault.Conflict, Message: "conflicts with an existing object"}
	// ErrUnavailable: the database could not be reached or is busy; the
	// request may be retried.
	ErrUnavailable error = &fault.Error{Kind: fault.Unavailable, Message: "the service is temporarily unavailable; retry shortly"}
)

// wrap classifies a driver error, keeping the original for logs.
func wrap(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return errors.Join(ErrNotFound, err)
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch {
		case pg.Code == "23505", pg.Code == "23503":
			return errors.Join(ErrConflict, err)
		case len(pg.Code) == 2+3 && (pg.Code[:2] == "08" || pg.Code[:2] == "57" || pg.Code == "53300"):
			return errors.Join(ErrUnavailable, err)
		}
		return err
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		switch lite.Code() & 0xff {
		case 19: // SQLITE_CONSTRAINT (unique, primary key, foreign key)
			return errors.Join(ErrConflict, err)
		case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED
			return errors.Join(ErrUnavailable, err)
		}
		return err
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	// A connection lost in the middle of a query shows as io.ErrUnexpectedEOF
	// (pgx turns the socket's EOF into it) or pgconn.ErrConnClosed, not as a
	// net.Error.
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, sql.ErrConnDone) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, pgconn.ErrConnClosed) {
		return errors.Join(ErrUnavailable, err)
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return errors.Join(ErrUnavailable, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.Join(ErrUnavailable, err)
	}
	return err
}

// Scan wraps Row.Scan so that a missing row becomes ErrNotFound.
func Scan(row *sql.Row, dest ...any) error { return wrap(row.Scan(dest...)) }

// Wrap classifies an error from a Row.Scan or other direct driver call.
func Wrap(err error) error { return wrap(err) }
