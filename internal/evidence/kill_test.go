package evidence_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// envAppender, in a re-executed test binary, makes it the appender that is
// killed: "sqlite:<data dir>" or "postgres:<dsn>".
const envAppender = "TSUNAGI_TEST_KILLED_APPENDER"

// TestKilledWhileAppendingLeavesChainsVerifiable kills (SIGKILL) a process
// appending from eight goroutines to four customers' chains and the
// platform's — alone with Record, and two chains in one transaction with
// RecordTx — in the middle of its stream, then reopens the database: every
// chain verifies, and every append the process acknowledged (printed after
// Record or the commit returned) is there.
func TestKilledWhileAppendingLeavesChainsVerifiable(t *testing.T) {
	if spec := os.Getenv(envAppender); spec != "" {
		appendUntilKilled(spec)
		return
	}
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		migrated(t, store.Options{DataDir: dir})
		killWhileAppending(t, "sqlite:"+dir, store.Options{DataDir: dir})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		o := store.Options{DSN: storetest.PostgresDSN(t)}
		migrated(t, o)
		killWhileAppending(t, "postgres:"+o.DSN, o)
	})
}

func migrated(t *testing.T, o store.Options) {
	t.Helper()
	db, err := store.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
}

// killWhileAppending runs the appender on spec, kills it once it has
// acknowledged enough appends, and checks the database o opens.
func killWhileAppending(t *testing.T, spec string, o store.Options) {
	const killAfter = 300
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWhileAppendingLeavesChainsVerifiable$")
	cmd.Env = append(os.Environ(), envAppender+"="+spec)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	deadline := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	defer deadline.Stop()
	acked := map[string]bool{}
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		target, ok := strings.CutPrefix(lines.Text(), "ack ")
		if !ok {
			continue
		}
		acked[target] = true
		if len(acked) == killAfter {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred function, no rollback runs
				t.Fatal(err)
			}
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ProcessState.String() != "signal: killed" || len(acked) < killAfter {
		t.Fatalf("appender: %v after %d acknowledged appends; want it killed after %d", err, len(acked), killAfter)
	}

	ctx := context.Background()
	o.SkipLock = true
	db, err := store.OpenNoMigrate(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc, log := service(db)
	vs, err := svc.VerifyLive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var checked int64
	for _, v := range vs {
		if !v.Intact {
			t.Errorf("after the kill: %+v", v)
		}
		checked += v.Checked
	}
	if n, err := log.Verify(ctx); err != nil || n != checked {
		t.Errorf("the log's Verify: %d, %v; VerifyLive checked %d", n, err, checked)
	}
	stored, err := store.Strings(ctx, db, `SELECT target FROM audit_events WHERE target LIKE 'ack:%'`)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, s := range stored {
		have[s] = true
	}
	for target := range acked {
		if !have[target] {
			t.Errorf("acknowledged append %s is missing", target)
		}
	}
	t.Logf("%d appends acknowledged, %d stored, %d chains verified", len(acked), len(stored), len(vs))
}

// appendUntilKilled is the killed process: it appends until it dies,
// printing "ack <target>" for each event once it is durable.
func appendUntilKilled(spec string) {
	o := store.Options{SkipLock: true}
	if dsn, ok := strings.CutPrefix(spec, "postgres:"); ok {
		o.DSN = dsn
	} else {
		o.DataDir = strings.TrimPrefix(spec, "sqlite:")
	}
	ctx := context.Background()
	db, err := store.OpenNoMigrate(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "appender:", err)
		os.Exit(3)
	}
	log := audit.New(db)
	custs := []string{"cus_a", "cus_b", "cus_c", "cus_d"}
	var mu sync.Mutex // one line per write on stdout
	ack := func(targets ...string) {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range targets {
			fmt.Fprintf(os.Stdout, "ack %s\n", s)
		}
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "appender:", err)
		os.Exit(3)
	}
	actor := audit.WithActor(ctx, audit.Actor{ID: "acc_c", Kind: "customer", Name: "ops-admin", SourceIP: "198.51.100.7"})
	for w := range 8 {
		go func() {
			for i := 0; ; i++ {
				cust := custs[(w+i)%len(custs)]
				target := fmt.Sprintf("ack:%d-%d", w, i)
				if w%2 == 0 {
					if err := log.Record(actor, audit.Event{Action: "test.write", Target: target, CustomerID: cust,
						Reason: "personal text", Detail: map[string]any{"i": i}}); err != nil {
						fail(err)
					}
					ack(target)
					continue
				}
				err := db.InTx(ctx, func(tx *store.Tx) error {
					if err := log.RecordTx(actor, tx, audit.Event{Action: "test.write", Target: target, CustomerID: cust}); err != nil {
						return err
					}
					return log.RecordTx(ctx, tx, audit.Event{Action: "test.write", Target: target + "p"})
				})
				if err != nil {
					fail(err)
				}
				ack(target, target+"p")
			}
		}()
	}
	select {} // until killed
}
