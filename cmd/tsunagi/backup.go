package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/backup"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/lifecycle"
	"github.com/tsunagi-net/tsunagi/internal/secretbox"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

func backupCmd() *cobra.Command {
	var dataDir, db, out string
	var recipients []string
	var keep int
	cmd := &cobra.Command{
		Use:   "backup --out DIR --recipient age1… [--recipient age1…] [--keep N]",
		Short: "Write an encrypted backup of the controller database into a directory",
		Long: "Writes a consistent snapshot of the controller database (SQLite or PostgreSQL) as " +
			"tsunagi-backup-<JST time>.tar.age, encrypted with age to every --recipient, and the erasure list " +
			"erasures.json beside it; with --keep, older archives beyond the newest N are deleted afterwards. " +
			"The controller's secret key file is not in the archive: keep it apart, with the age identities.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rs, err := backup.ParseRecipients(recipients)
			if err != nil {
				return fmt.Errorf("--recipient: %w", err)
			}
			if out == "" {
				return errors.New("--out: the directory to write the backup into is required")
			}
			// A backup only reads (and appends its audit entry), so it may
			// run beside a serve on the same SQLite file: WAL lets readers
			// and one writer at a time share it, which the data-directory
			// lock (one serve per directory) does not need to guard.
			// Without migrations: the archive records the schema as it is.
			d, err := store.OpenNoMigrate(cmd.Context(), store.Options{DSN: db, DataDir: dataDir, SkipLock: true})
			if err != nil {
				return err
			}
			defer d.Close()
			ctx := audit.WithActor(cmd.Context(), audit.Actor{ID: "system", Kind: "system", Name: "tsunagi backup (command line)"})
			res, err := backup.Create(ctx, d, backup.Options{Dir: out, Recipients: rs, Keep: keep, Audit: audit.New(d)})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d bytes, sha256 %s, schema version %d, %d tables)\n",
				res.Path, res.Size, res.SHA256, res.Manifest.SchemaVersion, len(res.Manifest.Tables))
			for _, n := range res.Deleted {
				fmt.Fprintf(cmd.OutOrStdout(), "deleted %s (keeping the newest %d)\n", n, keep)
			}
			return nil
		},
	}
	storeFlags(cmd, &dataDir, &db)
	cmd.Flags().StringVar(&out, "out", "", "directory the archive is written into (made 0700 when missing)")
	cmd.Flags().StringArrayVar(&recipients, "recipient", nil, "age X25519 public key (age1…) the archive is encrypted to; repeat for several")
	cmd.Flags().IntVar(&keep, "keep", 0, "keep only the newest N archives in --out (0 keeps every archive)")
	return cmd
}

