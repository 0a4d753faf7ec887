package evidence_test

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/evidence"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// verdictOf is chain's verdict among vs.
func verdictOf(t testing.TB, vs []evidence.Verdict, chain string) evidence.Verdict {
	t.Helper()
	for _, v := range vs {
		if v.Chain == chain {
			return v
		}
	}
	t.Fatalf("no verdict for chain %s in %+v", chain, vs)
	return evidence.Verdict{}
}

func TestVerifyLiveAndStatus(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		custs := fillChains(t, db, rand.New(rand.NewPCG(1, 2)), 40)
		svc, log := service(db)
		vs, err := svc.VerifyLive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var checked int64
		for _, v := range vs {
			if !v.Intact || v.Problem != "" || v.SignedHeads == 0 {
				t.Errorf("verdict %+v: want intact, with its signed heads checked", v)
			}
			checked += v.Checked
		}
		if n, err := log.Verify(ctx); err != nil || n != checked {
			t.Errorf("VerifyLive checked %d entries, the log's Verify %d (%v)", checked, n, err)
		}
		st, err := svc.Status(ctx, tenanttest.Customer(custs[0]))
		if err != nil {
			t.Fatal(err)
		}
		head, _ := audit.HeadOf(ctx, db, custs[0])
		if st.Chain != custs[0] || st.Seq != head.Seq || st.Hash != head.Hash || !st.Verdict.Intact || st.Verdict.Checked != head.Seq ||
			st.LastSigned == nil || st.LastSigned.Seq != head.Seq || st.LastSigned.Signature.Sig == "" || st.Checkpoint != nil {
			t.Errorf("status = %+v; want the head %+v, signed, intact", st, head)
		}
		if st, err := svc.Status(ctx, tenanttest.Customer("cus_new")); err != nil || st.Seq != 0 || !st.Verdict.Intact || st.LastSigned != nil {
			t.Errorf("status of a customer without entries = %+v, %v; want an empty intact chain", st, err)
		}
		if _, err := svc.Status(ctx, tenanttest.As(custs[0], "user", tenant.ActCatalogRead)); !fault.Is(err, fault.Forbidden) {
			t.Errorf("status without audit.own: %v, want forbidden", err)
		}
		if _, err := svc.StatusOf(ctx, ""); err == nil {
			t.Error("the status of chain \"\" was given")
		}
		if st, err := svc.StatusOf(ctx, audit.Platform); err != nil || !st.Verdict.Intact || st.Seq == 0 {
			t.Errorf("platform status = %+v, %v", st, err)
		}
	})
}

