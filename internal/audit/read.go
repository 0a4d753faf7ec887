package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Query selects entries: either one customer's own log (Own, from the
// customer's scope) or the cross-customer read of the whole log
// (AllCustomers: the security officer's, and the chain check), optionally
// narrowed to one customer. The zero Query selects nothing: List refuses it,
// so that a forgotten scope is a bug that shows, never "every customer".
type Query struct {
	AfterSeq int64
	Limit    int

	customer string // the one customer whose entries are selected
	all      bool   // every customer's and the platform's entries
	bad      string // why the query is refused
}

// Own is the customer's own audit log: its accounts' actions and every staff
// access to its data. The scope must hold audit.own.
func Own(sc tenant.Scope) (Query, error) {
	cust, err := sc.Authorize(tenant.ActAuditOwn)
	if err != nil {
		return Query{}, err
	}
	return Query{customer: string(cust)}, nil
}

// AllCustomers is the cross-customer read of the whole log: every customer's
// and the platform's entries. Only the security officer's audit read and the
// chain verification use it; the caller has checked the permission.
func AllCustomers() Query { return Query{all: true} }

// Only narrows a cross-customer read to one customer's entries. An empty ID
// is refused by List, not read as "every customer".
func (q Query) Only(cust string) Query {
	if cust == "" {
		q.bad = "empty customer filter"
	}
	q.all, q.customer = false, cust
	return q
}

// Page sets the window: entries after sequence number after, at most limit.
func (q Query) Page(after int64, limit int) Query {
	q.AfterSeq, q.Limit = after, limit
	return q
}

// List returns entries in chain order, the personal fields of customers'
// events opened with their customers' keys, or shown as ErasedMark where a
// key was destroyed (seal.go).
func (l *Log) List(ctx context.Context, q Query) ([]Entry, error) {
	out, err := l.list(ctx, q)
	if err != nil {
		return nil, err
	}
	keys := map[string]*customerKey{} // per customer, for this page only
	for i := range out {
		e := &out[i]
		if e.Sealed == "" {
			continue
		}
		k, ok := keys[e.CustomerID]
		if !ok {
			if k, err = loadKey(ctx, l.db, e.CustomerID); err != nil {
				return nil, err
			}
			keys[e.CustomerID] = k
		}
		open(e, k)
	}
	return out, nil
}

// list returns entries in their stored form.
func (l *Log) list(ctx context.Context, q Query) ([]Entry, error) {
	switch {
	case q.bad != "":
		return nil, fault.Wrap(fault.Internal, errors.New("audit: "+q.bad), "internal error")
	case !q.all && q.customer == "":
		return nil, fault.Wrap(fault.Internal, errors.New("audit: query without a customer scope or AllCustomers"), "internal error")
	}
	if q.Limit <= 0 || q.Limit > 1000 {
		q.Limit = 100
	}
	sqlq := `SELECT seq, at, actor_id, actor_kind, actor_name, customer_id, on_behalf_of, action, target,
		source_ip, request_id, result, reason, detail, sealed, prev_hash, hash FROM audit_events WHERE seq > ?`
	args := []any{q.AfterSeq}
	if !q.all {
		sqlq += ` AND customer_id = ?`
		args = append(args, q.customer)
	}
	sqlq += ` ORDER BY seq LIMIT ?`
	args = append(args, q.Limit)
	rows, err := l.db.Query(ctx, sqlq, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var at, detail string
		var customer *string
		if err := rows.Scan(&e.Seq, &at, &e.ActorID, &e.ActorKind, &e.ActorName, &customer, &e.OnBehalfOf,
			&e.Action, &e.Target, &e.SourceIP, &e.RequestID, &e.Result, &e.Reason, &detail, &e.Sealed, &e.PrevHash, &e.Hash); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		if customer != nil {
			e.CustomerID = *customer
		}
		if e.At, err = clock.Parse(at); err != nil {
			return nil, fmt.Errorf("audit: entry %d: %w", e.Seq, err)
		}
		if err := json.Unmarshal([]byte(detail), &e.Detail); err != nil {
			return nil, fmt.Errorf("audit: entry %d: %w", e.Seq, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ChainError says where the chain does not hold.
type ChainError struct {
	Seq     int64
	Problem string
}

func (e *ChainError) Error() string { return fmt.Sprintf("audit: entry %d %s", e.Seq, e.Problem) }

// Verify walks the chain up to the head row, which every append updates in
// the same transaction, and reports the first entry whose hash or link does
// not hold, or entries missing at the end. Appends made while it runs are
// beyond the head it read and are left for the next run. It returns the
// number of entries checked.
func (l *Log) Verify(ctx context.Context) (int64, error) {
	var headSeq int64
	var headHash string
	if err := l.db.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&headSeq, &headHash); err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	prev := ""
	var after, n int64
	for after < headSeq {
		// The stored form is what the hashes cover: nothing is opened.
		page, err := l.list(ctx, AllCustomers().Page(after, 1000))
		if err != nil {
			return n, err
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			if e.Seq > headSeq {
				break
			}
			if e.Seq != after+1 {
				return n, &ChainError{after + 1, "is missing"}
			}
			if e.PrevHash != prev {
				return n, &ChainError{e.Seq, fmt.Sprintf("does not link to entry %d", after)}
			}
			if Hash(e) != e.Hash {
				return n, &ChainError{e.Seq, "was altered"}
			}
			prev, after = e.Hash, e.Seq
			n++
		}
	}
	if after != headSeq || prev != headHash {
		return n, &ChainError{after + 1, fmt.Sprintf("is missing: the head records %d entries", headSeq)}
	}
	return n, nil
}
