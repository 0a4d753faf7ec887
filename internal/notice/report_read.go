package notice

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// MaxReportPage is the largest page of reports a list returns; a query
// without a limit gets 50.
const MaxReportPage = 500

// ReportQuery is a page of reports: Status "" is every status; After is
// the number (R-000123 or 123) the previous page ended with.
type ReportQuery struct {
	Status string
	After  string
	Limit  int
}

func (q ReportQuery) check() (after int64, limit int, err error) {
	if q.Status != "" && !slices.Contains(ReportStatuses, q.Status) {
		return 0, 0, fault.Field("status", "the report status must be one of %s", strings.Join(ReportStatuses, ", "))
	}
	if q.After != "" {
		after, err = strconv.ParseInt(strings.TrimPrefix(q.After, "R-"), 10, 64)
		if err != nil || after < 0 {
			return 0, 0, fault.Field("after", "after must be a report number")
		}
	}
	limit = q.Limit
	switch {
	case limit <= 0:
		limit = 50
	case limit > MaxReportPage:
		limit = MaxReportPage
	}
	return after, limit, nil
}

const reportCols = `id, number, customer_id, category, subject, status, created_at, updated_at`

func scanReport(row interface{ Scan(...any) error }) (Report, error) {
	var rep Report
	var n int64
	var created, updated string
	if err := row.Scan(&rep.ID, &n, &rep.CustomerID, &rep.Category, &rep.Subject, &rep.Status, &created, &updated); err != nil {
		return Report{}, store.Wrap(err)
	}
	rep.Number = ReportNumber(n)
	var err error
	if rep.CreatedAt, err = clock.Parse(created); err != nil {
		return Report{}, err
	}
	if rep.UpdatedAt, err = clock.Parse(updated); err != nil {
		return Report{}, err
	}
	return rep, nil
}

// List returns the reports of the customer of sc, newest first.
func (r *Reports) List(ctx context.Context, sc tenant.Holder, q ReportQuery) ([]Report, string, error) {
	cust, err := sc.Authorize(identity.ActReportsFile)
	if err != nil {
		return nil, "", err
	}
	after, limit, err := q.check()
	if err != nil {
		return nil, "", err
	}
	where, args := `customer_id = ?`, []any{string(cust)}
	if after > 0 {
		where, args = where+` AND number < ?`, append(args, after)
	}
	return r.list(ctx, where, `number DESC`, q.Status, args, limit)
}

// Queue is the operator's queue of every customer's reports, oldest first
// (the caller holds reports.manage: a cross-customer read).
func (r *Reports) Queue(ctx context.Context, q ReportQuery) ([]Report, string, error) {
	after, limit, err := q.check()
	if err != nil {
		return nil, "", err
	}
	return r.list(ctx, `number > ?`, `number ASC`, q.Status, []any{after}, limit)
}

func (r *Reports) list(ctx context.Context, where, order, status string, args []any, limit int) ([]Report, string, error) {
	if status != "" {
		where, args = where+` AND status = ?`, append(args, status)
	}
	rows, err := r.db.Query(ctx, `SELECT `+reportCols+` FROM reports WHERE `+where+` ORDER BY `+order+
		` LIMIT `+strconv.Itoa(limit+1), args...)
	if err != nil {
		return nil, "", store.Wrap(err)
	}
	defer rows.Close()
	out := []Report{}
	for rows.Next() {
		rep, err := scanReport(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, rep)
	}
	if err := rows.Err(); err != nil {
		return nil, "", store.Wrap(err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].Number
	}
	return out, next, nil
}

// Get returns a report of the customer of sc with its thread; another
// customer's report is not found.
func (r *Reports) Get(ctx context.Context, sc tenant.Holder, id string) (ReportDetail, error) {
	cust, err := sc.Authorize(identity.ActReportsFile)
	if err != nil {
		return ReportDetail{}, err
	}
	return r.detail(ctx, r.db, string(cust), id)
}

