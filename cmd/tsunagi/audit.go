package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/evidence"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

func auditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Check the audit log in the controller database",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(auditVerifyCmd())
	return cmd
}

func auditVerifyCmd() *cobra.Command {
	var dataDir, db string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Verify every audit chain in the database: hashes, links, head rows, signed heads and checkpoints",
		Long: "Walks every chain of the audit log (each customer's and the platform's) in the controller database and checks " +
			"every entry's hash and link, each chain's head row, and the signature of every signed head and checkpoint " +
			"against the signing keys in the database, and that each names the entry it signed. Prints one line per chain " +
			"and exits 1 if any chain is broken. It only reads: it may run beside a serve on the same SQLite file, it " +
			"migrates nothing and needs no secret key (the signing keys' public halves are enough).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Without migrations and without the data-directory lock: the
			// database is examined as it is, perhaps under a running serve.
			// Opening makes a missing SQLite file, so a wrong directory is
			// refused first: this command writes nothing.
			if db == "" {
				if _, err := os.Stat(filepath.Join(dataDir, "tsunagi.db")); err != nil {
					return fmt.Errorf("no tsunagi database in %s: %w", dataDir, err)
				}
			}
			d, err := store.OpenNoMigrate(cmd.Context(), store.Options{DSN: db, DataDir: dataDir, SkipLock: true})
			if err != nil {
				return err
			}
			defer d.Close()
			log := audit.New(d)
			verdicts, err := evidence.New(d, log, signing.New(d, log)).VerifyLive(cmd.Context())
			if err != nil {
				return err
			}
			if broken := printVerdicts(cmd.OutOrStdout(), verdicts); broken > 0 {
				return exitError{1, fmt.Errorf("%d of %d audit chains are broken", broken, len(verdicts))}
			}
			return nil
		},
	}
	storeFlags(cmd, &dataDir, &db)
	return cmd
}

// printVerdicts writes one line per chain and a total; it returns how many
// chains are broken.
func printVerdicts(out io.Writer, vs []evidence.Verdict) int {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "CHAIN\tENTRIES\tSIGNED HEADS\tVERDICT")
	var entries int64
	broken := 0
	for _, v := range vs {
		verdict := "intact"
		if !v.Intact {
			verdict, broken = "BROKEN: "+v.Problem, broken+1
		}
		entries += v.Checked
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\n", v.Chain, v.Checked, v.SignedHeads, verdict)
	}
	w.Flush()
	if broken == 0 {
		fmt.Fprintf(out, "%d chains, %d entries: every chain intact\n", len(vs), entries)
	}
	return broken
}
