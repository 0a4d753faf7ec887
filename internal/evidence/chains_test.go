package evidence_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/evidence"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// service is the evidence service over db, as serve wires it.
func service(db *store.DB) (*evidence.Service, *audit.Log) {
	log := audit.New(db)
	return evidence.New(db, log, signing.New(db, log)), log
}

// randomEvent is an event of a random kind: for one of custs or the
// platform, by a customer's account, staff, the system or an anonymous
// caller, with and without the personal fields that are sealed.
func randomEvent(rng *rand.Rand, custs []string) (audit.Actor, audit.Event) {
	cust := ""
	if rng.IntN(4) > 0 {
		cust = custs[rng.IntN(len(custs))]
	}
	actors := []audit.Actor{
		{ID: "acc_c", Kind: "customer", Name: "ops-admin", SourceIP: "198.51.100.7", RequestID: "req_c"},
		{ID: "acc_o", Kind: "operator", Name: "staff", SourceIP: "192.0.2.1", RequestID: "req_o", OnBehalfOf: cust},
		audit.System,
		{ID: "anonymous", Kind: "anonymous", Name: "anonymous", SourceIP: "203.0.113.5"},
	}
	a := actors[rng.IntN(len(actors))]
	ev := audit.Event{Action: []string{"port.update", "session.create", "draft.apply", "firewall.rule_add"}[rng.IntN(4)],
		Target: fmt.Sprintf("port:p%d", rng.IntN(100)), CustomerID: cust}
	if rng.IntN(3) == 0 {
		ev.Target = "login:user" + fmt.Sprint(rng.IntN(10))
	}
	if rng.IntN(4) == 0 {
		ev.Result = audit.Denied
	}
	if rng.IntN(3) == 0 {
		ev.Reason = "customer asked for a check of port " + fmt.Sprint(rng.IntN(9))
	}
	switch rng.IntN(3) {
	case 0:
		ev.Detail = map[string]any{"speed": rng.IntN(10_000), "port": "shc0000000" + fmt.Sprint(rng.IntN(9))}
	case 1:
		ev.Detail = map[string]any{"email": "someone@example.com", "login_id": "user1", "count": rng.IntN(5)}
	}
	return a, ev
}

