package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/evidence"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// TestAuditVerifyCommand runs `tsunagi audit verify` on a database with
// three signed chains (the platform's holds the signing key's creation too): it reports each intact and exits 0; after one entry
// is altered behind the log's back (the append-only trigger dropped), it
// names the chain and the entry and exits 1.
func TestAuditVerifyCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	log := audit.New(db)
	svc := evidence.New(db, log, signing.New(db, log))
	for i := range 9 {
		cust := []string{"", "cus_a", "cus_b"}[i%3]
		if err := log.Record(ctx, audit.Event{Action: "test.write", Target: "x", CustomerID: cust}); err != nil {
			t.Fatal(err)
		}
	}
	job := svc.SignJob()
	due, err := job.Due(ctx, time.Now())
	if err != nil || len(due) != 3 {
		t.Fatalf("due = %v, %v", due, err)
	}
	for _, c := range due {
		if _, err := job.Do(ctx, time.Now(), c); err != nil {
			t.Fatal(err)
		}
	}
	run := func() (string, int) {
		out, err := exec.Command(tsunagiBin, "audit", "verify", "--data-dir", dir).CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	out, code := run()
	if code != 0 || !strings.Contains(out, "3 chains, 10 entries: every chain intact") ||
		!strings.Contains(out, "cus_a     3        1             intact") {
		t.Fatalf("intact database: exit %d\n%s", code, out)
	}
	for _, q := range []string{`DROP TRIGGER audit_events_no_update`,
		`UPDATE audit_events SET action = 'forged' WHERE chain = 'cus_b' AND seq = 2`} {
		if _, err := db.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	out, code = run()
	if code != 1 || !strings.Contains(out, "cus_b     1        1             BROKEN: entry 2 was altered") ||
		!strings.Contains(out, "1 of 3 audit chains are broken") || !strings.Contains(out, "platform  4        1             intact") {
		t.Fatalf("tampered database: exit %d\n%s", code, out)
	}
	// A wrong directory is refused, and nothing is made there.
	missing := filepath.Join(t.TempDir(), "nothing-here")
	out2, err := exec.Command(tsunagiBin, "audit", "verify", "--data-dir", missing).CombinedOutput()
	if err == nil || !strings.Contains(string(out2), "no tsunagi database in") {
		t.Errorf("a directory without a database: %v\n%s", err, out2)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("audit verify made %s: %v", missing, err)
	}
}
