// Package lifecycle holds the termination and erasure of a customer: after
// its last contract's termination date, everything the controller keeps of
// it is erased (ISO/IEC 27017 CLD.8.1.5) by the daily job customer.purge,
// no later than day 90 and earlier when the operator configures it, and the
// erasure is evidenced by a deletion certificate signed with the
// controller's key (package signing).
//
// An erasure is a sequence of steps (steps.go), each one transaction that
// erases one class of rows and records its count in erasure_steps, so that
// a purge stopped at any point — a crash, a SIGKILL, a lost lease — resumes
// at the first unfinished step and the certificate counts every row. What
// is kept, and why, is listed once in Kept.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// Purge-after bounds: the erasure may be configured to start on any day
// from day 1 to day 90 after the termination date, never later.
const (
	MinAfterDays     = 1
	DefaultAfterDays = 30
)

// ParseAfterDays reads the purge-after setting (--purge-after-days,
// TSUNAGI_PURGE_AFTER_DAYS); "" is the default.
func ParseAfterDays(s string) (int, error) {
	if s == "" {
		return DefaultAfterDays, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("purge-after days %q is not a whole number of days", s)
	}
	return n, checkAfterDays(n)
}

func checkAfterDays(n int) error {
	if n > catalog.PurgeDays {
		return fmt.Errorf("purge-after days %d: a terminated customer's data is erased by day %d, never later", n, catalog.PurgeDays)
	}
	if n < MinAfterDays {
		return fmt.Errorf("purge-after days %d: the erasure starts on day %d at the earliest (the day after the termination date)", n, MinAfterDays)
	}
	return nil
}

// Purger erases terminated customers.
type Purger struct {
	db    *store.DB
	audit *audit.Log
	keys  *signing.Keyring
	after int
	// Now is the clock of due days; tests move it instead of waiting.
	Now func() time.Time
	// TrustedKeys are signing keys of this deployment that the database
	// may not hold: a restore of a backup older than a key rotation gets
	// them from the operator's copy of the published list, so that the
	// erasure list's certificates signed by the newer key still verify.
	TrustedKeys []signing.PublicKey
	// Recorded, when set, runs after the job has acted on a customer's
	// erasure (started, resumed or finished it): serve writes the erasure
	// list beside the backups with it, so that the list outside the
	// database is never older than the newest erasure. Its error fails the
	// item (recorded in the run); the next backup writes the list again.
	Recorded func(ctx context.Context) error
	// afterStep, when set (tests), runs after each step has committed.
	afterStep func(class string)
}

// New returns a purger that starts an erasure afterDays days after the
// termination date (day afterDays; see ParseAfterDays).
func New(db *store.DB, log *audit.Log, keys *signing.Keyring, afterDays int) (*Purger, error) {
	if err := checkAfterDays(afterDays); err != nil {
		return nil, err
	}
	return &Purger{db: db, audit: log, keys: keys, after: afterDays, Now: clock.Now}, nil
}

// AfterDays is the configured day the erasure starts on.
func (p *Purger) AfterDays() int { return p.after }

// dueOn is the first day the erasure of a customer terminated on
// terminatedOn may start: day p.after (day 1 is the day after).
func (p *Purger) dueOn(terminatedOn string) (string, error) {
	t, err := clock.ParseDate(terminatedOn)
	if err != nil {
		return "", fmt.Errorf("termination date %q: %w", terminatedOn, err)
	}
	return t.AddDate(0, 0, p.after).Format(clock.DateLayout), nil
}

// isDue says whether the erasure of a customer terminated on terminatedOn,
// with the stored deadline (customers.purge_due_on, day 90; "" if none),
// is due on today: day p.after has come, or the deadline has, whichever is
// first. New keeps p.after at most 90, so day 90 always is; the stored
// deadline holds even should the rule that computed it change.
func (p *Purger) isDue(terminatedOn, deadline, today string) (bool, error) {
	if terminatedOn >= today {
		return false, nil
	}
	due, err := p.dueOn(terminatedOn)
	if err != nil {
		return false, err
	}
	return today >= due || (deadline != "" && today >= deadline), nil
}

// Due lists, in order, the customers whose erasure is due today: an
// erasure started and not finished (resumed whatever the setting), then
// every terminated customer not yet erased whose day p.after — or at the
// latest day 90, should the setting have been later when it was
// terminated — has come. "Terminated" is status 'terminated' with its last
// termination date before today (JST): the day after it is day 1.
func (p *Purger) Due(ctx context.Context) ([]catalog.CustomerID, error) { return p.due(ctx, p.Now()) }

