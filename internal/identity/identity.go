// Package identity holds accounts, roles, passwords, sessions, API tokens and
// one-time setup links. There is no default password anywhere: the first
// operator account is created through a single-use setup link that the
// controller prints at its first start, and every other account through an
// invitation link.
//
// Operator staff and customers are two worlds: operator accounts have no
// customer and authenticate only on the management listener; customer accounts
// belong to exactly one customer and authenticate only on the customer
// listener. A principal's customer scope comes from its account, never from a
// request.
package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/store"
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
	credential string // hash of the session or token that authenticated it
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

// Config holds the identity settings.
type Config struct {
	Argon2          Argon2Params
	SessionIdle     time.Duration // 30 min
	SessionAbsolute time.Duration // 12 h
}

// DefaultConfig is the configuration with the documented defaults.
var DefaultConfig = Config{Argon2: DefaultArgon2, SessionIdle: 30 * time.Minute, SessionAbsolute: 12 * time.Hour}

// Service manages identities in a store.
type Service struct {
	db    *store.DB
	audit *audit.Log
	cfg   Config
	// dummyHash is checked for unknown login IDs so that they take as long as
	// a wrong password.
	dummyHash string
}

// New returns the identity service.
func New(db *store.DB, log *audit.Log, cfg Config) *Service {
	return &Service{db: db, audit: log, cfg: cfg, dummyHash: HashPassword("tsunagi-dummy-password", cfg.Argon2)}
}

// hashSecret is how setup links, session IDs and API tokens are kept at rest:
// they are 256-bit random, so a plain SHA-256 is enough and allows lookup.
func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
