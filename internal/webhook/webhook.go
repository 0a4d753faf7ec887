package webhook

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
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/network/custexport"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/text"
)

// The permission table's actions this package checks (identity.Act…;
// named here so that the package does not import identity).
const (
	actRead   tenant.Action = "webhooks.read"
	actManage tenant.Action = "webhooks.manage"
)

// MaxWebhooks bounds a customer's webhooks: each event is queued once per
// webhook, so the bound is also the fan-out of one event.
const MaxWebhooks = 5

// maxDescription bounds a webhook's description, in characters.
const maxDescription = 200

// Webhook is a customer's registered endpoint. Its secret is never part of
// it: it is shown once, when made (Create, Rotate).
type Webhook struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	Events      []string  `json:"events"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	// RotatedAt is the last rotation of the secret; OldSecretUntil is
	// when the secret it replaced stops signing (absent once past).
	RotatedAt      *time.Time `json:"rotated_at,omitempty"`
	OldSecretUntil *time.Time `json:"old_secret_until,omitempty"`
}

// Input registers a webhook.
type Input struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description"`
}

func checkEvents(events []string) ([]string, error) {
	if len(events) == 0 {
		return nil, fault.Field("events", "events must name at least one event type")
	}
	var out []string
	for _, e := range events {
		if !slices.Contains(Types, e) {
			return nil, fault.Field("events", "events must be known event types")
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	// In the panel's order, so that a webhook reads the same however its
	// events were listed.
	slices.SortFunc(out, func(a, b string) int { return slices.Index(Types, a) - slices.Index(Types, b) })
	return out, nil
}

// Service holds the customers' webhooks.
type Service struct {
	db    *store.DB
	audit *audit.Log
	guard *Guard
}

// NewService returns the webhooks kept in db, registered URLs checked by
// guard.
func NewService(db *store.DB, log *audit.Log, guard *Guard) *Service {
	return &Service{db: db, audit: log, guard: guard}
}

// secretContext binds a sealed secret to its webhook and slot, so that one
// cannot be moved to another row.
func secretContext(id, slot string) string { return "webhook:" + id + ":" + slot }

const hookCols = `id, url, events, description, created_at, rotated_at, old_secret_until`

func scanHook(s interface{ Scan(...any) error }, now time.Time) (Webhook, error) {
	var w Webhook
	var events, created string
	var rotated, until *string
	if err := s.Scan(&w.ID, &w.URL, &events, &w.Description, &created, &rotated, &until); err != nil {
		return Webhook{}, store.Wrap(err)
	}
	w.Events = strings.Fields(events)
	var err error
	if w.CreatedAt, err = clock.Parse(created); err != nil {
		return Webhook{}, fmt.Errorf("webhook %s: %w", w.ID, err)
	}
	if w.RotatedAt, err = optTime(rotated); err != nil {
		return Webhook{}, err
	}
	if w.OldSecretUntil, err = optTime(until); err != nil {
		return Webhook{}, err
	}
	if w.OldSecretUntil != nil && !w.OldSecretUntil.After(now) {
		w.OldSecretUntil = nil
	}
	return w, nil
}

func optTime(s *string) (*time.Time, error) {
	if s == nil || *s == "" {
		return nil, nil
	}
	t, err := clock.Parse(*s)
	if err != nil {
		return nil, fmt.Errorf("stored time %q: %w", *s, err)
	}
	return &t, nil
}

// List returns h's customer's webhooks, oldest first.
func (s *Service) List(ctx context.Context, h tenant.Holder) ([]Webhook, error) {
	cust, err := h.Authorize(actRead)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT `+hookCols+` FROM webhooks WHERE customer_id = ? ORDER BY created_at, id`, string(cust))
	if err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	defer rows.Close()
	out := []Webhook{}
	now := clock.Now()
	for rows.Next() {
		w, err := scanHook(rows, now)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, store.Wrap(rows.Err())
}

// Get returns h's customer's webhook id; another customer's is NotFound.
func (s *Service) Get(ctx context.Context, h tenant.Holder, id string) (Webhook, error) {
	cust, err := h.Authorize(actRead)
	if err != nil {
		return Webhook{}, err
	}
	w, err := scanHook(s.db.QueryRow(ctx, `SELECT `+hookCols+` FROM webhooks WHERE id = ? AND customer_id = ?`, id, string(cust)), clock.Now())
	if fault.Is(err, fault.NotFound) {
		return Webhook{}, errNoWebhook
	}
	return w, err
}

var errNoWebhook = fault.New(fault.NotFound, "no such webhook")

// Create registers a webhook for h's customer and returns it with its
// secret, which is shown this once. Audited (webhook.create).
func (s *Service) Create(ctx context.Context, h tenant.Holder, in Input) (Webhook, string, error) {
	cust, err := h.Authorize(actManage)
	if err != nil {
		return Webhook{}, "", err
	}
	events, err := checkEvents(in.Events)
	if err != nil {
		return Webhook{}, "", err
	}
	in.Description = strings.TrimSpace(in.Description)
	if utf8.RuneCountInString(in.Description) > maxDescription || text.SingleLine(in.Description) != "" {
		return Webhook{}, "", fault.Field("description", "description must be one line of at most %d characters", maxDescription)
	}
	u, err := s.guard.CheckURL(ctx, strings.TrimSpace(in.URL))
	if err != nil {
		return Webhook{}, "", err
	}
	w := Webhook{ID: ids.New("wh"), URL: u.String(), Events: events, Description: in.Description, CreatedAt: clock.Now()}
	secret := ids.Secret(SecretPrefix)
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var n int
		if err := store.Scan(tx.QueryRow(ctx, `SELECT COUNT(*) FROM webhooks WHERE customer_id = ?`, string(cust)), &n); err != nil {
			return err
		}
		if n >= MaxWebhooks {
			return fault.New(fault.Conflict, "a customer has at most %d webhooks", MaxWebhooks)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO webhooks (id, customer_id, url, events, description, secret, created_at, created_by)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, w.ID, string(cust), w.URL, strings.Join(events, " "), w.Description,
			tx.Secrets().Seal(secret, secretContext(w.ID, "current")), clock.Store(w.CreatedAt), audit.ActorFrom(ctx).ID); err != nil {
			return fmt.Errorf("create webhook: %w", err)
		}
		// The host only: a receiver's path may itself be a secret (many
		// chat services' incoming hooks are), and the audit log is read
		// more widely than the webhook.
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "webhook.create", Target: "webhook:" + w.ID,
			CustomerID: string(cust), Detail: map[string]any{"host": u.Host, "events": events}})
	})
	if err != nil {
		return Webhook{}, "", err
	}
	return w, secret, nil
}

// Delete removes h's customer's webhook id with its delivery log; what it
// had queued is not sent. Audited (webhook.delete).
func (s *Service) Delete(ctx context.Context, h tenant.Holder, id string) error {
	cust, err := h.Authorize(actRead)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM webhooks WHERE id = ? AND customer_id = ?`, id, string(cust))
		if err != nil {
			return fmt.Errorf("delete webhook: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errNoWebhook
		}
		if _, err := tx.Exec(ctx, `DELETE FROM webhook_deliveries WHERE webhook_id = ? AND customer_id = ?`, id, string(cust)); err != nil {
			return fmt.Errorf("delete webhook deliveries: %w", err)
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "webhook.delete", Target: "webhook:" + id, CustomerID: string(cust)})
	})
}

