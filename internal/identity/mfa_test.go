package identity

import (
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/secretbox"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TOTP seeds are sealed at rest: the database holds no seed a copy of it
// would give away, a controller with another secret key cannot use them,
// and seeds stored before sealing are sealed at the next start and keep
// working.
func TestTOTPSeedsSealedAtRest(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		_, p := f.active(t, f.cust, "seed-a", RoleAdmin)
		en, err := f.svc.BeginTOTP(f.ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		stored := func() (s string) {
			if err := db.QueryRow(f.ctx, `SELECT secret FROM totp_secrets WHERE account_id = ?`, p.AccountID).Scan(&s); err != nil {
				t.Fatal(err)
			}
			return s
		}
		if s := stored(); !secretbox.IsSealed(s) || strings.Contains(s, en.Secret) {
			t.Fatalf("stored seed %q is not sealed", s)
		}
		code := func(seed string, at time.Time) string {
			c, err := totp.GenerateCodeCustom(seed, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		now := time.Now()
		// Codes of three steps in a row are valid (±1 step), each once.
		if _, _, err := f.svc.ConfirmTOTP(f.ctx, p, CodeInput{Code: code(en.Secret, now.Add(-30*time.Second))}); err != nil {
			t.Fatalf("confirm: %v", err)
		}
		pending := func() Principal {
			_, pp, err := f.svc.Login(f.ctx, CustomerSide, "seed-a", "fixture passphrase 99", "test")
			if err != nil || pp.Role != RoleMFAPending {
				t.Fatalf("login: %v, role %s", err, pp.Role)
			}
			return pp
		}
		// Another controller, another key: the seed does not open, and the
		// code the right key accepts below is refused.
		other := New(db, audit.New(db), Config{Argon2: fastArgon})
		if _, err := other.VerifyMFA(f.ctx, pending(), CodeInput{Code: code(en.Secret, now)}); err == nil {
			t.Fatal("a controller with another secret key accepted the code")
		}
		// A seed stored unsealed (before this version) is sealed at start.
		if _, err := db.Exec(f.ctx, `UPDATE totp_secrets SET secret = ? WHERE account_id = ?`, en.Secret, p.AccountID); err != nil {
			t.Fatal(err)
		}
		if n, err := f.svc.SealStoredSecrets(f.ctx); err != nil || n != 1 {
			t.Fatalf("SealStoredSecrets = %d, %v", n, err)
		}
		if s := stored(); !secretbox.IsSealed(s) || strings.Contains(s, en.Secret) {
			t.Fatalf("legacy seed still stored as %q", s)
		}
		if n, err := f.svc.SealStoredSecrets(f.ctx); err != nil || n != 0 {
			t.Fatalf("second SealStoredSecrets = %d, %v", n, err)
		}
		if _, err := f.svc.VerifyMFA(f.ctx, pending(), CodeInput{Code: code(en.Secret, now)}); err != nil {
			t.Fatalf("the resealed seed does not verify: %v", err)
		}
	})
}
