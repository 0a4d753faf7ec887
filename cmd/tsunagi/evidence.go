package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/evidence"
	"github.com/tsunagi-net/tsunagi/internal/signing"
)

func evidenceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "evidence",
		Short: "Evidence archives exported by the controller",
	}
	cmd.AddCommand(evidenceVerifyCmd())
	return cmd
}

func evidenceVerifyCmd() *cobra.Command {
	var keyArgs []string
	cmd := &cobra.Command{
		Use:   "verify ARCHIVE [--key K]...",
		Short: "Verify an evidence archive offline: complete for its window and unaltered",
		Long: "Checks an evidence archive (" + evidence.ArchiveExt + ") without a server or a database: the signature of its " +
			"manifest, the SHA-256 of every file, and the audit chain segment from a signed start to a signed head at or " +
			"after the window's end. K is a file holding the JSON of GET /api/v1/signing-keys (or the list of its items), " +
			"or one Ed25519 public key in base64 (in a file, or given as it is); repeat --key for several. Without --key " +
			"the archive's own keys.json is used, which proves only that the archive is consistent, not that the " +
			"operator's controller made it: a warning says so, and the exit status is still 0 when the archive holds. " +
			"Prints a summary, or the first broken place (file, line, entry) and exits with status 1.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var keys []signing.PublicKey
			for _, k := range keyArgs {
				ks, err := readKey(k)
				if err != nil {
					return fmt.Errorf("--key %s: %w", k, err)
				}
				keys = append(keys, ks...)
			}
			path := args[0]
			if len(keys) == 0 {
				ks, err := withFile(path, evidence.ArchiveKeys)
				if err != nil {
					return notVerified(path, err)
				}
				keys = ks
				fmt.Fprintln(cmd.ErrOrStderr(), "warning: no --key given: checked against the archive's own keys.json, "+
					"which proves the archive consistent, not that the operator made it; pass --key with the keys of "+
					"GET /api/v1/signing-keys to prove its origin")
			}
			rep, err := withFile(path, func(r io.Reader) (evidence.Report, error) { return evidence.VerifyArchive(r, keys) })
			if err != nil {
				return notVerified(path, err)
			}
			printReport(cmd.OutOrStdout(), path, rep)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&keyArgs, "key", nil,
		"trusted signing keys: a file with the JSON of GET /api/v1/signing-keys, or a base64 Ed25519 public key; repeat for several")
	return cmd
}

// notVerified says that path does not verify where an archive's problem
// is found, and passes any other error (an unreadable file) on as it is;
// either ends the command with status 1.
func notVerified(path string, err error) error {
	var ae *evidence.ArchiveError
	if errors.As(err, &ae) {
		return fmt.Errorf("%s does not verify: %w", path, err)
	}
	return err
}

// readKey reads --key K: a file holding keys (evidence.ParseKeys), or, when
// no such file exists, K itself as a base64 public key.
func readKey(k string) ([]signing.PublicKey, error) {
	b, err := os.ReadFile(k)
	if errors.Is(err, os.ErrNotExist) {
		keys, perr := evidence.ParseKeys([]byte(k))
		if perr != nil {
			// Neither a file nor a key: most likely a file name mistyped.
			return nil, fmt.Errorf("--key %s: %w (and it is not a base64 Ed25519 public key)", k, err)
		}
		return keys, nil
	} else if err != nil {
		return nil, err
	}
	return evidence.ParseKeys(b)
}

// withFile opens path and reads it with fn.
func withFile[T any](path string, fn func(io.Reader) (T, error)) (T, error) {
	var zero T
	f, err := os.Open(path)
	if err != nil {
		return zero, err
	}
	defer f.Close()
	return fn(f)
}

func printReport(w io.Writer, path string, rep evidence.Report) {
	seg := rep.Segment
	fmt.Fprintf(w, "%s: intact\n", path)
	fmt.Fprintf(w, "customer:     %s\n", rep.Customer)
	fmt.Fprintf(w, "window:       %s to %s\n", clock.Read(rep.Window.From), clock.Read(rep.Window.To))
	fmt.Fprintf(w, "exported:     %s by %s %s\n", clock.Read(rep.CreatedAt), rep.RequestedBy.Kind, rep.RequestedBy.ID)
	if rep.RequestedBy.Purpose != "" {
		fmt.Fprintf(w, "purpose:      %s\n", rep.RequestedBy.Purpose)
	}
	fmt.Fprintf(w, "audit:        %d entries, %d to %d of chain %s, from %s to the head signed %s (%d signed heads)\n",
		rep.Entries, seg.Start.Seq+1, seg.End.Seq, seg.Chain, startOf(seg.Start), clock.Read(*seg.End.SignedAt), rep.SignedHeads)
	if rep.Removed != nil {
		fmt.Fprintf(w, "retention:    entries up to %d (the last made %s) were removed by retention\n",
			rep.Removed.Seq, clock.Read(rep.Removed.EntryAt))
	}
	fmt.Fprintf(w, "notices:      %d, notification log: %d rows\n", rep.Notices, rep.Deliveries)
	fmt.Fprintf(w, "files:        %d, manifest signed with key %s\n", rep.Files, rep.KeyID)
}

// startOf says where a segment starts, for people.
func startOf(a evidence.Anchor) string {
	switch a.Kind {
	case evidence.AnchorGenesis:
		return "the chain's beginning"
	case evidence.AnchorCheckpoint:
		return fmt.Sprintf("the retention checkpoint of entry %d", a.Seq)
	}
	return fmt.Sprintf("the head signed %s", clock.Read(*a.SignedAt))
}
