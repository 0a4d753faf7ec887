package backup

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"filippo.io/age"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/secretbox"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// PurgeFunc erases whatever is left of one customer the erasure list
// names (lifecycle.Purger.PurgeListed, as the restore command wires it); it
// must be idempotent, and reports false when the restored data does not
// hold the customer at all.
type PurgeFunc func(ctx context.Context, db *store.DB, customerID string) (bool, error)

// RestoreOptions say how to open an archive and what to do after writing it.
type RestoreOptions struct {
	// Identities are the operator's age identities; one must open the archive.
	Identities []age.Identity
	// SecretKey is the controller's secret key that the restored database
	// will be served with; it must open the archive's key check value.
	SecretKey *secretbox.Box
	// Erased are the customers named by the erasure list file kept beside
	// the backups; with those in the archive's own erasures table each is
	// purged again after the rows are written.
	Erased []string
	// Purge erases one customer. Required when anyone is to be purged.
	Purge PurgeFunc
}

// Restored says what a restore wrote.
type Restored struct {
	Manifest Manifest
	Rows     int64
	Purged   []string
}

// ErrRefused marks an archive or a database that a restore will not use;
// nothing has been written when it is returned.
var ErrRefused = errors.New("restore refused")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
}

// tablesThatMustBeEmpty are what makes a database someone's: a restore never
// mixes an archive into a database that has any of them. The audit log is
// among them because its rows can never be removed again.
var tablesThatMustBeEmpty = []string{"customers", "accounts", "hub_nodes", "audit_events"}

// Restore writes the archive read from r into db, which must be empty and
// opened without migrations (store.OpenNoMigrate). Before writing anything it
// decrypts the whole archive, checks its manifest, every file's SHA-256 and
// row count, the secret key and the database; then it migrates db to the
// archive's schema version, inserts every row in one transaction, and purges
// every erased customer again.
func Restore(ctx context.Context, db *store.DB, r io.Reader, o RestoreOptions) (Restored, error) {
	a, err := readArchive(r, o.Identities)
	if err != nil {
		return Restored{}, err
	}
	out := Restored{Manifest: a.manifest}
	if err := checkSecretKey(a, o.SecretKey); err != nil {
		return out, err
	}
	erased := erasedCustomers(a, o.Erased)
	if len(erased) > 0 && o.Purge == nil {
		return out, refuse("%d customers are on the erasure list but no purge is configured", len(erased))
	}
	if err := checkTarget(ctx, db, a.manifest.SchemaVersion); err != nil {
		return out, err
	}
	if err := db.MigrateTo(ctx, a.manifest.SchemaVersion); err != nil {
		return out, fmt.Errorf("restore: %w", err)
	}
	target, err := listTables(ctx, db.SQL(), db.Dialect())
	if err != nil {
		return out, fmt.Errorf("restore: %w", err)
	}
	if out.Rows, err = insertAll(ctx, db, target, a); err != nil {
		return out, fmt.Errorf("restore: %w", err)
	}
	var errs []error
	if len(erased) > 0 {
		// The purge is today's code: it runs on today's schema, as serve
		// would migrate the restored database anyway.
		_, latest, err := db.SchemaVersions(ctx)
		if err == nil {
			err = db.MigrateTo(ctx, latest)
		}
		if err != nil {
			return out, fmt.Errorf("restore: the rows are written, but migrating them before the erasures failed: %w", err)
		}
	}
	for _, c := range erased {
		found, err := o.Purge(ctx, db, c)
		if err != nil {
			errs = append(errs, fmt.Errorf("purge %s: %w", c, err))
			continue
		}
		if found {
			out.Purged = append(out.Purged, c)
		}
	}
	actx := audit.WithActor(ctx, audit.System)
	errs = append(errs, audit.New(db).Record(actx, audit.Event{Action: "backup.restore", Target: "backup:" + a.manifest.CreatedAtJST,
		Detail: map[string]any{"created_at": a.manifest.CreatedAtJST, "schema_version": a.manifest.SchemaVersion,
			"engine": a.manifest.Engine, "rows": out.Rows, "purged": len(out.Purged)}}))
	if err := errors.Join(errs...); err != nil {
		return out, fmt.Errorf("restore: the rows are written, but: %w", err)
	}
	return out, nil
}

