package audit

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/secretbox"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// The audit log is append-only and hash-chained, so it cannot forget by
// deleting: it forgets by destroying a key. Every event that concerns a
// customer (Event.CustomerID) has its personal fields moved, when it is
// appended, into one blob sealed (AES-256-GCM) under a random key of that
// customer, with the event's chain and sequence number as additional data so that a
// blob copied into another row does not open. The plain columns keep
// SealedMark in their place. The chain hash covers this stored form — the
// markers and the blob — so ForgetCustomerTx, which deletes the key, changes
// no stored byte: the chain still verifies, and the personal fields open
// nowhere any more.
//
// Personal fields are:
//   - the actor's name (login ID) and source address when the actor is one
//     of the customer's own accounts, and the source address of an
//     anonymous caller (who tried to sign in to one of them). Operator
//     staff's names and addresses stay plain: they are the operator's
//     records of its own staff, not the customer's personal data; the
//     system's and nodes' names are no one's;
//   - a target naming a login ID ("login:…", a refused sign-in);
//   - the stated reason: free text, which may name anyone;
//   - the Detail values under PersonalDetailKeys.
//
// Events appended before migration 00067 keep what they were written with
// (docs/records.md says so): the log is never rewritten.

// Markers that stand in a personal field's place.
const (
	// SealedMark is what the stored form holds in a sealed field's place.
	SealedMark = "(sealed)"
	// ErasedMark is what List shows in a sealed field's place once the
	// customer's key is destroyed (ForgetCustomerTx).
	ErasedMark = "(erased)"
)

// PersonalDetailKeys are the Detail keys whose values are personal data
// (found by reading every audit call site): login IDs and e-mail
// addresses, people's and accounts' names, names a person gave a token,
// security key or device, addresses and user agents, the holder of an
// editing lock, free-text reasons, and values that can carry text the
// customer wrote: a review's changes (diffs of its configuration, with
// its object names and rule comments) and reasons (which quote them), and
// a node's free-text detail of a hold, and a security incident's free-text
// statement of the data it affected. A listed key's whole value is
// sealed, however deep. Keys not listed are identifiers, codes, dates,
// counts and configuration without free text, which stay plain.
var PersonalDetailKeys = []string{
	"changes", "data_affected", "detail", "display_name", "device", "email", "holder", "invited_by", "login_id", "name", "reason",
	"reasons", "source_ip", "stated_reason", "took_over_expired_lock_of", "user_agent",
}

var personalDetail = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range PersonalDetailKeys {
		m[k] = true
	}
	return m
}()

// personal is the plain text of a sealed blob: the fields moved out of the
// entry, each present only when it was sealed.
type personal struct {
	ActorName *string        `json:"actor_name,omitempty"`
	SourceIP  *string        `json:"source_ip,omitempty"`
	Target    *string        `json:"target,omitempty"`
	Reason    *string        `json:"reason,omitempty"`
	Detail    map[string]any `json:"detail,omitempty"`
}

// fields returns pointers to the entry's sealable string fields by name.
func (e *Entry) fields() map[string]*string {
	return map[string]*string{"actor_name": &e.ActorName, "source_ip": &e.SourceIP, "target": &e.Target, "reason": &e.Reason}
}

// split takes e's personal fields out: they are returned, and e holds
// SealedMark in their place (its Detail is a copy, the caller's map is not
// touched). It returns nil when e has none.
func split(e *Entry, kind string) *personal {
	if e.CustomerID == "" {
		return nil
	}
	var p personal
	found := false
	take := func(dst **string, v *string) {
		if *v != "" {
			s := *v
			*dst, *v, found = &s, SealedMark, true
		}
	}
	if kind == "customer" {
		take(&p.ActorName, &e.ActorName)
	}
	if kind == "customer" || kind == "anonymous" {
		take(&p.SourceIP, &e.SourceIP)
	}
	if strings.HasPrefix(e.Target, "login:") {
		take(&p.Target, &e.Target)
	}
	take(&p.Reason, &e.Reason)
	for k, v := range e.Detail {
		if !personalDetail[k] {
			continue
		}
		if p.Detail == nil {
			p.Detail = map[string]any{}
			e.Detail = maps.Clone(e.Detail)
		}
		p.Detail[k], e.Detail[k], found = v, SealedMark, true
	}
	if !found {
		return nil
	}
	return &p
}

