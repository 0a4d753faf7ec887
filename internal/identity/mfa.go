package identity

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/tsunagi-net/tsunagi/internal/secretbox"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// Multi-factor authentication (ISO/IEC 27017 9.2.3). A login whose account
// has a second factor — or whose customer requires one for admins — opens a
// session that is "MFA pending": until the second factor is given, the
// session holds only the mfa-pending role, whose one action is ActMFA
// (verify a factor, or enrol the first one). Completing the factor is a
// privilege change, so the session ID is rotated then.

// RoleMFAPending is the role of a session that passed the password but not
// yet the second factor.
const RoleMFAPending Role = "mfa-pending"

// ActMFA verifies a second factor, or enrols one.
const ActMFA Action = "mfa"

// CodeMFAPending is the code of the refusal of anything else to a pending
// session, so that a client can tell "give the factor" from "not allowed".
const CodeMFAPending = "mfa_pending"

// ErrMFAPending refuses a pending session what only a full session may do.
var ErrMFAPending = fault.Coded(fault.Forbidden, CodeMFAPending,
	"sign-in is not complete: give your second factor (POST /api/v1/session/mfa, or /api/v1/session/webauthn/begin and /finish "+
		"for a security key); if your account has none and your organisation requires one, set it up first "+
		"(POST /api/v1/me/totp, or /api/v1/me/webauthn/register/begin)")

