package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// TestRoundTrip: backup → a new empty database → restore gives back every
// table row for row (the audit log plus the restore's own entry), the
// domain services read the same customers, contracts and versions, an
// account signs in with its password, sealed values open, and the audit
// chain verifies. SQLite → SQLite always; PostgreSQL → PostgreSQL and
// SQLite → PostgreSQL and back with TSUNAGI_TEST_POSTGRES.
func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct{ from, to string }{{"sqlite", "sqlite"}, {"postgres", "postgres"}, {"sqlite", "postgres"}, {"postgres", "sqlite"}} {
		t.Run(tc.from+"-to-"+tc.to, func(t *testing.T) {
			src := openController(t, tc.from, "", true)
			populate(t, src.db)
			id := newIdentity(t)
			dir := t.TempDir()
			before := dump(t, src.db)
			res, err := Create(context.Background(), src.db, Options{Dir: dir, Recipients: []age.Recipient{id.Recipient()}, Keep: 3,
				Audit: audit.New(src.db)})
			must(t, err)
			if st, err := os.Stat(res.Path); err != nil || st.Mode().Perm() != 0o600 || st.Size() != res.Size {
				t.Fatalf("archive: %v %v (size %d)", st, err, res.Size)
			}
			if !strings.HasPrefix(res.Name, "tsunagi-backup-") || !strings.HasSuffix(res.Name, ".tar.age") {
				t.Errorf("name %s", res.Name)
			}
			checkManifestCoversCatalogue(t, res.Manifest, before)

			dst := openController(t, tc.to, src.keyFile, false)
			f, err := os.Open(res.Path)
			must(t, err)
			defer f.Close()
			got, err := Restore(context.Background(), dst.db, f, RestoreOptions{Identities: []age.Identity{id}, SecretKey: src.box(t)})
			must(t, err)
			if got.Manifest.SchemaVersion != res.Manifest.SchemaVersion || got.Rows == 0 {
				t.Fatalf("restored %+v", got)
			}
			after := dump(t, dst.db)
			for name, rows := range before {
				switch name {
				case "audit_events":
					// The backup's own entry came after the snapshot; the
					// restore appends its entry.
					if !strings.HasPrefix(after[name], rows) || strings.Count(after[name], "\n") != strings.Count(rows, "\n")+1 {
						t.Errorf("audit_events: restored log is not the archived one plus the restore's entry")
					}
				case "audit_chains", "change_counter":
					// Moved by the restore's entry.
				default:
					if after[name] != rows {
						t.Errorf("table %s differs after restore:\n got %.300s\nwant %.300s", name, after[name], rows)
					}
				}
			}
			// The restored database opens as serve opens it: migrated, with
			// the same secret key.
			dst.close()
			db, err := store.Open(context.Background(), dst.opts)
			must(t, err)
			defer db.Close()
			sameDomain(t, src.db, db)
		})
	}
}

// checkManifestCoversCatalogue fails when a table of the database is not
// in the archive: the export reads the catalogue, and this checks it did.
func checkManifestCoversCatalogue(t *testing.T, m Manifest, tables map[string]string) {
	t.Helper()
	var inArchive, inDB []string
	for _, e := range m.Tables {
		inArchive = append(inArchive, e.Name)
		if want := int64(strings.Count(tables[e.Name], "\n")); e.Rows != want {
			t.Errorf("%s: manifest says %d rows, the database has %d", e.Name, e.Rows, want)
		}
	}
	for n := range tables {
		inDB = append(inDB, n)
	}
	sort.Strings(inArchive)
	sort.Strings(inDB)
	if !reflect.DeepEqual(inArchive, inDB) {
		t.Errorf("archive tables %v\ndatabase tables %v", inArchive, inDB)
	}
	if len(inDB) < 30 || m.Format != Format || m.SchemaVersion == 0 || m.CreatedAtJST == "" {
		t.Errorf("manifest %+v", m)
	}
}

