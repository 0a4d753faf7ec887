package evidence

import (
	"context"

	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Status is the scope's customer's chain status (audit.own).
func (s *Service) Status(ctx context.Context, sc tenant.Scope) (ChainStatus, error) {
	return ChainStatus{}, errUnbuilt
}

// StatusOf is a chain's status for staff (the caller checked audit.read).
func (s *Service) StatusOf(ctx context.Context, chain string) (ChainStatus, error) {
	return ChainStatus{}, errUnbuilt
}

// VerifyLive checks every chain in the database: links, hashes, the head
// rows, and the signatures of signed heads and checkpoints, which must match
// the entries they name.
func (s *Service) VerifyLive(ctx context.Context) ([]Verdict, error) {
	return nil, errUnbuilt
}
