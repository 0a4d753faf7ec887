package lifecycle

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/backup"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/secretbox"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// TestRestoreKeepsErasedCustomersGone: backups taken before an erasure —
// one while the customer was still active, one after its termination —
// restored after the erasure into an empty database with the erasure list
// kept beside the backups: the customer is erased again (every table
// walked, its audit key destroyed, a certificate that verifies), and the
// other customer is restored whole. The purge is the real one, as
// `tsunagi restore` wires it.
func TestRestoreKeepsErasedCustomersGone(t *testing.T) {
	t.Parallel()
	for _, before := range []string{"active", "terminated"} {
		t.Run(before, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			src := openKeyed(t, "")
			seedPlatform(t, src.db)
			a := seedCustomer(t, src.db, "a", 1, terminatedOn)
			b := seedCustomer(t, src.db, "b", 2, "2099-12-31")
			if before == "active" {
				execSQL(t, src.db, `UPDATE customers SET status = 'active', terminated_on = NULL, purge_due_on = NULL WHERE id = ?`, a.id)
				execSQL(t, src.db, `UPDATE contracts SET status = 'active', termination_date = NULL WHERE customer_id = ?`, a.id)
			}
			if before == "active" {
				// As serve does at start: the key that will sign the
				// certificate is in the backup.
				if err := signing.New(src.db, audit.New(src.db)).Ensure(audit.WithActor(ctx, audit.System)); err != nil {
					t.Fatal(err)
				}
			}
			id, err := age.GenerateX25519Identity()
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			res, err := backup.Create(ctx, src.db, backup.Options{Dir: dir, Recipients: []age.Recipient{id.Recipient()}})
			if err != nil {
				t.Fatal(err)
			}
			if before == "active" {
				execSQL(t, src.db, `UPDATE customers SET status = 'terminated', terminated_on = ?, purge_due_on = ? WHERE id = ?`,
					terminatedOn, catalog.PurgeDueOn(terminatedOn), a.id)
			}
			p, _ := newPurger(t, src.db, 30, addDays(t, terminatedOn, 30))
			if err := p.Purge(ctx, a.id); err != nil {
				t.Fatal(err)
			}
			if err := backup.WriteErasureList(ctx, dir, src.db); err != nil {
				t.Fatal(err)
			}

			dst := openKeyed(t, src.keyFile)
			dst.db.UseCheckedKey(src.box)
			listed, err := backup.ReadErasureEntries(filepath.Join(dir, backup.ErasureFile), false)
			if err != nil || len(listed) != 1 || listed[0].CustomerID != string(a.id) {
				t.Fatalf("erasure list = %+v, %v", listed, err)
			}
			f, err := os.Open(res.Path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			// Without the key in the backup, the operator's copy of the
			// published keys vouches for the certificate.
			var trusted []signing.PublicKey
			if before == "terminated" {
				if trusted, err = signing.New(src.db, audit.New(src.db)).PublicKeys(ctx); err != nil {
					t.Fatal(err)
				}
			}
			purge := listedPurge(listed, trusted)
			got, err := backup.Restore(ctx, dst.db, f, backup.RestoreOptions{Identities: []age.Identity{id}, SecretKey: src.box,
				Erased: []string{string(a.id)}, Purge: purge})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Purged) != 1 {
				t.Fatalf("purged %v", got.Purged)
			}
			assertErased(t, dst.db, a)
			var keys int
			if err := dst.db.QueryRow(ctx, `SELECT COUNT(*) FROM audit_keys WHERE customer_id = ?`, a.id).Scan(&keys); err != nil || keys != 0 {
				t.Errorf("the erased customer's audit key came back: %d, %v", keys, err)
			}
			rp, err := New(dst.db, audit.New(dst.db), signing.New(dst.db, audit.New(dst.db)), DefaultAfterDays)
			if err != nil {
				t.Fatal(err)
			}
			cert, err := rp.Certificate(ctx, a.id)
			if err != nil {
				t.Fatalf("no certificate after the restore: %v", err)
			}
			if string(cert) != listed[0].Certificate {
				t.Errorf("the restore made another certificate instead of keeping the one the customer holds")
			}
			keysNow, err := signing.New(dst.db, audit.New(dst.db)).PublicKeys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyCertificate(append(keysNow, trusted...), cert); err != nil {
				t.Errorf("certificate after the restore: %v", err)
			}
			var accounts int
			if err := dst.db.QueryRow(ctx, `SELECT COUNT(*) FROM accounts WHERE customer_id = ?`, b.id).Scan(&accounts); err != nil || accounts != 3 {
				t.Errorf("the other customer's accounts after the restore: %d, %v", accounts, err)
			}
			if n, err := audit.New(dst.db).Verify(ctx); err != nil {
				t.Errorf("audit chain after the restore: %d intact, %v", n, err)
			}
		})
	}
}

