// Package mail is tsunagi's mail path: an outbox table that is written in the
// same transaction as the event that causes a mail (no event without its mail,
// no mail without its event), and a sender that delivers the outbox over SMTP
// with retries and exponential back-off, recording permanent failures for the
// operator to see. One message goes to one recipient, in the recipient's
// language.
//
// Without SMTP configured (the embedded default) mail stays in the outbox,
// where the operator API lists it without bodies, unless the development
// mail sink (Dir) writes it into a directory as .eml files. Bodies are sealed
// at rest and erased once sent.
package mail

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/secretbox"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// Message is one mail to one recipient.
type Message struct {
	CustomerID string // whose event caused it; "" for the platform
	Cause      string // the audit action that caused it, e.g. "account.invite"
	To         string
	Language   string // "ja" or "en"
	Subject    string
	Body       string    // plain text
	After      time.Time // not sent before this time; zero: at once
	// References are the Message-IDs (MessageID, without angle brackets)
	// of the earlier mails of the same thread to the same recipient,
	// oldest first: the message answers the last (In-Reply-To) and
	// names them all (References), so that a notice's updates and a
	// report's replies thread in the recipient's mail client.
	References []string
}

// MessageID is the Message-ID (without angle brackets) of the outbox entry
// id: stable, so that a mail re-sent after a crash is recognisably the
// same one and a later mail can name it in References.
func MessageID(id string) string { return id + "@tsunagi" }

// refsRE is what a reference may hold: an outbox ID at tsunagi, nothing
// that could end a header line or open another.
var refsRE = regexp.MustCompile(`^[a-z]+_[a-z2-7]+@tsunagi$`)

// Statuses of an outbox entry.
const (
	Pending = "pending" // waiting for its next attempt
	Sending = "sending" // claimed by a sender until claimed_until
	Sent    = "sent"
	Failed  = "failed" // permanently: the server refused it, or attempts ran out
)

// A body is sealed at rest with the controller's secret key (it may hold a
// single-use link) and erased once the message is delivered; the metadata —
// recipient, cause, subject, times, status — stays.
func bodyContext(id string) string { return "mail:" + id }

// openBody returns the clear body of entry id as stored. A body stored in
// clear (by a version before bodies were sealed) is returned as it is.
func openBody(q store.Querier, id, stored string) (string, error) {
	if stored == "" || !secretbox.IsSealed(stored) {
		return stored, nil
	}
	body, err := q.Secrets().Open(stored, bodyContext(id))
	if err != nil {
		return "", fmt.Errorf("mail %s: %w", id, err)
	}
	return body, nil
}

// CheckSubject refuses a subject that holds a control character (CR, LF,
// NUL, DEL, …) or a Unicode line or paragraph separator. It is refused,
// not neutralised: every subject is built from a template whose values the
// callers already validated as one line (titles, names), so such a
// character is a bug upstream; the event's transaction then fails whole
// instead of mailing a subject other than the one the outbox and the
// notification log record. The composer checks again (compose), for rows
// written by a version before this check.
func CheckSubject(s string) error {
	if i := strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }); i >= 0 {
		return fmt.Errorf("mail: the subject holds a control character at byte %d", i)
	}
	return nil
}

// Enqueue adds m to the outbox inside tx, so that the mail commits with the
// event that causes it. It returns the entry's ID.
func Enqueue(ctx context.Context, tx *store.Tx, m Message) (string, error) {
	if a, err := mail.ParseAddress(m.To); err != nil || a.Address != m.To {
		return "", fmt.Errorf("mail: recipient %q is not a plain address", m.To)
	}
	if err := CheckSubject(m.Subject); err != nil {
		return "", err
	}
	if m.Language != "ja" && m.Language != "en" {
		m.Language = "ja"
	}
	for _, r := range m.References {
		if !refsRE.MatchString(r) {
			return "", fmt.Errorf("mail: reference %q is not a tsunagi Message-ID", r)
		}
	}
	id := ids.New("mail")
	now := clock.Store(clock.Now())
	next := now
	if m.After.After(clock.Now()) {
		next = clock.Store(m.After)
	}
	var cust any
	if m.CustomerID != "" {
		cust = m.CustomerID
	}
	if _, err := tx.Exec(ctx, `INSERT INTO mail_outbox (id, customer_id, cause, recipient, language, subject, body, status,
		attempts, next_attempt_at, last_error, created_at, refs) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, '', ?, ?)`,
		id, cust, m.Cause, m.To, m.Language, m.Subject, tx.Secrets().Seal(m.Body, bodyContext(id)), next, now,
		strings.Join(m.References, " ")); err != nil {
		return "", fmt.Errorf("mail: enqueue: %w", err)
	}
	tx.AfterCommit(queued.wake)
	return id, nil
}