// sealedFields lists the fields of a stored entry that hold SealedMark:
// "actor_name", "source_ip", "target", "reason" and "detail.<key>".
func sealedFields(e *Entry) []string {
	var out []string
	for name, v := range e.fields() {
		if *v == SealedMark {
			out = append(out, name)
		}
	}
	for k, v := range e.Detail {
		if v == SealedMark {
			out = append(out, "detail."+k)
		}
	}
	slices.Sort(out)
	return out
}

// stored returns e in its stored form: every field named in SealedFields
// holds SealedMark again, and SealedFields itself, which only describes the
// stored form, is dropped.
func stored(e Entry) Entry {
	if len(e.SealedFields) == 0 {
		return e
	}
	f := e.fields()
	for _, name := range e.SealedFields {
		if k, ok := strings.CutPrefix(name, "detail."); ok {
			if e.Detail != nil {
				e.Detail = maps.Clone(e.Detail)
				e.Detail[k] = SealedMark
			}
			continue
		}
		if p := f[name]; p != nil {
			*p = SealedMark
		}
	}
	e.SealedFields = nil
	return e
}

func keyContext(cust string) string { return "audit_key:" + cust }

// sealContext binds a blob to its entry's place: its sequence number, and
// since the chains (V2) its chain too.
func sealContext(e *Entry) string {
	if e.V < V2 {
		return "audit:" + strconv.FormatInt(e.Seq, 10)
	}
	return "audit:" + e.Chain + ":" + strconv.FormatInt(e.Seq, 10)
}
func errKey(cust string, err error) error {
	return fmt.Errorf("audit: key of %s: %w", cust, err)
}

// customerKey is a customer's audit key: the box that seals under it, and
// its ID, which prefixes every blob sealed under it ("<id>:v1:…") so that a
// blob sealed under a destroyed key reads as erased even when the customer
// has a newer key, while a blob that does not open under the key that
// sealed it reads as damaged.
type customerKey struct {
	box *secretbox.Box
	id  string
}

// keyID is the first 8 bytes of the key's SHA-256, in hex: it names the key
// and gives nothing of it away.
func keyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:8])
}

func newKey(key []byte) (*customerKey, error) {
	box, err := secretbox.New(key)
	if err != nil {
		return nil, err
	}
	return &customerKey{box: box, id: keyID(key)}, nil
}

// loadKey returns cust's audit key, nil when it has none. The key is
// read on every use, never cached: once ForgetCustomerTx has committed, no
// controller may open the customer's fields again.
func loadKey(ctx context.Context, q store.Querier, cust string) (*customerKey, error) {
	var sealed string
	err := store.Scan(q.QueryRow(ctx, `SELECT sealed_key FROM audit_keys WHERE customer_id = ?`, cust), &sealed)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, errKey(cust, err)
	}
	plain, err := q.Secrets().Open(sealed, keyContext(cust))
	if err != nil {
		return nil, errKey(cust, err)
	}
	key, err := base64.RawStdEncoding.DecodeString(plain)
	if err != nil {
		return nil, errKey(cust, err)
	}
	k, err := newKey(key)
	if err != nil {
		return nil, errKey(cust, err)
	}
	return k, nil
}

