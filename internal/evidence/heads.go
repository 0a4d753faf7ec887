package evidence

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// SignJobName is the job that signs the heads of the chains that grew.
const SignJobName = "audit.sign_heads"

// SignEvery is how often the job runs: a chain that changes has a head
// signed at most this long ago plus one run (the promise is 10 minutes).
const SignEvery = 5 * time.Minute

// SignJob signs, every SignEvery, the head of each chain that grew since
// its last signed head. An item is a chain; its done marker is the signed
// head itself (a second controller finds the head already signed at that
// sequence number and skips it).
func (s *Service) SignJob() schedule.Job {
	return schedule.Job{Name: SignJobName, Due: s.dueHeads, Do: s.signDue,
		Next: func(now time.Time) time.Time { return now.Add(SignEvery) }, Quiet: true}
}

// SignDue signs now the heads of the chains the job would sign (serve does
// at stop), and returns how many it signed. A chain another controller signs
// at the same time is signed once (signDue).
func (s *Service) SignDue(ctx context.Context) (int, error) {
	due, err := s.dueHeads(ctx, time.Time{})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, chain := range due {
		did, err := s.signDue(ctx, time.Time{}, chain)
		if err != nil {
			return n, err
		}
		if did {
			n++
		}
	}
	return n, nil
}

// dueHeads lists the chains with an entry beyond their last signed head
// (or checkpoint) other than this job's own run records: a run that signed
// something records job.run in the platform chain, and counting that as a
// change would make the platform chain due again at every run, for ever.
// Such records are signed with the platform's next real change.
func (s *Service) dueHeads(ctx context.Context, _ time.Time) ([]string, error) {
	return store.Strings(ctx, s.db, `SELECT c.chain FROM audit_chains c
		WHERE EXISTS (SELECT 1 FROM audit_events e WHERE e.chain = c.chain
			AND e.seq > COALESCE((SELECT MAX(h.seq) FROM audit_signed_heads h WHERE h.chain = c.chain), 0)
			AND e.seq > COALESCE((SELECT k.seq FROM audit_checkpoints k WHERE k.chain = c.chain), 0)
			AND NOT (e.action = 'job.run' AND e.target = ?))
		ORDER BY c.chain`, "job:"+SignJobName)
}

func (s *Service) signDue(ctx context.Context, _ time.Time, chain string) (bool, error) {
	signed := false
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		// The chain's head row is locked first, as an append locks it: a
		// second controller signing the same chain waits here and then
		// finds the head signed, instead of both reading "not signed yet"
		// and both signing it.
		head, at, err := audit.SignTimeTx(ctx, tx, chain)
		if err != nil {
			return err
		}
		var n int
		if err := store.Scan(tx.QueryRow(ctx, `SELECT COUNT(*) FROM audit_signed_heads WHERE chain = ? AND seq >= ?`,
			chain, head.Seq), &n); err != nil {
			return err
		}
		if n > 0 || head.Seq == 0 {
			return nil
		}
		_, err = s.signHeadTx(ctx, tx, head, at, WhyPeriodic)
		signed = err == nil
		return err
	})
	return signed, err
}

// SignHeadTx signs chain's current head inside tx and stores the signed
// head (an export signs the head it ends at this way).
func (s *Service) SignHeadTx(ctx context.Context, tx *store.Tx, chain, why string) (SignedHead, error) {
	if chain == "" {
		return SignedHead{}, errors.New("evidence: sign head: empty chain")
	}
	if err := s.log.FlushTx(ctx, tx); err != nil {
		return SignedHead{}, err
	}
	head, at, err := audit.SignTimeTx(ctx, tx, chain)
	if err != nil {
		return SignedHead{}, err
	}
	return s.signHeadTx(ctx, tx, head, at, why)
}

// signHeadTx signs head at the time at, which audit.SignTimeTx gave with the
// head row locked: no entry appended after it bears an earlier time.
func (s *Service) signHeadTx(ctx context.Context, tx *store.Tx, head audit.Head, at time.Time, why string) (SignedHead, error) {
	h := SignedHead{Chain: head.Chain, Seq: head.Seq, Hash: head.Hash, SignedAt: at, Why: why}
	sig, err := s.keys.SignTx(ctx, tx, h.Message())
	if err != nil {
		return SignedHead{}, err
	}
	h.Signature = sig
	if _, err := tx.Exec(ctx, `INSERT INTO audit_signed_heads (id, chain, seq, hash, signed_at, why, key_id, sig)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, ids.New("ash"), h.Chain, h.Seq, h.Hash, clock.Store(h.SignedAt), h.Why,
		sig.KeyID, sig.Sig); err != nil {
		return SignedHead{}, fmt.Errorf("evidence: sign head: %w", err)
	}
	return h, nil
}

// SignedHeads lists chain's signed heads with seq in [from, to], oldest first.
func SignedHeads(ctx context.Context, q store.Querier, chain string, from, to int64) ([]SignedHead, error) {
	rows, err := q.Query(ctx, `SELECT seq, hash, signed_at, why, key_id, sig FROM audit_signed_heads
		WHERE chain = ? AND seq >= ? AND seq <= ? ORDER BY seq, signed_at`, chain, from, to)
	if err != nil {
		return nil, fmt.Errorf("evidence: signed heads: %w", err)
	}
	defer rows.Close()
	var out []SignedHead
	for rows.Next() {
		h := SignedHead{Chain: chain}
		var at string
		if err := rows.Scan(&h.Seq, &h.Hash, &at, &h.Why, &h.Signature.KeyID, &h.Signature.Sig); err != nil {
			return nil, fmt.Errorf("evidence: signed heads: %w", err)
		}
		h.Signature.Alg = signing.Alg
		if h.SignedAt, err = clock.Parse(at); err != nil {
			return nil, fmt.Errorf("evidence: signed heads: %w", err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}
