package notice

import (
	"context"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/text"
)

// MaxContacts bounds a customer's notice contacts: each is mailed every
// notice, so the list is a handful of team addresses, not a mailing list.
const MaxContacts = 20

// maxContactName bounds a contact's name, in characters.
const maxContactName = 100

// Contact is an address a customer added to receive its notices besides
// its operations administrators, in the contact's language.
type Contact struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Language  string    `json:"language"`
	CreatedAt time.Time `json:"created_at"`
}

// ContactInput is a new notice contact.
type ContactInput struct {
	Email    string `json:"email"`
	Name     string `json:"name"`
	Language string `json:"language"`
}

func (in ContactInput) check() error {
	if a, err := mail.ParseAddress(in.Email); err != nil || a.Address != in.Email || len(in.Email) > 254 {
		return fault.Field("email", "email must be a plain e-mail address")
	}
	if strings.TrimSpace(in.Name) == "" || utf8.RuneCountInString(in.Name) > maxContactName || text.SingleLine(in.Name) != "" {
		return fault.Field("name", "%s must be valid text of at most %d characters", "name", maxContactName)
	}
	if in.Language != "ja" && in.Language != "en" {
		return fault.Field("language", "language must be ja or en")
	}
	return nil
}

// Contacts lists h's customer's notice contacts, oldest first.
func (s *Service) Contacts(ctx context.Context, h tenant.Holder) ([]Contact, error) {
	cust, err := h.Authorize(custActSettings)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT id, email, name, language, created_at FROM notice_contacts
		WHERE customer_id = ? ORDER BY created_at, id`, string(cust))
	if err != nil {
		return nil, fmt.Errorf("notice contacts: %w", err)
	}
	defer rows.Close()
	out := []Contact{}
	for rows.Next() {
		var c Contact
		var created string
		if err := rows.Scan(&c.ID, &c.Email, &c.Name, &c.Language, &created); err != nil {
			return nil, store.Wrap(err)
		}
		if c.CreatedAt, err = clock.Parse(created); err != nil {
			return nil, fmt.Errorf("notice contact %s: %w", c.ID, err)
		}
		out = append(out, c)
	}
	return out, store.Wrap(rows.Err())
}

// AddContact adds a notice contact to h's customer, audited with the
// address and name sealed as personal data. An address already on the
// list (in any letter case) is a conflict, as is a 21st contact.
func (s *Service) AddContact(ctx context.Context, h tenant.Holder, in ContactInput) (Contact, error) {
	cust, err := h.Authorize(custActChannels)
	if err != nil {
		return Contact{}, err
	}
	in.Email, in.Name = strings.TrimSpace(in.Email), strings.TrimSpace(in.Name)
	if err := in.check(); err != nil {
		return Contact{}, err
	}
	c := Contact{ID: ids.New("ncon"), Email: in.Email, Name: in.Name, Language: in.Language, CreatedAt: clock.Now()}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		// Counting and inserting in one transaction; two concurrent adds
		// may both pass the count on PostgreSQL's read committed, which
		// leaves at most one contact over: a bound against lists, not an
		// exact quota.
		var n, same int
		if err := store.Scan(tx.QueryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN LOWER(email) = LOWER(?) THEN 1 ELSE 0 END), 0)
			FROM notice_contacts WHERE customer_id = ?`, c.Email, string(cust)), &n, &same); err != nil {
			return err
		}
		if same > 0 {
			return fault.New(fault.Conflict, "%s is already a notice contact", c.Email)
		}
		if n >= MaxContacts {
			return fault.New(fault.Conflict, "a customer has at most %d notice contacts", MaxContacts)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO notice_contacts (id, customer_id, email, name, language, created_at, created_by)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, c.ID, string(cust), c.Email, c.Name, c.Language, clock.Store(c.CreatedAt),
			audit.ActorFrom(ctx).ID); err != nil {
			return fmt.Errorf("add notice contact: %w", err)
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "notice.contact.add", Target: "notice_contact:" + c.ID,
			CustomerID: string(cust), Detail: map[string]any{"email": c.Email, "name": c.Name}})
	})
	if err != nil {
		return Contact{}, err
	}
	return c, nil
}

// RemoveContact removes h's customer's notice contact id, audited; another
// customer's contact is NotFound.
func (s *Service) RemoveContact(ctx context.Context, h tenant.Holder, id string) error {
	cust, err := h.Authorize(custActSettings)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		var email string
		if err := store.Scan(tx.QueryRow(ctx, `SELECT email FROM notice_contacts WHERE id = ? AND customer_id = ?`,
			id, string(cust)), &email); err != nil {
			if fault.Is(err, fault.NotFound) {
				return fault.New(fault.NotFound, "no such notice contact")
			}
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM notice_contacts WHERE id = ? AND customer_id = ?`, id, string(cust)); err != nil {
			return fmt.Errorf("remove notice contact: %w", err)
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "notice.contact.remove", Target: "notice_contact:" + id,
			CustomerID: string(cust), Detail: map[string]any{"email": email}})
	})
}
