package webhook

import (
	"context"
	"fmt"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Statuses of a delivery (the ops slice's queue gauge reads them too).
const (
	Pending   = "pending"
	Delivered = "delivered"
	Failed    = "failed"
)

// Delivery is one event's delivery to one webhook, as its log shows it.
type Delivery struct {
	ID         string    `json:"id"`
	EventID    string    `json:"event_id"`
	EventType  string    `json:"event_type"`
	Subject    string    `json:"subject"`
	EventTime  time.Time `json:"event_time"`
	Status     string    `json:"status"`
	Attempts   int       `json:"attempts"`
	LastStatus int       `json:"last_status_code,omitempty"`
	LatencyMS  int64     `json:"latency_ms"`
	LastError  string    `json:"last_error,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	// NextAttemptAt is set while the delivery is pending; FinishedAt once
	// it was delivered or failed.
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	FinishedAt    *time.Time `json:"finished_at,omitempty"`
}

// MaxLog is the most deliveries one read of the log returns.
const MaxLog = 200

// Deliveries returns the newest deliveries of h's customer's webhook id,
// at most MaxLog; another customer's webhook is NotFound.
func (s *Service) Deliveries(ctx context.Context, h tenant.Holder, id string) ([]Delivery, error) {
	if _, err := s.Get(ctx, h, id); err != nil {
		return nil, err
	}
	cust, err := h.Authorize(actRead)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT id, event_id, event_type, subject, event_time, status, attempts, last_status,
		last_latency_ms, last_error, created_at, next_attempt_at, finished_at
		FROM webhook_deliveries WHERE webhook_id = ? AND customer_id = ? ORDER BY created_at DESC, id DESC LIMIT ?`,
		id, string(cust), MaxLog)
	if err != nil {
		return nil, fmt.Errorf("webhook deliveries: %w", err)
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		var d Delivery
		var evTime, created, next string
		var finished *string
		if err := rows.Scan(&d.ID, &d.EventID, &d.EventType, &d.Subject, &evTime, &d.Status, &d.Attempts, &d.LastStatus,
			&d.LatencyMS, &d.LastError, &created, &next, &finished); err != nil {
			return nil, store.Wrap(err)
		}
		d.EventTime, _ = clock.Parse(evTime)
		d.CreatedAt, _ = clock.Parse(created)
		if d.Status == Pending {
			t, err := clock.Parse(next)
			if err != nil {
				return nil, fmt.Errorf("delivery %s: %w", d.ID, err)
			}
			d.NextAttemptAt = &t
		}
		if d.FinishedAt, err = optTime(finished); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, store.Wrap(rows.Err())
}