// listedPurge is the restore command's purge over the entries of an
// erasure list.
func listedPurge(listed []backup.Erasure, trusted []signing.PublicKey) backup.PurgeFunc {
	certs := map[string][]byte{}
	for _, e := range listed {
		certs[e.CustomerID] = []byte(e.Certificate)
	}
	return func(ctx context.Context, d *store.DB, cust string) (bool, error) {
		log := audit.New(d)
		rp, err := New(d, log, signing.New(d, log), DefaultAfterDays)
		if err != nil {
			return false, err
		}
		rp.TrustedKeys = trusted
		return rp.PurgeListed(ctx, catalog.CustomerID(cust), certs[cust])
	}
}

// TestRestoreRefusesAnUnsignedErasure: an erasure list is a plain file;
// an entry naming an active customer with no certificate, or with one that
// does not verify or names another customer, erases nothing.
func TestRestoreRefusesAnUnsignedErasure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := openKeyed(t, "")
	seedPlatform(t, src.db)
	a := seedCustomer(t, src.db, "a", 1, terminatedOn)
	b := seedCustomer(t, src.db, "b", 2, terminatedOn)
	execSQL(t, src.db, `UPDATE customers SET status = 'active', terminated_on = NULL, purge_due_on = NULL WHERE id = ?`, b.id)
	p, _ := newPurger(t, src.db, 30, addDays(t, terminatedOn, 30))
	if err := p.Purge(ctx, a.id); err != nil {
		t.Fatal(err)
	}
	cert, err := p.Certificate(ctx, a.id)
	if err != nil {
		t.Fatal(err)
	}
	forged := []byte(strings.Replace(string(cert), string(a.id), string(b.id), 1))
	for name, c := range map[string][]byte{"no certificate": nil, "another customer's certificate": cert, "edited certificate": forged} {
		found, err := p.PurgeListed(ctx, b.id, c)
		if err == nil || !found {
			t.Errorf("%s: PurgeListed = %v, %v; want a refusal", name, found, err)
		}
	}
	var accounts int
	if err := src.db.QueryRow(ctx, `SELECT COUNT(*) FROM accounts WHERE customer_id = ?`, b.id).Scan(&accounts); err != nil || accounts != 3 {
		t.Errorf("the active customer lost its accounts: %d, %v", accounts, err)
	}
}

// keyedDB is a migrated SQLite database with a secret key file of its own
// (or the given one), as a controller has.
type keyedDB struct {
	db      *store.DB
	keyFile string
	box     *secretbox.Box
}

func openKeyed(t *testing.T, keyFile string) keyedDB {
	t.Helper()
	dir := t.TempDir()
	if keyFile == "" {
		keyFile = filepath.Join(dir, "secret.key")
	}
	o := store.Options{DataDir: filepath.Join(dir, "data"), SecretKeyFile: keyFile}
	open := store.Open
	if _, err := os.Stat(keyFile); err == nil {
		open = store.OpenNoMigrate // a restore target: empty, migrated by the restore
	}
	db, err := open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	k, err := secretbox.ReadKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(k)
	if err != nil {
		t.Fatal(err)
	}
	return keyedDB{db: db, keyFile: keyFile, box: box}
}
