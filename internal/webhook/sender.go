package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// Delivery policy: a failed attempt is tried again after Backoff, doubled
// per attempt up to MaxBackoff, until GiveUp after the event was queued;
// then the delivery is failed. A receiver down for an hour thus gets
// every event it missed at most MaxBackoff after its return.
const (
	Backoff    = 30 * time.Second
	MaxBackoff = time.Hour
	GiveUp     = 24 * time.Hour
)

// Sender delivers the queue: due deliveries claimed with a lease (so that
// with several controllers one sends each at a time), at most Workers at
// once, each bounded by Timeout. A customer has at most one delivery in
// flight per controller (claim skips a customer with an unexpired claim),
// and a worker that finishes claims the next at once, so that a customer
// whose receivers hang occupies one worker and the other customers' events
// go through the rest meanwhile.
type Sender struct {
	DB     *store.DB
	Client *http.Client // Guard.Client: the SSRF check at every dial
	Log    *slog.Logger
	// Source is the CloudEvents source's base: the deployment's customer
	// URL; the customer's ID is appended ("<Source>/customers/<id>").
	Source string
	// Workers bounds the deliveries in flight (default 4). Lease is how
	// long a claim holds (default 1 min, well over Timeout): a controller
	// that dies mid-send leaves its delivery to another once it ends.
	Workers int
	Lease   time.Duration
	// Now is the sender's clock (default clock.Now); a test moves it on
	// to skip the back-off.
	Now func() time.Time
	// Idle is the longest Run sleeps with nothing due (default 1 min): it
	// wakes on the change broadcast when a delivery is queued, and at the
	// next retry.
	Idle time.Duration
}

