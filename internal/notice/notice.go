// Package notice tells customers what concerns them and lets them tell the
// operator (ISO/IEC 27017 12.1.2, 16.1.1, 16.1.2, the breach notice of
// 5.1.1): the operator's announcements of maintenance and service changes
// and its incidents, each resolved from its scope (regions, nodes,
// physical ports, hubs, customers) to exactly the customers it affects,
// shown on their panels and feeds and mailed to their operations
// administrators and notice contacts, one message per recipient in the
// recipient's language, threaded per notice; the notification log of who
// was told what and whether it was delivered; automatic draft incidents
// from what the platform itself sees; and the customers' reports to the
// operator with their threaded replies.
//
// The tables are in migrations 00069 (notices) and 00070 (reports); what a
// customer reads is filtered by the customer of its scope, never by a
// value of the request.
package notice

import (
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// Config is how the notices behave.
type Config struct {
	// MinNotice is the minimum notice period of a planned change that
	// touches customers' forwarding: publishing one that starts sooner
	// needs a security officer's approval (default 7 days).
	MinNotice time.Duration
	// NodeSilentAfter is how long a hub node may go without reporting
	// before an automatic draft incident opens (default 5 minutes).
	NodeSilentAfter time.Duration
	// CustomerLink is the address of a path on the customer listener, for
	// the links in mails (identity.Service.Link); nil writes no links.
	CustomerLink func(path string) string
	// MgmtLink is the same on the management listener.
	MgmtLink func(path string) string
}

// Service is the notices: announcements, incidents, automatic drafts, the
// customers' view of them, their notice contacts and feed tokens, and the
// notification log.
type Service struct {
	db    *store.DB
	audit *audit.Log
	cfg   Config
}

// New returns the notices kept in db.
func New(db *store.DB, log *audit.Log, cfg Config) *Service {
	if cfg.MinNotice == 0 {
		cfg.MinNotice = DefaultMinNoticeDays * 24 * time.Hour
	}
	if cfg.NodeSilentAfter == 0 {
		cfg.NodeSilentAfter = 5 * time.Minute
	}
	return &Service{db: db, audit: log, cfg: cfg}
}

// Reports are the customers' reports to the operator and their threads.
type Reports struct {
	db    *store.DB
	audit *audit.Log
	cfg   Config
}

// NewReports returns the reports kept in db.
func NewReports(db *store.DB, log *audit.Log, cfg Config) *Reports {
	return &Reports{db: db, audit: log, cfg: cfg}
}
