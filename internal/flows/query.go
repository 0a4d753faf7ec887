package flows

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// ActRead is the permission to read flow records (identity.ActFlowsRead).
const ActRead tenant.Action = "flows.read"

// Bounds of a query: a window of at most MaxWindow (a month, so that one
// read scans at most a month of one customer's index), and pages of at
// most MaxLimit records (MaxCSVLimit for a CSV download).
const (
	MaxWindow    = 31 * 24 * time.Hour
	DefaultLimit = 100
	MaxLimit     = 1000
	MaxCSVLimit  = 10000
)

// Query selects a customer's records that ended in [From, To), newest
// first.
type Query struct {
	From, To time.Time
	// Address, when valid, keeps the records in which it is any of the
	// four addresses: original or reply, source or destination — the
	// inside address and the public one it was translated to alike.
	Address netip.Addr
	Limit   int
	// Cursor continues a previous page (Page.Next).
	Cursor string
}

// Flow is one stored record as the customer reads it.
type Flow struct {
	ID           string    `json:"id"`
	HubID        string    `json:"hub_id"`
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"`
	Protocol     int       `json:"protocol"`
	OrigSrc      string    `json:"orig_src"`
	OrigSrcPort  int       `json:"orig_src_port"`
	OrigDst      string    `json:"orig_dst"`
	OrigDstPort  int       `json:"orig_dst_port"`
	ReplySrc     string    `json:"reply_src"`
	ReplySrcPort int       `json:"reply_src_port"`
	ReplyDst     string    `json:"reply_dst"`
	ReplyDstPort int       `json:"reply_dst_port"`
	Translated   string    `json:"translated"`
	OrigBytes    int64     `json:"orig_bytes"`
	OrigPackets  int64     `json:"orig_packets"`
	ReplyBytes   int64     `json:"reply_bytes"`
	ReplyPackets int64     `json:"reply_packets"`
}

// Page is one page of a query's records and what was lost in its window.
type Page struct {
	Flows []Flow `json:"items"`
	// Next continues the query after the last record; "" after the last
	// page.
	Next   string `json:"next,omitempty"`
	Counts Counts `json:"counts"`
}

// Counts sums a customer's hourly counters over the hours a window
// touches.
type Counts struct {
	Stored int64 `json:"stored"`
	// Capped were refused over the hourly cap; NodeDropped lost on the
	// nodes (full buffer, kernel ENOBUFS) before they reached the
	// controller.
	Capped      int64 `json:"capped"`
	NodeDropped int64 `json:"node_dropped"`
}

// Check validates q against the bounds, filling the default limit; max is
// MaxLimit or MaxCSVLimit.
func (q *Query) Check(max int) error {
	switch {
	case q.From.IsZero() || q.To.IsZero():
		return fault.Field("from", "from and to are both required")
	case !q.From.Before(q.To):
		return fault.Field("to", "to must be after from")
	case q.To.Sub(q.From) > MaxWindow:
		return fault.Field("to", "the window is at most %d days", MaxWindow/(24*time.Hour))
	}
	if q.Limit == 0 {
		q.Limit = DefaultLimit
	}
	if q.Limit < 1 || q.Limit > max {
		return fault.Field("limit", "limit is 1 to %d", max)
	}
	if q.Address.IsValid() {
		q.Address = q.Address.Unmap().WithZone("")
	}
	return nil
}

// Read returns a page of the records of h's customer that q selects, and
// the customer's counts over q's window. max is the page bound (MaxLimit,
// or MaxCSVLimit for a download).
func (s *Store) Read(ctx context.Context, h tenant.Holder, q Query, max int) (Page, error) {
	cust, err := h.Authorize(ActRead)
	if err != nil {
		return Page{}, err
	}
	if err := q.Check(max); err != nil {
		return Page{}, err
	}
	flows, next, err := s.read(ctx, cust, q)
	if err != nil {
		return Page{}, err
	}
	counts, err := s.counts(ctx, cust, q.From, q.To)
	if err != nil {
		return Page{}, err
	}
	return Page{Flows: flows, Next: next, Counts: counts}, nil
}

const flowColumns = `id, hub_id, start_at, end_at, protocol, orig_src, orig_sport, orig_dst, orig_dport,
	reply_src, reply_sport, reply_dst, reply_dport, translated, orig_bytes, orig_packets, reply_bytes, reply_packets`

