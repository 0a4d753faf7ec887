package notice

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// The evidence export (package evidence, ISO/IEC 27017 16.1.7) hands a
// customer's notices and notification log over for a time window. It is a
// named cross-customer read by a bare customer ID, because a security
// officer's evidence request names any customer; a customer's own export
// reaches it only after evidence.ExportOwn has checked the customer's scope.
// What it reads is exactly what the customer itself sees in the panel:
// CustomerNotice with its customer-visible timeline, and the customer's
// own rows of the notification log.

// EvidenceNotices lists the notices that reached cust, drafts left out,
// whose window (starts_at to ends_at, open-ended without an end) overlaps
// [from, to) or one of whose customer-visible steps falls in it, each with
// its timeline, oldest publication first. Read with q, so that an export
// counts what it archives inside its own transaction.
func EvidenceNotices(ctx context.Context, q store.Querier, cust tenant.CustomerID, from, to time.Time) ([]CustomerNotice, error) {
	if cust == "" {
		return nil, errNoCustomer
	}
	all, err := readCustomerNotices(ctx, q, cust, "", clock.Now())
	if err != nil {
		return nil, err
	}
	out := []CustomerNotice{}
	for _, n := range all {
		if n.Timeline, err = custTimeline(ctx, q, n.ID); err != nil {
			return nil, err
		}
		if inWindow(n, from, to) {
			out = append(out, n)
		}
	}
	sortOldestFirst(out)
	return out, nil
}

// inWindow says whether n's window or one of its steps falls in [from, to).
func inWindow(n CustomerNotice, from, to time.Time) bool {
	for _, e := range n.Timeline {
		if !e.At.Before(from) && e.At.Before(to) {
			return true
		}
	}
	if n.StartsAt == nil {
		return false
	}
	return n.StartsAt.Before(to) && (n.EndsAt == nil || !n.EndsAt.Before(from))
}

// sortOldestFirst orders notices by publication, then ID.
func sortOldestFirst(ns []CustomerNotice) {
	slices.SortStableFunc(ns, func(a, b CustomerNotice) int {
		if c := a.PublishedAt.Compare(b.PublishedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// EvidenceDeliveries is cust's part of the notification log made in
// [from, to): every mail its notices caused to its own recipients, with
// the outbox state now, oldest first. Read with q, like EvidenceNotices.
func EvidenceDeliveries(ctx context.Context, q store.Querier, cust tenant.CustomerID, from, to time.Time) ([]Delivery, error) {
	if cust == "" {
		return nil, errNoCustomer
	}
	rows, err := q.Query(ctx, deliveriesQuery+`
		WHERE d.customer_id = ? AND d.created_at >= ? AND d.created_at < ?
		ORDER BY d.created_at, d.id`, string(cust), clock.Store(from), clock.Store(to))
	if err != nil {
		return nil, fmt.Errorf("notification log of %s: %w", cust, err)
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, store.Wrap(rows.Err())
}
