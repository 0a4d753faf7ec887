package notice

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/text"
)

// A customer's report to the operator (ISO/IEC 27017 16.1.2): an event the
// customer saw, filed with a category, a one-line subject, a description
// and at most one attachment, answered in a thread of messages from both
// sides. The reporter is mailed an acknowledgement and every reply of the
// operator, threaded under the acknowledgement.

// Report categories.
var ReportCategories = []string{"outage", "degradation", "security", "configuration", "other"}

// Report statuses: open when filed; in-progress once the operator works on
// it; waiting-customer when the operator needs the customer; resolved, and
// closed (final). A customer's reply to a waiting or resolved report puts it
// back in progress.
const (
	ReportOpen            = "open"
	ReportInProgress      = "in-progress"
	ReportWaitingCustomer = "waiting-customer"
	ReportResolved        = "resolved"
	ReportClosed          = "closed"
)

// ReportStatuses are every status, in the order of the workflow.
var ReportStatuses = []string{ReportOpen, ReportInProgress, ReportWaitingCustomer, ReportResolved, ReportClosed}

// Sides of a report message.
const (
	SideCustomer = "customer"
	SideOperator = "operator"
)

// Limits of a report's text.
const (
	MaxReportSubject = 200    // characters, one line
	MaxReportBody    = 20_000 // characters of a description or a message
)