// Withdraw ends, inside tx, the unsent mails of cause to addr of customer
// cust ("" for the platform) as failed with the reason why, and drops their
// bodies: an invitation held back (an approved recovery's wait) or retrying
// whose account was deleted must not go. It returns how many it ended.
func Withdraw(ctx context.Context, tx *store.Tx, cust, addr, cause, why string) (int64, error) {
	q := `UPDATE mail_outbox SET status = 'failed', claimed_until = NULL, last_error = ?, body = ''
		WHERE recipient = ? AND cause = ? AND status = 'pending' AND `
	args := []any{truncate(why, 500), addr, cause}
	if cust == "" {
		q += `customer_id IS NULL`
	} else {
		q += `customer_id = ?`
		args = append(args, cust)
	}
	n, err := tx.Exec(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("mail: withdraw: %w", err)
	}
	return n.RowsAffected()
}

// Entry is an outbox entry as the operator sees it. The body is left out of
// listings: it may hold a single-use link.
type Entry struct {
	ID            string     `json:"id"`
	CustomerID    string     `json:"customer_id,omitempty"`
	Cause         string     `json:"cause"`
	Recipient     string     `json:"recipient"`
	Language      string     `json:"language"`
	Subject       string     `json:"subject"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt time.Time  `json:"next_attempt_at"`
	LastError     string     `json:"last_error,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	SentAt        *time.Time `json:"sent_at,omitempty"`
	body          string
	refs          string
}

// Outbox reads and updates the outbox.
type Outbox struct{ db *store.DB }

// NewOutbox returns the outbox kept in db.
func NewOutbox(db *store.DB) *Outbox { return &Outbox{db: db} }

const entryCols = `id, customer_id, cause, recipient, language, subject, status, attempts, next_attempt_at, last_error, created_at, sent_at, body, refs`

func scanEntry(s interface{ Scan(...any) error }) (Entry, error) {
	var e Entry
	var cust, sent *string
	var next, created string
	if err := s.Scan(&e.ID, &cust, &e.Cause, &e.Recipient, &e.Language, &e.Subject, &e.Status, &e.Attempts, &next,
		&e.LastError, &created, &sent, &e.body, &e.refs); err != nil {
		return Entry{}, err
	}
	if cust != nil {
		e.CustomerID = *cust
	}
	e.NextAttemptAt, _ = clock.Parse(next)
	e.CreatedAt, _ = clock.Parse(created)
	if sent != nil {
		t, _ := clock.Parse(*sent)
		e.SentAt = &t
	}
	return e, nil
}