func (s *Sender) defaults() {
	if s.Workers <= 0 {
		s.Workers = 4
	}
	if s.Lease == 0 {
		s.Lease = time.Minute
	}
	if s.Now == nil {
		s.Now = clock.Now
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	if s.Source == "" {
		s.Source = "urn:tsunagi"
	}
	if s.Idle == 0 {
		s.Idle = time.Minute
	}
}

// pollClaimed is the least Run waits after a pass that claimed nothing.
const pollClaimed = time.Second

// Run delivers until ctx ends.
func (s *Sender) Run(ctx context.Context) {
	s.defaults()
	for ctx.Err() == nil {
		// Next before the read, so that a delivery queued meanwhile wakes
		// the wait below (changes.go).
		woken := s.DB.Changes().Next()
		n, err := s.Drain(ctx)
		if err != nil && ctx.Err() == nil {
			s.Log.Error("webhook sender", "err", err)
		}
		wait := s.Idle
		if next, ok, err := s.nextDue(ctx); err == nil && ok {
			wait = min(max(next.Sub(s.Now()), 0), s.Idle)
		}
		if n == 0 {
			// Due deliveries this pass could not claim are held by
			// another controller (or their customer's is): they come
			// free within Timeout, so poll for them rather than spin.
			wait = max(wait, pollClaimed)
		}
		select {
		case <-ctx.Done():
		case <-woken:
		case <-time.After(wait):
		}
	}
}

// Drain sends every delivery due now, Workers at a time, and returns how
// many it attempted. It claims again whenever a worker finishes, rather
// than after all in flight have finished, so that one slow delivery does
// not hold back the claims of the others; it returns once nothing is
// claimable and nothing is in flight.
func (s *Sender) Drain(ctx context.Context) (int, error) {
	s.defaults()
	var mu sync.Mutex // guards errs
	var errs []error
	done := make(chan struct{}, s.Workers)
	busy, n := 0, 0
	claiming := true
	for {
		if claiming && ctx.Err() == nil && busy < s.Workers {
			d, ok, err := s.claim(ctx)
			if err != nil {
				// The store fails: what is in flight finishes, nothing
				// more is claimed on this pass.
				claiming = false
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			} else if ok {
				n++
				busy++
				go func() {
					defer func() { done <- struct{}{} }()
					if err := s.deliver(ctx, d); err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
				}()
				continue
			}
		}
		if busy == 0 {
			break
		}
		// Nothing claimable now (or every worker busy): a finished
		// delivery may free a worker or its customer's turn.
		<-done
		busy--
	}
	mu.Lock()
	defer mu.Unlock()
	if ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	return n, errors.Join(errs...)
}

// queued is a claimed delivery with what its request needs.
type queued struct {
	ID, WebhookID, Customer, EventID, Type, Subject, Data, URL string
	EventTime, CreatedAt                                       time.Time
	Attempts                                                   int
	Secrets                                                    []string
}

func (s *Sender) nextDue(ctx context.Context) (time.Time, bool, error) {
	var next *string
	if err := store.Scan(s.DB.QueryRow(ctx, `SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE status = 'pending'`), &next); err != nil {
		return time.Time{}, false, err
	}
	if next == nil {
		return time.Time{}, false, nil
	}
	t, err := clock.Parse(*next)
	return t, err == nil, err
}

// claim takes the oldest due delivery until now+Lease, skipping every
// customer that already has a delivery claimed and unexpired: this
// controller claims one at a time, so it never holds two of a customer's
// at once (two controllers claiming at the same instant may each take one
// of the same customer's). The conditional UPDATE makes the claim safe
// among controllers: of two that read the same row, one updates it.
func (s *Sender) claim(ctx context.Context) (queued, bool, error) {
	for range 5 {
		now := clock.Store(s.Now())
		var id string
		err := store.Scan(s.DB.QueryRow(ctx, `SELECT d.id FROM webhook_deliveries d WHERE d.status = 'pending' AND d.next_attempt_at <= ?
			AND (d.claimed_until IS NULL OR d.claimed_until <= ?)
			AND NOT EXISTS (SELECT 1 FROM webhook_deliveries c WHERE c.customer_id = d.customer_id AND c.status = 'pending'
				AND c.claimed_until > ?)
			ORDER BY d.next_attempt_at, d.id LIMIT 1`, now, now, now), &id)
		if errors.Is(err, store.ErrNotFound) {
			return queued{}, false, nil
		}
		if err != nil {
			return queued{}, false, err
		}
		res, err := s.DB.Exec(ctx, `UPDATE webhook_deliveries SET claimed_until = ?, attempts = attempts + 1
			WHERE id = ? AND status = 'pending' AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until <= ?)`,
			clock.Store(s.Now().Add(s.Lease)), id, now, now)
		if err != nil {
			return queued{}, false, err
		}
		if k, _ := res.RowsAffected(); k == 1 {
			d, err := s.load(ctx, id)
			return d, err == nil, err
		}
	}
	return queued{}, false, nil
}

func (s *Sender) load(ctx context.Context, id string) (queued, error) {
	var d queued
	var evTime, created, secret, old string
	var until *string
	err := store.Scan(s.DB.QueryRow(ctx, `SELECT d.id, d.webhook_id, d.customer_id, d.event_id, d.event_type, d.subject, d.data,
		d.event_time, d.created_at, d.attempts, w.url, w.secret, w.old_secret, w.old_secret_until
		FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id AND w.customer_id = d.customer_id WHERE d.id = ?`, id),
		&d.ID, &d.WebhookID, &d.Customer, &d.EventID, &d.Type, &d.Subject, &d.Data, &evTime, &created, &d.Attempts, &d.URL,
		&secret, &old, &until)
	if err != nil {
		return queued{}, fmt.Errorf("webhook delivery %s: %w", id, err)
	}
	d.EventTime, _ = clock.Parse(evTime)
	d.CreatedAt, _ = clock.Parse(created)
	cur, err := s.DB.Secrets().Open(secret, secretContext(d.WebhookID, "current"))
	if err != nil {
		return queued{}, fmt.Errorf("webhook %s: %w", d.WebhookID, err)
	}
	d.Secrets = []string{cur}
	if t, _ := optTime(until); old != "" && t != nil && t.After(s.Now()) {
		o, err := s.DB.Secrets().Open(old, secretContext(d.WebhookID, "old"))
		if err != nil {
			return queued{}, fmt.Errorf("webhook %s: %w", d.WebhookID, err)
		}
		d.Secrets = append(d.Secrets, o)
	}
	return d, nil
}

// cloudEvent is the body: CloudEvents 1.0, structured mode.
type cloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	Time            string          `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
}

// Body is the delivery's CloudEvents document: the same bytes at every
// attempt (the signature's timestamp is what changes).
func (s *Sender) body(d queued) ([]byte, error) {
	return json.Marshal(cloudEvent{SpecVersion: "1.0", ID: d.EventID, Source: s.Source + "/customers/" + d.Customer, Type: d.Type,
		Subject: d.Subject, Time: d.EventTime.UTC().Format(time.RFC3339Nano), DataContentType: "application/json",
		Data: json.RawMessage(d.Data)})
}

// maxErr bounds the error kept in the log, in bytes.
const maxErr = 300

func (s *Sender) deliver(ctx context.Context, d queued) error {
	body, err := s.body(d)
	if err != nil {
		return err
	}
	status, latency, sendErr := s.post(ctx, d, body)
	wctx := context.WithoutCancel(ctx)
	now := s.Now()
	if sendErr == nil && status >= 200 && status < 300 {
		_, err := s.DB.Exec(wctx, `UPDATE webhook_deliveries SET status = 'delivered', claimed_until = NULL, last_status = ?,
			last_latency_ms = ?, last_error = '', finished_at = ? WHERE id = ?`, status, latency.Milliseconds(), clock.Store(now), d.ID)
		return err
	}
	msg := "the receiver answered " + strconv.Itoa(status)
	if sendErr != nil {
		// The client's *url.Error names the whole URL, and a receiver's
		// path or query may be its secret: the customer's log and ours
		// keep only what went wrong.
		if ue := (*url.Error)(nil); errors.As(sendErr, &ue) {
			sendErr = ue.Err
		}
		msg = sendErr.Error()
	}
	if len(msg) > maxErr {
		msg = msg[:maxErr]
	}
	next := now.Add(backoff(d.Attempts))
	if ctx.Err() != nil {
		// Shutting down: the next controller to run tries again at once.
		next = now
	}
	if next.After(d.CreatedAt.Add(GiveUp)) {
		// The error stays in the customer's delivery log: the
		// controller's log names the delivery, not the receiver.
		s.Log.Warn("webhook delivery given up", "delivery", d.ID, "webhook", d.WebhookID)
		_, err := s.DB.Exec(wctx, `UPDATE webhook_deliveries SET status = 'failed', claimed_until = NULL, last_status = ?,
			last_latency_ms = ?, last_error = ?, finished_at = ? WHERE id = ?`, status, latency.Milliseconds(), msg, clock.Store(now), d.ID)
		return err
	}
	_, err = s.DB.Exec(wctx, `UPDATE webhook_deliveries SET claimed_until = NULL, next_attempt_at = ?, last_status = ?,
		last_latency_ms = ?, last_error = ? WHERE id = ?`, clock.Store(next), status, latency.Milliseconds(), msg, d.ID)
	return err
}

// post sends one attempt and returns the receiver's status (0 when none
// came) and how long it took.
func (s *Sender) post(ctx context.Context, d queued, body []byte) (int, time.Duration, error) {
	rctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	ts := strconv.FormatInt(s.Now().Unix(), 10)
	var sigs []byte
	for i, sec := range d.Secrets {
		if i > 0 {
			sigs = append(sigs, ' ')
		}
		sigs = append(sigs, Signature(sec, d.EventID, ts, body)...)
	}
	req.Header.Set("Content-Type", "application/cloudevents+json")
	req.Header.Set("User-Agent", "tsunagi-webhook/1")
	req.Header.Set(HeaderID, d.EventID)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, string(sigs))
	start := time.Now()
	resp, err := s.Client.Do(req)
	latency := time.Since(start)
	if err != nil {
		return 0, latency, err
	}
	// A little of the answer is read so that the connection can be
	// reused; the rest is none of ours.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	return resp.StatusCode, latency, nil
}

// backoff is Backoff·2^(attempts-1), capped at MaxBackoff.
func backoff(attempts int) time.Duration {
	d := Backoff
	for i := 1; i < attempts && d < MaxBackoff; i++ {
		d *= 2
	}
	return min(d, MaxBackoff)
}