func restoreCmd() *cobra.Command {
	var dataDir, db, identityFile, keyFile, erasures, keysFile string
	cmd := &cobra.Command{
		Use:   "restore --identity FILE ARCHIVE",
		Short: "Restore an encrypted backup into an empty database",
		Long: "Decrypts ARCHIVE with the age identity in --identity, checks its manifest and every SHA-256, checks that " +
			"--secret-key-file is the backed-up controller's key, and refuses a database that holds any customer, " +
			"account or node or is at another schema version, all before writing anything. Then it migrates the empty " +
			"database to the archive's schema version, writes every row in one transaction and purges again every " +
			"customer on the erasure list (the archive's erasures table and --erasures).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			archive := args[0]
			if identityFile == "" {
				return errors.New("--identity: the age identity file that opens the archive is required")
			}
			ids, err := readIdentities(identityFile)
			if err != nil {
				return err
			}
			if keyFile == "" {
				keyFile = filepath.Join(dataDir, "secret.key")
			}
			key, err := secretbox.ReadKey(keyFile)
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("--secret-key-file: %s does not exist: copy the backed-up controller's secret key file there "+
					"(or name it with --secret-key-file); without it the restored database's sealed values do not open", keyFile)
			}
			if err != nil {
				return fmt.Errorf("--secret-key-file: %w", err)
			}
			box, err := secretbox.New(key)
			if err != nil {
				return fmt.Errorf("--secret-key-file: %w", err)
			}
			listFile, missingOK := erasures, false
			if listFile == "" {
				listFile, missingOK = filepath.Join(filepath.Dir(archive), backup.ErasureFile), true
			}
			listed, err := backup.ReadErasureEntries(listFile, missingOK)
			if err != nil {
				return err
			}
			if listed == nil && erasures == "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: no erasure list at %s: customers erased after this backup was made "+
					"would come back; give the list kept beside the backups with --erasures\n", listFile)
			}
			trusted, err := readSigningKeys(keysFile)
			if err != nil {
				return err
			}
			erased, certificates := make([]string, 0, len(listed)), map[string][]byte{}
			for _, e := range listed {
				erased, certificates[e.CustomerID] = append(erased, e.CustomerID), []byte(e.Certificate)
			}
			f, err := os.Open(archive)
			if err != nil {
				return err
			}
			defer f.Close()
			d, err := store.OpenNoMigrate(cmd.Context(), store.Options{DSN: db, DataDir: dataDir})
			if err != nil {
				return err
			}
			defer d.Close()
			d.UseCheckedKey(box) // Restore refuses the archive unless box opens its key check.
			// Every customer on the erasure list (the archive's own and the
			// list kept beside the backups) is erased again once the rows
			// are in: a backup from before an erasure never brings the
			// customer back.
			purge := func(ctx context.Context, d *store.DB, cust string) (bool, error) {
				log := audit.New(d)
				p, err := lifecycle.New(d, log, signing.New(d, log), lifecycle.DefaultAfterDays)
				if err != nil {
					return false, err
				}
				p.TrustedKeys = trusted
				return p.PurgeListed(ctx, catalog.CustomerID(cust), certificates[cust])
			}
			res, err := backup.Restore(cmd.Context(), d, f, backup.RestoreOptions{Identities: ids, SecretKey: box, Erased: erased, Purge: purge})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %s: %d rows at schema version %d (backup of %s, %s); %d erased customers purged again\n",
				archive, res.Rows, res.Manifest.SchemaVersion, res.Manifest.CreatedAtJST, res.Manifest.Engine, len(res.Purged))
			return nil
		},
	}
	storeFlags(cmd, &dataDir, &db)
	cmd.Flags().StringVar(&identityFile, "identity", "", "age identity file (AGE-SECRET-KEY-1…, as age-keygen writes it)")
	cmd.Flags().StringVar(&keyFile, "secret-key-file", os.Getenv("TSUNAGI_SECRET_KEY_FILE"),
		"the backed-up controller's secret key file, which the restored controller will use; default <data-dir>/secret.key")
	cmd.Flags().StringVar(&erasures, "erasures", "", "erasure list file; default erasures.json in the archive's directory")
	cmd.Flags().StringVar(&keysFile, "signing-keys", "", "the operator's saved copy of GET /api/v1/signing-keys: signing keys newer than the backup, "+
		"which the erasure list's deletion certificates may be signed with")
	return cmd
}

func readIdentities(path string) ([]age.Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--identity: %w", err)
	}
	defer f.Close()
	ids, err := age.ParseIdentities(f)
	if err != nil {
		return nil, fmt.Errorf("--identity %s: %w", path, err)
	}
	return ids, nil
}

// readSigningKeys reads a saved copy of GET /api/v1/signing-keys (its
// "items"); no file is no keys.
func readSigningKeys(path string) ([]signing.PublicKey, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--signing-keys: %w", err)
	}
	var l struct {
		Items []signing.PublicKey `json:"items"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&l); err != nil || len(l.Items) == 0 {
		return nil, fmt.Errorf("--signing-keys %s: want the JSON of GET /api/v1/signing-keys (a list of items): %v", path, err)
	}
	return l.Items, nil
}
