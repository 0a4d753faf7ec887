// Package evidence makes the audit log's chains something a customer can
// check without trusting the operator's database (ISO/IEC 27017 16.1.7,
// 18.1.3, 12.4.1): it signs the chains' heads with the controller's
// signing key (heads.go), exports a customer's records for a time window as
// one archive with the chain segment that proves it complete and unaltered
// (export.go, build.go; the layout in archive.go), verifies such an archive
// offline (offline.go) and every chain live (verify.go), and expires
// records per class, leaving a signed checkpoint
// where a chain's removed prefix ended (retention.go).
//
// Signed statements are plain text, one "name=value" per line after a
// first line naming the statement and its version (HeadMessage,
// CheckpointMessage): anyone can rebuild the bytes from the JSON of an
// archive and check the Ed25519 signature with the published keys
// (GET /api/v1/signing-keys).
package evidence

import (
	"fmt"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// Service signs heads, exports and verifies evidence, and applies retention.
type Service struct {
	db       *store.DB
	log      *audit.Log
	keys     *signing.Keyring
	statuses statusCache
}

// New returns the service over db, its audit log and the controller's
// signing keyring.
func New(db *store.DB, log *audit.Log, keys *signing.Keyring) *Service {
	return &Service{db: db, log: log, keys: keys}
}

// Why a head was signed.
const (
	WhyPeriodic = "periodic" // the job audit.sign_heads: the chain grew since its last signed head
	WhyExport   = "export"   // an evidence export signs the head it ends at
)

// SignedHead is a chain's head as the controller signed it: the chain had
// Seq entries, the last hashing to Hash, at SignedAt.
type SignedHead struct {
	Chain     string            `json:"chain"`
	Seq       int64             `json:"seq"`
	Hash      string            `json:"hash"`
	SignedAt  time.Time         `json:"signed_at"`
	Why       string            `json:"why"`
	Signature signing.Signature `json:"signature"`
}

// Message is the signed statement of h.
func (h SignedHead) Message() []byte { return HeadMessage(h.Chain, h.Seq, h.Hash, h.SignedAt) }

// HeadMessage is the statement a head's signature covers.
func HeadMessage(chain string, seq int64, hash string, at time.Time) []byte {
	return fmt.Appendf(nil, "tsunagi audit head v1\nchain=%s\nseq=%d\nhash=%s\nsigned_at=%s\n",
		chain, seq, hash, at.UTC().Format(time.RFC3339Nano))
}

// Checkpoint is where a chain begins after retention removed its oldest
// entries: Seq and Hash are the last removed entry's, EntryAt its time;
// the next entry links to Hash. MadeAt is when the prefix was removed.
type Checkpoint struct {
	Chain     string            `json:"chain"`
	Seq       int64             `json:"seq"`
	Hash      string            `json:"hash"`
	EntryAt   time.Time         `json:"entry_at"`
	MadeAt    time.Time         `json:"made_at"`
	Signature signing.Signature `json:"signature"`
}

// Message is the signed statement of c.
func (c Checkpoint) Message() []byte {
	return CheckpointMessage(c.Chain, c.Seq, c.Hash, c.EntryAt, c.MadeAt)
}

// CheckpointMessage is the statement a checkpoint's signature covers.
func CheckpointMessage(chain string, seq int64, hash string, entryAt, madeAt time.Time) []byte {
	return fmt.Appendf(nil, "tsunagi audit checkpoint v1\nchain=%s\nseq=%d\nhash=%s\nentry_at=%s\nmade_at=%s\n",
		chain, seq, hash, entryAt.UTC().Format(time.RFC3339Nano), madeAt.UTC().Format(time.RFC3339Nano))
}

// Window is a time window of records, From inclusive, To exclusive.
type Window struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// ChainStatus is what the panel shows of a chain: its head, its last signed
// head, its checkpoint, and a fresh verification of it.
type ChainStatus struct {
	Chain      string      `json:"chain"`
	Seq        int64       `json:"seq"`
	Hash       string      `json:"hash"`
	LastSigned *SignedHead `json:"last_signed,omitempty"`
	Checkpoint *Checkpoint `json:"checkpoint,omitempty"`
	Verdict    Verdict     `json:"verdict"`
}

// Verdict is one chain's verification: intact or not, how many entries
// and signed statements were checked, and the first problem found.
type Verdict struct {
	Chain       string `json:"chain"`
	Intact      bool   `json:"intact"`
	Checked     int64  `json:"checked"`
	SignedHeads int    `json:"signed_heads"`
	Problem     string `json:"problem,omitempty"`
}
