package notice

import (
	"context"
	"embed"
	"fmt"
	"slices"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/mail"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// The operator's side of the reports: replies and status, each mailed or
// recorded for the customer. The web layer admits only staff holding
// reports.manage to these methods.

// StaffReply adds the operator's message to report id, optionally setting
// its status in the same step, and mails it to the reporter threaded under
// the earlier mails of the report. A reply to an open report without a
// status puts it in progress (someone is on it now).
func (r *Reports) StaffReply(ctx context.Context, id string, in ReplyInput) (ReportDetail, error) {
	if err := checkReportText("body", in.Body); err != nil {
		return ReportDetail{}, err
	}
	if in.Status != "" && !slices.Contains(ReportStatuses, in.Status) {
		return ReportDetail{}, fault.Field("status", "the report status must be one of %s", strings.Join(ReportStatuses, ", "))
	}
	actor := audit.ActorFrom(ctx)
	err := r.db.InTx(ctx, func(tx *store.Tx) error {
		rep, err := lockReport(ctx, tx, id)
		if err != nil {
			return err
		}
		cust := rep.CustomerID
		if rep.Status == ReportClosed {
			return fault.New(fault.Conflict, "the report is closed")
		}
		status := in.Status
		if status == "" {
			status = rep.Status
			if status == ReportOpen {
				status = ReportInProgress
			}
		}
		seq, now, err := nextMessage(ctx, tx, id, status)
		if err != nil {
			return err
		}
		if err := insertMessage(ctx, tx, id, cust, seq, SideOperator, actor, in.Body, now); err != nil {
			return err
		}
		m := reportMail{ID: id, Number: rep.Number, Subject: rep.Subject, Category: rep.Category, Status: status, Body: in.Body}
		if err := r.mailReporter(ctx, tx, id, cust, seq, "report-reply", "report.reply", m); err != nil {
			return err
		}
		return r.audit.RecordTx(ctx, tx, audit.Event{Action: "report.reply", Target: "report:" + id, CustomerID: cust,
			Detail: map[string]any{"number": rep.Number, "from": rep.Status, "to": status}})
	})
	if err != nil {
		return ReportDetail{}, err
	}
	return r.staffDetail(ctx, r.db, id)
}

// SetStatus sets report id's status. The customer sees it on the panel;
// no mail is sent (a reply is how the operator tells the reporter why).
func (r *Reports) SetStatus(ctx context.Context, id, status string) (ReportDetail, error) {
	if !slices.Contains(ReportStatuses, status) {
		return ReportDetail{}, fault.Field("status", "the report status must be one of %s", strings.Join(ReportStatuses, ", "))
	}
	err := r.db.InTx(ctx, func(tx *store.Tx) error {
		rep, err := lockReport(ctx, tx, id)
		if err != nil {
			return err
		}
		cust := rep.CustomerID
		if rep.Status == status {
			return fault.Field("status", "the report is already %s", status)
		}
		if _, err := setStatus(ctx, tx, id, status); err != nil {
			return err
		}
		return r.audit.RecordTx(ctx, tx, audit.Event{Action: "report.status", Target: "report:" + id, CustomerID: cust,
			Detail: map[string]any{"number": rep.Number, "from": rep.Status, "to": status}})
	})
	if err != nil {
		return ReportDetail{}, err
	}
	return r.staffDetail(ctx, r.db, id)
}

// Mail texts of the reports (mailtext/report-<name>.<lang>.txt).
//
//go:embed mailtext/report-*.txt
var reportMailFiles embed.FS

var reportMailTemplates = mail.ParseTemplates(reportMailFiles, "mailtext/report-*.txt")

// reportMail is what a report's mail says.
type reportMail struct {
	ID, Number, Subject, Category, Status, Body string
	Name, Link                                  string
}

// mailReporter mails message seq of report id to its reporter, threaded:
// References are the reporter's earlier mails of this report (the
// acknowledgement first), and the new mail's ID is kept on the message for
// the next one. A reporter whose account is disabled or gone is not
// mailed. Only the reporter is mailed: the report may hold what the
// reporter chose to tell the operator alone, and the customer's other
// administrators read it on the panel.
func (r *Reports) mailReporter(ctx context.Context, tx *store.Tx, id, cust string, seq int64, tmpl, cause string, m reportMail) error {
	var to, lang string
	err := store.Scan(tx.QueryRow(ctx, `SELECT a.email, a.language, a.display_name FROM reports r JOIN accounts a ON a.id = r.created_by
		WHERE r.id = ? AND a.customer_id = r.customer_id AND a.disabled_at IS NULL`, id), &to, &lang, &m.Name)
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return nil
		}
		return fmt.Errorf("report %s: reporter: %w", id, err)
	}
	refs, err := store.Strings(ctx, tx, `SELECT mail_id FROM report_messages WHERE report_id = ? AND mail_id <> '' AND seq < ?
		ORDER BY seq`, id, seq)
	if err != nil {
		return err
	}
	if r.cfg.CustomerLink != nil {
		m.Link = r.cfg.CustomerLink("/reports/" + id)
	}
	msg, err := reportMailTemplates.Message(tmpl, cause, lang, to, m)
	if err != nil {
		return err
	}
	msg.CustomerID = cust
	for _, ref := range refs {
		msg.References = append(msg.References, mail.MessageID(ref))
	}
	mailID, err := mail.Enqueue(ctx, tx, msg)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE report_messages SET mail_id = ? WHERE report_id = ? AND seq = ?`, mailID, id, seq)
	return store.Wrap(err)
}