// Rotate gives h's customer's webhook id a new secret and returns it,
// shown this once. The secret it replaces still signs for RotationOverlap
// (each delivery then carries both signatures), so that the receiver can
// switch without losing an event; a secret already rotated out is
// dropped at once. Audited (webhook.rotate).
func (s *Service) Rotate(ctx context.Context, h tenant.Holder, id string) (Webhook, string, error) {
	cust, err := h.Authorize(actManage)
	if err != nil {
		return Webhook{}, "", err
	}
	secret := ids.Secret(SecretPrefix)
	now := clock.Now()
	until := now.Add(RotationOverlap)
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var sealed string
		if err := store.Scan(tx.QueryRow(ctx, `SELECT secret FROM webhooks WHERE id = ? AND customer_id = ?`, id, string(cust)), &sealed); err != nil {
			if fault.Is(err, fault.NotFound) {
				return errNoWebhook
			}
			return err
		}
		old, err := tx.Secrets().Open(sealed, secretContext(id, "current"))
		if err != nil {
			return fmt.Errorf("webhook %s: %w", id, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE webhooks SET secret = ?, old_secret = ?, old_secret_until = ?, rotated_at = ?
			WHERE id = ? AND customer_id = ?`, tx.Secrets().Seal(secret, secretContext(id, "current")),
			tx.Secrets().Seal(old, secretContext(id, "old")), clock.Store(until), clock.Store(now), id, string(cust)); err != nil {
			return fmt.Errorf("rotate webhook secret: %w", err)
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "webhook.rotate", Target: "webhook:" + id, CustomerID: string(cust),
			Detail: map[string]any{"expires_at": clock.Store(until)}})
	})
	if err != nil {
		return Webhook{}, "", err
	}
	w, err := s.Get(ctx, h, id)
	return w, secret, err
}

// ExportTx lists customer cust's webhooks, without secrets, for its own
// export (network.Export, inside its transaction); the caller has checked
// that the exporting account may read them.
func ExportTx(ctx context.Context, tx *store.Tx, cust tenant.CustomerID) ([]custexport.Webhook, error) {
	rows, err := tx.Query(ctx, `SELECT `+hookCols+` FROM webhooks WHERE customer_id = ? ORDER BY created_at, id`, string(cust))
	if err != nil {
		return nil, fmt.Errorf("export webhooks: %w", err)
	}
	defer rows.Close()
	var out []custexport.Webhook
	now := clock.Now()
	for rows.Next() {
		w, err := scanHook(rows, now)
		if err != nil {
			return nil, err
		}
		out = append(out, custexport.Webhook{URL: w.URL, Events: w.Events, Description: w.Description, CreatedAt: w.CreatedAt.UTC()})
	}
	return out, store.Wrap(rows.Err())
}
