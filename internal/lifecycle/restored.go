package lifecycle

import (
	"context"
	"errors"
	"fmt"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// PurgeListed erases cust because an erasure list kept outside this
// database names it: a restore from a backup taken before the erasure
// brings the customer back, possibly from before it was even terminated.
// The list outranks what the restored rows say: with no erasure of its own
// here, the customer is marked terminated on terminatedOn (the list's date;
// "" uses the restored one, else today) with its contracts ended, the
// erasure is recorded as started, and every step runs as on the day it
// was due — a new certificate, a new notice. A customer whose erasure this
// database already holds is purged as Purge does; one absent from it (a
// backup older than the customer) leaves nothing to erase.
func (p *Purger) PurgeListed(ctx context.Context, cust catalog.CustomerID, terminatedOn string) error {
	if cust == "" {
		return errors.New("purge: no customer")
	}
	ctx = audit.WithActor(ctx, audit.System)
	today := jstDate(p.Now())
	var present bool
	err := p.db.InTx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM erasures WHERE customer_id = ?`, cust).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			present = true
			return nil
		}
		var restored *string
		err := store.Scan(tx.QueryRow(ctx, `SELECT terminated_on FROM customers WHERE id = ?`, cust), &restored)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		present = true
		on := terminatedOn
		if on == "" && restored != nil {
			on = *restored
		}
		if _, err := clock.ParseDate(on); err != nil {
			on = today
		}
		if _, err := tx.Exec(ctx, `UPDATE contracts SET status = 'cancelled', termination_date = ?, cancelled_at = ?,
			cancel_reason = 'erased before this restore' WHERE customer_id = ? AND status = 'active'`, on, clock.Store(clock.Now()), cust); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE customers SET status = 'terminated', terminated_on = ? WHERE id = ?`, on, cust); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO erasures (customer_id, terminated_on, started_at) VALUES (?, ?, ?)`,
			cust, on, clock.Store(clock.Now())); err != nil {
			return err
		}
		return p.audit.RecordTx(ctx, tx, audit.Event{Action: "customer.purge.start", Target: "customer:" + string(cust),
			CustomerID: string(cust), Detail: map[string]any{"terminated_on": on, "via": "erasure list"}})
	})
	if err != nil {
		return fmt.Errorf("purge %s: start from the erasure list: %w", cust, err)
	}
	if !present {
		return nil
	}
	_, err = p.purge(ctx, cust, p.Now())
	return err
}
