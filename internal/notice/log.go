package notice

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/mail"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Delivery is one row of the notification log: one mail a notice or one
// of its updates caused, to one recipient, with where the mail is now
// (the outbox entry's status: pending, sending, sent, failed).
type Delivery struct {
	ID         string     `json:"id"`
	NoticeID   string     `json:"notice_id"`
	Seq        int64      `json:"seq"`
	TitleJA    string     `json:"title_ja"`
	TitleEN    string     `json:"title_en"`
	CustomerID string     `json:"customer_id"`
	Recipient  string     `json:"recipient"`
	Language   string     `json:"language"`
	Cause      string     `json:"cause"`
	Status     string     `json:"status"`
	Attempts   int        `json:"attempts"`
	LastError  string     `json:"last_error,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	SentAt     *time.Time `json:"sent_at,omitempty"`
}

// Title is the notice's current title in lang (ja unless "en").
func (d Delivery) Title(lang string) string {
	if lang == "en" {
		return d.TitleEN
	}
	return d.TitleJA
}

// LogQuery narrows a read of the notification log. Notice, Customer and
// Status ("" = any) filter; After (a delivery ID from the previous page)
// and Limit (1–500, default 100) page, newest first.
type LogQuery struct {
	Notice, Customer, Status string
	After                    string
	Limit                    int
}

// MaxLogPage bounds one page of the notification log.
const MaxLogPage = 500

func (q *LogQuery) check() error {
	switch q.Status {
	case "", mail.Pending, mail.Sending, mail.Sent, mail.Failed:
	default:
		return fault.Field("status", "status must be pending, sending, sent or failed")
	}
	if q.Limit == 0 {
		q.Limit = 100
	}
	if q.Limit < 1 || q.Limit > MaxLogPage {
		return fault.Field("limit", "limit must be a number from 1 to %d", MaxLogPage)
	}
	for _, v := range []struct{ field, value string }{{"notice", q.Notice}, {"customer", q.Customer}, {"after", q.After}} {
		if len(v.value) > 200 {
			return fault.Field(v.field, "%s must be valid text of at most %d characters", v.field, 200)
		}
	}
	return nil
}

// Deliveries is h's customer's part of the notification log: the mails
// its notices caused to its own recipients. q.Customer must be empty (the
// customer is h's).
func (s *Service) Deliveries(ctx context.Context, h tenant.Holder, q LogQuery) ([]Delivery, string, error) {
	cust, err := h.Authorize(custActSettings)
	if err != nil {
		return nil, "", err
	}
	if q.Customer != "" {
		return nil, "", fault.Field("customer", "customer cannot be chosen here")
	}
	q.Customer = string(cust)
	return s.readLog(ctx, q, false)
}

// AllDeliveries is the operator's whole notification log, every customer's
// rows: the one cross-customer reader of it, for a caller the web layer
// has checked for notices.manage. q.Customer narrows it to one customer.
func (s *Service) AllDeliveries(ctx context.Context, q LogQuery) ([]Delivery, string, error) {
	return s.readLog(ctx, q, true)
}

// readLog reads a page of the log: q.Customer's rows, or, when
// allCustomers, every customer's (q.Customer then narrows, if set). A
// customer's read without its customer is a bug, never the whole log.
func (s *Service) readLog(ctx context.Context, q LogQuery, allCustomers bool) ([]Delivery, string, error) {
	if !allCustomers && q.Customer == "" {
		return nil, "", errNoCustomer
	}
	if err := q.check(); err != nil {
		return nil, "", err
	}
	var where []string
	var args []any
	if q.Customer != "" {
		where, args = append(where, "d.customer_id = ?"), append(args, q.Customer)
	}
	if q.Notice != "" {
		where, args = append(where, "d.notice_id = ?"), append(args, q.Notice)
	}
	if q.Status != "" {
		where, args = append(where, "m.status = ?"), append(args, q.Status)
	}
	if q.After != "" {
		// Keyset on (created_at, id), newest first; an unknown cursor
		// matches nothing rather than restarting the list.
		where = append(where, `(d.created_at < (SELECT created_at FROM notice_deliveries WHERE id = ?)
			OR (d.created_at = (SELECT created_at FROM notice_deliveries WHERE id = ?) AND d.id < ?))`)
		args = append(args, q.After, q.After, q.After)
	}
	query := deliveriesQuery
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += fmt.Sprintf(" ORDER BY d.created_at DESC, d.id DESC LIMIT %d", q.Limit+1)
	rows, err := s.db.Query(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("notification log: %w", err)
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, "", store.Wrap(err)
	}
	next := ""
	if len(out) > q.Limit {
		out = out[:q.Limit]
		next = out[len(out)-1].ID
	}
	return out, next, nil
}

// deliveriesQuery reads notification log rows with their notice's titles
// and their mail's state, in scanDelivery's order; callers add WHERE and
// ORDER BY.
const deliveriesQuery = `SELECT d.id, d.notice_id, d.seq, n.title_ja, n.title_en, d.customer_id, d.recipient, d.language,
		COALESCE(m.cause, ''), COALESCE(m.status, ''), COALESCE(m.attempts, 0), COALESCE(m.last_error, ''), d.created_at, m.sent_at
		FROM notice_deliveries d JOIN notices n ON n.id = d.notice_id
		LEFT JOIN mail_outbox m ON m.id = d.mail_id`

// scanDelivery reads one row of deliveriesQuery.
func scanDelivery(rows interface{ Scan(...any) error }) (Delivery, error) {
	var d Delivery
	var created string
	var sent *string
	if err := rows.Scan(&d.ID, &d.NoticeID, &d.Seq, &d.TitleJA, &d.TitleEN, &d.CustomerID, &d.Recipient, &d.Language,
		&d.Cause, &d.Status, &d.Attempts, &d.LastError, &created, &sent); err != nil {
		return Delivery{}, store.Wrap(err)
	}
	var err error
	if d.CreatedAt, err = clock.Parse(created); err != nil {
		return Delivery{}, fmt.Errorf("delivery %s: %w", d.ID, err)
	}
	if d.SentAt, err = custOptTime(sent); err != nil {
		return Delivery{}, err
	}
	return d, nil
}