// TOTP parameters (RFC 6238 defaults that every authenticator app accepts).
var totpOpts = totp.ValidateOpts{Period: 30, Skew: 0, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// RecoveryCodeCount is how many single-use recovery codes an enrolment gives.
const RecoveryCodeCount = 10

// needsMFAUnder says whether a principal of account id, role r and customer
// cust, whose policy is pol, must give a second factor.
func (s *Service) needsMFAUnder(ctx context.Context, q store.Querier, id string, r Role, cust catalog.CustomerID, pol SecurityPolicy) (bool, error) {
	if requiresMFA(r, cust, pol) {
		return true, nil
	}
	return s.hasFactor(ctx, q, id)
}

// requiresMFA says whether customer cust's policy pol requires a second
// factor of an account of role r: admins and operations administrators.
func requiresMFA(r Role, cust catalog.CustomerID, pol SecurityPolicy) bool {
	return cust != "" && pol.RequireMFA && (r == RoleAdmin || r == RoleOpsAdmin)
}

// hasFactor says whether account id has a confirmed second factor.
func (s *Service) hasFactor(ctx context.Context, q store.Querier, id string) (bool, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM totp_secrets WHERE account_id = ? AND confirmed_at IS NOT NULL)
		+ (SELECT COUNT(*) FROM webauthn_credentials WHERE account_id = ?)`, id, id).Scan(&n)
	return n > 0, store.Wrap(err)
}

// TOTPEnrolment is a new, unconfirmed TOTP secret, shown once.
type TOTPEnrolment struct {
	Secret string `json:"secret"`
	URL    string `json:"otpauth_url"`
}

// BeginTOTP starts a TOTP enrolment for p's account. A session that is MFA
// pending may enrol only when the account has no factor yet: a password alone
// never adds a factor to an account that has one.
func (s *Service) BeginTOTP(ctx context.Context, p Principal) (TOTPEnrolment, error) {
	if err := s.mayEnrol(ctx, p, "mfa.totp.enrol"); err != nil {
		return TOTPEnrolment{}, err
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "tsunagi", AccountName: p.LoginID, SecretSize: 20})
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("totp: %w", err)
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var confirmed *string
		err := store.Scan(tx.QueryRow(ctx, `SELECT confirmed_at FROM totp_secrets WHERE account_id = ?`, p.AccountID), &confirmed)
		if err == nil && confirmed != nil {
			return fault.New(fault.Conflict, "TOTP is already set up; remove it first to set up a new one")
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM totp_secrets WHERE account_id = ?`, p.AccountID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO totp_secrets (account_id, secret, last_step) VALUES (?, ?, 0)`, p.AccountID,
			s.secrets.Seal(key.Secret(), totpContext(p.AccountID)))
		return err
	})
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("totp: %w", err)
	}
	return TOTPEnrolment{Secret: key.Secret(), URL: key.URL()}, nil
}

// mayEnrol refuses adding a factor to p's account unless p is a session
// that proved the password and any factor the account has within
// ReauthTTL (reauth.go). A pending session may enrol only the first factor.
func (s *Service) mayEnrol(ctx context.Context, p Principal, action string) error {
	if p.Role == RoleMFAPending {
		has, err := s.hasFactor(ctx, s.db, p.AccountID)
		if err != nil {
			return err
		}
		if has {
			return ErrMFAPending
		}
	}
	return s.requireRecentAuth(ctx, p, action)
}

// CodeInput carries a TOTP code or a recovery code.
type CodeInput struct {
	Code string `json:"code"`
}

// TOTP seeds are the one login secret the controller must read back, so
// they are sealed with the controller's secret key (internal/secretbox)
// rather than hashed; each is bound to its account.
func totpContext(accountID string) string { return "totp:" + accountID }

// openTOTP returns the seed stored for an account. A seed stored before
// seeds were sealed is used as it is until SealStoredSecrets seals it (at
// the controller's start).
func (s *Service) openTOTP(accountID, stored string) (string, error) {
	if !secretbox.IsSealed(stored) {
		return stored, nil
	}
	seed, err := s.secrets.Open(stored, totpContext(accountID))
	if err != nil {
		return "", fmt.Errorf("TOTP seed of %s: %w", accountID, err)
	}
	return seed, nil
}

// SealStoredSecrets seals the TOTP seeds stored unsealed (by a version
// before seeds were sealed) and returns how many it sealed.
func (s *Service) SealStoredSecrets(ctx context.Context) (int, error) {
	n := 0
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query(ctx, `SELECT account_id, secret FROM totp_secrets WHERE secret NOT LIKE 'v1:%'`)
		if err != nil {
			return err
		}
		plain := map[string]string{}
		for rows.Next() {
			var id, secret string
			if err := rows.Scan(&id, &secret); err != nil {
				rows.Close()
				return err
			}
			if !secretbox.IsSealed(secret) {
				plain[id] = secret
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for id, secret := range plain {
			if _, err := tx.Exec(ctx, `UPDATE totp_secrets SET secret = ? WHERE account_id = ? AND secret = ?`,
				s.secrets.Seal(secret, totpContext(id)), id, secret); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// checkTOTP accepts code for the secret if it matches the current step or the
// ones either side, and only if that step is later than the last accepted one
// (no code is accepted twice, not even within its own 30 s). It records the
// step inside tx.
func checkTOTP(ctx context.Context, tx *store.Tx, accountID, secret string, last int64, code string) (bool, error) {
	now := clock.Now()
	for _, d := range []time.Duration{0, -30 * time.Second, 30 * time.Second} {
		at := now.Add(d)
		step := at.Unix() / 30
		if step <= last {
			continue
		}
		want, err := totp.GenerateCodeCustom(secret, at, totpOpts)
		if err != nil {
			return false, err
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) != 1 {
			continue
		}
		res, err := tx.Exec(ctx, `UPDATE totp_secrets SET last_step = ? WHERE account_id = ? AND last_step < ?`, step, accountID, step)
		if err != nil {
			return false, err
		}
		n, _ := res.RowsAffected()
		return n == 1, nil
	}
	return false, nil
}

// ConfirmTOTP confirms an enrolment with a first code and returns the
// recovery codes, shown once. A pending session that enrols its first factor
// is completed (and its ID rotated: the new secret is returned).
func (s *Service) ConfirmTOTP(ctx context.Context, p Principal, in CodeInput) ([]string, string, error) {
	if err := s.mayEnrol(ctx, p, "mfa.totp.enrol"); err != nil {
		return nil, "", err
	}
	codes := make([]string, RecoveryCodeCount)
	for i := range codes {
		codes[i] = newRecoveryCode()
	}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var secret string
		var confirmed *string
		var last int64
		err := store.Scan(tx.QueryRow(ctx, `SELECT secret, confirmed_at, last_step FROM totp_secrets WHERE account_id = ?`, p.AccountID),
			&secret, &confirmed, &last)
		if errors.Is(err, store.ErrNotFound) || (err == nil && confirmed != nil) {
			return fault.New(fault.Conflict, "no TOTP set-up is waiting for confirmation")
		}
		if err != nil {
			return err
		}
		if secret, err = s.openTOTP(p.AccountID, secret); err != nil {
			return err
		}
		ok, err := checkTOTP(ctx, tx, p.AccountID, secret, last, strings.TrimSpace(in.Code))
		if err != nil {
			return err
		}
		if !ok {
			return fault.Field("code", "the code is not valid")
		}
		if _, err := tx.Exec(ctx, `UPDATE totp_secrets SET confirmed_at = ? WHERE account_id = ?`, clock.Store(clock.Now()), p.AccountID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE account_id = ?`, p.AccountID); err != nil {
			return err
		}
		for _, c := range codes {
			if _, err := tx.Exec(ctx, `INSERT INTO recovery_codes (account_id, code_hash) VALUES (?, ?)`, p.AccountID, hashSecret(c)); err != nil {
				return err
			}
		}
		if err := forgetProofs(ctx, tx, p.AccountID); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "mfa.totp.enrol", Target: "account:" + p.AccountID, CustomerID: string(p.CustomerID)})
	})
	if err != nil {
		return nil, "", s.mfaRefused(ctx, p, "mfa.totp.enrol", err)
	}
	secret, err := s.completeMFA(ctx, p, false)
	return codes, secret, err
}

