// Package audit is tsunagi's audit log: who did what, when, from where, on
// whose behalf, why, and with what result, for every state-changing path and
// every refused access (ISO/IEC 27017 12.4.1, 16.1.7, 18.1.3).
//
// The log is a set of hash chains: one per customer, holding every event
// that concerns it (Event.CustomerID), and one for the platform. Each chain
// has its own sequence, and each entry's hash covers its own canonical
// encoding and the previous entry's hash of the same chain, so removing,
// reordering or editing any entry breaks every hash after it (Verify), and a
// customer can verify its own chain with nothing of anyone else's. The
// database refuses UPDATE on the table, and DELETE except of a prefix that
// retention replaced by a signed checkpoint. The actor, the source address
// and the request ID come from the context (WithActor), so call sites state
// only what happened. A customer's personal fields are stored sealed under a
// key of that customer, which the purge destroys (seal.go): the log forgets
// them without changing a byte of the chain.
//
// A transaction's events are appended when it commits (store.Tx.Local), all
// of one chain at once, chains in a fixed order: each chain's lock is held
// only for the commit, and two transactions never wait for each other's
// chains in opposite orders. Record, for an event with no other write, joins
// whatever other Record calls are waiting into one transaction (group
// commit), so that a flood of sign-ins or reads costs one commit per batch.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// Results of an event.
const (
	OK     = "ok"
	Denied = "denied"
	Failed = "failed"
)

// Actor is who acts: an account, the system itself, or an anonymous caller.
type Actor struct {
	ID         string // account ID, "system", or "anonymous"
	Kind       string // "operator", "customer", "system", "anonymous", "node"
	Name       string // login ID or a description
	SourceIP   string
	RequestID  string
	OnBehalfOf string // customer ID when staff act for a customer
}

// System is the actor for the controller's own jobs.
var System = Actor{ID: "system", Kind: "system", Name: "tsunagi"}

type actorKey struct{}

// WithActor returns a context that carries a.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the context's actor, or an anonymous one.
func ActorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		return a
	}
	return Actor{ID: "anonymous", Kind: "anonymous", Name: "anonymous"}
}

// Event is what happened.
type Event struct {
	Action     string         // dotted verb, e.g. "contract.cancel"
	Target     string         // "kind:id" of the object acted on
	CustomerID string         // whose data or service it concerns; "" for the platform
	Result     string         // OK, Denied or Failed; OK when empty
	Reason     string         // stated reason, required for staff access to saved data
	Detail     map[string]any // small, non-secret facts
}

// Platform is the platform chain's ID: events that concern no one customer.
const Platform = "platform"

// ChainOf is the chain an event of customer cust goes to: the customer's
// own, or the platform's for "".
func ChainOf(cust string) string {
	if cust == "" {
		return Platform
	}
	return cust
}

// Hash rules (Entry.V).
const (
	// V1 is the rule of the entries appended before the log was split into
	// chains (migration 00078), all now at the start of the platform chain:
	// chain and v are not hashed.
	V1 = 1
	// V2 is the rule of every entry since: chain and v are hashed too.
	V2 = 2
)

// Entry is a stored event, as List shows it: with the personal fields of a
// customer's event opened with the customer's key (seal.go), or showing
// ErasedMark once the key was destroyed.
//
// Sealed is the stored blob of those fields and SealedFields names them
// ("actor_name", "source_ip", "target", "reason", "detail.<key>"); both are
// empty on entries with none and on every entry appended before sealing
// existed. The chain hash covers the stored form: an exporter recomputes
// an entry's hash by setting every field named in SealedFields to
// SealedMark ("(sealed)"), dropping sealed_fields, and hashing as Hash says.
// That needs no key, so a customer verifies its export before and after its
// personal fields are erased.
type Entry struct {
	V            int            `json:"v,omitempty"`
	Chain        string         `json:"chain,omitempty"`
	Seq          int64          `json:"seq"`
	At           time.Time      `json:"at"`
	ActorID      string         `json:"actor_id"`
	ActorKind    string         `json:"actor_kind"`
	ActorName    string         `json:"actor_name"`
	CustomerID   string         `json:"customer_id,omitempty"`
	OnBehalfOf   string         `json:"on_behalf_of,omitempty"`
	Action       string         `json:"action"`
	Target       string         `json:"target"`
	SourceIP     string         `json:"source_ip"`
	RequestID    string         `json:"request_id"`
	Result       string         `json:"result"`
	Reason       string         `json:"reason,omitempty"`
	Detail       map[string]any `json:"detail,omitempty"`
	Sealed       string         `json:"sealed,omitempty"`
	SealedFields []string       `json:"sealed_fields,omitempty"`
	PrevHash     string         `json:"prev_hash"`
	Hash         string         `json:"hash"`

	erased bool // the customer's key is destroyed (Erased)
}