func sameDomain(t *testing.T, a, b *store.DB) {
	t.Helper()
	ctx := context.Background()
	read := func(db *store.DB) (any, any, any) {
		log := audit.New(db)
		cat := catalog.New(db, log)
		custs, _, err := cat.ListCustomers(ctx, catalog.Page{Limit: 100})
		must(t, err)
		var contracts []catalog.Contract
		var versions []network.VersionSummary
		settings, err := network.SettingsFromEnv(func(string) (string, bool) { return "", false })
		must(t, err)
		net := network.New(db, log, settings)
		for _, c := range custs {
			ks, _, err := cat.ListContracts(ctx, tenanttest.Operator(c.ID), catalog.Page{Limit: 100})
			must(t, err)
			contracts = append(contracts, ks...)
			vs, err := net.Workflow.ListVersions(ctx, tenanttest.Customer(c.ID), 0, 100)
			must(t, err)
			versions = append(versions, vs...)
		}
		return custs, contracts, versions
	}
	c1, k1, v1 := read(a)
	c2, k2, v2 := read(b)
	if !reflect.DeepEqual(c1, c2) || !reflect.DeepEqual(k1, k2) || !reflect.DeepEqual(v1, v2) {
		t.Errorf("domain objects differ after restore:\n%v\n%v\n%v\n---\n%v\n%v\n%v", c1, k1, v1, c2, k2, v2)
	}
	if len(v2.([]network.VersionSummary)) == 0 {
		t.Error("no versions restored")
	}
	ids := identity.New(b, audit.New(b), identity.Config{Argon2: fastArgon, Secrets: b.Secrets()})
	if _, _, err := ids.Login(sys, identity.CustomerSide, "example-ops", testPassword, "test"); err != nil {
		t.Errorf("login on the restored database: %v", err)
	}
	sameChain(t, a, b)
}

// sameChain: the restored audit chain verifies exactly as far as the
// archived one did (TestChainVerifiesAfterRestore has one that verifies).
// (The demo's port.place entries do not verify even before a backup: their
// detail holds a struct whose field order is lost on reading — a defect of
// network/placement.go reported to the lead — so the test compares the
// verdicts instead of requiring success.)
func sameChain(t *testing.T, a, b *store.DB) {
	t.Helper()
	ctx := context.Background()
	na, ea := audit.New(a).Verify(ctx)
	nb, eb := audit.New(b).Verify(ctx)
	switch {
	case ea == nil && (eb != nil || nb < na):
		t.Errorf("audit chain after restore: %d entries, %v; before: %d entries, verified", nb, eb, na)
	case ea != nil && (eb == nil || eb.Error() != ea.Error()):
		t.Errorf("audit chain after restore: %v; before: %v", eb, ea)
	case nb == 0:
		t.Error("no audit entries verified after restore")
	}
}

// archiveFixture is a populated SQLite controller and one backup of it.
type archiveFixture struct {
	src  controllerDB
	id   *age.X25519Identity
	path string
	res  Result
}

func newArchive(t *testing.T) archiveFixture {
	t.Helper()
	src := openController(t, "sqlite", "", true)
	populate(t, src.db)
	id := newIdentity(t)
	res, err := Create(context.Background(), src.db, Options{Dir: t.TempDir(), Recipients: []age.Recipient{id.Recipient()}})
	must(t, err)
	return archiveFixture{src: src, id: id, path: res.Path, res: res}
}

// untouched fails unless db was never written: not migrated, no table.
func untouched(t *testing.T, db *store.DB) {
	t.Helper()
	current, _, err := db.SchemaVersions(context.Background())
	must(t, err)
	tables, err := listTables(context.Background(), db.SQL(), db.Dialect())
	must(t, err)
	if current != 0 || len(tables) != 0 {
		t.Errorf("a refused restore wrote: schema version %d, %d tables", current, len(tables))
	}
}

// reencrypt rewrites an archive's plaintext with edit and encrypts it again
// to the same identity, so that only the manifest's sums can catch it.
func reencrypt(t *testing.T, path string, id *age.X25519Identity, edit func(name string, b []byte) []byte) string {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	dec, err := age.Decrypt(f, id)
	must(t, err)
	var out bytes.Buffer
	enc, err := age.Encrypt(&out, id.Recipient())
	must(t, err)
	tr, tw := tar.NewReader(dec), tar.NewWriter(enc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		must(t, err)
		b, err := io.ReadAll(tr)
		must(t, err)
		b = edit(h.Name, b)
		h.Size = int64(len(b))
		must(t, tw.WriteHeader(h))
		_, err = tw.Write(b)
		must(t, err)
	}
	must(t, tw.Close())
	must(t, enc.Close())
	p := filepath.Join(t.TempDir(), "edited.tar.age")
	must(t, os.WriteFile(p, out.Bytes(), 0o600))
	return p
}