type archive struct {
	manifest Manifest
	// rows holds each table's decoded rows, by table name.
	rows map[string][]map[string]any
}

// readArchive decrypts and reads the whole archive and checks it against its
// manifest: the format, every listed file present with its SHA-256 and row
// count, and no file the manifest does not list.
func readArchive(r io.Reader, ids []age.Identity) (archive, error) {
	var a archive
	if len(ids) == 0 {
		return a, refuse("no age identity to open the archive with")
	}
	dec, err := age.Decrypt(r, ids...)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return a, refuse("the identity does not open this archive (it was encrypted to other recipients)")
		}
		return a, refuse("not a readable age archive: %v", err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(dec)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return a, refuse("the archive is damaged or truncated: %v", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return a, refuse("the archive is damaged or truncated: %v", err)
		}
		if _, dup := files[h.Name]; dup {
			return a, refuse("the archive holds %s twice", h.Name)
		}
		files[h.Name] = b
	}
	// age authenticates every chunk and the end of the stream: the tar
	// reader reaching EOF means the whole archive was read and is intact,
	// unless the stream ended early, which the last read reports.
	if _, err := io.Copy(io.Discard, dec); err != nil {
		return a, refuse("the archive is damaged or truncated: %v", err)
	}
	mb, ok := files[manifestName]
	if !ok {
		return a, refuse("the archive has no %s", manifestName)
	}
	if err := json.Unmarshal(mb, &a.manifest); err != nil {
		return a, refuse("%s: %v", manifestName, err)
	}
	if a.manifest.Format != Format {
		return a, refuse("format %q, want %q", a.manifest.Format, Format)
	}
	if a.manifest.SchemaVersion <= 0 {
		return a, refuse("the manifest has no schema version")
	}
	a.rows = map[string][]map[string]any{}
	listed := map[string]bool{manifestName: true}
	for _, t := range a.manifest.Tables {
		b, ok := files[t.File]
		if !ok || t.Name == "" {
			return a, refuse("%s is listed in the manifest but not in the archive", t.File)
		}
		listed[t.File] = true
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != t.SHA256 {
			return a, refuse("%s does not match its SHA-256 in the manifest", t.File)
		}
		rows, err := decodeRows(b)
		if err != nil {
			return a, refuse("%s: %v", t.File, err)
		}
		if int64(len(rows)) != t.Rows {
			return a, refuse("%s holds %d rows, the manifest says %d", t.File, len(rows), t.Rows)
		}
		a.rows[t.Name] = rows
	}
	for name := range files {
		if !listed[name] {
			return a, refuse("%s is in the archive but not in the manifest", name)
		}
	}
	return a, nil
}

func decodeRows(b []byte) ([]map[string]any, error) {
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), len(b)+1)
	for sc.Scan() {
		d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		d.UseNumber()
		var row map[string]any
		if err := d.Decode(&row); err != nil {
			return nil, err
		}
		out = append(out, row)
	}
	return out, sc.Err()
}

// checkSecretKey compares the key the restored database will be served with
// against the archive's key check value.
func checkSecretKey(a archive, key *secretbox.Box) error {
	rows := a.rows["secret_key_check"]
	if len(rows) == 0 {
		return nil // nothing was ever sealed under a checked key
	}
	if key == nil {
		return refuse("the archive's sealed values need the controller's secret key file (--secret-key-file)")
	}
	sealed, _ := rows[0]["sealed"].(string)
	if !store.KeyOpensCheck(key, sealed) {
		return refuse("the secret key file is not the key of the backed-up controller: its sealed values " +
			"(TOTP seeds, BGP passwords, the node CA key, mail) would not open; use the secret.key kept with that controller")
	}
	return nil
}