// due is Due at now.
func (p *Purger) due(ctx context.Context, now time.Time) ([]catalog.CustomerID, error) {
	today := clock.Date(now)
	var out []catalog.CustomerID
	seen := map[string]bool{}
	rows, err := p.db.Query(ctx, `SELECT customer_id FROM erasures WHERE finished_at IS NULL ORDER BY started_at, customer_id`)
	if err != nil {
		return nil, fmt.Errorf("erasures: %w", err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		seen[id] = true
		out = append(out, catalog.CustomerID(id))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = p.db.Query(ctx, `SELECT c.id, c.terminated_on, COALESCE(c.purge_due_on, '') FROM customers c
		WHERE c.status = 'terminated' AND c.terminated_on IS NOT NULL AND c.terminated_on < ? AND c.purged_at IS NULL
		ORDER BY c.terminated_on, c.id`, today)
	if err != nil {
		return nil, fmt.Errorf("terminated customers: %w", err)
	}
	// One customer's unreadable date fails that customer, not the others'
	// erasures: the errors are returned with the list.
	var bad []error
	for rows.Next() {
		var id, term, deadline string
		if err := rows.Scan(&id, &term, &deadline); err != nil {
			rows.Close()
			return nil, err
		}
		due, err := p.isDue(term, deadline, today)
		if err != nil {
			bad = append(bad, fmt.Errorf("customer %s: %w", id, err))
			continue
		}
		if due && !seen[id] {
			seen[id] = true
			out = append(out, catalog.CustomerID(id))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// An erased customer with an audit key again: an event recorded after
	// its erasure sealed personal fields under a new key, which the sweep
	// destroys in turn.
	again, err := store.Strings(ctx, p.db, `SELECT e.customer_id FROM erasures e JOIN audit_keys k ON k.customer_id = e.customer_id
		WHERE e.finished_at IS NOT NULL ORDER BY e.customer_id`)
	if err != nil {
		return nil, fmt.Errorf("erased customers' audit keys: %w", err)
	}
	for _, id := range again {
		if !seen[id] {
			seen[id] = true
			out = append(out, catalog.CustomerID(id))
		}
	}
	return out, errors.Join(bad...)
}

// ErrNotDue is Purge's refusal of a customer whose erasure has not started
// and is not due: active, or terminated less than the configured days ago.
var ErrNotDue = errors.New("the customer's erasure is not due")

// Purge erases whatever is left of cust: it starts the erasure when it is
// due, resumes one that was interrupted, and on a finished erasure erases
// rows that came back (a restore from a backup taken before it) without
// changing its certificate. It is idempotent.
func (p *Purger) Purge(ctx context.Context, cust catalog.CustomerID) error {
	_, err := p.purge(audit.WithActor(ctx, audit.System), cust, p.Now())
	return err
}

// purge is Purge on the day of now, reporting whether this call finished
// the erasure (false: an earlier run or another controller had).
func (p *Purger) purge(ctx context.Context, cust catalog.CustomerID, now time.Time) (bool, error) {
	if cust == "" {
		return false, errors.New("purge: no customer")
	}
	e, err := p.start(ctx, cust, clock.Date(now))
	if err != nil {
		return false, err
	}
	if e.finished {
		return false, p.sweep(ctx, cust)
	}
	for _, s := range steps {
		done, err := p.runStep(ctx, cust, s)
		if err != nil {
			return false, fmt.Errorf("purge %s: %s: %w", cust, s.class, err)
		}
		if done && p.afterStep != nil {
			p.afterStep(s.class)
		}
	}
	finished, err := p.finish(ctx, cust)
	if err != nil {
		return false, fmt.Errorf("purge %s: certificate: %w", cust, err)
	}
	if finished && p.afterStep != nil {
		p.afterStep(ClassCertificate)
	}
	return finished, nil
}

type erasureState struct {
	terminatedOn string
	finished     bool
}

// start makes sure the erasures row exists, inserting it (audited) when the
// erasure is due and has not started.
func (p *Purger) start(ctx context.Context, cust catalog.CustomerID, today string) (erasureState, error) {
	var e erasureState
	err := p.db.InTx(ctx, func(tx *store.Tx) error {
		var finished *string
		err := store.Scan(tx.QueryRow(ctx, `SELECT terminated_on, finished_at FROM erasures WHERE customer_id = ?`, cust),
			&e.terminatedOn, &finished)
		if err == nil {
			e.finished = finished != nil
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		var status, deadline string
		var term *string
		if err := store.Scan(tx.QueryRow(ctx, `SELECT status, terminated_on, COALESCE(purge_due_on, '') FROM customers WHERE id = ?`, cust),
			&status, &term, &deadline); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fault.New(fault.NotFound, "customer not found")
			}
			return err
		}
		if status != "terminated" || term == nil {
			return fault.Wrap(fault.Conflict, ErrNotDue, "the customer is not terminated: its data is erased only after its last termination date")
		}
		due, err := p.isDue(*term, deadline, today)
		if err != nil {
			return err
		}
		if !due {
			return fault.Wrap(fault.Conflict, ErrNotDue, "the customer's erasure is not due yet")
		}
		e.terminatedOn = *term
		res, err := tx.Exec(ctx, `INSERT INTO erasures (customer_id, terminated_on, started_at) VALUES (?, ?, ?)
			ON CONFLICT (customer_id) DO NOTHING`, cust, *term, clock.Store(clock.Now()))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // Another controller started it a moment ago.
		}
		return p.audit.RecordTx(ctx, tx, audit.Event{Action: "customer.purge.start", Target: "customer:" + string(cust),
			CustomerID: string(cust), Detail: map[string]any{"terminated_on": *term, "purge_after_days": p.after}})
	})
	if err != nil {
		return erasureState{}, fmt.Errorf("purge %s: start: %w", cust, err)
	}
	return e, nil
}

// runStep runs step s of cust's erasure unless it is done: its marker row
// is inserted first, so that a second controller on the same step waits
// for the first and then rolls back on the conflict instead of erasing (or
// mailing) twice. It reports whether this call did the step.
func (p *Purger) runStep(ctx context.Context, cust catalog.CustomerID, s step) (bool, error) {
	var done bool
	err := p.db.InTx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM erasure_steps WHERE customer_id = ? AND class = ?`, cust, s.class).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		// The marker row first: a second controller on the same step waits
		// on it, then inserts nothing and leaves the step alone. Only this
		// conflict means "done by another"; any other refusal (a foreign
		// key, say) is the step's error and fails it.
		res, err := tx.Exec(ctx, `INSERT INTO erasure_steps (customer_id, class, count, done_at) VALUES (?, ?, 0, ?)
			ON CONFLICT (customer_id, class) DO NOTHING`, cust, s.class, clock.Store(clock.Now()))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		count, err := s.run(ctx, p, tx, cust)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE erasure_steps SET count = ? WHERE customer_id = ? AND class = ?`, count, cust, s.class); err != nil {
			return err
		}
		done = true
		return p.audit.RecordTx(ctx, tx, audit.Event{Action: "customer.purge.step", Target: "customer:" + string(cust),
			CustomerID: string(cust), Detail: map[string]any{"class": s.class, "count": count}})
	})
	return done, err
}

