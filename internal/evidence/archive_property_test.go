package evidence

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestEveryArchiveTamperingIsDetected is the offline half of the property
// over random chains (the live half: TestEveryTamperingIsDetected): a
// random history of two customers — events by their accounts, staff and
// the system, with and without sealed personal fields, heads signed along
// the way — is exported, and one random tampering of audit.jsonl's lines
// per case (nothing re-signed) must fail VerifyArchive. A tampering of
// what the chain hashes must be caught by the chain walk itself (an
// error in audit.jsonl other than its SHA-256, or in heads.jsonl);
// an opened personal field, which the hash covers only in its sealed
// form, by the signed manifest's SHA-256 of the file.
func TestEveryArchiveTamperingIsDetected(t *testing.T) {
	t.Parallel()
	const templates, perTemplate = 3, 60
	seen := map[string]int{}
	for tpl := range templates {
		rng := rand.New(rand.NewPCG(uint64(tpl), 16))
		e := newEnv(t, storetest.SQLite(t))
		a, b := e.customer("Acme"), e.customer("Other")
		randomHistory(t, e, rng, []string{a, b}, 20+rng.IntN(30))
		files := unpack(t, e.exportOwn(a, lastHour()))
		foreign := lines(get(t, unpack(t, e.exportOwn(b, lastHour())), FileAudit))
		keys := e.published()
		for c := range perTemplate {
			tm := archiveTamperings[rng.IntN(len(archiveTamperings))]
			seen[tm.name]++
			ls := lines(get(t, files, FileAudit))
			what, out := tm.do(t, rng, slices.Clone(ls), foreign)
			_, err := VerifyArchive(bytes.NewReader(repack(t, with(files, FileAudit, joinLines(out)))), keys)
			var ae *ArchiveError
			switch {
			case !errors.As(err, &ae):
				t.Errorf("case %d/%d: %s: VerifyArchive says %v", tpl, c, what, err)
			case tm.byChain && (ae.File != FileAudit && ae.File != FileHeads || strings.Contains(ae.Problem, "SHA-256")):
				t.Errorf("case %d/%d: %s: caught by %v, not by the chain walk", tpl, c, what, err)
			}
		}
	}
	for _, tm := range archiveTamperings {
		if seen[tm.name] == 0 {
			t.Errorf("no case tried %q", tm.name)
		}
	}
}

