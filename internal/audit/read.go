package audit

import (
	"context"
	"errors"
	"fmt"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Query selects the entries of one chain: either the customer's own (Own,
// from the customer's scope) or a chain named by staff (OfChain: the
// security officer's read, evidence, verification). The zero Query selects
// nothing: List refuses it, so that a forgotten scope is a bug that shows,
// never "every customer".
type Query struct {
	AfterSeq int64
	Limit    int

	chain string // the chain whose entries are selected
	all   bool   // every chain's entries (AllChains)
	bad   string // why the query is refused
}

// Own is the customer's own audit chain: its accounts' actions and every
// staff access to its data. The scope must hold audit.own.
func Own(sc tenant.Scope) (Query, error) {
	cust, err := sc.Authorize(tenant.ActAuditOwn)
	if err != nil {
		return Query{}, err
	}
	return Query{chain: ChainOf(string(cust))}, nil
}

// OfChain is a read of the chain named id (a customer's ID or Platform) by
// staff or by the controller itself: the caller has checked the permission
// and, for a customer's chain, recorded the purpose. An empty ID is refused
// by List, not read as "every chain".
func OfChain(id string) Query {
	if id == "" {
		return Query{bad: "empty chain"}
	}
	return Query{chain: id}
}

// AllChains is the cross-customer read of every chain at once, ordered by
// time, one page only (there is no sequence across chains to page by): a
// review of recent events across the platform, and tests. The caller has
// checked the permission.
func AllChains() Query { return Query{all: true} }

// Chain is the chain the query reads.
func (q Query) Chain() string { return q.chain }

// Page sets the window: entries after sequence number after, at most limit.
func (q Query) Page(after int64, limit int) Query {
	q.AfterSeq, q.Limit = after, limit
	return q
}

// List returns entries in chain order, the personal fields of customers'
// events opened with their customers' keys, or shown as ErasedMark where a
// key was destroyed (seal.go).
func (l *Log) List(ctx context.Context, q Query) ([]Entry, error) {
	out, err := l.list(ctx, q)
	if err != nil {
		return nil, err
	}
	return out, OpenAll(ctx, l.db, out)
}

// OpenAll opens the sealed fields of stored entries in place (List does it
// for its page; the evidence export for its archive).
func OpenAll(ctx context.Context, q store.Querier, es []Entry) error {
	keys := map[string]*customerKey{} // per customer, for these entries only
	for i := range es {
		e := &es[i]
		if e.Sealed == "" {
			continue
		}
		k, ok := keys[e.CustomerID]
		if !ok {
			var err error
			if k, err = loadKey(ctx, q, e.CustomerID); err != nil {
				return err
			}
			keys[e.CustomerID] = k
		}
		open(e, k)
	}
	return nil
}

// ListStored returns entries in their stored form — nothing opened — as the
// chain hashes cover them (verification, evidence).
func (l *Log) ListStored(ctx context.Context, q Query) ([]Entry, error) { return l.list(ctx, q) }

// list returns entries in their stored form.
func (l *Log) list(ctx context.Context, q Query) ([]Entry, error) {
	switch {
	case q.bad != "":
		return nil, fault.Wrap(fault.Internal, errors.New("audit: "+q.bad), "internal error")
	case q.all && q.AfterSeq != 0:
		return nil, fault.Wrap(fault.Internal, errors.New("audit: a read of every chain has one page"), "internal error")
	case q.chain == "" && !q.all:
		return nil, fault.Wrap(fault.Internal, errors.New("audit: query without a customer scope or a named chain"), "internal error")
	}
	if q.Limit <= 0 || q.Limit > 10000 {
		q.Limit = 100
	}
	sqlq, args := `SELECT `+Columns+` FROM audit_events WHERE chain = ? AND seq > ? ORDER BY seq LIMIT ?`, []any{q.chain, q.AfterSeq, q.Limit}
	if q.all {
		sqlq, args = `SELECT `+Columns+` FROM audit_events ORDER BY at, chain, seq LIMIT ?`, []any{q.Limit}
	}
	rows, err := l.db.Query(ctx, sqlq, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		e, err := ScanEntry(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Columns are the columns ScanEntry reads, in its order.
const Columns = `chain, seq, v, at, actor_id, actor_kind, actor_name, customer_id, on_behalf_of, action, target,
	source_ip, request_id, result, reason, detail, sealed, prev_hash, hash`

// ScanEntry reads one row of Columns in its stored form.
func ScanEntry(rows interface{ Scan(...any) error }) (Entry, error) {
	var e Entry
	var at, detail string
	var customer *string
	if err := rows.Scan(&e.Chain, &e.Seq, &e.V, &at, &e.ActorID, &e.ActorKind, &e.ActorName, &customer, &e.OnBehalfOf,
		&e.Action, &e.Target, &e.SourceIP, &e.RequestID, &e.Result, &e.Reason, &detail, &e.Sealed, &e.PrevHash, &e.Hash); err != nil {
		return Entry{}, fmt.Errorf("audit: %w", err)
	}
	if customer != nil {
		e.CustomerID = *customer
	}
	var err error
	if e.At, err = clock.Parse(at); err != nil {
		return Entry{}, fmt.Errorf("audit: entry %s/%d: %w", e.Chain, e.Seq, err)
	}
	if e.Detail, err = decodeDetail(detail); err != nil {
		return Entry{}, fmt.Errorf("audit: entry %s/%d: %w", e.Chain, e.Seq, err)
	}
	return e, nil
}

// Head is a chain's last entry: its sequence number and hash (0 and "" for a
// chain with none).
type Head struct {
	Chain string `json:"chain"`
	Seq   int64  `json:"seq"`
	Hash  string `json:"hash"`
}

// Heads lists every chain's head, the platform's among them, ordered by
// chain ID: the cross-customer list behind verification and head signing.
func (l *Log) Heads(ctx context.Context) ([]Head, error) {
	rows, err := l.db.Query(ctx, `SELECT chain, seq, hash FROM audit_chains ORDER BY chain`)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer rows.Close()
	var out []Head
	for rows.Next() {
		var h Head
		if err := rows.Scan(&h.Chain, &h.Seq, &h.Hash); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// HeadOf reads chain's head with q (a transaction, to read it as of a
// change): a chain that has no entry yet has Seq 0.
func HeadOf(ctx context.Context, q store.Querier, chain string) (Head, error) {
	h := Head{Chain: chain}
	err := store.Scan(q.QueryRow(ctx, `SELECT seq, hash FROM audit_chains WHERE chain = ?`, chain), &h.Seq, &h.Hash)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return h, fmt.Errorf("audit: %w", err)
	}
	return h, nil
}

// Checkpoint is where a chain starts after retention removed its oldest
// entries: the last removed entry's sequence number, hash and time. The
// evidence package signs it and checks the signature; a chain without one
// starts at sequence 1 with an empty previous hash.
type Checkpoint struct {
	Seq  int64
	Hash string
}

// CheckpointOf reads chain's checkpoint (zero when retention never cut it).
func CheckpointOf(ctx context.Context, q store.Querier, chain string) (Checkpoint, error) {
	var c Checkpoint
	err := store.Scan(q.QueryRow(ctx, `SELECT seq, hash FROM audit_checkpoints WHERE chain = ?`, chain), &c.Seq, &c.Hash)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return c, fmt.Errorf("audit: %w", err)
	}
	return c, nil
}

// ChainError says where a chain does not hold.
type ChainError struct {
	Chain   string
	Seq     int64
	Problem string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("audit: chain %s: entry %d %s", e.Chain, e.Seq, e.Problem)
}

// Walker checks entries of one chain in order, from its start (a
// checkpoint, or the beginning): the one rule both verifiers — the live one
// here and the evidence archive's — apply.
type Walker struct {
	Chain string
	Seq   int64  // the last entry checked (the start's sequence number before any)
	Hash  string // its hash
	N     int64  // entries checked
}

// Next checks that e is the entry after the last one: of this chain, the
// next sequence number, linked to the last hash, and hashing to its hash.
func (w *Walker) Next(e Entry) error { return w.NextHashed(e, Hash(e)) }

// NextHashed is Next for an entry whose hash, Hash(e), the caller computed:
// a verifier hashes a long chain's entries on every core, out of order,
// and walks them in order.
func (w *Walker) NextHashed(e Entry, hash string) error {
	switch {
	case e.Chain != w.Chain:
		return &ChainError{w.Chain, e.Seq, fmt.Sprintf("belongs to chain %q", e.Chain)}
	case e.Seq != w.Seq+1:
		return &ChainError{w.Chain, w.Seq + 1, fmt.Sprintf("is missing (found entry %d)", e.Seq)}
	case e.PrevHash != w.Hash:
		return &ChainError{w.Chain, e.Seq, fmt.Sprintf("does not link to entry %d", w.Seq)}
	case hash != e.Hash:
		return &ChainError{w.Chain, e.Seq, "was altered"}
	case e.V >= V2 && e.Chain != ChainOf(e.CustomerID):
		return &ChainError{w.Chain, e.Seq, "concerns another customer"}
	}
	w.Seq, w.Hash = e.Seq, e.Hash
	w.N++
	return nil
}

// VerifyChain walks chain from its checkpoint up to the head row, which
// every append updates in the same transaction, and reports the first
// entry whose hash or link does not hold, or entries missing at the end.
// Appends made while it runs are beyond the head it read and are left for
// the next run. It returns the number of entries checked.
func (l *Log) VerifyChain(ctx context.Context, chain string) (int64, error) {
	head, err := HeadOf(ctx, l.db, chain)
	if err != nil {
		return 0, err
	}
	cp, err := CheckpointOf(ctx, l.db, chain)
	if err != nil {
		return 0, err
	}
	w := &Walker{Chain: chain, Seq: cp.Seq, Hash: cp.Hash}
	for w.Seq < head.Seq {
		// The stored form is what the hashes cover: nothing is opened.
		page, err := l.list(ctx, OfChain(chain).Page(w.Seq, 10000))
		if err != nil {
			return w.N, err
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			if e.Seq > head.Seq {
				break
			}
			if err := w.Next(e); err != nil {
				return w.N, err
			}
		}
	}
	if w.Seq != head.Seq || w.Hash != head.Hash {
		return w.N, &ChainError{chain, w.Seq + 1, fmt.Sprintf("is missing: the head records %d entries", head.Seq)}
	}
	return w.N, nil
}

// Verify checks every chain (VerifyChain) and returns the number of
// entries checked and the first chain's error.
func (l *Log) Verify(ctx context.Context) (int64, error) {
	heads, err := l.Heads(ctx)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, h := range heads {
		n, err := l.VerifyChain(ctx, h.Chain)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
