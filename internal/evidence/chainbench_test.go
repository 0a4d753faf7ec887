package evidence_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// BenchmarkAppend measures appends to 8 customers' chains at once, as a
// controller under load makes them: Record from many goroutines (group
// commit), and RecordTx inside a business transaction of its own (one
// commit per event). It reports entries per second.
//
// The events are sign-ins and refused accesses, the kinds whose volume
// people and attackers set; the business write of RecordTx is an insert.
//
//	go test ./internal/evidence -run '^$' -bench BenchmarkAppend -benchtime 5000x
func BenchmarkAppend(b *testing.B) {
	engines := map[string]func(testing.TB) *store.DB{"sqlite": storetest.SQLite, "postgres": storetest.Postgres}
	for _, engine := range []string{"sqlite", "postgres"} {
		for _, mode := range []string{"Record", "RecordTx"} {
			b.Run(engine+"/"+mode, func(b *testing.B) {
				db := engines[engine](b)
				log := audit.New(db)
				ctx := audit.WithActor(context.Background(), audit.Actor{ID: "acc_c", Kind: "customer", Name: "ops-admin",
					SourceIP: "198.51.100.7", RequestID: "req_1"})
				var next atomic.Int64
				b.SetParallelism(32) // goroutines per core: many callers waiting at once, as requests do
				b.ResetTimer()
				start, cpu0 := time.Now(), cpuTime()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := next.Add(1)
						// The volume a flood makes: sign-ins and refused
						// accesses, which move no change counter (audit.Wakes).
						ev := audit.Event{Action: "session.login", Target: fmt.Sprintf("account:acc_%d", i%50),
							CustomerID: fmt.Sprintf("cus_%d", i%8), Detail: map[string]any{"method": "password", "email": "a@example.com"}}
						if i%2 == 0 {
							ev.Action, ev.Result, ev.Detail["reason"] = "access.denied", audit.Denied, "role"
						}
						var err error
						if mode == "Record" {
							err = log.Record(ctx, ev)
						} else {
							err = db.InTx(ctx, func(tx *store.Tx) error {
								if _, err := tx.Exec(ctx, `INSERT INTO job_leases (job, next_run_at) VALUES (?, '')`, fmt.Sprintf("bench:%d", i)); err != nil {
									return err // the business write the event records
								}
								return log.RecordTx(ctx, tx, ev)
							})
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "entries/s")
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/entry")
			})
		}
	}
}

// BenchmarkVerify measures VerifyLive over one chain of 1,000,000 entries
// on SQLite (stored with precomputed hashes in large transactions, with a
// signed head every 10,000 entries), and reports entries per second.
//
//	go test ./internal/evidence -run '^$' -bench BenchmarkVerify -benchtime 1x
func BenchmarkVerify(b *testing.B) {
	if testing.Short() {
		b.Skip("a million entries: not under -short")
	}
	const entries = 1_000_000
	db := storetest.SQLite(b)
	fillLongChain(b, db, "cus_a", entries)
	svc, _ := service(db)
	ctx := context.Background()
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		vs, err := svc.VerifyLive(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if v := verdictOf(b, vs, "cus_a"); !v.Intact || v.Checked != entries {
			b.Fatalf("verdict %+v", v)
		}
	}
	b.ReportMetric(float64(entries)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	// The process's CPU time says what the wall time would be on an idle
	// machine when the one measured on is shared.
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fillLongChain stores n entries in chain as the log would have appended
// them (sealed fields and all left out: the hash covers what is stored),
// many rows per statement, and signs a head every 10,000 entries.
func fillLongChain(b *testing.B, db *store.DB, chain string, n int) {
	b.Helper()
	ctx := context.Background()
	svc, _ := service(db)
	const perStmt, perTx = 500, 50_000
	cols := 19
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	stmt := `INSERT INTO audit_events (chain, seq, v, at, actor_id, actor_kind, actor_name, customer_id, on_behalf_of,
		action, target, source_ip, request_id, result, reason, detail, sealed, prev_hash, hash) VALUES ` +
		strings.TrimSuffix(strings.Repeat(row+", ", perStmt), ", ")
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := ""
	for seq := 1; seq <= n; {
		err := db.InTx(ctx, func(tx *store.Tx) error {
			for end := min(seq+perTx, n+1); seq < end; {
				args := make([]any, 0, perStmt*cols)
				for range perStmt {
					e := audit.Entry{V: audit.V2, Chain: chain, Seq: int64(seq), At: at.Add(time.Duration(seq) * time.Second),
						ActorID: "acc_o", ActorKind: "operator", ActorName: "staff", CustomerID: chain, Action: "port.update",
						Target: fmt.Sprintf("port:p%d", seq%100), SourceIP: "192.0.2.1", RequestID: fmt.Sprintf("req_%d", seq),
						Result: audit.OK, Detail: map[string]any{"speed": float64(seq % 10_000)}, PrevHash: prev}
					e.Hash = audit.Hash(e)
					args = append(args, e.Chain, e.Seq, e.V, clock.Store(e.At), e.ActorID, e.ActorKind,
						e.ActorName, e.CustomerID, "", e.Action, e.Target, e.SourceIP, e.RequestID, e.Result, "",
						fmt.Sprintf(`{"speed":%d}`, seq%10_000), "", e.PrevHash, e.Hash)
					prev = e.Hash
					seq++
				}
				if _, err := tx.Exec(ctx, stmt, args...); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `INSERT INTO audit_chains (chain, seq, hash, at) VALUES (?, ?, ?, '')
					ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`, chain, seq-1, prev); err != nil {
					return err
				}
				if (seq-1)%10_000 == 0 {
					if _, err := svc.SignHeadTx(ctx, tx, chain, "periodic"); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