// Report is one report as a list shows it.
type Report struct {
	ID         string    `json:"id"`
	Number     string    `json:"number"` // R-000123
	CustomerID string    `json:"customer_id"`
	Category   string    `json:"category"`
	Subject    string    `json:"subject"`
	Status     string    `json:"status"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// ReportMessage is one message of a report's thread; message 1 is the
// description given when the report was filed.
type ReportMessage struct {
	Seq        int64     `json:"seq"`
	AuthorSide string    `json:"author_side"` // customer | operator
	AuthorName string    `json:"author_name"` // the customer's account; "" for the operator's staff on the customer's side
	Body       string    `json:"body"`
	At         time.Time `json:"at"`
}

// Attachment is a file attached to a report, without its content.
type Attachment struct {
	ID          string    `json:"id"`
	Seq         int64     `json:"seq"` // the message it came with
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	CreatedAt   time.Time `json:"created_at"`
}

// ReportDetail is a report with its thread and attachments.
type ReportDetail struct {
	Report      Report          `json:"report"`
	Messages    []ReportMessage `json:"messages"`
	Attachments []Attachment    `json:"attachments"`
}

// ReportInput is a customer's new report.
type ReportInput struct {
	Category    string `json:"category"`
	Subject     string `json:"subject"`
	Description string `json:"description"`
	// Attachment is the optional file (multipart requests only).
	Attachment *Upload `json:"-"`
}

// ReplyInput is a message to a report's thread. Status, on the operator's
// side only, sets the report's status in the same step ("" keeps it).
type ReplyInput struct {
	Body   string `json:"body"`
	Status string `json:"status,omitempty"`
}

// ReportNumber formats a report's number as the customer sees it.
func ReportNumber(n int64) string { return fmt.Sprintf("R-%06d", n) }

func checkReportInput(in ReportInput) error {
	if !slices.Contains(ReportCategories, in.Category) {
		return fault.Field("category", "the report category must be one of %s", strings.Join(ReportCategories, ", "))
	}
	if strings.TrimSpace(in.Subject) == "" || utf8.RuneCountInString(in.Subject) > MaxReportSubject {
		return fault.Field("subject", "the report subject is required, at most %d characters", MaxReportSubject)
	}
	if why := text.SingleLine(in.Subject); why != "" {
		return fault.Field("subject", "the report subject %s", why)
	}
	return checkReportText("description", in.Description)
}

// checkReportText checks a description (when filing) or a message body (a
// reply); each has its own messages, so that they translate whole.
func checkReportText(field, s string) error {
	blank := strings.TrimSpace(s) == "" || utf8.RuneCountInString(s) > MaxReportBody
	why := text.MultiLine(s)
	switch {
	case blank && field == "description":
		return fault.Field(field, "the report description is required, at most %d characters", MaxReportBody)
	case blank:
		return fault.Field(field, "the message is required, at most %d characters", MaxReportBody)
	case why != "" && field == "description":
		return fault.Field(field, "the report description %s", why)
	case why != "":
		return fault.Field(field, "the message %s", why)
	}
	return nil
}

// File files a report for the customer of sc, with its acknowledgement
// mailed to the reporter, in one transaction with the audit entry. The
// number comes from report_counter, incremented in the same transaction:
// the row lock makes two controllers filing at once take one number after
// the other, and a number is never reused, not even after the purge erased
// the report that held it.
func (r *Reports) File(ctx context.Context, sc tenant.Holder, in ReportInput) (ReportDetail, error) {
	cust, err := sc.Authorize(identity.ActReportsFile)
	if err != nil {
		return ReportDetail{}, err
	}
	if err := checkReportInput(in); err != nil {
		return ReportDetail{}, err
	}
	var checked checkedUpload
	if in.Attachment != nil {
		if checked, err = checkUpload(*in.Attachment); err != nil {
			return ReportDetail{}, err
		}
	}
	actor := audit.ActorFrom(ctx)
	id := ids.New("rpt")
	err = r.db.InTx(ctx, func(tx *store.Tx) error {
		return r.fileTx(ctx, tx, string(cust), id, actor, in, checked)
	})
	if err != nil {
		return ReportDetail{}, err
	}
	return r.detail(ctx, r.db, string(cust), id)
}

// nextReportNumber takes the next report number inside tx.
func nextReportNumber(ctx context.Context, tx *store.Tx) (int64, error) {
	if _, err := tx.Exec(ctx, `UPDATE report_counter SET last = last + 1 WHERE id = 1`); err != nil {
		return 0, fmt.Errorf("report number: %w", store.Wrap(err))
	}
	var n int64
	if err := store.Scan(tx.QueryRow(ctx, `SELECT last FROM report_counter WHERE id = 1`), &n); err != nil {
		// The row is the migration's; without it (not found) is a bug, not a 404.
		return 0, fault.Wrap(fault.Internal, err, "internal error")
	}
	return n, nil
}

// MaxReportsPerDay bounds what one customer files in 24 hours: a report
// holds up to 5 MiB, and a script filing in a loop must not fill the
// controller's database.
const MaxReportsPerDay = 50

func (r *Reports) fileTx(ctx context.Context, tx *store.Tx, cust, id string, actor audit.Actor, in ReportInput, up checkedUpload) error {
	var recent int
	if err := store.Scan(tx.QueryRow(ctx, `SELECT COUNT(*) FROM reports WHERE customer_id = ? AND created_at > ?`,
		cust, clock.Store(clock.Now().Add(-24*time.Hour))), &recent); err != nil {
		return err
	}
	if recent >= MaxReportsPerDay {
		return fault.New(fault.RateLimited, "at most %d reports a day: wait, or add to an open report", MaxReportsPerDay)
	}
	n, err := nextReportNumber(ctx, tx)
	if err != nil {
		return err
	}
	now := clock.Store(clock.Now())
	if _, err := tx.Exec(ctx, `INSERT INTO reports (id, number, customer_id, category, subject, status, created_by, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, n, cust, in.Category, in.Subject, ReportOpen, actor.ID, now, now); err != nil {
		return fmt.Errorf("report: %w", store.Wrap(err))
	}
	if err := insertMessage(ctx, tx, id, cust, 1, SideCustomer, actor, in.Description, now); err != nil {
		return err
	}
	detail := map[string]any{"number": ReportNumber(n), "category": in.Category}
	if up.content != nil {
		aid, err := insertAttachment(ctx, tx, id, cust, 1, up, now)
		if err != nil {
			return err
		}
		detail["file"], detail["content_type"], detail["size"] = aid, up.contentType, len(up.content)
	}
	rep := reportMail{ID: id, Number: ReportNumber(n), Subject: in.Subject, Category: in.Category}
	if err := r.mailReporter(ctx, tx, id, cust, 1, "report-ack", "report.file", rep); err != nil {
		return err
	}
	return r.audit.RecordTx(ctx, tx, audit.Event{Action: "report.file", Target: "report:" + id, CustomerID: cust, Detail: detail})
}

