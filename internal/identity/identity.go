// Package identity holds accounts, roles and the permission table, passwords
// (argon2id, policy, common-password list), login throttling, sessions, API
// tokens, one-time setup / invitation / re-issue links, second factors (TOTP
// with recovery codes, WebAuthn/FIDO2), registered device certificates, each
// customer's access policy (source-IP allow-list, MFA and device
// requirements) and the operator's break-glass grants (ISO/IEC 27017 9.2.x,
// 9.4.1, 5.1.1). There is no default password anywhere: the first operator
// account is created through a single-use setup link that the controller
// prints at its first start, and every other account through an invitation
// link sent by mail (package mail's outbox, written in the same transaction).
//
// Operator staff and customers are two worlds: operator accounts have no
// customer and authenticate only on the management listener; customer accounts
// belong to exactly one customer and authenticate only on the customer
// listener. A principal's customer scope comes from its account, never from a
// request, and every method that touches a customer's accounts takes that
// scope: another customer's account is "not found".
package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/mail"
	"github.com/tsunagi-net/tsunagi/internal/secretbox"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Role is what an account may do. The permission table is in permissions.go.
type Role string

const (
	// Operator side.
	RoleOperator        Role = "operator"
	RoleSecurityOfficer Role = "security-officer"
	// Customer side.
	RoleOpsAdmin Role = "ops-admin" // 運用管理担当者
	RoleAdmin    Role = "admin"     // 管理者ID
	RoleUser     Role = "user"      // 利用者ID
)

// OperatorSide reports whether r is a role of the operator's staff.
func (r Role) OperatorSide() bool { return r == RoleOperator || r == RoleSecurityOfficer }

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case RoleOperator, RoleSecurityOfficer, RoleOpsAdmin, RoleAdmin, RoleUser:
		return true
	}
	return false
}

// Principal is an authenticated caller.
type Principal struct {
	AccountID  string
	LoginID    string
	CustomerID catalog.CustomerID // empty for operator staff
	Role       Role
	Via        string // "session" or "token"
	// Language is the account's language ("ja" or "en"): of its mails and
	// of the control panel's pages.
	Language string
	// SessionID is the public ID of the session ("" for a token).
	SessionID string
	// Rotated, when set, is the session's new secret: the session ID was
	// rotated at this request (privilege change) and the caller must send
	// it as the new cookie.
	Rotated    string
	credential string // hash of the session or token that authenticated it

	// Set by authentication only (scope.go), so that a Principal written
	// by hand holds no scope: the customer scope, and for staff the role
	// they authenticated with.
	scope tenant.Scope
	staff Role
	// authAt is when the session last proved the password and, for an
	// account that has one, the second factor (zero: never, or a token).
	authAt time.Time
	// mfa says the session gave its second factor (sessions.mfa).
	mfa bool
	// device is the registered device the session was opened from.
	device string
}

// Operator reports whether p is operator staff.
func (p Principal) Operator() bool { return p.CustomerID == "" }

// Actor returns p as an audit actor.
func (p Principal) Actor(sourceIP, requestID string) audit.Actor {
	kind := "customer"
	if p.Operator() {
		kind = "operator"
	}
	return audit.Actor{ID: p.AccountID, Kind: kind, Name: p.LoginID, SourceIP: sourceIP, RequestID: requestID}
}

// Config holds the identity settings. Zero fields take the defaults of
// DefaultConfig.
type Config struct {
	Argon2          Argon2Params
	SessionIdle     time.Duration // 30 min
	SessionAbsolute time.Duration // 12 h

	// LockAfter failed logins of one login ID within LockWindow lock it for
	// LockFor (10, 15 min, 15 min); IPMaxFailures failed logins from one
	// source address within LockWindow refuse further logins from it (50).
	LockAfter     int
	LockWindow    time.Duration
	LockFor       time.Duration
	IPMaxFailures int

	// TrustedProxies are the direct peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix

	// CustomerURL and MgmtURL are the listeners' base URLs used in links
	// sent by mail, e.g. https://panel.example.jp.
	CustomerURL, MgmtURL string

	// WebAuthnRPID and WebAuthnOrigins identify the relying party; by
	// default the host of CustomerURL and the origins of both URLs
	// ("localhost" when none is set).
	WebAuthnRPID    string
	WebAuthnOrigins []string

	// Secrets seals what must be read back (TOTP seeds) under the
	// controller's secret key. Serve always sets it; without it (tests) a
	// key that lives as long as the process is used.
	Secrets *secretbox.Box
}

// DefaultConfig is the configuration with the documented defaults.
var DefaultConfig = Config{Argon2: DefaultArgon2, SessionIdle: 30 * time.Minute, SessionAbsolute: 12 * time.Hour,
	LockAfter: 10, LockWindow: 15 * time.Minute, LockFor: 15 * time.Minute, IPMaxFailures: 50}

// Service manages identities in a store.
type Service struct {
	db     *store.DB
	audit  *audit.Log
	outbox *mail.Outbox
	rp     *webauthn.WebAuthn
	cfg    Config
	// secrets seals TOTP seeds at rest (cfg.Secrets).
	secrets *secretbox.Box
	// dummyHash is checked for unknown login IDs so that they take as long as
	// a wrong password.
	dummyHash string
}

// New returns the identity service.
func New(db *store.DB, log *audit.Log, cfg Config) *Service {
	d := DefaultConfig
	if cfg.Argon2 == (Argon2Params{}) {
		cfg.Argon2 = d.Argon2
	}
	if cfg.SessionIdle == 0 {
		cfg.SessionIdle = d.SessionIdle
	}
	if cfg.SessionAbsolute == 0 {
		cfg.SessionAbsolute = d.SessionAbsolute
	}
	if cfg.LockAfter == 0 {
		cfg.LockAfter = d.LockAfter
	}
	if cfg.LockWindow == 0 {
		cfg.LockWindow = d.LockWindow
	}
	if cfg.LockFor == 0 {
		cfg.LockFor = d.LockFor
	}
	if cfg.IPMaxFailures == 0 {
		cfg.IPMaxFailures = d.IPMaxFailures
	}
	if cfg.Secrets == nil {
		cfg.Secrets = secretbox.Ephemeral()
	}
	rp, err := newRelyingParty(cfg)
	if err != nil {
		// The relying party is built from validated URLs; a failure here
		// is a configuration error that serve reports before this.
		panic(err)
	}
	return &Service{db: db, audit: log, outbox: mail.NewOutbox(db), rp: rp, cfg: cfg, secrets: cfg.Secrets,
		dummyHash: HashPassword("tsunagi-dummy-password", cfg.Argon2)}
}

// CheckConfig reports a configuration that New could not use.
func CheckConfig(cfg Config) error {
	_, err := newRelyingParty(cfg)
	return err
}

// Outbox is the mail outbox the service writes to.
func (s *Service) Outbox() *mail.Outbox { return s.outbox }

// TrustedProxies are the peers whose X-Forwarded-For header is believed.
func (s *Service) TrustedProxies() []netip.Prefix { return s.cfg.TrustedProxies }

// hashSecret is how setup links, session IDs and API tokens are kept at rest:
// they are 256-bit random, so a plain SHA-256 is enough and allows lookup.
func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
