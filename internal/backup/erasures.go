package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/tsunagi-net/tsunagi/internal/atomicfile"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// ErasureFormat names the erasure list's layout.
const ErasureFormat = "tsunagi.erasures/v1"

// ErasureFile is the erasure list's name in the backup directory.
const ErasureFile = "erasures.json"

// ErasureList names every customer whose purge has started. It is kept
// beside the backups, newer than any of them, so that restoring a backup
// taken before a purge purges that customer again.
type ErasureList struct {
	Format    string    `json:"format"`
	Customers []Erasure `json:"customers"`
}

// Erasure is one customer's entry: a row of the erasures table. The file is
// not signed as a whole; a finished erasure carries its deletion
// certificate, signed by the controller, and a restore believes the entry
// only as far as the certificate verifies (lifecycle.Purger.PurgeListed).
type Erasure struct {
	CustomerID   string  `json:"customer_id"`
	TerminatedOn string  `json:"terminated_on"`
	FinishedAt   *string `json:"finished_at"`
	// Certificate is the signed document as stored, in a JSON string so
	// that its bytes (which the signature covers) survive the file's
	// indentation and escaping.
	Certificate string `json:"certificate,omitempty"`
}

// WriteErasureList writes dir/erasures.json from db's erasures table,
// atomically. Create calls it after every backup; the purge calls it after
// each customer it erases, so that the list is never older than the newest
// purge.
func WriteErasureList(ctx context.Context, dir string, db *store.DB) error {
	l, err := erasuresOf(ctx, db)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Private(dir); err != nil {
		return fmt.Errorf("erasure list: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, ErasureFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("erasure list: %w", err)
	}
	return nil
}

func erasuresOf(ctx context.Context, db *store.DB) (ErasureList, error) {
	l := ErasureList{Format: ErasureFormat, Customers: []Erasure{}}
	ok, err := hasTable(ctx, db, "erasures")
	if err != nil || !ok {
		// Before the purge's migration there is no erasures table: nobody
		// has been erased.
		return l, err
	}
	rows, err := db.Query(ctx, `SELECT customer_id, terminated_on, finished_at, COALESCE(certificate, '') FROM erasures ORDER BY customer_id`)
	if err != nil {
		return l, fmt.Errorf("erasure list: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e Erasure
		if err := rows.Scan(&e.CustomerID, &e.TerminatedOn, &e.FinishedAt, &e.Certificate); err != nil {
			return l, fmt.Errorf("erasure list: %w", err)
		}
		l.Customers = append(l.Customers, e)
	}
	return l, rows.Err()
}

func hasTable(ctx context.Context, db *store.DB, name string) (bool, error) {
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	if db.Dialect() == store.Postgres {
		q = `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?`
	}
	var n int
	if err := store.Scan(db.QueryRow(ctx, q, name), &n); err != nil {
		return false, fmt.Errorf("catalogue: %w", err)
	}
	return n > 0, nil
}

// ReadErasureList reads an erasure list file and returns the customers it
// names, sorted; see ReadErasureEntries.
func ReadErasureList(path string, missingOK bool) ([]string, error) {
	l, err := ReadErasureEntries(path, missingOK)
	if err != nil || l == nil {
		return nil, err
	}
	ids := make([]string, 0, len(l))
	for _, c := range l {
		ids = append(ids, c.CustomerID)
	}
	sort.Strings(ids)
	return ids, nil
}

// ReadErasureEntries reads an erasure list file. A file that does not exist
// is an empty list only when missingOK (the default location, beside the
// archive, on a first restore); a list named by the operator must exist.
func ReadErasureEntries(path string, missingOK bool) ([]Erasure, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && missingOK {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("erasure list: %w", err)
	}
	var l ErasureList
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("erasure list %s: %w", path, err)
	}
	if l.Format != ErasureFormat {
		return nil, fmt.Errorf("erasure list %s: format %q, want %q", path, l.Format, ErasureFormat)
	}
	for _, c := range l.Customers {
		if c.CustomerID == "" {
			return nil, fmt.Errorf("erasure list %s: an entry without customer_id", path)
		}
	}
	return l.Customers, nil
}