func insertMessage(ctx context.Context, tx *store.Tx, id, cust string, seq int64, side string, actor audit.Actor, body, now string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO report_messages (report_id, seq, customer_id, author_side, author_id, author_name, body, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, id, seq, cust, side, actor.ID, actor.Name, body, now); err != nil {
		return fmt.Errorf("report message: %w", store.Wrap(err))
	}
	return nil
}

// Reply adds the customer's message to its report. A reply to a report
// waiting for the customer or resolved puts it back in progress; a closed
// report takes no more messages (the customer files a new one).
func (r *Reports) Reply(ctx context.Context, sc tenant.Holder, id string, in ReplyInput) (ReportDetail, error) {
	cust, err := sc.Authorize(identity.ActReportsFile)
	if err != nil {
		return ReportDetail{}, err
	}
	if in.Status != "" {
		return ReportDetail{}, fault.Field("status", "a customer's reply does not set the status")
	}
	if err := checkReportText("body", in.Body); err != nil {
		return ReportDetail{}, err
	}
	actor := audit.ActorFrom(ctx)
	err = r.db.InTx(ctx, func(tx *store.Tx) error {
		rep, err := lockReport(ctx, tx, id)
		if err != nil {
			return err
		}
		if rep.CustomerID != string(cust) {
			return store.ErrNotFound
		}
		if rep.Status == ReportClosed {
			return fault.New(fault.Conflict, "the report is closed; file a new report")
		}
		status := rep.Status
		if status == ReportWaitingCustomer || status == ReportResolved {
			status = ReportInProgress
		}
		seq, now, err := nextMessage(ctx, tx, id, status)
		if err != nil {
			return err
		}
		if err := insertMessage(ctx, tx, id, rep.CustomerID, seq, SideCustomer, actor, in.Body, now); err != nil {
			return err
		}
		return r.audit.RecordTx(ctx, tx, audit.Event{Action: "report.reply", Target: "report:" + id, CustomerID: rep.CustomerID,
			Detail: map[string]any{"number": rep.Number, "from": rep.Status, "to": status}})
	})
	if err != nil {
		return ReportDetail{}, err
	}
	return r.detail(ctx, r.db, string(cust), id)
}

// lockReport reads report id inside tx and takes its row for the rest of
// tx (an UPDATE of updated_at to itself), so that two replies at once
// number their messages one after the other.
func lockReport(ctx context.Context, tx *store.Tx, id string) (Report, error) {
	if _, err := tx.Exec(ctx, `UPDATE reports SET updated_at = updated_at WHERE id = ?`, id); err != nil {
		return Report{}, store.Wrap(err)
	}
	return scanReport(tx.QueryRow(ctx, `SELECT `+reportCols+` FROM reports WHERE id = ?`, id))
}

// setStatus sets the report's status and its updated time, and returns
// that time.
func setStatus(ctx context.Context, tx *store.Tx, id, status string) (string, error) {
	now := clock.Store(clock.Now())
	if _, err := tx.Exec(ctx, `UPDATE reports SET status = ?, updated_at = ? WHERE id = ?`, status, now, id); err != nil {
		return "", store.Wrap(err)
	}
	return now, nil
}

// nextMessage sets the report's status for a new message and returns the
// message's seq and time.
func nextMessage(ctx context.Context, tx *store.Tx, id, status string) (int64, string, error) {
	now, err := setStatus(ctx, tx, id, status)
	if err != nil {
		return 0, "", err
	}
	var seq int64
	if err := store.Scan(tx.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM report_messages WHERE report_id = ?`, id), &seq); err != nil {
		return 0, "", err
	}
	return seq, now, nil
}
