package evidence

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// verifyPage is how many entries one read of a chain takes: large enough
// that a million-entry chain costs a hundred queries, small enough that a
// page (a few MB) never matters to memory.
const verifyPage = 10000

// Status is the scope's customer's chain status (audit.own).
func (s *Service) Status(ctx context.Context, sc tenant.Scope) (ChainStatus, error) {
	q, err := audit.Own(sc)
	if err != nil {
		return ChainStatus{}, err
	}
	// Customers' calls are shared (status.go): one walk per chain at a
	// time, and a walk's status reused for a short while as long as the
	// chain's head has not moved — reloading the audit page must not walk a
	// large chain at every request.
	return s.statuses.get(ctx, s.db, q.Chain(), s.StatusOf)
}

// StatusOf is a chain's status for staff (the caller checked audit.read),
// from a walk of the whole chain made now. A chain with no entry yet is
// intact at sequence number 0.
func (s *Service) StatusOf(ctx context.Context, chain string) (ChainStatus, error) {
	if chain == "" {
		return ChainStatus{}, errors.New("evidence: status of an empty chain")
	}
	keys, err := s.keys.PublicKeys(ctx)
	if err != nil {
		return ChainStatus{}, err
	}
	c, err := s.check(ctx, chain, keys)
	if err != nil {
		return ChainStatus{}, err
	}
	return ChainStatus{Chain: chain, Seq: c.head.Seq, Hash: c.head.Hash, LastSigned: c.lastSigned,
		Checkpoint: c.checkpoint, Verdict: c.verdict}, nil
}

// VerifyLive checks every chain in the database: links, hashes, the head
// rows, and the signatures of signed heads and checkpoints, which must match
// the entries they name. It returns one verdict per chain, ordered by chain
// ID; an error means the database could not be read, not that a chain is
// broken (that is a verdict that is not Intact).
//
// The chains are those any table names — head rows, signed heads,
// checkpoints and entries — so that removing a chain's head row (or every
// row but its signed heads) does not remove the chain from the check.
func (s *Service) VerifyLive(ctx context.Context) ([]Verdict, error) {
	keys, err := s.keys.PublicKeys(ctx)
	if err != nil {
		return nil, err
	}
	chains, err := store.Strings(ctx, s.db, `SELECT chain FROM audit_chains
		UNION SELECT chain FROM audit_signed_heads
		UNION SELECT chain FROM audit_checkpoints
		UNION SELECT DISTINCT chain FROM audit_events
		ORDER BY chain`)
	if err != nil {
		return nil, fmt.Errorf("evidence: verify: %w", err)
	}
	out := make([]Verdict, 0, len(chains))
	for _, chain := range chains {
		c, err := s.check(ctx, chain, keys)
		if err != nil {
			return out, err
		}
		out = append(out, c.verdict)
	}
	return out, nil
}

// checked is one chain's check: what it read and what it found.
type checked struct {
	head       audit.Head
	lastSigned *SignedHead
	checkpoint *Checkpoint
	verdict    Verdict
}

// check verifies chain. Retention may cut the chain's prefix while the
// walk reads it, which looks like missing entries: a problem found while
// the checkpoint moved is checked once more from the new checkpoint.
func (s *Service) check(ctx context.Context, chain string, keys []signing.PublicKey) (checked, error) {
	c, err := s.checkOnce(ctx, chain, keys)
	if err != nil || c.verdict.Intact {
		return c, err
	}
	cp, err := storedCheckpoint(ctx, s.db, chain)
	if err != nil {
		return c, err
	}
	if seqOf(cp) != seqOf(c.checkpoint) {
		return s.checkOnce(ctx, chain, keys)
	}
	return c, nil
}

func seqOf(c *Checkpoint) int64 {
	if c == nil {
		return 0
	}
	return c.Seq
}

