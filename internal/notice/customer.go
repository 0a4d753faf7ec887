package notice

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// The permissions the customer's side checks (identity's table names them
// with the same strings; customer_test.go holds them equal).
const (
	custActRead     tenant.Action = "notices.read"
	custActSettings tenant.Action = "notices.settings"
	custActChannels tenant.Action = "notices.channels"
)

// CustomerNotice is a notice as a customer it reached sees it: its text in
// both languages, state, window, the security statement and why the
// customer is affected. Never the scope, the operator's accounts or the
// other customers it reached.
type CustomerNotice struct {
	ID                string     `json:"id"`
	Kind              string     `json:"kind"`
	Category          string     `json:"category"`
	Severity          string     `json:"severity,omitempty"`
	Status            string     `json:"status"`
	TitleJA           string     `json:"title_ja"`
	TitleEN           string     `json:"title_en"`
	BodyJA            string     `json:"body_ja"`
	BodyEN            string     `json:"body_en"`
	StartsAt          *time.Time `json:"starts_at,omitempty"`
	EndsAt            *time.Time `json:"ends_at,omitempty"`
	AffectsForwarding bool       `json:"affects_forwarding"`
	Security          bool       `json:"security"`
	DataAffected      string     `json:"data_affected,omitempty"`
	PublishedAt       time.Time  `json:"published_at"`
	UpdatedAt         time.Time  `json:"updated_at"`
	// Current: a published announcement whose window has not ended, or an
	// incident neither resolved nor cancelled.
	Current bool     `json:"current"`
	Reasons []Reason `json:"reasons"`
	// Timeline is the customer-visible history (publish, update, status,
	// cancel), oldest first; only CustomerNotice fills it.
	Timeline []TimelineEntry `json:"timeline,omitempty"`
}

// Title is the notice's title in lang (ja unless "en").
func (n CustomerNotice) Title(lang string) string {
	if lang == "en" {
		return n.TitleEN
	}
	return n.TitleJA
}

// Body is the notice's body in lang (ja unless "en").
func (n CustomerNotice) Body(lang string) string {
	if lang == "en" {
		return n.BodyEN
	}
	return n.BodyJA
}

// TimelineEntry is one customer-visible step of a notice, with its text as
// it was then. Who wrote it stays with the operator.
type TimelineEntry struct {
	Seq     int64     `json:"seq"`
	Kind    string    `json:"kind"` // publish | update | status | cancel
	Status  string    `json:"status"`
	TitleJA string    `json:"title_ja"`
	TitleEN string    `json:"title_en"`
	BodyJA  string    `json:"body_ja"`
	BodyEN  string    `json:"body_en"`
	At      time.Time `json:"at"`
}

// Filters of the customer's list.
const (
	FilterCurrent = "current"
	FilterPast    = "past"
)

// MaxPast bounds how many past notices a list holds (the newest); current
// ones are always all listed.
const MaxPast = 200

// CustomerQuery narrows the customer's list: Filter "" lists current and
// past, FilterCurrent or FilterPast one of them.
type CustomerQuery struct {
	Filter string
}

// custVisibleKinds are the notice_updates kinds a customer sees; create,
// edit and approve are the operator's own steps.
const custVisibleKinds = `('publish', 'update', 'status', 'cancel')`

// ForCustomer lists the notices that reached h's customer and are not
// drafts: the current ones first (newest first), then the past ones
// (newest first, at most MaxPast).
func (s *Service) ForCustomer(ctx context.Context, h tenant.Holder, q CustomerQuery) ([]CustomerNotice, error) {
	cust, err := h.Authorize(custActRead)
	if err != nil {
		return nil, err
	}
	if q.Filter != "" && q.Filter != FilterCurrent && q.Filter != FilterPast {
		return nil, fault.Field("filter", "filter must be current or past")
	}
	return customerNotices(ctx, s.db, cust, q.Filter, clock.Now())
}

// CustomerNotice is one notice with its timeline, when it reached h's
// customer and is not a draft; NotFound otherwise, as for a notice that
// does not exist.
func (s *Service) CustomerNotice(ctx context.Context, h tenant.Holder, id string) (CustomerNotice, error) {
	cust, err := h.Authorize(custActRead)
	if err != nil {
		return CustomerNotice{}, err
	}
	rows, err := readCustomerNotices(ctx, s.db, cust, id, clock.Now())
	if err != nil {
		return CustomerNotice{}, err
	}
	if len(rows) == 0 {
		return CustomerNotice{}, fault.New(fault.NotFound, "no such notice")
	}
	n := rows[0]
	n.Timeline, err = custTimeline(ctx, s.db, id)
	return n, err
}