func (s *Store) read(ctx context.Context, cust catalog.CustomerID, q Query) ([]Flow, string, error) {
	where := `customer_id = ? AND end_at >= ? AND end_at < ?`
	args := []any{cust, clock.Store(q.From), clock.Store(q.To)}
	if q.Address.IsValid() {
		a := q.Address.String()
		where += ` AND (orig_src = ? OR orig_dst = ? OR reply_src = ? OR reply_dst = ?)`
		args = append(args, a, a, a, a)
	}
	if q.Cursor != "" {
		end, id, err := decodeCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		where += ` AND (end_at < ? OR (end_at = ? AND id < ?))`
		args = append(args, end, end, id)
	}
	args = append(args, q.Limit+1)
	rows, err := s.db.Query(ctx, `SELECT `+flowColumns+` FROM flow_records WHERE `+where+` ORDER BY end_at DESC, id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, "", fmt.Errorf("flows: read: %w", err)
	}
	defer rows.Close()
	out := []Flow{}
	for rows.Next() {
		var f Flow
		var start, end string
		if err := rows.Scan(&f.ID, &f.HubID, &start, &end, &f.Protocol, &f.OrigSrc, &f.OrigSrcPort, &f.OrigDst, &f.OrigDstPort,
			&f.ReplySrc, &f.ReplySrcPort, &f.ReplyDst, &f.ReplyDstPort, &f.Translated,
			&f.OrigBytes, &f.OrigPackets, &f.ReplyBytes, &f.ReplyPackets); err != nil {
			return nil, "", fmt.Errorf("flows: read: %w", err)
		}
		f.Start, _ = clock.Parse(start)
		f.End, _ = clock.Parse(end)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("flows: read: %w", err)
	}
	next := ""
	if len(out) > q.Limit {
		out = out[:q.Limit]
		last := out[len(out)-1]
		next = encodeCursor(clock.Store(last.End), last.ID)
	}
	return out, next, nil
}

// A cursor is the last record's end and ID, opaque to the client.
func encodeCursor(end, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(end + "|" + id))
}

func decodeCursor(c string) (string, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	end, id, ok := strings.Cut(string(b), "|")
	if err != nil || !ok {
		return "", "", fault.Field("cursor", "not a cursor this API returned")
	}
	if _, err := clock.Parse(end); err != nil || len(id) != 24 {
		return "", "", fault.Field("cursor", "not a cursor this API returned")
	}
	return end, id, nil
}

// counts sums cust's hour rows over the hours [from, to) touches.
func (s *Store) counts(ctx context.Context, cust catalog.CustomerID, from, to time.Time) (Counts, error) {
	var c Counts
	err := store.Scan(s.db.QueryRow(ctx, `SELECT COALESCE(SUM(stored), 0), COALESCE(SUM(capped), 0), COALESCE(SUM(node_dropped), 0)
		FROM flow_hours WHERE customer_id = ? AND hour >= ? AND hour < ?`,
		cust, clock.Store(from.Truncate(time.Hour)), clock.Store(to)), &c.Stored, &c.Capped, &c.NodeDropped)
	if err != nil {
		return Counts{}, fmt.Errorf("flows: counts: %w", err)
	}
	return c, nil
}

// CustomerCounts is one customer's counters, for the operator.
type CustomerCounts struct {
	Customer catalog.CustomerID
	Counts
}

// Totals returns every customer's counters summed over the hours since
// since: the operator's view (the ops slice's /metrics reads it), across
// customers by name — it reads counts, never a record.
func (s *Store) Totals(ctx context.Context, since time.Time) ([]CustomerCounts, error) {
	rows, err := s.db.Query(ctx, `SELECT customer_id, SUM(stored), SUM(capped), SUM(node_dropped) FROM flow_hours
		WHERE hour >= ? GROUP BY customer_id ORDER BY customer_id`, clock.Store(since.Truncate(time.Hour)))
	if err != nil {
		return nil, fmt.Errorf("flows: totals: %w", err)
	}
	defer rows.Close()
	var out []CustomerCounts
	for rows.Next() {
		var c CustomerCounts
		if err := rows.Scan(&c.Customer, &c.Stored, &c.Capped, &c.NodeDropped); err != nil {
			return nil, fmt.Errorf("flows: totals: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