// List returns entries newest first, optionally of one status, after the
// entry with ID after (keyset on created_at, id).
func (o *Outbox) List(ctx context.Context, status string, after string, limit int) ([]Entry, error) {
	switch status {
	case "", Pending, Sending, Sent, Failed:
	default:
		return nil, fault.Field("status", "status must be pending, sending, sent or failed")
	}
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	q := `SELECT ` + entryCols + ` FROM mail_outbox WHERE 1 = 1`
	var args []any
	if status != "" {
		q += ` AND status = ?`
		args = append(args, status)
	}
	if after != "" {
		// IDs are random: the page after an entry is what was created
		// before it, its ID only ordering entries of the same instant.
		// An unknown after matches nothing.
		q += ` AND (created_at < (SELECT created_at FROM mail_outbox WHERE id = ?)
			OR (created_at = (SELECT created_at FROM mail_outbox WHERE id = ?) AND id < ?))`
		args = append(args, after, after, after)
	}
	rows, err := o.db.Query(ctx, q+` ORDER BY created_at DESC, id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("mail: list: %w", err)
	}
	defer rows.Close()
	out := []Entry{}
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("mail: list: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Get returns one entry with its body (for tests and the sender).
func (o *Outbox) Get(ctx context.Context, id string) (Entry, string, error) {
	e, err := scanEntry(o.db.QueryRow(ctx, `SELECT `+entryCols+` FROM mail_outbox WHERE id = ?`, id))
	if err != nil {
		err = store.Wrap(err)
		if errors.Is(err, store.ErrNotFound) {
			return Entry{}, "", fault.New(fault.NotFound, "mail not found")
		}
		return Entry{}, "", err
	}
	if e.body, err = openBody(o.db, e.ID, e.body); err != nil {
		return Entry{}, "", err
	}
	return e, e.body, nil
}

// claim takes the oldest due entry for this sender until now+lease. An entry
// left "sending" by a sender that died is due again once its lease ends. The
// conditional UPDATE makes the claim safe among several controllers.
func (o *Outbox) claim(ctx context.Context, now time.Time, lease time.Duration) (Entry, bool, error) {
	for range 5 {
		var id string
		n := clock.Store(now)
		err := store.Scan(o.db.QueryRow(ctx, `SELECT id FROM mail_outbox
			WHERE (status = 'pending' AND next_attempt_at <= ?) OR (status = 'sending' AND claimed_until <= ?)
			ORDER BY next_attempt_at, id LIMIT 1`, n, n), &id)
		if errors.Is(err, store.ErrNotFound) {
			return Entry{}, false, nil
		}
		if err != nil {
			return Entry{}, false, err
		}
		res, err := o.db.Exec(ctx, `UPDATE mail_outbox SET status = 'sending', claimed_until = ?, attempts = attempts + 1
			WHERE id = ? AND ((status = 'pending' AND next_attempt_at <= ?) OR (status = 'sending' AND claimed_until <= ?))`,
			clock.Store(now.Add(lease)), id, n, n)
		if err != nil {
			return Entry{}, false, err
		}
		if k, _ := res.RowsAffected(); k == 1 {
			e, _, err := o.Get(ctx, id)
			return e, err == nil, err
		}
		// Another sender took it first; look again.
	}
	return Entry{}, false, nil
}

// markSent records delivery and drops the body: it may hold a single-use
// link, which has no business staying in the database once sent.
func (o *Outbox) markSent(ctx context.Context, id string, now time.Time) error {
	_, err := o.db.Exec(ctx, `UPDATE mail_outbox SET status = 'sent', sent_at = ?, claimed_until = NULL, last_error = '', body = ''
		WHERE id = ?`, clock.Store(now), id)
	return err
}

func (o *Outbox) markRetry(ctx context.Context, id string, next time.Time, msg string) error {
	_, err := o.db.Exec(ctx, `UPDATE mail_outbox SET status = 'pending', next_attempt_at = ?, claimed_until = NULL, last_error = ? WHERE id = ?`,
		clock.Store(next), truncate(msg, 500), id)
	return err
}

func (o *Outbox) markFailed(ctx context.Context, id string, msg string) error {
	_, err := o.db.Exec(ctx, `UPDATE mail_outbox SET status = 'failed', claimed_until = NULL, last_error = ? WHERE id = ?`,
		truncate(msg, 500), id)
	return err
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// SealStored seals the bodies an earlier version stored in clear, and erases
// those of messages already sent; it returns how many it changed.
func (o *Outbox) SealStored(ctx context.Context) (int, error) {
	n := 0
	err := o.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE mail_outbox SET body = '' WHERE status = 'sent' AND body <> ''`)
		if err != nil {
			return err
		}
		k, _ := res.RowsAffected()
		n += int(k)
		rows, err := tx.Query(ctx, `SELECT id, body FROM mail_outbox WHERE body <> '' AND body NOT LIKE 'v1:%'`)
		if err != nil {
			return err
		}
		clear := map[string]string{}
		for rows.Next() {
			var id, body string
			if err := rows.Scan(&id, &body); err != nil {
				rows.Close()
				return err
			}
			clear[id] = body
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for id, body := range clear {
			if _, err := tx.Exec(ctx, `UPDATE mail_outbox SET body = ? WHERE id = ? AND body = ?`,
				tx.Secrets().Seal(body, bodyContext(id)), id, body); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("mail: seal stored bodies: %w", err)
	}
	return n, nil
}