// checkOnce is one pass over chain: the checkpoint's signature, every
// signed head's signature, and a walk from the checkpoint to the head row
// (audit.Walker, the rule the archive verifier applies too) during which
// each signed head is compared with the entry it names.
func (s *Service) checkOnce(ctx context.Context, chain string, keys []signing.PublicKey) (checked, error) {
	c := checked{verdict: Verdict{Chain: chain}}
	v := &c.verdict
	problem := func(format string, args ...any) {
		if v.Problem == "" {
			v.Problem = fmt.Sprintf(format, args...)
		}
	}
	// The signed heads are read before the head row: every head signed by
	// then is at or below the row, which only grows, so a signed head above
	// it is the chain cut back, never an append made while this runs.
	signed, err := SignedHeads(ctx, s.db, chain, 0, math.MaxInt64)
	if err != nil {
		return c, err
	}
	var found bool
	c.head, found, err = headRow(ctx, s.db, chain)
	if err != nil {
		return c, err
	}
	if c.checkpoint, err = storedCheckpoint(ctx, s.db, chain); err != nil {
		return c, err
	}
	if !found {
		// A chain with nothing at all is a customer with no entry yet.
		var n int
		if err := store.Scan(s.db.QueryRow(ctx, `SELECT COUNT(*) FROM audit_events WHERE chain = ?`, chain), &n); err != nil {
			return c, fmt.Errorf("evidence: verify %s: %w", chain, err)
		}
		if n > 0 || len(signed) > 0 || c.checkpoint != nil {
			problem("the chain's head row is missing")
		}
	}
	w := &audit.Walker{Chain: chain}
	if cp := c.checkpoint; cp != nil {
		if err := signing.Verify(keys, cp.Message(), cp.Signature); err != nil {
			problem("checkpoint at entry %d: %v", cp.Seq, err)
		}
		w.Seq, w.Hash = cp.Seq, cp.Hash
	}
	// want holds, per sequence number, the hashes signed heads name there.
	want := map[int64][]string{}
	for i := range signed {
		h := &signed[i]
		if err := signing.Verify(keys, h.Message(), h.Signature); err != nil {
			problem("signed head at entry %d: %v", h.Seq, err)
			continue
		}
		switch {
		case h.Seq > c.head.Seq:
			problem("signed head at entry %d does not match the chain: the chain ends at entry %d", h.Seq, c.head.Seq)
			continue
		case h.Seq == w.Seq && h.Hash != w.Hash:
			problem("signed head at entry %d does not match the chain's checkpoint", h.Seq)
			continue
		case h.Seq > w.Seq:
			want[h.Seq] = append(want[h.Seq], h.Hash)
		}
		// A head below the checkpoint names an entry retention removed:
		// its signature is all that is left to check.
		v.SignedHeads++
		c.lastSigned = h // the list is in order of sequence number
	}
	if v.Problem == "" {
		mismatch, err := s.walk(ctx, w, c.head.Seq, want)
		var ce *audit.ChainError
		switch {
		case errors.As(err, &ce):
			problem("entry %d %s", ce.Seq, ce.Problem)
		case err != nil:
			return c, err
		case mismatch != 0:
			problem("signed head at entry %d does not match the chain", mismatch)
		case w.Seq != c.head.Seq:
			problem("entry %d is missing: the head records %d entries", w.Seq+1, c.head.Seq)
		case w.Hash != c.head.Hash:
			problem("the head records another hash than entry %d's", w.Seq)
		}
	}
	v.Checked = w.N
	v.Intact = v.Problem == ""
	return c, nil
}

