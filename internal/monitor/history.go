package monitor

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Kept is how long state changes and RTT/loss bins are kept by default
// (and at least): evidence.Retention.Monitor.
const Kept = 90 * 24 * time.Hour

// MaxSpan bounds one read of events or bins: the retention period.
const MaxSpan = Kept

// Event is one state change of a monitor.
type Event struct {
	At     time.Time `json:"at"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Reason string    `json:"reason"`
}

// Bin is one 5-minute bin of a monitor's probes: how many were sent and
// answered, the loss and the answered probes' round-trip times.
type Bin struct {
	Start    time.Time `json:"start"`
	Sent     int64     `json:"sent"`
	Answered int64     `json:"answered"`
	// LossPercent is the share of probes not answered.
	LossPercent float64 `json:"loss_percent"`
	// RTT in microseconds, over the answered probes (absent when none).
	RTTMinMicros *int64 `json:"rtt_min_us,omitempty"`
	RTTAvgMicros *int64 `json:"rtt_avg_us,omitempty"`
	RTTMaxMicros *int64 `json:"rtt_max_us,omitempty"`
}

// Span is a time range [From, To): the last day when both are zero.
type Span struct{ From, To time.Time }

func (sp Span) resolve(now time.Time) (Span, error) {
	if sp.To.IsZero() {
		sp.To = now
	}
	if sp.From.IsZero() {
		sp.From = sp.To.Add(-24 * time.Hour)
	}
	if !sp.From.Before(sp.To) || sp.To.Sub(sp.From) > MaxSpan {
		return sp, fault.Field("from", "from must be before to, at most %d days apart", int(MaxSpan/(24*time.Hour)))
	}
	return sp, nil
}

// owned checks that id is cust's monitor (NotFound otherwise).
func owned(ctx context.Context, q store.Querier, cust tenant.CustomerID, id string) error {
	var one int
	err := store.Scan(q.QueryRow(ctx, `SELECT 1 FROM monitors WHERE id = ? AND customer_id = ?`, id, string(cust)), &one)
	if fault.Is(err, fault.NotFound) {
		return fault.New(fault.NotFound, "no such monitor")
	}
	return err
}

// Events returns the state changes of sc's customer's monitor id in sp,
// newest first.
func (s *Service) Events(ctx context.Context, sc tenant.Scope, id string, sp Span) ([]Event, error) {
	cust, err := sc.Authorize(actRead, actManage)
	if err != nil {
		return nil, err
	}
	if sp, err = sp.resolve(s.now()); err != nil {
		return nil, err
	}
	if err := owned(ctx, s.db, cust, id); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT at, from_state, to_state, reason FROM monitor_events
		WHERE monitor_id = ? AND customer_id = ? AND at >= ? AND at < ? ORDER BY at DESC, id DESC LIMIT 10000`,
		id, string(cust), clock.Store(sp.From), clock.Store(sp.To))
	if err != nil {
		return nil, fmt.Errorf("monitor events: %w", err)
	}
	defer rows.Close()
	out := []Event{}
	for rows.Next() {
		var e Event
		var at string
		if err := rows.Scan(&at, &e.From, &e.To, &e.Reason); err != nil {
			return nil, store.Wrap(err)
		}
		if e.At, err = clock.Parse(at); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, store.Wrap(rows.Err())
}

// Series returns the 5-minute bins of sc's customer's monitor id in sp,
// oldest first; a bin without probes is absent.
func (s *Service) Series(ctx context.Context, sc tenant.Scope, id string, sp Span) ([]Bin, error) {
	cust, err := sc.Authorize(actRead, actManage)
	if err != nil {
		return nil, err
	}
	if sp, err = sp.resolve(s.now()); err != nil {
		return nil, err
	}
	if err := owned(ctx, s.db, cust, id); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT bin_start, sent, answered, rtt_min_us, rtt_sum_us, rtt_max_us FROM monitor_bins
		WHERE monitor_id = ? AND customer_id = ? AND bin_start >= ? AND bin_start < ? ORDER BY bin_start`,
		id, string(cust), clock.Store(sp.From.Truncate(binSize)), clock.Store(sp.To))
	if err != nil {
		return nil, fmt.Errorf("monitor series: %w", err)
	}
	defer rows.Close()
	out := []Bin{}
	for rows.Next() {
		var b Bin
		var start string
		var lo, sum, hi int64
		if err := rows.Scan(&start, &b.Sent, &b.Answered, &lo, &sum, &hi); err != nil {
			return nil, store.Wrap(err)
		}
		if b.Start, err = clock.Parse(start); err != nil {
			return nil, err
		}
		if b.Sent > 0 {
			b.LossPercent = float64(b.Sent-b.Answered) * 100 / float64(b.Sent)
		}
		if b.Answered > 0 {
			avg := sum / b.Answered
			b.RTTMinMicros, b.RTTAvgMicros, b.RTTMaxMicros = &lo, &avg, &hi
		}
		out = append(out, b)
	}
	return out, store.Wrap(rows.Err())
}

// WriteCSV writes bins as CSV: one row per bin, times in JST.
func WriteCSV(w io.Writer, bins []Bin) error {
	c := csv.NewWriter(w)
	_ = c.Write([]string{"start_jst", "sent", "answered", "loss_percent", "rtt_min_us", "rtt_avg_us", "rtt_max_us"})
	opt := func(v *int64) string {
		if v == nil {
			return ""
		}
		return strconv.FormatInt(*v, 10)
	}
	for _, b := range bins {
		_ = c.Write([]string{clock.Show(b.Start), strconv.FormatInt(b.Sent, 10), strconv.FormatInt(b.Answered, 10),
			strconv.FormatFloat(b.LossPercent, 'f', 1, 64), opt(b.RTTMinMicros), opt(b.RTTAvgMicros), opt(b.RTTMaxMicros)})
	}
	c.Flush()
	return c.Error()
}

// bgpStates reads cust's ports' BGP session state from its hubs' latest
// observations: up when every session of the port is up, down when one
// is not; a port no node reported is absent.
func bgpStates(ctx context.Context, q store.Querier, cust tenant.CustomerID) (map[string]string, error) {
	rows, err := q.Query(ctx, `SELECT body FROM hub_observations WHERE customer_id = ? ORDER BY reported_at`, string(cust))
	if err != nil {
		return nil, fmt.Errorf("monitor bgp states: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, store.Wrap(err)
		}
		var h observed.Hub
		if json.Unmarshal([]byte(body), &h) != nil {
			continue // a body this version cannot read says nothing of its sessions
		}
		for _, p := range h.Ports {
			if len(p.Sessions) == 0 {
				continue
			}
			st := Up
			for _, ss := range p.Sessions {
				if ss.State != "up" {
					st = Down
				}
			}
			out[p.PortCode] = st
		}
	}
	return out, store.Wrap(rows.Err())
}
