package notice

import (
	"context"
	"embed"
	"fmt"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/mail"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/webhook"
)

// Who is told, and how: every mail of a notice goes to one recipient — an
// active operations administrator of an affected customer or one of its
// notice contacts — in that recipient's language, and answers the earlier
// mails of the same notice to the same recipient (References), so that a
// notice reads as one thread. Each mail is logged in notice_deliveries,
// whose delivery status is the outbox entry's.

//go:embed mailtext/notice-*.txt
var noticeMailFiles embed.FS

var noticeMail = mail.ParseTemplates(noticeMailFiles, "mailtext/notice-*.txt")

// recipient is one address of a customer and its language.
type recipient struct{ addr, lang string }

// recipients returns customer cust's addresses for notices: its active
// operations administrators (with a password set: an invited account that
// never finished its setup reads no mail from us), then its notice
// contacts, each address once (compared without case).
func recipients(ctx context.Context, q store.Querier, cust string) ([]recipient, error) {
	admins, err := identity.OpsAdminRecipients(ctx, q, tenant.CustomerID(cust))
	if err != nil {
		return nil, err
	}
	var all []recipient
	for _, a := range admins {
		all = append(all, recipient{a.Email, a.Language})
	}
	rows, err := q.Query(ctx, `SELECT email, language FROM notice_contacts WHERE customer_id = ? ORDER BY email`, cust)
	if err != nil {
		return nil, fmt.Errorf("notice recipients: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r recipient
		if err := rows.Scan(&r.addr, &r.lang); err != nil {
			return nil, fmt.Errorf("notice recipients: %w", err)
		}
		all = append(all, r)
	}
	if err := rows.Err(); err != nil {
		return nil, store.Wrap(err)
	}
	var out []recipient
	seen := map[string]bool{}
	for _, r := range all {
		if key := strings.ToLower(r.addr); !seen[key] {
			seen[key] = true
			out = append(out, r)
		}
	}
	return out, nil
}

// step is what a mail tells: which update of the notice, and its text.
type step struct {
	seq            int64
	kind           string // publish | update | status | cancel
	bodyJA, bodyEN string
}

// mailData is what the notice-*.txt templates see.
type mailData struct {
	Kind, Category, Severity, Status string
	Title, Body                      string
	// Latest is the update's text when a recipient's first mail of the
	// notice is sent at an update (a customer the scope reached later, a
	// contact added since): that mail tells the notice whole, then this.
	Latest       string
	Starts, Ends string // JST, "" when not set
	Security     bool
	DataAffected string
	Reasons      []Reason
	Link         string
}

// mailAll mails step of n to every recipient of custs inside tx and logs
// each mail; it returns how many it queued.
func (s *Service) mailAll(ctx context.Context, tx *store.Tx, n Notice, st step, custs []AffectedCustomer) (int, error) {
	name := "notice-" + st.kind
	if st.kind == "status" {
		name = "notice-update"
	}
	sent := 0
	for _, c := range custs {
		rs, err := recipients(ctx, tx, c.CustomerID)
		if err != nil {
			return sent, err
		}
		// The customer's own chain says which notice reached it, at which
		// step and to how many of its contacts: its evidence of what it
		// was told holds without the platform's chain.
		if err := s.audit.RecordTx(ctx, tx, audit.Event{Action: "notice.sent", Target: "notice:" + n.ID,
			CustomerID: string(c.CustomerID), Detail: map[string]any{"step": st.kind, "recipients": len(rs)}}); err != nil {
			return sent, err
		}
		if err := webhook.Emit(ctx, tx, webhookEvent(n, st, c.CustomerID)); err != nil {
			return sent, err
		}
		for _, r := range rs {
			earlier, err := store.Strings(ctx, tx, `SELECT mail_id FROM notice_deliveries
				WHERE notice_id = ? AND customer_id = ? AND recipient = ? ORDER BY seq`, n.ID, c.CustomerID, r.addr)
			if err != nil {
				return sent, fmt.Errorf("notice thread: %w", err)
			}
			d := mailData{Kind: n.Kind, Category: n.Category, Severity: n.Severity, Status: n.Status,
				Title: n.TitleJA, Body: st.bodyJA, Security: n.Security, DataAffected: n.DataAffected, Reasons: c.Reasons}
			if r.lang == "en" {
				d.Title, d.Body = n.TitleEN, st.bodyEN
			}
			tmpl := name
			if len(earlier) == 0 && (st.kind == "update" || st.kind == "status") {
				// Nothing of this notice reached this recipient yet: a
				// follow-up alone would not say what it follows.
				tmpl, d.Latest, d.Body = "notice-publish", d.Body, n.BodyJA
				if r.lang == "en" {
					d.Body = n.BodyEN
				}
			}
			if n.StartsAt != nil {
				d.Starts = clock.Read(*n.StartsAt)
			}
			if n.EndsAt != nil {
				d.Ends = clock.Read(*n.EndsAt)
			}
			if s.cfg.CustomerLink != nil {
				d.Link = s.cfg.CustomerLink("/notices/" + n.ID)
			}
			m, err := noticeMail.Message(tmpl, "notice."+st.kind, r.lang, r.addr, d)
			if err != nil {
				return sent, err
			}
			m.CustomerID = c.CustomerID
			for _, id := range earlier {
				m.References = append(m.References, mail.MessageID(id))
			}
			mailID, err := mail.Enqueue(ctx, tx, m)
			if err != nil {
				return sent, err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO notice_deliveries (id, notice_id, seq, customer_id, recipient, language, mail_id,
				created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, ids.New("ndl"), n.ID, st.seq, c.CustomerID, r.addr,
				m.Language, mailID, clock.Store(clock.Now())); err != nil {
				return sent, fmt.Errorf("notice delivery: %w", err)
			}
			sent++
		}
	}
	return sent, nil
}

// Recipient is one address of a customer's alert mail and its language.
type Recipient struct{ Addr, Lang string }

// Recipients returns customer cust's operations administrators and notice
// contacts, each address once, as notices reach them: the addresses other
// alerts to the customer (its reachability monitors) go to.
func Recipients(ctx context.Context, q store.Querier, cust tenant.CustomerID) ([]Recipient, error) {
	rs, err := recipients(ctx, q, string(cust))
	out := make([]Recipient, len(rs))
	for i, r := range rs {
		out[i] = Recipient{r.addr, r.lang}
	}
	return out, err
}
