package evidence

import (
	"context"
	"fmt"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/signing"
)

// ChainHead is a chain's head with the last head signed of it: the
// security officer's list of chains (GET /api/v1/audit/chains). A chain
// that grew since LastSigned is signed by the next run of audit.sign_heads.
type ChainHead struct {
	Chain      string      `json:"chain"`
	Seq        int64       `json:"seq"`
	Hash       string      `json:"hash"`
	LastSigned *SignedHead `json:"last_signed,omitempty"`
}

// Chains lists every chain's head, the platform's among them, ordered by
// chain ID (the caller checked audit.read).
func (s *Service) Chains(ctx context.Context) ([]ChainHead, error) {
	heads, err := s.log.Heads(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ChainHead, 0, len(heads))
	for _, h := range heads {
		c := ChainHead{Chain: h.Chain, Seq: h.Seq, Hash: h.Hash}
		if c.LastSigned, err = s.lastSigned(ctx, h.Chain); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// lastSigned is chain's latest signed head, nil when none was signed.
func (s *Service) lastSigned(ctx context.Context, chain string) (*SignedHead, error) {
	rows, err := s.db.Query(ctx, `SELECT seq, hash, signed_at, why, key_id, sig FROM audit_signed_heads
		WHERE chain = ? ORDER BY seq DESC, signed_at DESC LIMIT 1`, chain)
	if err != nil {
		return nil, fmt.Errorf("evidence: last signed head: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, rows.Err()
	}
	h := SignedHead{Chain: chain, Signature: signing.Signature{Alg: signing.Alg}}
	var at string
	if err := rows.Scan(&h.Seq, &h.Hash, &at, &h.Why, &h.Signature.KeyID, &h.Signature.Sig); err != nil {
		return nil, fmt.Errorf("evidence: last signed head: %w", err)
	}
	if h.SignedAt, err = clock.Parse(at); err != nil {
		return nil, fmt.Errorf("evidence: last signed head: %w", err)
	}
	return &h, rows.Err()
}