// Log appends to and reads the audit log.
type Log struct {
	db *store.DB

	// Record's queues, by chain (shardOf): on PostgreSQL transactions on
	// disjoint chains commit in parallel, so each shard has its own batches
	// and its own flusher; SQLite has one writer anyway, and one shard.
	shards []recordShard
}

// recordShard is a queue of Record calls and whether a goroutine commits it.
type recordShard struct {
	mu      sync.Mutex
	queue   []*recordReq // guarded by mu: Record calls waiting for the next batch
	flusher bool         // guarded by mu: a goroutine is committing batches
}

// pgShards is how many batches commit at once on PostgreSQL. Each holds a
// connection of the pool (at least 8) while it commits: four leave the
// other half to the requests. Batches of events that wake (Wakes) also
// take the change counter's row, and those commit one at a time.
const pgShards = 4

// New returns the audit log kept in db.
func New(db *store.DB) *Log {
	n := 1
	if db.Dialect() == store.Postgres {
		n = pgShards
	}
	return &Log{db: db, shards: make([]recordShard, n)}
}

// shardOf is the queue of chain's events: one chain's events always share
// a queue, so that batches of different queues lock disjoint chains.
func (l *Log) shardOf(chain string) *recordShard {
	if len(l.shards) == 1 {
		return &l.shards[0]
	}
	h := fnv.New32a()
	h.Write([]byte(chain))
	return &l.shards[h.Sum32()%uint32(len(l.shards))]
}

// maxBatch bounds the events one group commit appends.
const maxBatch = 256

type recordReq struct {
	ctx  context.Context
	ev   Event
	done chan error
}

// Record appends ev in a transaction of its own (for events with no other
// write, such as a refused login) and returns once it is durable. Calls
// made at the same time share one transaction; an event the batch could not
// take is retried alone, so one bad event never fails another's.
func (l *Log) Record(ctx context.Context, ev Event) error {
	r := &recordReq{ctx: context.WithoutCancel(ctx), ev: ev, done: make(chan error, 1)}
	sh := l.shardOf(ChainOf(ev.CustomerID))
	sh.mu.Lock()
	sh.queue = append(sh.queue, r)
	if !sh.flusher {
		sh.flusher = true
		go l.flush(sh)
	}
	sh.mu.Unlock()
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err() // the event may still be appended: it was never acknowledged
	}
}

// flush commits sh's queued Record calls in batches until none wait.
func (l *Log) flush(sh *recordShard) {
	for {
		sh.mu.Lock()
		batch := sh.queue
		if len(batch) > maxBatch {
			batch, sh.queue = batch[:maxBatch:maxBatch], batch[maxBatch:]
		} else {
			sh.queue = nil
		}
		if len(batch) == 0 {
			sh.flusher = false
			sh.mu.Unlock()
			return
		}
		sh.mu.Unlock()
		err := l.db.InTx(context.Background(), func(tx *store.Tx) error {
			for _, r := range batch {
				if err := l.RecordTx(r.ctx, tx, r.ev); err != nil {
					return err
				}
			}
			return nil
		})
		for _, r := range batch {
			if err != nil && len(batch) > 1 {
				err := l.db.InTx(r.ctx, func(tx *store.Tx) error { return l.RecordTx(r.ctx, tx, r.ev) })
				r.done <- err
				continue
			}
			r.done <- err
		}
	}
}

// RecordTx appends ev inside tx, so that the change and its record commit
// together or not at all. The entry takes its place in its chain when tx
// commits (FlushTx takes it earlier); what the caller's Detail map holds
// is copied now.
func (l *Log) RecordTx(ctx context.Context, tx *store.Tx, ev Event) error {
	a := ActorFrom(ctx)
	e := Entry{
		V: V2, Chain: ChainOf(ev.CustomerID),
		ActorID: a.ID, ActorKind: a.Kind, ActorName: a.Name,
		CustomerID: ev.CustomerID, OnBehalfOf: a.OnBehalfOf, Action: ev.Action, Target: ev.Target,
		SourceIP: a.SourceIP, RequestID: a.RequestID, Result: ev.Result, Reason: ev.Reason,
	}
	if e.Result == "" {
		e.Result = OK
	}
	// The hash covers the detail as every reader decodes it from what is
	// stored, not as the caller built it: a struct in the detail marshals in
	// its field order but reads back as a map with sorted keys, and an entry
	// hashed over the first would never verify.
	if ev.Detail != nil {
		detail, err := json.Marshal(ev.Detail)
		if err != nil {
			return fmt.Errorf("audit: detail: %w", err)
		}
		if err := json.Unmarshal(detail, &e.Detail); err != nil {
			return fmt.Errorf("audit: detail: %w", err)
		}
	}
	p := pendingOf(l, tx)
	p.entries = append(p.entries, pendingEntry{e: e, kind: a.Kind})
	if Wakes(ev) {
		p.wakes = true
		tx.Changed()
	}
	countRecord(ctx)
	return nil
}

