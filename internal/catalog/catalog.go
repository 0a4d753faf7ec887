// Package catalog holds what a customer has bought and where: regions with their
// declared data location, customers, contracts (service code "shb" + 8 digits)
// and their options, hubs (one per customer per region, DR priority), and the
// ports contracted on them (port code "shc" + 8 digits) — ISO/IEC 27017 8.2.2,
// 6.1.3. Codes are issued by the system, unique, and never reused.
//
// Every method that reads or writes a customer's objects takes the caller's
// tenant scope, never a bare CustomerID: the customer's own views a
// tenant.Scope, the operator's management of one customer a tenant.Operator
// (writes take only that), reads shared by both a tenant.Holder. The method
// starts by checking the action (catalog.read, catalog.manage) and filters
// every query by the scope's customer; another customer's object is
// ErrNotFound, indistinguishable from one that does not exist.
package catalog

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Distinct identifier types keep one kind of ID from being passed as another.
// CustomerID is the tenant's type, so that package tenant's scopes carry it
// without importing the catalog.
type CustomerID = tenant.CustomerID

type (
	RegionID   string
	ContractID string
	HubID      string
	PortID     string
)

// Catalog is the service catalog over a store.
type Catalog struct {
	db    *store.DB
	audit *audit.Log
	// onTerminated runs inside the transaction in which a customer becomes
	// terminated (termination.go); set once, before the catalog is used.
	onTerminated []TerminationHook
}

// New returns the catalog kept in db, recording changes in log.
func New(db *store.DB, log *audit.Log) *Catalog { return &Catalog{db: db, audit: log} }

var (
	serviceCodeRE = regexp.MustCompile(`^shb[0-9]{8}$`)
	portCodeRE    = regexp.MustCompile(`^shc[0-9]{8}$`)
)

// ValidServiceCode reports whether s has the form of a service code.
func ValidServiceCode(s string) bool { return serviceCodeRE.MatchString(s) }

// ValidPortCode reports whether s has the form of a port code.
func ValidPortCode(s string) bool { return portCodeRE.MatchString(s) }

// issueCode draws a random, never-issued code of the given kind ("shb" or
// "shc") and records it in issued_codes inside tx. Codes are random so that
// they reveal nothing about how many customers or ports exist; the table,
// which no purge touches, guarantees that a code is never issued twice.
func issueCode(ctx context.Context, tx *store.Tx, kind string) (string, error) {
	for range 20 {
		n, err := rand.Int(rand.Reader, big.NewInt(100_000_000))
		if err != nil {
			return "", err
		}
		code := fmt.Sprintf("%s%08d", kind, n.Int64())
		var taken int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM issued_codes WHERE code = ?`, code).Scan(&taken); err != nil {
			return "", fmt.Errorf("issue code: %w", err)
		}
		if taken > 0 {
			continue
		}
		if _, err := tx.Exec(ctx, `INSERT INTO issued_codes (code, kind, issued_at) VALUES (?, ?, ?)`,
			code, kind, clock.Store(clock.Now())); err != nil {
			return "", fmt.Errorf("issue code: %w", err)
		}
		return code, nil
	}
	return "", errors.New("issue code: no free code after 20 draws")
}

// Page selects a window of a list: at most Limit items after the key After.
type Page struct {
	Limit int
	After string
}

// MaxPage is the largest page a list returns.
const MaxPage = 500

func (p Page) limit() int {
	if p.Limit <= 0 {
		return 50
	}
	return min(p.Limit, MaxPage)
}

// next returns the key of the next page: the last key when the page is full.
func next(keys []string, p Page) string {
	if len(keys) < p.limit() || len(keys) == 0 {
		return ""
	}
	return keys[len(keys)-1]
}

func parseTime(s string) time.Time {
	t, _ := clock.Parse(s) // written by clock.Store; a parse failure is impossible short of corruption
	return t
}

func notFound(what string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fault.Wrap(fault.NotFound, err, "%s not found", what)
	}
	return err
}