// VerifyMFA completes a pending session with a TOTP code or a recovery code
// and returns the session's new secret. Failures count toward the login
// throttle and are audited; a code is never accepted twice.
func (s *Service) VerifyMFA(ctx context.Context, p Principal, in CodeInput) (string, error) {
	if p.Role != RoleMFAPending {
		return "", fault.New(fault.Conflict, "this session has no second factor pending")
	}
	now := clock.Now()
	if err := s.throttled(ctx, sideOf(p.CustomerID), p.LoginID, audit.ActorFrom(ctx).SourceIP, now); err != nil {
		return "", s.mfaRefused(ctx, p, "mfa.verify", err)
	}
	method, err := s.useCode(ctx, p.AccountID, in.Code, now)
	if err != nil {
		return "", fmt.Errorf("mfa: %w", err)
	}
	if method == "" {
		ev := audit.Event{Action: "mfa.verify", Target: "account:" + p.AccountID, CustomerID: string(p.CustomerID), Result: audit.Denied,
			Detail: map[string]any{"reason": "bad_code"}}
		if err := s.recordFailure(ctx, sideOf(p.CustomerID), p.LoginID, audit.ActorFrom(ctx).SourceIP, now, ev); err != nil {
			return "", err
		}
		return "", fault.Field("code", "the code is not valid, or was already used")
	}
	if err := s.audit.Record(ctx, audit.Event{Action: "mfa.verify", Target: "account:" + p.AccountID, CustomerID: string(p.CustomerID),
		Detail: map[string]any{"method": method}}); err != nil {
		return "", err
	}
	return s.completeMFA(ctx, p, true)
}

// useCode accepts a TOTP code or an unused recovery code of account id and
// returns which it was ("totp", "recovery-code"), or "" when neither
// matches. A recovery code is used up, a TOTP step is not accepted twice.
func (s *Service) useCode(ctx context.Context, id, code string, now time.Time) (string, error) {
	code = strings.TrimSpace(code)
	method := ""
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var secret string
		var last int64
		err := store.Scan(tx.QueryRow(ctx, `SELECT secret, last_step FROM totp_secrets WHERE account_id = ? AND confirmed_at IS NOT NULL`,
			id), &secret, &last)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err == nil && len(code) == 6 {
			if secret, err = s.openTOTP(id, secret); err != nil {
				return err
			}
			ok, err := checkTOTP(ctx, tx, id, secret, last, code)
			if err != nil || ok {
				method = "totp"
				return err
			}
			return nil
		}
		res, err := tx.Exec(ctx, `UPDATE recovery_codes SET used_at = ? WHERE account_id = ? AND code_hash = ? AND used_at IS NULL`,
			clock.Store(now), id, hashSecret(normalizeRecovery(code)))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			method = "recovery-code"
		}
		return nil
	})
	return method, err
}

