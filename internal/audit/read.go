package audit

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tsunagi-net/tsunagi/internal/clock"
)

// Query selects entries. CustomerID "" selects every customer's and the
// platform's entries (security officers only; the caller checks).
type Query struct {
	CustomerID string
	AfterSeq   int64
	Limit      int
}

// List returns entries in chain order.
func (l *Log) List(ctx context.Context, q Query) ([]Entry, error) {
	if q.Limit <= 0 || q.Limit > 1000 {
		q.Limit = 100
	}
	sqlq := `SELECT seq, at, actor_id, actor_kind, actor_name, customer_id, on_behalf_of, action, target,
		source_ip, request_id, result, reason, detail, prev_hash, hash FROM audit_events WHERE seq > ?`
	args := []any{q.AfterSeq}
	if q.CustomerID != "" {
		sqlq += ` AND customer_id = ?`
		args = append(args, q.CustomerID)
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
			&e.Action, &e.Target, &e.SourceIP, &e.RequestID, &e.Result, &e.Reason, &detail, &e.PrevHash, &e.Hash); err != nil {
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
		page, err := l.List(ctx, Query{AfterSeq: after, Limit: 1000})
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