// TestRestoreRefuses: a byte flipped in a data file (re-encrypted, so the
// age layer is valid), a truncated archive, another identity, the wrong
// secret key, and an erasure list without a purge are each refused with a
// clear message, before anything is written.
func TestRestoreRefuses(t *testing.T) {
	a := newArchive(t)
	flipped := reencrypt(t, a.path, a.id, func(name string, b []byte) []byte {
		if name == "data/customers.jsonl" {
			i := bytes.Index(b, []byte("Example"))
			b = append([]byte(nil), b...)
			b[i] ^= 0x01
		}
		return b
	})
	whole := readAll(t, a.path)
	truncated := filepath.Join(t.TempDir(), "truncated.tar.age")
	must(t, os.WriteFile(truncated, whole[:len(whole)*2/3], 0o600))
	otherKey := filepath.Join(t.TempDir(), "other.key")
	if _, err := os.Stat(otherKey); err == nil {
		t.Fatal("key exists")
	}
	other := openController(t, "sqlite", otherKey, true) // makes another key
	other.close()

	for _, tc := range []struct {
		name, path string
		o          RestoreOptions
		want       string
	}{
		{"tampered", flipped, RestoreOptions{Identities: []age.Identity{a.id}, SecretKey: a.src.box(t)}, "does not match its SHA-256"},
		{"truncated", truncated, RestoreOptions{Identities: []age.Identity{a.id}, SecretKey: a.src.box(t)}, "damaged or truncated"},
		{"wrong identity", a.path, RestoreOptions{Identities: []age.Identity{newIdentity(t)}, SecretKey: a.src.box(t)}, "does not open this archive"},
		{"wrong secret key", a.path, RestoreOptions{Identities: []age.Identity{a.id}, SecretKey: other.box(t)}, "secret key file is not the key"},
		{"no secret key", a.path, RestoreOptions{Identities: []age.Identity{a.id}}, "--secret-key-file"},
		{"erasure list without purge", a.path, RestoreOptions{Identities: []age.Identity{a.id}, SecretKey: a.src.box(t), Erased: []string{"cus_x"}}, "no purge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := openController(t, "sqlite", a.src.keyFile, false)
			f, err := os.Open(tc.path)
			must(t, err)
			defer f.Close()
			_, err = Restore(context.Background(), dst.db, f, tc.o)
			if !errors.Is(err, ErrRefused) || !contains(err, tc.want) {
				t.Fatalf("got %v, want a refusal saying %q", err, tc.want)
			}
			untouched(t, dst.db)
		})
	}
}