// fillChains appends a random history to db: several customers' chains and
// the platform chain, events in transactions of one to four, some heads
// signed along the way (as exports do), one customer's key sometimes
// destroyed (its sealed fields erased: the chain must verify the same),
// and at the end every chain's head signed by the job. It returns the
// customers.
func fillChains(t testing.TB, db *store.DB, rng *rand.Rand, txs int) []string {
	t.Helper()
	ctx := context.Background()
	svc, log := service(db)
	custs := []string{"cus_a", "cus_b", "cus_c", "cus_d"}[:2+rng.IntN(3)]
	for range txs {
		err := db.InTx(ctx, func(tx *store.Tx) error {
			for range 1 + rng.IntN(4) {
				a, ev := randomEvent(rng, custs)
				if err := log.RecordTx(audit.WithActor(ctx, a), tx, ev); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if rng.IntN(5) == 0 {
			chain := audit.ChainOf([]string{"", custs[rng.IntN(len(custs))]}[rng.IntN(2)])
			if err := db.InTx(ctx, func(tx *store.Tx) error {
				_, err := svc.SignHeadTx(ctx, tx, chain, evidence.WhyExport)
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if rng.IntN(2) == 0 {
		cust := custs[rng.IntN(len(custs))]
		if err := db.InTx(ctx, func(tx *store.Tx) error { return log.ForgetCustomerTx(ctx, tx, cust) }); err != nil {
			t.Fatal(err)
		}
	}
	signAll(t, svc)
	return custs
}

// signAll runs the job audit.sign_heads once, as the scheduler would.
func signAll(t testing.TB, svc *evidence.Service) int {
	t.Helper()
	ctx := audit.WithActor(context.Background(), audit.System)
	job := svc.SignJob()
	now := clock.Now()
	due, err := job.Due(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, chain := range due {
		did, err := job.Do(ctx, now, chain)
		if err != nil {
			t.Fatal(err)
		}
		if did {
			n++
		}
	}
	return n
}

// dropGuards removes the database's append-only triggers, as an attacker
// with the database's owner rights could.
func dropGuards(t testing.TB, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	for _, trig := range []string{"audit_events_no_update", "audit_events_no_delete"} {
		q := `DROP TRIGGER ` + trig
		if db.Dialect() == store.Postgres {
			q += ` ON audit_events`
		}
		if _, err := db.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
}

// row is one stored entry's place in its chain.
type row struct {
	seq  int64
	hash string
}

func chainRows(t testing.TB, db *store.DB, chain string) []row {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT seq, hash FROM audit_events WHERE chain = ? ORDER BY seq`, chain)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.seq, &r.hash); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// tampering is one way of changing a chain behind the log's back. It
// returns what it did and the chain it broke. byLog says whether the
// log's own walk (audit.Log.Verify, which knows no signatures) can see
// it; VerifyLive must see every one.
type tampering struct {
	name  string
	byLog bool
	do    func(t testing.TB, db *store.DB, rng *rand.Rand, chains []string) (string, string)
}

// execSQL runs a tampering statement.
func execSQL(t testing.TB, db *store.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// pickChain picks a chain with at least n entries.
func pickChain(t testing.TB, db *store.DB, rng *rand.Rand, chains []string, n int) (string, []row) {
	t.Helper()
	for _, i := range rng.Perm(len(chains)) {
		if rs := chainRows(t, db, chains[i]); len(rs) >= n {
			return chains[i], rs
		}
	}
	t.Fatalf("no chain with %d entries", n)
	return "", nil
}

// alterable are the columns an alteration changes, each to a value that
// differs from every value it can hold.
var alterable = map[string]string{
	"actor_id": `actor_id || 'x'`, "actor_kind": `actor_kind || 'x'`, "actor_name": `actor_name || 'x'`,
	"on_behalf_of": `on_behalf_of || 'x'`, "action": `action || 'x'`, "target": `target || 'x'`,
	"source_ip": `source_ip || 'x'`, "request_id": `request_id || 'x'`, "result": `result || 'x'`,
	"reason": `reason || 'x'`, "sealed": `sealed || 'x'`, "prev_hash": `prev_hash || 'x'`, "hash": `hash || 'x'`,
	"detail":      `'{"forged":true}'`,
	"customer_id": `CASE WHEN customer_id IS NULL THEN 'cus_zz' ELSE NULL END`,
	"v":           `3 - v`,
}

var tamperings = []tampering{
	{name: "alter a field", byLog: true, do: func(t testing.TB, db *store.DB, rng *rand.Rand, chains []string) (string, string) {
		chain, rs := pickChain(t, db, rng, chains, 1)
		seq := rs[rng.IntN(len(rs))].seq
		cols := slices.Sorted(func(yield func(string) bool) {
			for c := range alterable {
				if !yield(c) {
					return
				}
			}
		})
		col := append(cols, "at")[rng.IntN(len(cols)+1)]
		if col == "at" {
			var at string
			if err := store.Scan(db.QueryRow(context.Background(), `SELECT at FROM audit_events WHERE chain = ? AND seq = ?`, chain, seq), &at); err != nil {
				t.Fatal(err)
			}
			was, err := clock.Parse(at)
			if err != nil {
				t.Fatal(err)
			}
			execSQL(t, db, `UPDATE audit_events SET at = ? WHERE chain = ? AND seq = ?`, clock.Store(was.Add(-time.Second)), chain, seq)
		} else {
			execSQL(t, db, `UPDATE audit_events SET `+col+` = `+alterable[col]+` WHERE chain = ? AND seq = ?`, chain, seq)
		}
		return fmt.Sprintf("%s of %s/%d altered", col, chain, seq), chain
	}},
	{name: "delete an entry", byLog: true, do: func(t testing.TB, db *store.DB, rng *rand.Rand, chains []string) (string, string) {
		chain, rs := pickChain(t, db, rng, chains, 1)
		seq := rs[rng.IntN(len(rs))].seq
		execSQL(t, db, `DELETE FROM audit_events WHERE chain = ? AND seq = ?`, chain, seq)
		return fmt.Sprintf("%s/%d deleted", chain, seq), chain
	}},
	{name: "insert a forged entry", byLog: true, do: func(t testing.TB, db *store.DB, rng *rand.Rand, chains []string) (string, string) {
		// In the middle: a forged entry appended at the end, with the head
		// row moved to it, is an append, which only the next signed head
		// makes anyone's word.
		chain, rs := pickChain(t, db, rng, chains, 2)
		k := rng.IntN(len(rs) - 1) // the forged entry follows entry k (0: the start)
		prev := ""
		if k > 0 {
			prev = rs[k-1].hash
		}
		after := rs[k].seq - 1
		renumber(t, db, chain, after, 1)
		insertForged(t, db, chain, after+1, prev)
		execSQL(t, db, `UPDATE audit_chains SET seq = seq + 1 WHERE chain = ?`, chain)
		return fmt.Sprintf("forged entry inserted into %s after %d", chain, after), chain
	}},
	{name: "reorder two entries", byLog: true, do: func(t testing.TB, db *store.DB, rng *rand.Rand, chains []string) (string, string) {
		chain, rs := pickChain(t, db, rng, chains, 2)
		i := rng.IntN(len(rs) - 1)
		j := i + 1 + rng.IntN(len(rs)-i-1)
		a, b := rs[i].seq, rs[j].seq
		execSQL(t, db, `UPDATE audit_events SET seq = -1 WHERE chain = ? AND seq = ?`, chain, a)
		execSQL(t, db, `UPDATE audit_events SET seq = ? WHERE chain = ? AND seq = ?`, a, chain, b)
		execSQL(t, db, `UPDATE audit_events SET seq = ? WHERE chain = ? AND seq = -1`, b, chain)
		return fmt.Sprintf("%s/%d and %d swapped", chain, a, b), chain
	}},
	{name: "move an entry to another chain", byLog: true, do: func(t testing.TB, db *store.DB, rng *rand.Rand, chains []string) (string, string) {
		from, rs := pickChain(t, db, rng, chains, 1)
		to := from
		for to == from {
			to = chains[rng.IntN(len(chains))]
		}
		seq := rs[rng.IntN(len(rs))].seq
		h, err := audit.HeadOf(context.Background(), db, to)
		if err != nil {
			t.Fatal(err)
		}
		// It fits where it lands: the next sequence number, linked to the
		// head, and the head row moved to it.
		var hash string
		if err := store.Scan(db.QueryRow(context.Background(), `SELECT hash FROM audit_events WHERE chain = ? AND seq = ?`, from, seq), &hash); err != nil {
			t.Fatal(err)
		}
		execSQL(t, db, `UPDATE audit_events SET chain = ?, seq = ?, prev_hash = ? WHERE chain = ? AND seq = ?`, to, h.Seq+1, h.Hash, from, seq)
		execSQL(t, db, `UPDATE audit_chains SET seq = ?, hash = ? WHERE chain = ?`, h.Seq+1, hash, to)
		return fmt.Sprintf("%s/%d moved to %s/%d", from, seq, to, h.Seq+1), from
	}},
	{name: "truncate the tail", byLog: true, do: func(t testing.TB, db *store.DB, rng *rand.Rand, chains []string) (string, string) {
		chain, rs := pickChain(t, db, rng, chains, 1)
		k := rng.IntN(len(rs)) // entries after the k-th go
		execSQL(t, db, `DELETE FROM audit_events WHERE chain = ? AND seq > ?`, chain, k)
		return fmt.Sprintf("%s cut after %d", chain, k), chain
	}},
	// The tamperings below leave a chain that walks: only a signed head
	// (or the head row's absence) tells.
	{name: "truncate the tail and rewind the head row", do: func(t testing.TB, db *store.DB, rng *rand.Rand, chains []string) (string, string) {
		chain, rs := pickChain(t, db, rng, chains, 1)
		k := rng.IntN(len(rs))
		hash := ""
		if k > 0 {
			hash = rs[k-1].hash
		}
		execSQL(t, db, `DELETE FROM audit_events WHERE chain = ? AND seq > ?`, chain, k)
		execSQL(t, db, `UPDATE audit_chains SET seq = ?, hash = ? WHERE chain = ?`, k, hash, chain)
		return fmt.Sprintf("%s cut after %d, head row rewound", chain, k), chain
	}},
	{name: "rewrite the chain from a forged entry", do: func(t testing.TB, db *store.DB, rng *rand.Rand, chains []string) (string, string) {
		chain, rs := pickChain(t, db, rng, chains, 1)
		k := rng.IntN(len(rs))
		prev := ""
		if k > 0 {
			prev = rs[k-1].hash
		}
		execSQL(t, db, `DELETE FROM audit_events WHERE chain = ? AND seq > ?`, chain, k)
		hash := insertForged(t, db, chain, int64(k)+1, prev)
		execSQL(t, db, `UPDATE audit_chains SET seq = ?, hash = ? WHERE chain = ?`, k+1, hash, chain)
		return fmt.Sprintf("%s rewritten from %d", chain, k+1), chain
	}},
	{name: "forge a signed head", do: func(t testing.TB, db *store.DB, rng *rand.Rand, chains []string) (string, string) {
		chain, rs := pickChain(t, db, rng, chains, 2)
		execSQL(t, db, `UPDATE audit_signed_heads SET seq = ?, hash = ? WHERE chain = ?`, len(rs)-1, rs[len(rs)-2].hash, chain)
		return fmt.Sprintf("%s: signed heads moved to %d", chain, len(rs)-1), chain
	}},
	{name: "delete the head row", do: func(t testing.TB, db *store.DB, rng *rand.Rand, chains []string) (string, string) {
		chain, _ := pickChain(t, db, rng, chains, 1)
		execSQL(t, db, `DELETE FROM audit_chains WHERE chain = ?`, chain)
		return fmt.Sprintf("%s: head row deleted", chain), chain
	}},
}

// renumber moves chain's entries after seq by delta, through negative
// numbers so that no two rows share a key on the way.
func renumber(t testing.TB, db *store.DB, chain string, after, delta int64) {
	t.Helper()
	execSQL(t, db, `UPDATE audit_events SET seq = -(seq + ?) WHERE chain = ? AND seq > ?`, delta, chain, after)
	execSQL(t, db, `UPDATE audit_events SET seq = -seq WHERE chain = ? AND seq < 0`, chain)
}

// insertForged stores a forged entry at chain/seq linked to prev, with its
// own hash computed as the log computes it, and returns that hash.
func insertForged(t testing.TB, db *store.DB, chain string, seq int64, prev string) string {
	t.Helper()
	e := audit.Entry{V: audit.V2, Chain: chain, Seq: seq, At: clock.Now(), ActorID: "acc_m", ActorKind: "operator",
		ActorName: "mallory", Action: "port.update", Target: "port:p1", SourceIP: "192.0.2.66", RequestID: "req_m",
		Result: audit.OK, PrevHash: prev}
	var cust any
	if chain != audit.Platform {
		e.CustomerID, cust = chain, chain
	}
	e.Hash = audit.Hash(e)
	execSQL(t, db, `INSERT INTO audit_events (chain, seq, v, at, actor_id, actor_kind, actor_name, customer_id, on_behalf_of,
		action, target, source_ip, request_id, result, reason, detail, sealed, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Chain, e.Seq, e.V, clock.Store(e.At), e.ActorID, e.ActorKind, e.ActorName, cust, "", e.Action, e.Target,
		e.SourceIP, e.RequestID, e.Result, "", "null", "", e.PrevHash, e.Hash)
	return e.Hash
}