// sealTx seals e's personal fields under its customer's key, making the key
// at the customer's first such event. tx holds the lock of the customer's
// chain, so no other append makes the same customer's key at the same time.
// *held is the key sealTx found or made for an earlier entry of the same
// append (one chain, so one customer, with nothing run in between): the
// key is read once per append, not once per entry.
func sealTx(ctx context.Context, tx *store.Tx, e *Entry, kind string, held **customerKey) error {
	p := split(e, kind)
	if p == nil {
		return nil
	}
	k, err := *held, error(nil)
	if k == nil {
		if k, err = loadKey(ctx, tx, e.CustomerID); err != nil {
			return err
		}
	}
	if k == nil {
		key := make([]byte, secretbox.KeySize)
		if _, err := rand.Read(key); err != nil {
			return errKey(e.CustomerID, err)
		}
		if k, err = newKey(key); err != nil {
			return errKey(e.CustomerID, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO audit_keys (customer_id, sealed_key, created_at) VALUES (?, ?, ?)`,
			e.CustomerID, tx.Secrets().Seal(base64.RawStdEncoding.EncodeToString(key), keyContext(e.CustomerID)),
			clock.Store(clock.Now())); err != nil {
			return errKey(e.CustomerID, err)
		}
	}
	*held = k
	plain, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("audit: seal: %w", err)
	}
	e.Sealed = k.id + ":" + k.box.Seal(string(plain), sealContext(e))
	return nil
}

// open puts the sealed fields of a stored entry back with k, the
// customer's key, or marks them erased when the key that sealed them was
// destroyed (k is nil, or a newer key). A blob that does not open under its
// own key leaves the markers: Verify reports the entry as altered.
func open(e *Entry, k *customerKey) {
	e.SealedFields = sealedFields(e)
	id, blob, _ := strings.Cut(e.Sealed, ":")
	if k == nil || id != k.id {
		e.erased = true
		for _, name := range e.SealedFields {
			if k, ok := strings.CutPrefix(name, "detail."); ok {
				e.Detail[k] = ErasedMark
			} else {
				*e.fields()[name] = ErasedMark
			}
		}
		return
	}
	plain, err := k.box.Open(blob, sealContext(e))
	if err != nil {
		return
	}
	var p personal
	if json.Unmarshal([]byte(plain), &p) != nil {
		return
	}
	f := e.fields()
	for name, v := range map[string]*string{"actor_name": p.ActorName, "source_ip": p.SourceIP, "target": p.Target, "reason": p.Reason} {
		if v != nil && *f[name] == SealedMark {
			*f[name] = *v
		}
	}
	for k, v := range p.Detail {
		if e.Detail[k] == SealedMark {
			e.Detail[k] = v
		}
	}
}

// Erased says whether e's personal fields were erased: its customer's key
// was destroyed, and the fields named in SealedFields show ErasedMark.
func (e Entry) Erased() bool { return e.erased }

// ErasedField says whether the field name ("actor_name", "detail.email", …)
// of e was erased.
func (e Entry) ErasedField(name string) bool {
	return e.erased && slices.Contains(e.SealedFields, name)
}

// ForgetCustomerTx destroys cust's audit key inside tx: the personal fields
// of every event of cust sealed under it open nowhere any more, and List
// shows them as ErasedMark; the stored entries and the chain are unchanged.
// It is idempotent: without a key it does nothing. An event appended for
// cust later with personal fields gets a new key, which a later call (the
// purge is re-run after a restore) destroys in turn.
//
// The destruction is recorded before the key is deleted, so that the
// record's own personal fields, if the actor has any, are sealed under the
// key it destroys rather than under a new one.
func (l *Log) ForgetCustomerTx(ctx context.Context, tx *store.Tx, cust string) error {
	if cust == "" {
		return errors.New("audit: forget: empty customer ID")
	}
	var n int
	if err := store.Scan(tx.QueryRow(ctx, `SELECT COUNT(*) FROM audit_keys WHERE customer_id = ?`, cust), &n); err != nil {
		return errKey(cust, err)
	}
	if n == 0 {
		return nil
	}
	if err := l.RecordTx(ctx, tx, Event{Action: "audit.key_destroy", Target: "customer:" + cust, CustomerID: cust}); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM audit_keys WHERE customer_id = ?`, cust); err != nil {
		return errKey(cust, err)
	}
	return nil
}
