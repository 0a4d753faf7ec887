package backup

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/demo"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/mailtest"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/secretbox"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

const testPassword = "restored passphrase 42"

var fastArgon = identity.Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1}

// controllerDB is a database with its own secret key file, as serve opens
// one: engine "sqlite" or "postgres" (skipped without PostgreSQL).
type controllerDB struct {
	db      *store.DB
	keyFile string
	opts    store.Options
	// close closes db once (a second Close of a PostgreSQL handle waits
	// for a listener that is gone).
	close func()
}

func openController(t *testing.T, engine string, keyFile string, migrate bool) controllerDB {
	t.Helper()
	dir := t.TempDir()
	if keyFile == "" {
		keyFile = filepath.Join(dir, "secret.key")
	}
	o := store.Options{DataDir: filepath.Join(dir, "data"), SecretKeyFile: keyFile}
	if engine == "postgres" {
		o.DSN = storetest.PostgresDSN(t)
	}
	var db *store.DB
	var err error
	if migrate {
		db, err = store.Open(context.Background(), o)
	} else {
		db, err = store.OpenNoMigrate(context.Background(), o)
	}
	if err != nil {
		t.Fatalf("open %s: %v", engine, err)
	}
	closeOnce := sync.OnceFunc(func() { db.Close() })
	t.Cleanup(closeOnce)
	return controllerDB{db: db, keyFile: keyFile, opts: o, close: closeOnce}
}

// box is the controller's secret key, as the restore command reads it.
func (c controllerDB) box(t *testing.T) *secretbox.Box {
	t.Helper()
	k, err := secretbox.ReadKey(c.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	b, err := secretbox.New(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var sys = audit.WithActor(context.Background(), audit.Actor{ID: "system", Kind: "system", Name: "backup test"})

// populate loads the demo deployment (customers, contracts, hubs, ports,
// applied versions with sealed BGP passwords) and gives one customer
// account a password.
func populate(t *testing.T, db *store.DB) {
	t.Helper()
	cat, ids, invites := populateCatalog(t, db)
	log := audit.New(db)
	settings, err := network.SettingsFromEnv(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if err := demo.LoadNetwork(sys, cat, network.New(db, log, settings)); err != nil {
		t.Fatal(err)
	}
	tok := mailtest.LinkToken(t, ids.Outbox(), invites[0].Email, "account.invite")
	if _, err := ids.CompleteSetup(sys, identity.CustomerSide, identity.SetupInput{Token: tok, Password: testPassword}); err != nil {
		t.Fatal(err)
	}
}

// populateCatalog loads the demo's regions, nodes, customers, contracts,
// hubs, ports and invited accounts, without the network model.
func populateCatalog(t *testing.T, db *store.DB) (*catalog.Catalog, *identity.Service, []demo.Invite) {
	t.Helper()
	log := audit.New(db)
	cat := catalog.New(db, log)
	ids := identity.New(db, log, identity.Config{Argon2: fastArgon, Secrets: db.Secrets()})
	invites, err := demo.Load(sys, cat, ids)
	if err != nil || len(invites) == 0 {
		t.Fatalf("demo: %v %v", invites, err)
	}
	return cat, ids, invites
}

// dump is every table's archived form, read from the catalogue.
func dump(t *testing.T, db *store.DB) map[string]string {
	t.Helper()
	ctx := context.Background()
	tables, err := listTables(ctx, db.SQL(), db.Dialect())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, tb := range tables {
		var buf bytes.Buffer
		if _, err := exportTable(ctx, db.SQL(), tb, &buf); err != nil {
			t.Fatalf("%s: %v", tb.Name, err)
		}
		out[tb.Name] = buf.String()
	}
	return out
}

func newIdentity(t *testing.T) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// fakeNow is a clock that tests move by hand.
type fakeNow struct{ t time.Time }

func (f *fakeNow) now() time.Time         { return f.t }
func (f *fakeNow) add(d time.Duration)    { f.t = f.t.Add(d) }
func newFakeNow() *fakeNow                { return &fakeNow{t: time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)} }
func (f *fakeNow) opts(o Options) Options { o.Now = f.now; return o }
func readAll(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	must(t, err)
	return b
}
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
func contains(err error, s string) bool { return err != nil && strings.Contains(err.Error(), s) }

// purgeRows is the test's purge until the lifecycle package's lands: every
// row naming the customer, children first, then the customer. The audit log
// is kept, as the real purge keeps it.
func purgeRows(ctx context.Context, db *store.DB, cust string) (bool, error) {
	return true, purgeRowsOf(ctx, db, cust)
}

func purgeRowsOf(ctx context.Context, db *store.DB, cust string) error {
	tables, err := listTables(ctx, db.SQL(), db.Dialect())
	if err != nil {
		return err
	}
	return db.InTx(ctx, func(tx *store.Tx) error {
		for i := len(tables) - 1; i >= 0; i-- {
			tb := tables[i]
			if tb.Name == "audit_events" {
				continue
			}
			col := ""
			for _, c := range tb.Columns {
				if c.Name == "customer_id" {
					col = c.Name
				}
			}
			if tb.Name == "customers" {
				col = "id"
			}
			if col == "" {
				continue
			}
			if _, err := tx.Exec(ctx, "DELETE FROM "+quote(tb.Name)+" WHERE "+col+" = ?", cust); err != nil {
				return err
			}
		}
		return nil
	})
}