// randomHistory appends txs random events to custs' chains and the
// platform's, signing a head of a random customer now and then.
func randomHistory(t *testing.T, e *env, rng *rand.Rand, custs []string, txs int) {
	t.Helper()
	ctx := context.Background()
	for range txs {
		cust := custs[rng.IntN(len(custs))]
		actor := []context.Context{customerCtx("ops"), staffCtx(), audit.WithActor(ctx, audit.System)}[rng.IntN(3)]
		ev := audit.Event{Action: []string{"port.update", "draft.apply", "session.create"}[rng.IntN(3)],
			Target: fmt.Sprintf("port:p%d", rng.IntN(50)), CustomerID: cust}
		if rng.IntN(3) == 0 {
			ev.Reason = "asked by the customer"
		}
		switch rng.IntN(3) {
		case 0:
			ev.Detail = map[string]any{"email": "x@example.com", "speed": rng.IntN(1000)}
		case 1:
			ev.Detail = map[string]any{"port": "shc00000001"}
		}
		if err := e.db.InTx(actor, func(tx *store.Tx) error {
			if err := e.log.RecordTx(actor, tx, ev); err != nil {
				return err
			}
			if rng.IntN(3) == 0 {
				return e.log.RecordTx(actor, tx, audit.Event{Action: "node.seen", Target: "node:n1"})
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if rng.IntN(6) == 0 {
			if err := e.db.InTx(ctx, func(tx *store.Tx) error {
				_, err := e.svc.SignHeadTx(ctx, tx, custs[rng.IntN(len(custs))], WhyPeriodic)
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// archiveTampering changes audit.jsonl's lines. byChain says the chain
// walk must catch it (the file's digest would catch anything).
type archiveTampering struct {
	name    string
	byChain bool
	do      func(t *testing.T, rng *rand.Rand, ls, foreign [][]byte) (string, [][]byte)
}

// entryOf decodes a line as an object.
func entryOf(t *testing.T, line []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func lineOf(t *testing.T, m map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// opened are the keys of an entry's fields that the archive shows opened.
func opened(m map[string]any) map[string]bool {
	out := map[string]bool{"sealed_fields": true}
	fs, _ := m["sealed_fields"].([]any)
	for _, f := range fs {
		out[fmt.Sprint(f)] = true
	}
	return out
}

var archiveTamperings = []archiveTampering{
	{name: "alter a hashed field", byChain: true, do: func(t *testing.T, rng *rand.Rand, ls, _ [][]byte) (string, [][]byte) {
		i := rng.IntN(len(ls))
		m := entryOf(t, ls[i])
		skip := opened(m)
		var keys []string
		for k := range m {
			if !skip[k] {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		k := keys[rng.IntN(len(keys))]
		switch v := m[k].(type) {
		case string:
			if at, err := time.Parse(time.RFC3339Nano, v); err == nil {
				m[k] = at.Add(time.Second).Format(time.RFC3339Nano)
			} else {
				m[k] = v + "x"
			}
		case float64:
			m[k] = v + 1
		default:
			m[k] = map[string]any{"forged": true}
		}
		ls[i] = lineOf(t, m)
		return fmt.Sprintf("%s of line %d altered", k, i+1), ls
	}},
	{name: "alter an opened personal field", do: func(t *testing.T, rng *rand.Rand, ls, _ [][]byte) (string, [][]byte) {
		for _, i := range rng.Perm(len(ls)) {
			m := entryOf(t, ls[i])
			for k := range opened(m) {
				if v, ok := m[k].(string); ok && k != "sealed_fields" {
					m[k] = v + "x"
					ls[i] = lineOf(t, m)
					return fmt.Sprintf("opened %s of line %d altered", k, i+1), ls
				}
			}
		}
		// No opened top-level field: alter the first line's action instead.
		m := entryOf(t, ls[0])
		m["action"] = "forged"
		ls[0] = lineOf(t, m)
		return "action of line 1 altered", ls
	}},
	{name: "delete a line", byChain: true, do: func(t *testing.T, rng *rand.Rand, ls, _ [][]byte) (string, [][]byte) {
		i := rng.IntN(len(ls))
		return fmt.Sprintf("line %d deleted", i+1), slices.Delete(ls, i, i+1)
	}},
	{name: "insert a forged entry", byChain: true, do: func(t *testing.T, rng *rand.Rand, ls, _ [][]byte) (string, [][]byte) {
		i := rng.IntN(len(ls)) // the forged entry follows line i+1
		var prev audit.Entry
		if err := json.Unmarshal(ls[i], &prev); err != nil {
			t.Fatal(err)
		}
		f := audit.Entry{V: audit.V2, Chain: prev.Chain, Seq: prev.Seq + 1, At: clock.Now(), ActorID: "acc_m",
			ActorKind: "operator", ActorName: "mallory", CustomerID: prev.CustomerID, Action: "port.update",
			Target: "port:p1", Result: audit.OK, PrevHash: prev.Hash}
		f.Hash = audit.Hash(f)
		line, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("forged entry after line %d", i+1), slices.Insert(ls, i+1, line)
	}},
	{name: "reorder two lines", byChain: true, do: func(t *testing.T, rng *rand.Rand, ls, _ [][]byte) (string, [][]byte) {
		i := rng.IntN(len(ls) - 1)
		j := i + 1 + rng.IntN(len(ls)-i-1)
		ls[i], ls[j] = ls[j], ls[i]
		return fmt.Sprintf("lines %d and %d swapped", i+1, j+1), ls
	}},
	{name: "a line from another customer's chain", byChain: true, do: func(t *testing.T, rng *rand.Rand, ls, foreign [][]byte) (string, [][]byte) {
		i := rng.IntN(min(len(ls), len(foreign)))
		ls[i] = foreign[i] // the same sequence number, of the other chain
		return fmt.Sprintf("line %d replaced by the other customer's", i+1), ls
	}},
	{name: "truncate the tail", byChain: true, do: func(t *testing.T, rng *rand.Rand, ls, _ [][]byte) (string, [][]byte) {
		k := rng.IntN(len(ls))
		return fmt.Sprintf("cut after line %d", k), ls[:k]
	}},
	{name: "rewrite the chain from an altered entry", byChain: true, do: func(t *testing.T, rng *rand.Rand, ls, _ [][]byte) (string, [][]byte) {
		i := rng.IntN(len(ls))
		m := entryOf(t, ls[i])
		m["action"] = "forged"
		ls[i] = lineOf(t, m)
		return fmt.Sprintf("line %d altered, every hash recomputed", i+1), rehash(t, ls)
	}},
}
