package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// PurgeListed erases cust again because the erasure list kept beside the
// backups names it: a restore from a backup taken before the erasure
// brings the customer back, possibly from before it was even terminated.
//
// The list is a plain file, so it is believed only where it is signed: an
// entry of a finished erasure carries its deletion certificate, which must
// verify with this database's signing keys and name cust. Then the
// erasure is recorded here as it was (its certificate unchanged, no second
// notice), the customer marked terminated, ended and purged as the
// certificate says, its contracts ended, and every class of its rows
// erased again. An entry without a certificate (an erasure that had
// started, not finished, when the list was written) is purged by the usual
// rules only (Purge: the restored customer must be terminated and due).
// The certificate verifies with this database's keys or p.TrustedKeys. A
// customer this database already knows as erased is purged as Purge does;
// one absent from it (a backup older than the customer) has nothing to
// erase, and found reports false.
func (p *Purger) PurgeListed(ctx context.Context, cust catalog.CustomerID, certificate []byte) (found bool, err error) {
	if cust == "" {
		return false, errors.New("purge: no customer")
	}
	ctx = audit.WithActor(ctx, audit.System)
	var known, exists int
	if err := p.db.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM erasures WHERE customer_id = ?), (SELECT COUNT(*) FROM customers WHERE id = ?)`,
		cust, cust).Scan(&known, &exists); err != nil {
		return false, fmt.Errorf("purge %s: %w", cust, err)
	}
	if exists == 0 {
		return false, nil
	}
	if known > 0 || len(certificate) == 0 {
		return true, p.Purge(ctx, cust)
	}
	keys, err := p.keys.PublicKeys(ctx)
	if err != nil {
		return true, err
	}
	held := map[string]bool{}
	for _, k := range keys {
		held[k.ID] = true
	}
	for _, k := range p.TrustedKeys {
		if !held[k.ID] {
			keys = append(keys, k)
		}
	}
	if err := VerifyCertificate(keys, certificate); err != nil {
		return true, fmt.Errorf("purge %s: the erasure list's certificate is not one this controller signed: %w", cust, err)
	}
	var c Certificate
	if err := json.Unmarshal(certificate, &c); err != nil {
		return true, fmt.Errorf("purge %s: certificate: %w", cust, err)
	}
	if c.Customer.ID != string(cust) {
		return true, fmt.Errorf("purge %s: the erasure list's certificate is for customer %s", cust, c.Customer.ID)
	}
	started, err1 := time.Parse(time.RFC3339, c.StartedAt)
	finished, err2 := time.Parse(time.RFC3339, c.FinishedAt)
	if err := errors.Join(err1, err2); err != nil {
		return true, fmt.Errorf("purge %s: certificate: %w", cust, err)
	}
	err = p.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `INSERT INTO erasures (customer_id, terminated_on, started_at, finished_at, certificate)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (customer_id) DO NOTHING`,
			cust, c.TerminatedOn, clock.Store(started), clock.Store(finished), string(certificate))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // another controller recorded it a moment ago
		}
		cancelled, err := store.Strings(ctx, tx, `SELECT service_code FROM contracts WHERE customer_id = ? AND status = 'active' ORDER BY service_code`, cust)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE contracts SET status = 'cancelled', termination_date = ?, cancelled_at = ?, cancel_reason = ''
			WHERE customer_id = ? AND status = 'active'`, c.TerminatedOn, clock.Store(finished), cust); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE customers SET status = 'terminated', terminated_on = ?, purge_due_on = ?,
			ended_at = COALESCE(ended_at, ?), purged_at = ? WHERE id = ?`,
			c.TerminatedOn, catalog.PurgeDueOn(c.TerminatedOn), clock.Store(finished), clock.Store(finished), cust); err != nil {
			return err
		}
		return p.audit.RecordTx(ctx, tx, audit.Event{Action: "customer.purge.restored", Target: "customer:" + string(cust),
			CustomerID: string(cust), Detail: map[string]any{"terminated_on": c.TerminatedOn, "finished_at": c.FinishedAt,
				"contracts_cancelled": cancelled, "via": "erasure list"}})
	})
	if err != nil {
		return true, fmt.Errorf("purge %s: record the listed erasure: %w", cust, err)
	}
	return true, p.Purge(ctx, cust)
}