// TestRestoreRefusesUsedDatabase: a database with a customer, or at another
// schema version, is refused and keeps what it had.
func TestRestoreRefusesUsedDatabase(t *testing.T) {
	a := newArchive(t)
	used := openController(t, "sqlite", a.src.keyFile, true)
	if _, err := catalog.New(used.db, audit.New(used.db)).CreateCustomer(sys, catalog.CustomerInput{Name: "Already Here K.K."}); err != nil {
		t.Fatal(err)
	}
	older := openController(t, "sqlite", a.src.keyFile, false)
	must(t, older.db.MigrateTo(context.Background(), 20))
	for _, tc := range []struct {
		name string
		db   *store.DB
		want string
	}{{"customer", used.db, "not empty (customers has 1 rows)"}, {"schema", older.db, "schema version 20"}} {
		t.Run(tc.name, func(t *testing.T) {
			before := dump(t, tc.db)
			f, err := os.Open(a.path)
			must(t, err)
			defer f.Close()
			_, err = Restore(context.Background(), tc.db, f, RestoreOptions{Identities: []age.Identity{a.id}, SecretKey: a.src.box(t)})
			if !errors.Is(err, ErrRefused) || !contains(err, tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if !reflect.DeepEqual(before, dump(t, tc.db)) {
				t.Error("a refused restore changed the database")
			}
		})
	}
}

// TestRestoreReappliesErasures: a customer on the erasure list kept beside
// the backups (purged after the backup was taken) is purged again by the
// restore, and the other customer stays.
func TestRestoreReappliesErasures(t *testing.T) {
	a := newArchive(t)
	ctx := context.Background()
	custs, _, err := catalog.New(a.src.db, audit.New(a.src.db)).ListCustomers(ctx, catalog.Page{Limit: 10})
	must(t, err)
	if len(custs) != 2 {
		t.Fatalf("%d customers", len(custs))
	}
	gone := string(custs[0].ID)
	list := filepath.Join(t.TempDir(), ErasureFile)
	must(t, os.WriteFile(list, []byte(`{"format":"tsunagi.erasures/v1","customers":[{"customer_id":"`+gone+
		`","terminated_on":"2026-09-30","finished_at":"2026-10-01T00:00:00Z"}]}`), 0o600))
	erased, err := ReadErasureList(list, false)
	must(t, err)
	dst := openController(t, "sqlite", a.src.keyFile, false)
	f, err := os.Open(a.path)
	must(t, err)
	defer f.Close()
	got, err := Restore(ctx, dst.db, f, RestoreOptions{Identities: []age.Identity{a.id}, SecretKey: a.src.box(t),
		Erased: erased, Purge: purgeRows})
	must(t, err)
	if !reflect.DeepEqual(got.Purged, []string{gone}) {
		t.Fatalf("purged %v", got.Purged)
	}
	left, _, err := catalog.New(dst.db, audit.New(dst.db)).ListCustomers(ctx, catalog.Page{Limit: 10})
	must(t, err)
	if len(left) != 1 || string(left[0].ID) == gone {
		t.Errorf("customers after restore: %v", left)
	}
	for table, rows := range dump(t, dst.db) {
		if !strings.HasPrefix(table, "audit_") && strings.Contains(rows, gone) {
			t.Errorf("%s still names the erased customer", table)
		}
	}
	sameChain(t, a.src.db, dst.db)
}

// TestErasedCustomers: the archive's erasures table and the list file are
// united.
func TestErasedCustomers(t *testing.T) {
	a := archive{rows: map[string][]map[string]any{"erasures": {{"customer_id": "cus_b"}, {"customer_id": "cus_a"}}}}
	if got := erasedCustomers(a, []string{"cus_c", "cus_a"}); !reflect.DeepEqual(got, []string{"cus_a", "cus_b", "cus_c"}) {
		t.Errorf("got %v", got)
	}
}

// TestErasureListFile: the list written beside the backups reads back, and a
// list in another format, or a named list that is missing, is an error.
func TestErasureListFile(t *testing.T) {
	c := openController(t, "sqlite", "", true)
	dir := t.TempDir()
	must(t, WriteErasureList(context.Background(), dir, c.db))
	ids, err := ReadErasureList(filepath.Join(dir, ErasureFile), false)
	if err != nil || len(ids) != 0 {
		t.Fatalf("%v %v", ids, err)
	}
	if st, _ := os.Stat(filepath.Join(dir, ErasureFile)); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	if _, err := ReadErasureList(filepath.Join(dir, "nope.json"), false); err == nil {
		t.Error("a named list that is missing was read as empty")
	}
	if ids, err := ReadErasureList(filepath.Join(dir, "nope.json"), true); err != nil || ids != nil {
		t.Errorf("default list missing: %v %v", ids, err)
	}
	bad := filepath.Join(dir, "bad.json")
	must(t, os.WriteFile(bad, []byte(`{"format":"other","customers":[]}`), 0o600))
	if _, err := ReadErasureList(bad, false); !contains(err, "format") {
		t.Errorf("other format: %v", err)
	}
}

// TestChainVerifiesAfterRestore: a deployment whose audit chain verifies
// (customers, contracts, hubs, ports, invited accounts) verifies after the
// restore too, with the restore's own entry at its end.
func TestChainVerifiesAfterRestore(t *testing.T) {
	src := openController(t, "sqlite", "", true)
	populateCatalog(t, src.db)
	n, err := audit.New(src.db).Verify(context.Background())
	must(t, err)
	id := newIdentity(t)
	res, err := Create(context.Background(), src.db, Options{Dir: t.TempDir(), Recipients: []age.Recipient{id.Recipient()}})
	must(t, err)
	dst := openController(t, "sqlite", src.keyFile, false)
	f, err := os.Open(res.Path)
	must(t, err)
	defer f.Close()
	_, err = Restore(context.Background(), dst.db, f, RestoreOptions{Identities: []age.Identity{id}, SecretKey: src.box(t)})
	must(t, err)
	if m, err := audit.New(dst.db).Verify(context.Background()); err != nil || m != n+1 {
		t.Errorf("after restore: %d entries, %v; want %d verified", m, err, n+1)
	}
}

// TestNewTableIsBackedUp: a table that no code here knows of (as a later
// migration adds one) is in the archive with its rows, in primary-key
// order, and the archive holds every table the engine's own catalogue
// lists, counted by a query independent of the export's.
func TestNewTableIsBackedUp(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			c := openController(t, engine, "", true)
			ctx := context.Background()
			_, err := c.db.Exec(ctx, `CREATE TABLE zz_added (id TEXT PRIMARY KEY, n BIGINT NOT NULL, ok BOOLEAN)`)
			must(t, err)
			_, err = c.db.Exec(ctx, `INSERT INTO zz_added (id, n, ok) VALUES ('b', 2, TRUE), ('a', 1, NULL)`)
			must(t, err)
			var want int
			q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'goose_db_version'`
			if engine == "postgres" {
				q = `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()
					AND table_type = 'BASE TABLE' AND table_name <> 'goose_db_version'`
			}
			must(t, store.Scan(c.db.QueryRow(ctx, q), &want))
			id := newIdentity(t)
			res, err := Create(ctx, c.db, Options{Dir: t.TempDir(), Recipients: []age.Recipient{id.Recipient()}})
			must(t, err)
			if len(res.Manifest.Tables) != want {
				t.Errorf("%d tables in the archive, the catalogue lists %d", len(res.Manifest.Tables), want)
			}
			f, err := os.Open(res.Path)
			must(t, err)
			defer f.Close()
			a, err := readArchive(f, []age.Identity{id})
			must(t, err)
			rows := a.rows["zz_added"]
			if len(rows) != 2 || rows[0]["id"] != "a" || rows[1]["ok"] != true || rows[0]["ok"] != nil || rows[1]["n"].(json.Number) != "2" {
				t.Errorf("zz_added in the archive: %v", rows)
			}
		})
	}
}
