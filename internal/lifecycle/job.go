package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// JobName is the daily erasure job.
const JobName = "customer.purge"

// Job is the daily job customer.purge (JST days, schedule.Daily): its items
// are Due's customers, and an item is done when its erasure finished — the
// erasures row's finished_at, set by the last step's conditional UPDATE in
// the transaction that stores the certificate. A run cut short leaves the
// erasure started, and the next run (or the retry) resumes it.
func (p *Purger) Job() schedule.Job {
	return schedule.Job{
		Name: JobName,
		Due: func(ctx context.Context, now time.Time) ([]string, error) {
			custs, err := p.due(ctx, now)
			out := make([]string, len(custs))
			for i, c := range custs {
				out[i] = string(c)
			}
			return out, err
		},
		Do: func(ctx context.Context, now time.Time, item string) (bool, error) {
			done, err := p.purge(ctx, catalog.CustomerID(item), now)
			if p.Recorded != nil {
				if lerr := p.Recorded(ctx); lerr != nil {
					err = errors.Join(err, fmt.Errorf("erasure list: %w", lerr))
				}
			}
			return done, err
		},
	}
}

// Query selects a page of erasures, newest start first.
type Query struct {
	After string // the previous page's next_after; "" starts at the newest
	Limit int    // 1–500; 0 means 100
}

// List lists erasures, newest first (platform records: the caller checks
// the operator's permission), and the cursor of the next page ("" on the
// last one).
func (p *Purger) List(ctx context.Context, q Query) ([]Erasure, string, error) {
	if q.Limit == 0 {
		q.Limit = 100
	}
	if q.Limit < 1 || q.Limit > 500 {
		return nil, "", fault.Field("limit", "limit must be a number from 1 to 500")
	}
	sqlq := `SELECT e.customer_id, c.name, e.terminated_on, e.started_at, e.finished_at FROM erasures e
		JOIN customers c ON c.id = e.customer_id`
	var args []any
	if q.After != "" {
		at, id, ok := strings.Cut(q.After, "|")
		if _, err := clock.Parse(at); !ok || err != nil || id == "" {
			return nil, "", fault.Field("after", "after must be the next_after of the previous page")
		}
		sqlq += ` WHERE (e.started_at < ? OR (e.started_at = ? AND e.customer_id < ?))`
		args = append(args, at, at, id)
	}
	sqlq += ` ORDER BY e.started_at DESC, e.customer_id DESC LIMIT ?`
	args = append(args, q.Limit)
	rows, err := p.db.Query(ctx, sqlq, args...)
	if err != nil {
		return nil, "", fmt.Errorf("erasures: %w", err)
	}
	defer rows.Close()
	out := []Erasure{}
	var started []string
	for rows.Next() {
		var e Erasure
		var s string
		var fin *string
		if err := rows.Scan(&e.CustomerID, &e.CustomerName, &e.TerminatedOn, &s, &fin); err != nil {
			return nil, "", fmt.Errorf("erasures: %w", err)
		}
		e.StartedAt, _ = clock.Parse(s)
		if fin != nil {
			t, _ := clock.Parse(*fin)
			e.FinishedAt = &t
		}
		started = append(started, s)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("erasures: %w", err)
	}
	next := ""
	if len(out) == q.Limit {
		next = started[len(started)-1] + "|" + out[len(out)-1].CustomerID
	}
	return out, next, nil
}

// ErrNoErasure is Get's answer for a customer whose erasure has not started.
var ErrNoErasure = errors.New("the customer's erasure has not started")

// Status is where a customer stands in its erasure.
type Status struct {
	CustomerID   string
	CustomerName string
	TerminatedOn string   // the last termination date; "" while a contract is active
	DueOn        string   // the day the erasure starts with the configured setting; "" while active
	Erasure      *Erasure // nil until the erasure started
}

// Status returns cust's status (platform records: the caller checks the
// operator's permission); an unknown customer is a NotFound fault.
func (p *Purger) Status(ctx context.Context, cust catalog.CustomerID) (Status, error) {
	st := Status{CustomerID: string(cust)}
	var status string
	var term *string
	err := store.Scan(p.db.QueryRow(ctx, `SELECT name, status, terminated_on FROM customers WHERE id = ?`, cust), &st.CustomerName, &status, &term)
	if errors.Is(err, store.ErrNotFound) {
		return Status{}, fault.New(fault.NotFound, "customer not found")
	}
	if err != nil {
		return Status{}, fmt.Errorf("erasure status: %w", err)
	}
	if status == "terminated" && term != nil {
		st.TerminatedOn = *term
		if st.DueOn, err = p.dueOn(*term); err != nil {
			return Status{}, err
		}
	}
	e, err := p.Get(ctx, cust)
	switch {
	case err == nil:
		st.Erasure = &e
	case !errors.Is(err, ErrNoErasure):
		return Status{}, err
	}
	return st, nil
}

// Get returns cust's erasure with the steps done so far.
func (p *Purger) Get(ctx context.Context, cust catalog.CustomerID) (Erasure, error) {
	var e Erasure
	var s string
	var fin *string
	err := p.db.QueryRow(ctx, `SELECT e.customer_id, c.name, e.terminated_on, e.started_at, e.finished_at FROM erasures e
		JOIN customers c ON c.id = e.customer_id WHERE e.customer_id = ?`, cust).Scan(&e.CustomerID, &e.CustomerName, &e.TerminatedOn, &s, &fin)
	if err != nil {
		if errors.Is(store.Wrap(err), store.ErrNotFound) {
			return Erasure{}, ErrNoErasure
		}
		return Erasure{}, fmt.Errorf("erasure: %w", err)
	}
	e.StartedAt, _ = clock.Parse(s)
	if fin != nil {
		t, _ := clock.Parse(*fin)
		e.FinishedAt = &t
	}
	rows, err := p.db.Query(ctx, `SELECT class, count FROM erasure_steps WHERE customer_id = ?`, cust)
	if err != nil {
		return Erasure{}, fmt.Errorf("erasure: %w", err)
	}
	defer rows.Close()
	got := map[string]int64{}
	for rows.Next() {
		var class string
		var n int64
		if err := rows.Scan(&class, &n); err != nil {
			return Erasure{}, err
		}
		got[class] = n
	}
	for _, st := range steps {
		if n, ok := got[st.class]; ok {
			e.Steps = append(e.Steps, ClassCount{st.class, n})
		}
	}
	return e, rows.Err()
}
