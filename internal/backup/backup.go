// Package backup holds the controller's platform backup and restore (ISO/IEC
// 27017 12.3.1): a consistent, engine-neutral logical export of the whole
// database taken in one read transaction — the schema version, then every
// table read from the catalogue as JSON lines in primary-key order — packed
// with a manifest of row counts and SHA-256 sums into a tar archive that is
// encrypted with age to the operator's recipients; and the restore of such
// an archive into an empty database (SQLite or PostgreSQL, whichever the
// backup came from), which verifies everything before writing anything and
// then re-applies the erasure list so that a purged customer stays gone.
//
// The controller never holds a key that opens its backups: only the age
// identities kept by the operator do. The database's sealed values open only
// with the controller's secret key file, which is kept apart from the backups
// and checked by the restore.
package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/tsunagi-net/tsunagi/internal/atomicfile"
	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// Format names the archive layout; a restore refuses any other.
const Format = "tsunagi.backup/v1"

const (
	manifestName = "manifest.json"
	filePrefix   = "tsunagi-backup-"
	fileSuffix   = ".tar.age"
	// summarySuffix names the unencrypted copy of an archive's manifest kept
	// beside it, so that the controller can list its backups without a key
	// that opens them.
	summarySuffix = ".manifest.json"
	nameLayout    = "20060102-150405.000"
)

// Manifest describes an archive: what it holds and the SHA-256 of each data
// file, checked by the restore before anything is written.
type Manifest struct {
	Format         string       `json:"format"`
	CreatedAt      time.Time    `json:"created_at"`
	CreatedAtJST   string       `json:"created_at_jst"`
	TsunagiVersion string       `json:"tsunagi_version"`
	SchemaVersion  int64        `json:"schema_version"`
	Engine         string       `json:"engine"`
	Tables         []TableEntry `json:"tables"`
}

// TableEntry is one table's data file in the archive.
type TableEntry struct {
	Name   string `json:"name"`
	File   string `json:"file"`
	Rows   int64  `json:"rows"`
	SHA256 string `json:"sha256"`
}

// Options say where a backup goes and for whom it is encrypted.
type Options struct {
	Dir        string
	Recipients []age.Recipient
	// Keep is how many archives to keep in Dir, newest first; older ones are
	// deleted once the new one is complete. 0 keeps every archive.
	Keep int
	// Now is the clock (clock.Now when nil); tests set it.
	Now func() time.Time
	// Audit records backup.create; nil records nothing (tests of the format).
	Audit *audit.Log
}

// Result is a backup written.
type Result struct {
	Name     string   `json:"name"`
	Path     string   `json:"-"`
	Size     int64    `json:"size"`
	SHA256   string   `json:"sha256"` // of the encrypted archive file
	Manifest Manifest `json:"manifest"`
	Deleted  []string `json:"deleted,omitempty"` // older archives removed by retention
}