// customerNotices is the list of cust's notices under filter at now.
func customerNotices(ctx context.Context, q store.Querier, cust tenant.CustomerID, filter string, now time.Time) ([]CustomerNotice, error) {
	all, err := readCustomerNotices(ctx, q, cust, "", now)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].Current != all[j].Current {
			return all[i].Current
		}
		if !all[i].PublishedAt.Equal(all[j].PublishedAt) {
			return all[i].PublishedAt.After(all[j].PublishedAt)
		}
		return all[i].ID > all[j].ID
	})
	out := []CustomerNotice{}
	past := 0
	for _, n := range all {
		switch {
		case filter == FilterCurrent && !n.Current, filter == FilterPast && n.Current:
			continue
		case !n.Current:
			if past++; past > MaxPast {
				continue
			}
		}
		out = append(out, n)
	}
	return out, nil
}

// readCustomerNotices reads the notices that reached cust and are not
// drafts (only notice id when id is not ""). The join on notice_customers
// is the customer boundary: a notice reaches a customer only through a row
// there.
func readCustomerNotices(ctx context.Context, q store.Querier, cust tenant.CustomerID, id string, now time.Time) ([]CustomerNotice, error) {
	query := `SELECT n.id, n.kind, n.category, n.severity, n.status, n.title_ja, n.title_en, n.body_ja, n.body_en,
		n.starts_at, n.ends_at, n.affects_forwarding, n.security, n.data_affected, n.published_at, n.updated_at, nc.reasons
		FROM notices n JOIN notice_customers nc ON nc.notice_id = n.id
		WHERE nc.customer_id = ? AND n.status <> 'draft' AND n.published_at IS NOT NULL`
	args := []any{string(cust)}
	if id != "" {
		query += ` AND n.id = ?`
		args = append(args, id)
	}
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("notices of %s: %w", cust, err)
	}
	defer rows.Close()
	var out []CustomerNotice
	for rows.Next() {
		var n CustomerNotice
		var starts, ends, published *string
		var updated, reasons string
		if err := rows.Scan(&n.ID, &n.Kind, &n.Category, &n.Severity, &n.Status, &n.TitleJA, &n.TitleEN, &n.BodyJA,
			&n.BodyEN, &starts, &ends, &n.AffectsForwarding, &n.Security, &n.DataAffected, &published, &updated, &reasons); err != nil {
			return nil, store.Wrap(err)
		}
		if n.StartsAt, err = custOptTime(starts); err != nil {
			return nil, err
		}
		if n.EndsAt, err = custOptTime(ends); err != nil {
			return nil, err
		}
		p, err := custOptTime(published)
		if err != nil {
			return nil, err
		}
		n.PublishedAt = *p
		if n.UpdatedAt, err = clock.Parse(updated); err != nil {
			return nil, fmt.Errorf("notice %s: updated_at: %w", n.ID, err)
		}
		if err := json.Unmarshal([]byte(reasons), &n.Reasons); err != nil {
			return nil, fmt.Errorf("notice %s: reasons: %w", n.ID, err)
		}
		if n.Reasons == nil {
			n.Reasons = []Reason{}
		}
		if !n.Security {
			n.DataAffected = ""
		}
		n.Current = custCurrent(n.Kind, n.Status, n.EndsAt, now)
		out = append(out, n)
	}
	return out, store.Wrap(rows.Err())
}

// custCurrent reports whether a published notice still holds at now: an
// announcement until its window ends (one without an end until it is
// cancelled), an incident until it is resolved or cancelled.
func custCurrent(kind, status string, ends *time.Time, now time.Time) bool {
	switch kind {
	case Announcement:
		return status == StatusPublished && (ends == nil || ends.After(now))
	case Incident:
		return status == StatusInvestigating || status == StatusIdentified || status == StatusMonitoring
	}
	return false
}

// custTimeline reads notice id's customer-visible updates, oldest first. The
// caller has already established that the notice reached its customer.
func custTimeline(ctx context.Context, q store.Querier, id string) ([]TimelineEntry, error) {
	rows, err := q.Query(ctx, `SELECT seq, kind, status, title_ja, title_en, body_ja, body_en, at
		FROM notice_updates WHERE notice_id = ? AND kind IN `+custVisibleKinds+` ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("notice %s: timeline: %w", id, err)
	}
	defer rows.Close()
	out := []TimelineEntry{}
	for rows.Next() {
		var e TimelineEntry
		var at string
		if err := rows.Scan(&e.Seq, &e.Kind, &e.Status, &e.TitleJA, &e.TitleEN, &e.BodyJA, &e.BodyEN, &at); err != nil {
			return nil, store.Wrap(err)
		}
		if e.At, err = clock.Parse(at); err != nil {
			return nil, fmt.Errorf("notice %s: update %d: %w", id, e.Seq, err)
		}
		out = append(out, e)
	}
	return out, store.Wrap(rows.Err())
}

// custOptTime reads a nullable stored instant.
func custOptTime(s *string) (*time.Time, error) {
	if s == nil || *s == "" {
		return nil, nil
	}
	t, err := clock.Parse(*s)
	if err != nil {
		return nil, fmt.Errorf("stored time %q: %w", *s, err)
	}
	return &t, nil
}