// walk feeds the chain's entries after w's position up to seq to w and
// compares each with the hashes signed heads name at its sequence number
// (want). It returns the first entry that differs from one, or the
// walker's error (a row that does not even read as an entry is one too).
//
// Reading and hashing are most of the cost, and each entry's hash depends
// only on the entry (its previous hash is stored in it): pages — ranges
// of sequence numbers — are read and hashed by one goroutine per core,
// a few pages ahead, and walked in order.
func (s *Service) walk(ctx context.Context, w *audit.Walker, seq int64, want map[int64][]string) (int64, error) {
	workers := runtime.GOMAXPROCS(0)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	ordered := make(chan *page, 2*workers) // bounds the pages read ahead
	sem := make(chan struct{}, workers)
	wg.Go(func() {
		defer close(ordered)
		for from := w.Seq; from < seq; from += verifyPage {
			p := &page{done: make(chan struct{})}
			select {
			case ordered <- p:
			case <-ctx.Done():
				return
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Go(func() {
				defer func() { <-sem }()
				defer close(p.done)
				s.readPage(ctx, p, w.Chain, from, min(from+verifyPage, seq))
			})
		}
	})
	for p := range ordered {
		select {
		case <-p.done:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		for i, e := range p.entries {
			if err := w.NextHashed(e, p.hashes[i]); err != nil {
				return 0, err
			}
			for _, hash := range want[e.Seq] {
				if hash != e.Hash {
					return e.Seq, nil
				}
			}
		}
		if p.unreadable != nil {
			return 0, &audit.ChainError{Chain: w.Chain, Seq: w.Seq + 1, Problem: "cannot be read: " + p.unreadable.Error()}
		}
		if p.err != nil {
			return 0, p.err
		}
	}
	return 0, nil
}

// page is a range of a chain's entries in their stored form, with their
// hashes as Hash computes them.
type page struct {
	entries    []audit.Entry
	hashes     []string
	unreadable error // the row after the entries does not read as an entry
	err        error // the database failed
	done       chan struct{}
}

// readPage reads chain's entries numbered from+1 to to into p and hashes them.
func (s *Service) readPage(ctx context.Context, p *page, chain string, from, to int64) {
	rows, err := s.db.Query(ctx, `SELECT `+audit.Columns+` FROM audit_events WHERE chain = ? AND seq > ? AND seq <= ?
		ORDER BY seq`, chain, from, to)
	if err != nil {
		p.err = fmt.Errorf("evidence: verify %s: %w", chain, err)
		return
	}
	defer rows.Close()
	p.entries = make([]audit.Entry, 0, to-from)
	for rows.Next() {
		e, err := audit.ScanEntry(rows)
		if err != nil {
			p.unreadable = err
			break
		}
		p.entries = append(p.entries, e)
	}
	if err := rows.Err(); err != nil {
		p.err = fmt.Errorf("evidence: verify %s: %w", chain, err)
	}
	p.hashes = make([]string, len(p.entries))
	for i := range p.entries {
		p.hashes[i] = audit.Hash(p.entries[i])
	}
}

// headRow reads chain's head row, and whether there is one.
func headRow(ctx context.Context, q store.Querier, chain string) (audit.Head, bool, error) {
	h := audit.Head{Chain: chain}
	err := store.Scan(q.QueryRow(ctx, `SELECT seq, hash FROM audit_chains WHERE chain = ?`, chain), &h.Seq, &h.Hash)
	if errors.Is(err, store.ErrNotFound) {
		return h, false, nil
	}
	if err != nil {
		return h, false, fmt.Errorf("evidence: head of %s: %w", chain, err)
	}
	return h, true, nil
}

// storedCheckpoint reads chain's checkpoint as retention signed it, or nil
// when retention never cut the chain.
func storedCheckpoint(ctx context.Context, q store.Querier, chain string) (*Checkpoint, error) {
	c := Checkpoint{Chain: chain, Signature: signing.Signature{Alg: signing.Alg}}
	var entryAt, madeAt string
	err := store.Scan(q.QueryRow(ctx, `SELECT seq, hash, entry_at, made_at, key_id, sig FROM audit_checkpoints WHERE chain = ?`,
		chain), &c.Seq, &c.Hash, &entryAt, &madeAt, &c.Signature.KeyID, &c.Signature.Sig)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("evidence: checkpoint of %s: %w", chain, err)
	}
	if c.EntryAt, err = clock.Parse(entryAt); err != nil {
		return nil, fmt.Errorf("evidence: checkpoint of %s: %w", chain, err)
	}
	if c.MadeAt, err = clock.Parse(madeAt); err != nil {
		return nil, fmt.Errorf("evidence: checkpoint of %s: %w", chain, err)
	}
	return &c, nil
}
