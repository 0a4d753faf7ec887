package identity

import (
	"context"
	"fmt"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	tmail "github.com/tsunagi-net/tsunagi/internal/mail"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// A terminated customer keeps its whole service through its termination
// date D (JST): it has paid for it. On day 1, D+1, the "customer.end" job
// ends it: its sessions, API tokens and pending links (setup and invitation
// links, recovery requests, WebAuthn challenges) are deleted, and
// customers.ended_at — the job's done marker — is set in the same
// transaction (DeleteCredentialsTx). From day 1 no account of the customer
// authenticates, whatever survived and whether or not the job has run yet
// (customerEnded; checkEnded, called from checkSource, which every
// authentication path — password login, session, API token — passes
// through), and no surviving link sets a password (CompleteSetup). Its data
// stays until the purge erases it by day 90.

// EndJobName names the job that ends terminated customers on day 1.
const EndJobName = "customer.end"

// EndJob is the scheduler's job that ends terminated customers on day 1
// (the day after the termination date, JST), daily at midnight JST.
func (s *Service) EndJob() schedule.Job {
	return schedule.Job{Name: EndJobName, Due: s.dueEnds, Do: s.endCustomer, Next: schedule.Daily}
}

// endsBy is the condition of a customer that is to be ended at a JST date
// (argument: that date): terminated, its last termination date before it,
// not ended yet.
const endsBy = `status = 'terminated' AND terminated_on < ? AND ended_at IS NULL`

// dueEnds lists the customers to end at now, by termination date.
func (s *Service) dueEnds(ctx context.Context, now time.Time) ([]string, error) {
	rows, err := s.db.Query(ctx, `SELECT id FROM customers WHERE `+endsBy+` ORDER BY terminated_on, id`, clock.Date(now))
	if err != nil {
		return nil, fmt.Errorf("customers to end: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("customers to end: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// customerAccounts selects the IDs of one customer's accounts (argument:
// the customer).
const customerAccounts = `SELECT id FROM accounts WHERE customer_id = ?`

// DeleteCredentialsTx deletes, inside tx, what lets customer cust's accounts
// in or back in: WebAuthn challenges, sessions, API tokens and pending setup,
// invitation and reset links. It reports how many rows went, by table. The
// end of a customer (day 1) and the purge (lifecycle) both call it, so that
// a credential table added later is deleted by both.
func DeleteCredentialsTx(ctx context.Context, tx *store.Tx, cust catalog.CustomerID) (map[string]int64, error) {
	// Challenges hang off sessions (by public ID): they go first.
	deletes := []struct{ what, q string }{
		{"webauthn_challenges", `DELETE FROM webauthn_challenges WHERE session_id IN (
			SELECT id FROM sessions WHERE id IS NOT NULL AND account_id IN (` + customerAccounts + `))`},
		{"sessions", `DELETE FROM sessions WHERE account_id IN (` + customerAccounts + `)`},
		{"api_tokens", `DELETE FROM api_tokens WHERE account_id IN (` + customerAccounts + `)`},
		{"setup_tokens", `DELETE FROM setup_tokens WHERE used_at IS NULL AND account_id IN (` + customerAccounts + `)`},
	}
	counts := make(map[string]int64, len(deletes))
	for _, d := range deletes {
		res, err := tx.Exec(ctx, d.q, cust)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.what, err)
		}
		counts[d.what], _ = res.RowsAffected()
	}
	return counts, nil
}

// endCustomer ends customer id once: the conditional UPDATE of ended_at
// claims it (a concurrent claim on PostgreSQL waits for this transaction and
// then finds it set), and every credential of its accounts goes in the same
// transaction, with the audit entry. It reports false when the customer is
// already ended or not due (its termination date is not past at now).
func (s *Service) endCustomer(ctx context.Context, now time.Time, id string) (bool, error) {
	ended := false
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE customers SET ended_at = ? WHERE id = ? AND `+endsBy, clock.Store(now), id, clock.Date(now))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		var terminatedOn string
		if err := store.Scan(tx.QueryRow(ctx, `SELECT terminated_on FROM customers WHERE id = ?`, id), &terminatedOn); err != nil {
			return err
		}
		counts, err := DeleteCredentialsTx(ctx, tx, catalog.CustomerID(id))
		if err != nil {
			return err
		}
		detail := map[string]any{"terminated_on": terminatedOn}
		for what, n := range counts {
			detail[what] = n
		}
		if res, err = tx.Exec(ctx, `DELETE FROM account_recoveries WHERE status = 'requested' AND customer_id = ?`, id); err != nil {
			return fmt.Errorf("account_recoveries: %w", err)
		}
		detail["account_recoveries"], _ = res.RowsAffected()
		ended = true
		return s.audit.RecordTx(audit.WithActor(ctx, audit.System), tx, audit.Event{Action: "customer.end",
			Target: "customer:" + id, CustomerID: id, Detail: detail})
	})
	if err != nil {
		return false, fmt.Errorf("end customer %s: %w", id, err)
	}
	return ended, nil
}

// checkEnded refuses, and audits, a principal of an ended customer: with
// errLogin at a login (the answer to a bad password, so that an ended
// customer's accounts learn nothing more than a stranger would) and errAuth
// for a session or token (the answer to a revoked one).
func (s *Service) checkEnded(ctx context.Context, cust catalog.CustomerID, target, via string) error {
	ended, err := customerEnded(ctx, s.db, cust)
	if err != nil {
		return fmt.Errorf("authenticate: %w", err)
	}
	if !ended {
		return nil
	}
	if err := s.audit.Record(ctx, audit.Event{Action: "access.denied.ended", Target: target,
		CustomerID: string(cust), Result: audit.Denied, Detail: map[string]any{"via": via}}); err != nil {
		return err
	}
	if via == "login" {
		return errLogin
	}
	return errAuth
}

// customerEnded reports whether customer cust is ended: the job has ended
// it, or its termination date is past (JST) and the job has not yet — its
// item may have failed, and the customer's service ends on day 1 all the
// same.
func customerEnded(ctx context.Context, q store.Querier, cust catalog.CustomerID) (bool, error) {
	var n int
	if err := store.Scan(q.QueryRow(ctx, `SELECT COUNT(*) FROM customers WHERE id = ?
		AND (ended_at IS NOT NULL OR (status = 'terminated' AND terminated_on < ?))`, cust, clock.Today()), &n); err != nil {
		return false, err
	}
	return n > 0, nil
}

// terminationMail is the data of mailtext/customer-terminated.
type terminationMail struct {
	Name, Customer, TerminatedOn, EndsOn, PurgeDueOn, Export string
}

// MailTermination queues, inside tx, the notice of a customer's
// termination to each of its operations administrators in their language:
// the termination date, day 1, the erasure deadline and where to export.
// It is the catalog's termination hook (catalog.OnTerminated).
func (s *Service) MailTermination(ctx context.Context, tx *store.Tx, t catalog.Termination) error {
	f := terminationMail{TerminatedOn: t.TerminatedOn, EndsOn: t.EndsOn, PurgeDueOn: t.PurgeDueOn,
		Export: s.link(CustomerSide, "/export")}
	if err := store.Scan(tx.QueryRow(ctx, `SELECT name FROM customers WHERE id = ?`, t.Customer), &f.Customer); err != nil {
		return err
	}
	tos, err := OpsAdminRecipients(ctx, tx, t.Customer)
	if err != nil {
		return err
	}
	for _, x := range tos {
		f.Name = x.Name
		m, err := templateMail("customer-terminated", "contract.cancel", x.Language, x.Email, f)
		if err != nil {
			return err
		}
		m.CustomerID = string(t.Customer)
		if _, err := tmail.Enqueue(ctx, tx, m); err != nil {
			return err
		}
	}
	return nil
}