// completeMFA marks p's session as having given its second factor; a pending
// session's ID is rotated and the new secret returned ("" otherwise). Other
// sessions of the account that have not given the factor become pending.
// proved says the session just gave a factor the account already had (at
// /api/v1/session/mfa): with the password of its login that is a proof for
// credential changes (reauth.go). Enrolling a factor is not such a proof
// (forgetProofs).
func (s *Service) completeMFA(ctx context.Context, p Principal, proved bool) (string, error) {
	if p.Via != "session" {
		return "", nil
	}
	if p.Role != RoleMFAPending {
		// A full session that just enrolled a factor has given it too.
		_, err := s.db.Exec(ctx, `UPDATE sessions SET mfa = ? WHERE id_hash = ?`, true, p.credential)
		return "", err
	}
	var authAt any
	if proved {
		authAt = clock.Store(clock.Now())
	}
	secret := newSessionSecret()
	res, err := s.db.Exec(ctx, `UPDATE sessions SET id_hash = ?, mfa = ?, auth_at = ? WHERE id_hash = ?`, hashSecret(secret), true,
		authAt, p.credential)
	if err != nil {
		return "", fmt.Errorf("mfa: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return "", errAuth
	}
	return secret, nil
}

// forgetProofs clears the re-authentication proof of every session of the
// account, the enrolling one included, when a factor is added: a proof
// counts only if it covered every factor the account has now, and one made
// before the factor existed did not. The code or key shown at enrolment is
// not a proof either: it was added on the strength of the older proof, and
// counting it would let that proof remove the factor it just added. Every
// session proves the new factor at /api/v1/session/reauth before its next
// credential change.
func forgetProofs(ctx context.Context, tx *store.Tx, accountID string) error {
	_, err := tx.Exec(ctx, `UPDATE sessions SET auth_at = NULL WHERE account_id = ?`, accountID)
	return err
}

// DisableTOTP removes p's TOTP and recovery codes: a full session that
// proved the password and the second factor within ReauthTTL only.
func (s *Service) DisableTOTP(ctx context.Context, p Principal) error {
	if err := s.requireRecentAuth(ctx, p, "mfa.totp.remove"); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM totp_secrets WHERE account_id = ?`, p.AccountID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fault.New(fault.NotFound, "no TOTP is set up")
		}
		if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE account_id = ?`, p.AccountID); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "mfa.totp.remove", Target: "account:" + p.AccountID, CustomerID: string(p.CustomerID)})
	})
}

func (s *Service) mfaRefused(ctx context.Context, p Principal, action string, err error) error {
	if f, ok := fault.As(err); ok && f.Kind != fault.Internal {
		if rerr := s.audit.Record(ctx, audit.Event{Action: action, Target: "account:" + p.AccountID, CustomerID: string(p.CustomerID),
			Result: audit.Denied, Detail: map[string]any{"reason": string(f.Kind)}}); rerr != nil {
			return rerr
		}
	}
	return err
}

var recoveryEnc = base32.StdEncoding.WithPadding(base32.NoPadding)

// newRecoveryCode is 80 random bits as xxxx-xxxx-xxxx-xxxx.
func newRecoveryCode() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	s := strings.ToLower(recoveryEnc.EncodeToString(b[:]))
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
}

func normalizeRecovery(s string) string {
	s = strings.ToLower(strings.ReplaceAll(strings.ReplaceAll(s, " ", ""), "-", ""))
	if len(s) != 16 {
		return s
	}
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
}