// sweep erases, in one transaction, rows of an erased customer that came
// back (a restore re-applying the erasure list); the certificate stays as
// it was, and the sweep is audited only when it found something.
func (p *Purger) sweep(ctx context.Context, cust catalog.CustomerID) error {
	return p.db.InTx(ctx, func(tx *store.Tx) error {
		counts := map[string]any{}
		var total int64
		for _, s := range steps {
			if !s.erases {
				continue
			}
			n, err := s.run(ctx, p, tx, cust)
			if err != nil {
				return fmt.Errorf("purge %s again: %s: %w", cust, s.class, err)
			}
			if n > 0 {
				counts[s.class] = n
				total += n
			}
		}
		// A restore brings back the customer's audit key with the rows that
		// held it: destroyed again, the personal fields its entries seal are
		// erased again.
		var keys int64
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM audit_keys WHERE customer_id = ?`, cust).Scan(&keys); err != nil {
			return fmt.Errorf("purge %s again: audit key: %w", cust, err)
		}
		if keys > 0 {
			if err := p.audit.ForgetCustomerTx(ctx, tx, string(cust)); err != nil {
				return fmt.Errorf("purge %s again: audit key: %w", cust, err)
			}
			counts["audit_key"] = keys
			total += keys
		}
		if total == 0 {
			return nil
		}
		return p.audit.RecordTx(ctx, tx, audit.Event{Action: "customer.purge.again", Target: "customer:" + string(cust),
			CustomerID: string(cust), Detail: map[string]any{"classes": counts}})
	})
}