// TestVerifyLiveChecksCheckpoints: a chain whose prefix retention removed
// verifies from its signed checkpoint; a checkpoint whose statement was
// changed after signing, or that the next entry does not link to, does not.
func TestVerifyLiveChecksCheckpoints(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t)
	ctx := context.Background()
	fillChains(t, db, rand.New(rand.NewPCG(3, 4)), 30)
	svc, _ := service(db)
	chain := "cus_a"
	rs := chainRows(t, db, chain)
	cut := rs[len(rs)/2]
	keys := signing.New(db, audit.New(db))
	cp := evidence.Checkpoint{Chain: chain, Seq: cut.seq, Hash: cut.hash, EntryAt: clock.Now(), MadeAt: clock.Now()}
	sig, err := keys.Sign(ctx, cp.Message())
	if err != nil {
		t.Fatal(err)
	}
	execSQL(t, db, `INSERT INTO audit_checkpoints (chain, seq, hash, entry_at, made_at, key_id, sig) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		chain, cp.Seq, cp.Hash, clock.Store(cp.EntryAt), clock.Store(cp.MadeAt), sig.KeyID, sig.Sig)
	execSQL(t, db, `DELETE FROM audit_events WHERE chain = ? AND seq <= ?`, chain, cut.seq)
	st, err := svc.StatusOf(ctx, chain)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Verdict.Intact || st.Verdict.Checked != int64(len(rs))-cut.seq || st.Checkpoint == nil || st.Checkpoint.Seq != cut.seq {
		t.Fatalf("after the cut: %+v; want intact from the checkpoint at %d", st, cut.seq)
	}
	restore := `UPDATE audit_checkpoints SET made_at = ?, hash = ? WHERE chain = ?`
	for name, q := range map[string]string{
		"statement changed": `UPDATE audit_checkpoints SET made_at = '2020-01-01T00:00:00.000000Z' WHERE chain = 'cus_a'`,
		"another hash":      `UPDATE audit_checkpoints SET hash = 'ff' WHERE chain = 'cus_a'`,
	} {
		execSQL(t, db, q)
		st, err := svc.StatusOf(ctx, chain)
		if err != nil || st.Verdict.Intact || !strings.Contains(st.Verdict.Problem, "checkpoint") {
			t.Errorf("%s: %+v, %v; want a broken checkpoint", name, st.Verdict, err)
		}
		execSQL(t, db, restore, clock.Store(cp.MadeAt), cp.Hash, chain)
	}
	if st, err := svc.StatusOf(ctx, chain); err != nil || !st.Verdict.Intact {
		t.Errorf("restored: %+v, %v", st.Verdict, err)
	}
}

// TestEveryTamperingIsDetected is the property: for random chains (several
// customers and the platform; events with and without sealed fields; some
// customers' keys destroyed) and one random tampering each, VerifyLive
// finds the tampered chain broken, and so does the log's own Verify for
// every tampering that leaves a trace in the entries themselves. Each case
// runs on a copy of one of a few random databases, made with the
// append-only triggers dropped as an attacker would.
func TestEveryTamperingIsDetected(t *testing.T) {
	t.Parallel()
	const templates, perTemplate = 5, 50
	ctx := context.Background()
	seen := map[string]int{}
	for tpl := range templates {
		rng := rand.New(rand.NewPCG(uint64(tpl), 14))
		dir := t.TempDir()
		db, err := store.Open(ctx, store.Options{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		custs := fillChains(t, db, rng, 20+rng.IntN(40))
		dropGuards(t, db)
		if _, err := db.Exec(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			t.Fatal(err)
		}
		db.Close()
		chains := append([]string{audit.Platform}, custs...)
		for c := range perTemplate {
			tm := tamperings[rng.IntN(len(tamperings))]
			seen[tm.name]++
			copyDB := openCopy(t, dir)
			what, chain := tm.do(t, copyDB, rng, chains)
			svc, log := service(copyDB)
			vs, err := svc.VerifyLive(ctx)
			if err != nil {
				t.Fatalf("case %d/%d (%s): %v", tpl, c, what, err)
			}
			if v := verdictOf(t, vs, chain); v.Intact || v.Problem == "" {
				t.Errorf("case %d/%d: %s: VerifyLive says %+v", tpl, c, what, v)
			}
			_, err = log.Verify(ctx)
			var ce *audit.ChainError
			if tm.byLog && !errors.As(err, &ce) {
				t.Errorf("case %d/%d: %s: the log's Verify says %v", tpl, c, what, err)
			}
			copyDB.Close()
		}
	}
	for _, tm := range tamperings {
		if seen[tm.name] == 0 {
			t.Errorf("no case tried %q", tm.name)
		}
	}
}

// TestEveryTamperingIsDetectedOnPostgres runs each tampering once on
// PostgreSQL (a fresh random database each: no file to copy).
func TestEveryTamperingIsDetectedOnPostgres(t *testing.T) {
	t.Parallel()
	for i, tm := range tamperings {
		t.Run(strings.ReplaceAll(tm.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := storetest.Postgres(t)
			rng := rand.New(rand.NewPCG(uint64(i), 15))
			custs := fillChains(t, db, rng, 15)
			dropGuards(t, db)
			what, chain := tm.do(t, db, rng, append([]string{audit.Platform}, custs...))
			svc, log := service(db)
			vs, err := svc.VerifyLive(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if v := verdictOf(t, vs, chain); v.Intact {
				t.Errorf("%s: VerifyLive says %+v", what, v)
			}
			_, err = log.Verify(ctx)
			var ce *audit.ChainError
			if tm.byLog && !errors.As(err, &ce) {
				t.Errorf("%s: the log's Verify says %v", what, err)
			}
		})
	}
}

// openCopy opens a copy of the SQLite database in dir.
func openCopy(t testing.TB, dir string) *store.DB {
	t.Helper()
	to := t.TempDir()
	src, err := os.Open(filepath.Join(dir, "tsunagi.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(filepath.Join(to, "tsunagi.db"), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := store.OpenNoMigrate(context.Background(), store.Options{DataDir: to})
	if err != nil {
		t.Fatal(err)
	}
	return db
}