// erasedCustomers is the union of the archive's erasures table and the
// erasure list kept beside the backups.
func erasedCustomers(a archive, listed []string) []string {
	set := map[string]bool{}
	for _, c := range listed {
		set[c] = true
	}
	for _, row := range a.rows["erasures"] {
		if c, ok := row["customer_id"].(string); ok && c != "" {
			set[c] = true
		}
	}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// checkTarget refuses a database at another schema version than the archive
// (a fresh one, never migrated, is fine), an archive newer than this binary,
// and a database that holds anyone's data.
func checkTarget(ctx context.Context, db *store.DB, version int64) error {
	current, latest, err := db.SchemaVersions(ctx)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if version > latest {
		return refuse("the archive is at schema version %d, newer than this tsunagi's %d: restore with the version that made it", version, latest)
	}
	if current == 0 {
		return nil
	}
	if current != version {
		return refuse("the database is at schema version %d and the archive at %d: restore into an empty database", current, version)
	}
	for _, t := range tablesThatMustBeEmpty {
		var n int64
		if err := store.Scan(db.QueryRow(ctx, "SELECT COUNT(*) FROM "+quote(t)), &n); err != nil {
			return fmt.Errorf("restore: %s: %w", t, err)
		}
		if n > 0 {
			return refuse("the database is not empty (%s has %d rows): restore only into an empty database", t, n)
		}
	}
	return nil
}

// insertAll writes every archived row in one transaction, tables in the
// target's foreign-key order. Rows that the migrations seed (the audit head)
// are replaced by the archive's.
func insertAll(ctx context.Context, db *store.DB, target []table, a archive) (int64, error) {
	known := map[string]bool{}
	for _, t := range target {
		known[t.Name] = true
	}
	for _, t := range a.manifest.Tables {
		if !known[t.Name] {
			return 0, fmt.Errorf("table %s is in the archive but not in the database at schema version %d", t.Name, a.manifest.SchemaVersion)
		}
	}
	var total int64
	err := db.InTx(ctx, func(tx *store.Tx) error {
		for i := len(target) - 1; i >= 0; i-- {
			t := target[i]
			if _, ok := a.rows[t.Name]; !ok {
				continue
			}
			var n int64
			if err := store.Scan(tx.QueryRow(ctx, "SELECT COUNT(*) FROM "+quote(t.Name)), &n); err != nil {
				return fmt.Errorf("%s: %w", t.Name, err)
			}
			if n > 0 {
				if _, err := tx.Exec(ctx, "DELETE FROM "+quote(t.Name)); err != nil {
					return fmt.Errorf("%s: %w", t.Name, err)
				}
			}
		}
		for _, t := range target {
			n, err := insertTable(ctx, tx, t, a.rows[t.Name])
			if err != nil {
				return fmt.Errorf("%s: %w", t.Name, err)
			}
			total += n
		}
		return nil
	})
	return total, err
}

func insertTable(ctx context.Context, tx *store.Tx, t table, rows []map[string]any) (int64, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	kinds := map[string]kind{}
	for _, c := range t.Columns {
		kinds[c.Name] = c.Kind
	}
	// The columns are the archive's (every row of a table has the same).
	var cols []string
	for c := range rows[0] {
		if _, ok := kinds[c]; !ok {
			return 0, fmt.Errorf("column %s is in the archive but not in the database", c)
		}
		cols = append(cols, c)
	}
	sort.Strings(cols)
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = quote(c)
	}
	place := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	// Batches stay well under both engines' limits on bound parameters.
	per := max(1, 900/len(cols))
	var n int64
	for start := 0; start < len(rows); start += per {
		batch := rows[start:min(start+per, len(rows))]
		args := make([]any, 0, len(batch)*len(cols))
		places := make([]string, 0, len(batch))
		for _, row := range batch {
			if len(row) != len(cols) {
				return n, errors.New("rows with different columns")
			}
			for _, c := range cols {
				v, err := importValue(kinds[c], row[c])
				if err != nil {
					return n, fmt.Errorf("column %s: %w", c, err)
				}
				args = append(args, v)
			}
			places = append(places, place)
		}
		q := "INSERT INTO " + quote(t.Name) + " (" + strings.Join(quoted, ", ") + ") VALUES " + strings.Join(places, ", ")
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			return n, err
		}
		n += int64(len(batch))
	}
	return n, nil
}

// importValue turns an archived value into what the target column takes.
func importValue(k kind, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch k {
	case kText:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case kInteger:
		if num, ok := v.(json.Number); ok {
			return num.Int64()
		}
	case kReal:
		if num, ok := v.(json.Number); ok {
			return num.Float64()
		}
	case kBoolean:
		switch b := v.(type) {
		case bool:
			return b, nil
		case json.Number: // an integer column on the source engine
			return b.String() != "0", nil
		}
	case kBlob:
		if s, ok := v.(string); ok {
			return base64.StdEncoding.DecodeString(s)
		}
	}
	return nil, fmt.Errorf("a %T value for a %s column", v, k)
}