// FlushTx appends tx's pending events now rather than at its commit, for a
// caller that must read a chain's head inside tx (a deletion certificate
// names the head that records the purge). The change counter still moves
// at the commit, after every chain, as it does for every transaction.
func (l *Log) FlushTx(ctx context.Context, tx *store.Tx) error {
	return pendingOf(l, tx).appendAll(ctx)
}

// pending are a transaction's events not appended yet.
type pending struct {
	tx      *store.Tx
	entries []pendingEntry
	wakes   bool
}

type pendingEntry struct {
	e    Entry
	kind string // the actor's kind, which decides what is sealed
}

type pendingKey struct{}

func pendingOf(l *Log, tx *store.Tx) *pending {
	return tx.Local(pendingKey{}, func() (any, func(context.Context) error) {
		p := &pending{tx: tx}
		return p, p.flush
	}).(*pending)
}

// flush appends the pending events, chain by chain in the order of the
// chains' IDs, and moves the change counter if one of them may change a
// node's document (after the chains: the same lock order everywhere).
func (p *pending) flush(ctx context.Context) error {
	if err := p.appendAll(ctx); err != nil {
		return err
	}
	if p.wakes {
		if _, err := p.tx.Exec(ctx, `UPDATE change_counter SET n = n + 1 WHERE id = 1`); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		p.wakes = false
	}
	return nil
}

// appendAll appends the pending events, chain by chain in the order of the
// chains' IDs.
func (p *pending) appendAll(ctx context.Context) error {
	if len(p.entries) == 0 {
		return nil
	}
	byChain := map[string][]*Entry{}
	kinds := map[*Entry]string{}
	for i := range p.entries {
		e := &p.entries[i].e
		byChain[e.Chain] = append(byChain[e.Chain], e)
		kinds[e] = p.entries[i].kind
	}
	for _, chain := range slices.Sorted(maps.Keys(byChain)) {
		if err := appendChain(ctx, p.tx, chain, byChain[chain], kinds); err != nil {
			return err
		}
	}
	p.entries = nil
	return nil
}

