package identity

import (
	"context"
	"fmt"

	"github.com/tsunagi-net/tsunagi/internal/store"
)

// Factors is what stands behind p's sign-in, as the account's owner sees
// it: whether TOTP is set up, how many security keys it has, and the
// registered device (client certificate) its session was opened from. The
// control panel shows it so that a person knows which step to take (give a
// factor, enrol the first, confirm with a key) instead of guessing.
type Factors struct {
	TOTP bool
	Keys int
	// Device is the ID of the registered device certificate the session
	// presented at sign-in ("" for none, and always for a token).
	Device string
}

// Any says whether the account has a second factor.
func (f Factors) Any() bool { return f.TOTP || f.Keys > 0 }

// FactorsOf reads p's own second factors; nobody reads another account's.
func (s *Service) FactorsOf(ctx context.Context, p Principal) (Factors, error) {
	f := Factors{Device: p.device}
	var totp int
	err := s.db.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM totp_secrets WHERE account_id = ? AND confirmed_at IS NOT NULL),
		(SELECT COUNT(*) FROM webauthn_credentials WHERE account_id = ?)`, p.AccountID, p.AccountID).Scan(&totp, &f.Keys)
	if err != nil {
		return Factors{}, fmt.Errorf("factors: %w", store.Wrap(err))
	}
	f.TOTP = totp > 0
	return f, nil
}