// ParseRecipients reads age X25519 public keys (age1…).
func ParseRecipients(keys []string) ([]age.Recipient, error) {
	if len(keys) == 0 {
		return nil, errors.New("no recipient: a backup is always encrypted to at least one age public key (age1…)")
	}
	out := make([]age.Recipient, 0, len(keys))
	for _, k := range keys {
		r, err := age.ParseX25519Recipient(strings.TrimSpace(k))
		if err != nil {
			return nil, fmt.Errorf("recipient %q: not an age X25519 public key (age1…): %w", k, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Create writes one encrypted archive of db into o.Dir, atomically and 0600,
// then the erasure list beside it, then deletes archives beyond o.Keep.
func Create(ctx context.Context, db *store.DB, o Options) (Result, error) {
	if len(o.Recipients) == 0 {
		return Result{}, errors.New("backup: no recipient: an unencrypted backup is never written")
	}
	if o.Dir == "" {
		return Result{}, errors.New("backup: no output directory")
	}
	if o.Keep < 0 {
		return Result{}, errors.New("backup: keep must be 0 (keep all) or more")
	}
	now := clock.Now
	if o.Now != nil {
		now = o.Now
	}
	if err := atomicfile.Private(o.Dir); err != nil {
		return Result{}, fmt.Errorf("backup: %s: %w", o.Dir, err)
	}
	at := now().UTC().Truncate(time.Millisecond)
	name := filePrefix + at.In(clock.JST).Format(nameLayout) + fileSuffix
	path := filepath.Join(o.Dir, name)
	if _, err := os.Stat(path); err == nil {
		return Result{}, fmt.Errorf("backup: %s already exists (one backup per millisecond)", name)
	}
	res := Result{Name: name, Path: path}
	sum := sha256.New()
	err := atomicfile.WriteFunc(path, 0o600, func(w io.Writer) error {
		counted := &countWriter{w: io.MultiWriter(w, sum)}
		enc, err := age.Encrypt(counted, o.Recipients...)
		if err != nil {
			return err
		}
		m, err := snapshot(ctx, db, enc, at)
		if err != nil {
			return err
		}
		if err := enc.Close(); err != nil {
			return err
		}
		res.Manifest, res.Size = m, counted.n
		return nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("backup: %w", err)
	}
	res.SHA256 = hex.EncodeToString(sum.Sum(nil))
	summary, err := json.MarshalIndent(res.Summary(), "", "  ")
	if err == nil {
		err = atomicfile.Write(filepath.Join(o.Dir, name+summarySuffix), summary, 0o600)
	}
	if err == nil {
		err = WriteErasureList(ctx, o.Dir, db)
	}
	if err != nil {
		return Result{}, fmt.Errorf("backup: %w", err)
	}
	if o.Keep > 0 {
		if res.Deleted, err = prune(o.Dir, o.Keep); err != nil {
			return res, fmt.Errorf("backup: retention: %w", err)
		}
	}
	if o.Audit != nil {
		err = o.Audit.Record(ctx, audit.Event{Action: "backup.create", Target: "backup:" + name, Result: audit.OK,
			Detail: map[string]any{"file": name, "size": res.Size, "sha256": res.SHA256,
				"schema_version": res.Manifest.SchemaVersion, "deleted": len(res.Deleted)}})
		if err != nil {
			return res, fmt.Errorf("backup: %w", err)
		}
	}
	return res, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// snapshot writes the tar stream of db to w from one read transaction: on
// PostgreSQL REPEATABLE READ READ ONLY, on SQLite a deferred transaction
// whose first read fixes the snapshot (WAL keeps it while writers go on).
func snapshot(ctx context.Context, db *store.DB, w io.Writer, at time.Time) (Manifest, error) {
	m := Manifest{Format: Format, CreatedAt: at, CreatedAtJST: clock.Show(at), TsunagiVersion: Version(),
		Engine: string(db.Dialect())}
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		return m, err
	}
	defer conn.Close()
	begin := "BEGIN DEFERRED"
	if db.Dialect() == store.Postgres {
		begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
	}
	if _, err := conn.ExecContext(ctx, begin); err != nil {
		return m, fmt.Errorf("snapshot: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK") //nolint:errcheck // read-only: nothing to keep
	if err := conn.QueryRowContext(ctx, `SELECT COALESCE(MAX(version_id), 0) FROM goose_db_version WHERE is_applied`).Scan(&m.SchemaVersion); err != nil {
		return m, fmt.Errorf("snapshot: no migration record: is this a tsunagi database (--data-dir, --db)? %w", err)
	}
	tables, err := listTables(ctx, conn, db.Dialect())
	if err != nil {
		return m, fmt.Errorf("snapshot: %w", err)
	}
	tw := tar.NewWriter(w)
	var buf bytes.Buffer
	for _, t := range tables {
		buf.Reset()
		n, err := exportTable(ctx, conn, t, &buf)
		if err != nil {
			return m, fmt.Errorf("snapshot: %s: %w", t.Name, err)
		}
		sum := sha256.Sum256(buf.Bytes())
		e := TableEntry{Name: t.Name, File: "data/" + t.Name + ".jsonl", Rows: n, SHA256: hex.EncodeToString(sum[:])}
		if err := writeTarFile(tw, e.File, buf.Bytes(), at); err != nil {
			return m, err
		}
		m.Tables = append(m.Tables, e)
	}
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	// The manifest comes last: it holds the data files' sums, and the data
	// files are streamed one table at a time.
	if err := writeTarFile(tw, manifestName, mj, at); err != nil {
		return m, err
	}
	return m, tw.Close()
}

func writeTarFile(tw *tar.Writer, name string, data []byte, at time.Time) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), ModTime: at, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// exportTable writes t's rows as JSON lines in primary-key order (every
// column's order for a table without one), each value by its column's kind.
func exportTable(ctx context.Context, q queryer, t table, w *bytes.Buffer) (int64, error) {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = quote(c.Name)
	}
	order := t.Key
	if len(order) == 0 {
		for _, c := range t.Columns {
			order = append(order, c.Name)
		}
	}
	ord := make([]string, len(order))
	for i, c := range order {
		ord[i] = quote(c)
	}
	rows, err := q.QueryContext(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+quote(t.Name)+" ORDER BY "+strings.Join(ord, ", "))
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var n int64
	enc := json.NewEncoder(w)
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		row := make(map[string]any, len(cols))
		for i, c := range t.Columns {
			v, err := exportValue(c.Kind, vals[i])
			if err != nil {
				return n, fmt.Errorf("column %s: %w", c.Name, err)
			}
			row[c.Name] = v
		}
		if err := enc.Encode(row); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// exportValue turns what a driver scanned into the archive's value for a
// column of kind k: a string, an integer, a boolean, a float, base64 for
// bytes, or null.
func exportValue(k kind, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch k {
	case kBoolean:
		switch b := v.(type) {
		case bool:
			return b, nil
		case int64:
			return b != 0, nil
		}
	case kInteger:
		if i, ok := v.(int64); ok {
			return i, nil
		}
	case kReal:
		switch f := v.(type) {
		case float64:
			return f, nil
		case int64:
			return float64(f), nil
		}
	case kBlob:
		if b, ok := v.([]byte); ok {
			return base64.StdEncoding.EncodeToString(b), nil
		}
	case kText:
		switch s := v.(type) {
		case string:
			return s, nil
		case []byte:
			return string(s), nil
		}
	}
	return nil, fmt.Errorf("a %T value in a %s column", v, k)
}

// Version is this binary's version from its build information.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			v += " " + s.Value
		}
	}
	return v
}

// prune deletes the archives beyond the newest keep (names sort by time),
// with their summaries.
func prune(dir string, keep int) ([]string, error) {
	names, err := archives(dir)
	if err != nil {
		return nil, err
	}
	var deleted []string
	var errs []error
	for i := 0; i < len(names)-keep; i++ {
		if err := os.Remove(filepath.Join(dir, names[i])); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		_ = os.Remove(filepath.Join(dir, names[i]+summarySuffix))
		deleted = append(deleted, names[i])
	}
	return deleted, errors.Join(errs...)
}

// archives lists the archive files in dir, oldest first.
func archives(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if n := e.Name(); e.Type().IsRegular() && strings.HasPrefix(n, filePrefix) && strings.HasSuffix(n, fileSuffix) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}