// appendChain appends es, in order, to chain.
func appendChain(ctx context.Context, tx *store.Tx, chain string, es []*Entry, kinds map[*Entry]string) error {
	// Taking the head row's write lock orders one chain's appends across
	// connections and controllers; it is released when tx ends. A chain's
	// first append makes its row (two making it at once: one insert wins,
	// both then lock it).
	var last int64
	var prev, clockAt string
	err := store.Scan(tx.QueryRow(ctx, `UPDATE audit_chains SET seq = seq + ? WHERE chain = ? RETURNING seq, hash, at`,
		len(es), chain), &last, &prev, &clockAt)
	if errors.Is(err, store.ErrNotFound) {
		if _, err = tx.Exec(ctx, `INSERT INTO audit_chains (chain, seq, hash, at) VALUES (?, 0, '', '') ON CONFLICT DO NOTHING`, chain); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		err = store.Scan(tx.QueryRow(ctx, `UPDATE audit_chains SET seq = seq + ? WHERE chain = ? RETURNING seq, hash, at`,
			len(es), chain), &last, &prev, &clockAt)
	}
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	// An entry's time is when it takes its place in the chain, never before
	// the chain's clock (its last entry or signed head): a head signed
	// before an entry was appended is then always older than the entry,
	// whatever the clocks of several controllers say, so a window of time
	// is bounded by signed heads (internal/evidence).
	at, err := chainTime(clockAt)
	if err != nil {
		return err
	}
	seq := last - int64(len(es))
	var key *customerKey // the chain's customer's, once an entry needed it
	for _, e := range es {
		seq++
		e.Seq, e.PrevHash, e.At = seq, prev, at
		// The blob is bound to the chain and sequence number, known only now.
		if err := sealTx(ctx, tx, e, kinds[e], &key); err != nil {
			return err
		}
		detail, err := json.Marshal(e.Detail)
		if err != nil {
			return fmt.Errorf("audit: detail: %w", err)
		}
		e.Hash = Hash(*e)
		var customer any
		if e.CustomerID != "" {
			customer = e.CustomerID
		}
		if _, err := tx.Exec(ctx, `INSERT INTO audit_events
			(chain, seq, v, at, actor_id, actor_kind, actor_name, customer_id, on_behalf_of, action, target,
			 source_ip, request_id, result, reason, detail, sealed, prev_hash, hash)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.Chain, e.Seq, e.V, clock.Store(e.At), e.ActorID, e.ActorKind, e.ActorName, customer, e.OnBehalfOf,
			e.Action, e.Target, e.SourceIP, e.RequestID, e.Result, e.Reason, string(detail), e.Sealed, e.PrevHash, e.Hash); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		prev = e.Hash
	}
	if _, err := tx.Exec(ctx, `UPDATE audit_chains SET hash = ?, at = ? WHERE chain = ?`, prev, clock.Store(at), chain); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// chainTime is the time to stamp on a chain whose clock reads stored: now,
// or the chain's clock if that is later.
func chainTime(stored string) (time.Time, error) {
	now := clock.Now().UTC()
	if stored == "" {
		return now, nil
	}
	last, err := clock.Parse(stored)
	if err != nil {
		return time.Time{}, fmt.Errorf("audit: chain clock: %w", err)
	}
	if last.After(now) {
		return last.UTC(), nil
	}
	return now, nil
}

// SignTimeTx locks chain's head row inside tx, as an append does, and
// returns its head and the time a signature of it is to bear: now, or the
// chain's clock if that is later. The chain's clock moves to that time, so
// every entry appended after the signature is stamped no earlier.
func SignTimeTx(ctx context.Context, tx *store.Tx, chain string) (Head, time.Time, error) {
	h := Head{Chain: chain}
	var clockAt string
	lock := func() error {
		return store.Scan(tx.QueryRow(ctx, `UPDATE audit_chains SET seq = seq WHERE chain = ? RETURNING seq, hash, at`, chain),
			&h.Seq, &h.Hash, &clockAt)
	}
	err := lock()
	if errors.Is(err, store.ErrNotFound) { // a chain with no entry yet: its head is (0, "")
		if _, err = tx.Exec(ctx, `INSERT INTO audit_chains (chain, seq, hash, at) VALUES (?, 0, '', '') ON CONFLICT DO NOTHING`, chain); err == nil {
			err = lock()
		}
	}
	if err != nil {
		return h, time.Time{}, fmt.Errorf("audit: chain %s: %w", chain, err)
	}
	at, err := chainTime(clockAt)
	if err != nil {
		return h, time.Time{}, err
	}
	if _, err := tx.Exec(ctx, `UPDATE audit_chains SET at = ? WHERE chain = ?`, clock.Store(at), chain); err != nil {
		return h, time.Time{}, fmt.Errorf("audit: %w", err)
	}
	return h, at, nil
}

// Changes reads the change counter: it moves with every committed event
// that may change what a hub node is told (Wakes), so a cache of node
// documents keyed on it is never stale.
func Changes(ctx context.Context, q store.Querier) (int64, error) {
	var n int64
	if err := store.Scan(q.QueryRow(ctx, `SELECT n FROM change_counter WHERE id = 1`), &n); err != nil {
		return 0, fmt.Errorf("audit: change counter: %w", err)
	}
	return n, nil
}

// Hash is the chain hash of e: SHA-256 over the previous hash, a newline,
// and the canonical JSON encoding (encoding/json of Entry: fields in
// declaration order, map keys sorted, empty omitempty fields left out) of
// e's stored form — every field but the hash itself, with each field named
// in SealedFields set back to SealedMark and sealed_fields left out, the
// sealed blob included. Entries of rule V1 leave out v and chain, as they
// were hashed when they were appended. Anyone holding an export can
// recompute it, with or without the customer's key.
func Hash(e Entry) string {
	e = stored(e)
	e.Hash = ""
	e.At = e.At.UTC()
	if len(e.Detail) == 0 {
		e.Detail = nil
	}
	if e.V < V2 {
		e.V, e.Chain = 0, ""
	}
	return hashOf(&e) // encoding/json's bytes, written by hand (canon.go)
}
