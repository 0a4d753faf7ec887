// Package audit is tsunagi's audit log: who did what, when, from where, on
// whose behalf, why, and with what result, for every state-changing path and
// every refused access (ISO/IEC 27017 12.4.1, 16.1.7, 18.1.3).
//
// Events are appended to one hash chain: each event's hash covers its own
// canonical encoding and the previous event's hash, so removing, reordering or
// editing any event breaks every hash after it (Verify). The database refuses
// UPDATE and DELETE on the table as well. The actor, the source address and the
// request ID come from the context (WithActor), so call sites state only what
// happened. A customer's personal fields are stored sealed under a key of
// that customer, which the purge destroys (seal.go): the log forgets them
// without changing a byte of the chain.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
type Log struct{ db *store.DB }

// New returns the audit log kept in db.
func New(db *store.DB) *Log { return &Log{db: db} }

// Record appends ev in a transaction of its own (for events with no other
// write, such as a refused login).
func (l *Log) Record(ctx context.Context, ev Event) error {
	return l.db.InTx(ctx, func(tx *store.Tx) error { return l.RecordTx(ctx, tx, ev) })
}

// RecordTx appends ev inside tx, so that the change and its record commit
// together or not at all.
func (l *Log) RecordTx(ctx context.Context, tx *store.Tx, ev Event) error {
	a := ActorFrom(ctx)
	e := Entry{
		At: clock.Now(), ActorID: a.ID, ActorKind: a.Kind, ActorName: a.Name,
		CustomerID: ev.CustomerID, OnBehalfOf: a.OnBehalfOf, Action: ev.Action, Target: ev.Target,
		SourceIP: a.SourceIP, RequestID: a.RequestID, Result: ev.Result, Reason: ev.Reason, Detail: ev.Detail,
	}
	if e.Result == "" {
		e.Result = OK
	}
	// Taking the head row's write lock orders appends across connections and
	// controllers; it is released when tx ends.
	if err := store.Scan(tx.QueryRow(ctx,
		`UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash`), &e.Seq, &e.PrevHash); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	// The blob is bound to the sequence number, known only now.
	if err := sealTx(ctx, tx, &e, a.Kind); err != nil {
		return err
	}
	detail, err := json.Marshal(e.Detail)
	if err != nil {
		return fmt.Errorf("audit: detail: %w", err)
	}
	// The hash covers the detail as every reader decodes it from what is
	// stored, not as the caller built it: a struct in the detail marshals in
	// its field order but reads back as a map with sorted keys, and an entry
	// hashed over the first would never verify.
	e.Detail = nil
	if err := json.Unmarshal(detail, &e.Detail); err != nil {
		return fmt.Errorf("audit: detail: %w", err)
	}
	e.Hash = Hash(e)
	var customer any
	if e.CustomerID != "" {
		customer = e.CustomerID
	}
	if _, err := tx.Exec(ctx, `INSERT INTO audit_events
		(seq, at, actor_id, actor_kind, actor_name, customer_id, on_behalf_of, action, target,
		 source_ip, request_id, result, reason, detail, sealed, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, clock.Store(e.At), e.ActorID, e.ActorKind, e.ActorName, customer, e.OnBehalfOf,
		e.Action, e.Target, e.SourceIP, e.RequestID, e.Result, e.Reason, string(detail), e.Sealed, e.PrevHash, e.Hash); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE audit_head SET hash = ? WHERE id = 1`, e.Hash); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if Wakes(ev) {
		tx.Changed()
	}
	return nil
}

// Hash is the chain hash of e: SHA-256 over the previous hash, a newline,
// and the canonical JSON encoding (encoding/json of Entry: fields in
// declaration order, map keys sorted, empty omitempty fields left out) of
// e's stored form — every field but the hash itself, with each field named
// in SealedFields set back to SealedMark and sealed_fields left out, the
// sealed blob included. Anyone holding an export can recompute it, with or
// without the customer's key, and entries from before sealing hash as they
// always did.
func Hash(e Entry) string {
	e = stored(e)
	e.Hash = ""
	e.At = e.At.UTC()
	if len(e.Detail) == 0 {
		e.Detail = nil
	}
	b, _ := json.Marshal(e) // map keys are sorted by encoding/json: canonical
	sum := sha256.Sum256(append([]byte(e.PrevHash+"\n"), b...))
	return hex.EncodeToString(sum[:])
}