// StaffGet returns any customer's report for the operator (the caller
// holds reports.manage: a cross-customer read).
func (r *Reports) StaffGet(ctx context.Context, id string) (ReportDetail, error) {
	return r.staffDetail(ctx, r.db, id)
}

// errNoCustomer is a customer's read called without its customer: a bug in
// the caller, never a read of every customer's rows.
var errNoCustomer = fault.New(fault.Internal, "internal error")

// detail reads report id of customer cust, as the customer sees it: it
// does not see which staff member wrote the operator's messages. Another
// customer's report is not found.
func (r *Reports) detail(ctx context.Context, q store.Querier, cust, id string) (ReportDetail, error) {
	if cust == "" {
		return ReportDetail{}, errNoCustomer
	}
	rep, err := scanReport(q.QueryRow(ctx, `SELECT `+reportCols+` FROM reports WHERE id = ?`, id))
	if err != nil {
		return ReportDetail{}, err
	}
	if rep.CustomerID != cust {
		return ReportDetail{}, store.ErrNotFound
	}
	return thread(ctx, q, rep, SideCustomer)
}

// staffDetail reads report id of any customer, as the operator's staff see
// it (a cross-customer read: the callers hold reports.manage).
func (r *Reports) staffDetail(ctx context.Context, q store.Querier, id string) (ReportDetail, error) {
	rep, err := scanReport(q.QueryRow(ctx, `SELECT `+reportCols+` FROM reports WHERE id = ?`, id))
	if err != nil {
		return ReportDetail{}, err
	}
	return thread(ctx, q, rep, SideOperator)
}

// thread reads rep's messages and attachments for viewer.
func thread(ctx context.Context, q store.Querier, rep Report, viewer string) (ReportDetail, error) {
	id := rep.ID
	d := ReportDetail{Report: rep, Messages: []ReportMessage{}, Attachments: []Attachment{}}
	rows, err := q.Query(ctx, `SELECT seq, author_side, author_name, body, created_at FROM report_messages
		WHERE report_id = ? ORDER BY seq`, id)
	if err != nil {
		return ReportDetail{}, store.Wrap(err)
	}
	defer rows.Close()
	for rows.Next() {
		var m ReportMessage
		var at string
		if err := rows.Scan(&m.Seq, &m.AuthorSide, &m.AuthorName, &m.Body, &at); err != nil {
			return ReportDetail{}, store.Wrap(err)
		}
		if m.At, err = clock.Parse(at); err != nil {
			return ReportDetail{}, err
		}
		if viewer == SideCustomer && m.AuthorSide == SideOperator {
			m.AuthorName = ""
		}
		d.Messages = append(d.Messages, m)
	}
	if err := rows.Err(); err != nil {
		return ReportDetail{}, store.Wrap(err)
	}
	if d.Attachments, err = attachments(ctx, q, id); err != nil {
		return ReportDetail{}, err
	}
	return d, nil
}

func attachments(ctx context.Context, q store.Querier, id string) ([]Attachment, error) {
	rows, err := q.Query(ctx, `SELECT id, seq, filename, content_type, size, sha256, created_at FROM report_attachments
		WHERE report_id = ? ORDER BY seq, id`, id)
	if err != nil {
		return nil, store.Wrap(err)
	}
	defer rows.Close()
	out := []Attachment{}
	for rows.Next() {
		a, err := scanAttachment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, store.Wrap(rows.Err())
}

func scanAttachment(row interface{ Scan(...any) error }) (Attachment, error) {
	var a Attachment
	var at string
	if err := row.Scan(&a.ID, &a.Seq, &a.Filename, &a.ContentType, &a.Size, &a.SHA256, &at); err != nil {
		return Attachment{}, store.Wrap(err)
	}
	var err error
	if a.CreatedAt, err = clock.Parse(at); err != nil {
		return Attachment{}, fmt.Errorf("attachment %s: %w", a.ID, err)
	}
	return a, nil
}
