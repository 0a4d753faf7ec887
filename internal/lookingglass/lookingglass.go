package lookingglass

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	lgc "github.com/tsunagi-net/tsunagi/internal/network/lookingglass"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Limits.
const (
	// AnswerWait is how long a customer's request waits for the node.
	AnswerWait = 10 * time.Second
	// MaxInFlight queries of one customer may wait at once, and
	// MaxPerMinute may be asked in a minute.
	MaxInFlight  = 3
	MaxPerMinute = 20
	// Keep is how long a query is kept after it was asked.
	Keep = 5 * time.Minute
	// MaxTakeWait bounds an agent's long poll.
	MaxTakeWait = 30 * time.Second
	// recheck re-reads a waited-for row without a wake.
	recheck = time.Second
)

// CodeNodeTimeout is the error code of a query its node did not answer
// within AnswerWait (an Unavailable fault: HTTP 503).
const CodeNodeTimeout = "node_timeout"

// CodeNoAgent is the error code of a read of a port whose hub node has no
// enrolled agent (no valid node certificate): nothing could answer it.
const CodeNoAgent = "no_agent"

// View is a session's looking glass as the customer sees it.
type View struct {
	PortCode string     `json:"port_code"`
	Session  string     `json:"session"`
	Answer   lgc.Answer `json:"answer"`
}

// Service keeps the queries.
type Service struct {
	db   *store.DB
	now  func() time.Time
	wait time.Duration // Options.AnswerWait
}

// Options adjust the service; the zero value is the service as documented.
type Options struct {
	// AnswerWait is how long a read waits for its node; AnswerWait if 0.
	// Tests of routes that never have a node answering shorten it.
	AnswerWait time.Duration
}

// New returns the service over db.
func New(db *store.DB, o Options) *Service {
	if o.AnswerWait <= 0 {
		o.AnswerWait = AnswerWait
	}
	return &Service{db: db, now: clock.Now, wait: o.AnswerWait}
}

// Ask reads session of the caller's port code from the hub's BIRD: it
// queues a query for the node that runs the hub and waits for the
// answer. Another customer's port, or a port placed on no node, is
// NotFound; a session the port does not have is Invalid.
func (s *Service) Ask(ctx context.Context, sc tenant.Scope, code, session string) (View, error) {
	cust, err := sc.Authorize(identity.ActNetworkRead)
	if err != nil {
		return View{}, err
	}
	id, err := s.queue(ctx, cust, code, session)
	if err != nil {
		return View{}, err
	}
	a, err := s.await(ctx, id)
	if err != nil {
		return View{}, err
	}
	return View{PortCode: code, Session: session, Answer: a}, nil
}

// SessionsOf lists the sessions a port of the caller has, in order: an
// on-premises port's single session, a cloud port's primary and secondary.
func (s *Service) SessionsOf(ctx context.Context, sc tenant.Scope, code string) ([]string, error) {
	cust, err := sc.Authorize(identity.ActNetworkRead)
	if err != nil {
		return nil, err
	}
	p, err := s.port(ctx, s.db, cust, code)
	if err != nil {
		return nil, err
	}
	return p.sessions(), nil
}

type port struct {
	hubID, kind, node string
}

func (p port) sessions() []string {
	if p.kind == "onprem" {
		return []string{"single"}
	}
	return []string{"primary", "secondary"}
}

// port reads the customer's active port and the node its hub runs on
// ("" when the hub is placed on none).
func (s *Service) port(ctx context.Context, q store.Querier, cust catalog.CustomerID, code string) (port, error) {
	var p port
	var node sql.NullString
	err := store.Scan(q.QueryRow(ctx, `SELECT p.hub_id, p.kind, n.name FROM ports p
		LEFT JOIN hub_placements hp ON hp.hub_id = p.hub_id LEFT JOIN hub_nodes n ON n.id = hp.node_id
		WHERE p.customer_id = ? AND p.port_code = ? AND p.status = 'active'`, cust, code), &p.hubID, &p.kind, &node)
	if errors.Is(err, store.ErrNotFound) {
		return p, fault.New(fault.NotFound, "port not found")
	}
	p.node = node.String
	return p, err
}

func (s *Service) queue(ctx context.Context, cust catalog.CustomerID, code, session string) (string, error) {
	id := ids.New("lgq")
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		p, err := s.port(ctx, tx, cust, code)
		if err != nil {
			return err
		}
		if !slices.Contains(p.sessions(), session) {
			return fault.Field("session", "port %s has the sessions %v", code, p.sessions())
		}
		if p.node == "" {
			return fault.New(fault.Conflict, "port %s runs on no hub node yet", code)
		}
		now := s.now()
		// A node without a valid certificate has no agent that could
		// take the query: say so at once instead of holding the read
		// for the whole wait.
		var agents int
		if err := store.Scan(tx.QueryRow(ctx, `SELECT COUNT(*) FROM node_certs c JOIN hub_nodes n ON n.id = c.node_id
			WHERE n.name = ? AND c.revoked_at IS NULL AND c.not_after > ?`, p.node, clock.Store(now)), &agents); err != nil {
			return err
		}
		if agents == 0 {
			return fault.Coded(fault.Unavailable, CodeNoAgent, "the hub node of port %s has no enrolled agent to read it", code)
		}
		// Removed on write: queries nobody can wait for any more.
		if _, err := tx.Exec(ctx, `DELETE FROM lg_queries WHERE created_at < ?`, clock.Store(now.Add(-Keep))); err != nil {
			return err
		}
		var waiting, lastMinute int
		if err := store.Scan(tx.QueryRow(ctx, `SELECT
			COALESCE(SUM(CASE WHEN answered_at IS NULL AND created_at >= ? THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN created_at >= ? THEN 1 ELSE 0 END), 0)
			FROM lg_queries WHERE customer_id = ?`, clock.Store(now.Add(-s.wait)), clock.Store(now.Add(-time.Minute)), cust), &waiting, &lastMinute); err != nil {
			return err
		}
		if waiting >= MaxInFlight || lastMinute >= MaxPerMinute {
			return fault.New(fault.RateLimited, "at most %d looking-glass reads at a time and %d a minute; try again shortly", MaxInFlight, MaxPerMinute)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO lg_queries (id, customer_id, hub_id, node, port_code, session, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, id, cust, p.hubID, p.node, code, session, clock.Store(now)); err != nil {
			return err
		}
		tx.Changed() // wakes the node's held poll, on whichever controller holds it
		return nil
	})
	return id, err
}

// await waits for query id's answer.
func (s *Service) await(ctx context.Context, id string) (lgc.Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, s.wait)
	defer cancel()
	timer := time.NewTimer(recheck)
	defer timer.Stop()
	for {
		woken := s.db.Changes().Next() // before the read: no wake falls between
		var answer sql.NullString
		if err := store.Scan(s.db.QueryRow(ctx, `SELECT answer FROM lg_queries WHERE id = ?`, id), &answer); err != nil {
			if ctx.Err() != nil {
				break
			}
			return lgc.Answer{}, err
		}
		if answer.Valid {
			a, err := lgc.DecodeAnswer([]byte(answer.String))
			if err != nil {
				return lgc.Answer{}, fmt.Errorf("stored looking-glass answer %s: %w", id, err)
			}
			return a, nil
		}
		timer.Reset(recheck)
		select {
		case <-ctx.Done():
		case <-woken:
			continue
		case <-timer.C:
			continue
		}
		break
	}
	return lgc.Answer{}, fault.Coded(fault.Unavailable, CodeNodeTimeout, "the node did not answer in time; try again")
}

// Take hands node's agent the queries waiting for it, waiting up to wait
// for one. A query is handed out once; one older than AnswerWait is not
// handed out at all (nobody waits for it any more). Only queries for hubs
// the controller placed on node are ever queued for it.
func (s *Service) Take(ctx context.Context, node string, wait time.Duration) ([]lgc.Query, error) {
	if wait < 0 || wait > MaxTakeWait {
		return nil, fault.Field("wait", "wait must be 0 to %d seconds", int(MaxTakeWait/time.Second))
	}
	deadline := time.Now().Add(wait)
	timer := time.NewTimer(recheck)
	defer timer.Stop()
	for {
		woken := s.db.Changes().Next()
		qs, err := s.take(ctx, node)
		if err != nil || len(qs) > 0 {
			return qs, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return []lgc.Query{}, nil
		}
		timer.Reset(min(left, recheck))
		select {
		case <-ctx.Done():
			return nil, fault.New(fault.Unavailable, "the request ended before a query came; retry")
		case <-woken:
		case <-timer.C:
		}
	}
}

func (s *Service) take(ctx context.Context, node string) ([]lgc.Query, error) {
	qs := []lgc.Query{}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		now := s.now()
		// The nodes' polls remove what nobody reads any more, so that
		// answers are kept minutes even when no customer asks again.
		if _, err := tx.Exec(ctx, `DELETE FROM lg_queries WHERE created_at < ?`, clock.Store(now.Add(-Keep))); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id, hub_id, customer_id, port_code, session FROM lg_queries
			WHERE node = ? AND taken_at IS NULL AND answered_at IS NULL AND created_at >= ? ORDER BY created_at, id`,
			node, clock.Store(now.Add(-s.wait)))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			q := lgc.Query{Schema: lgc.Schema}
			if err := rows.Scan(&q.ID, &q.HubID, &q.CustomerID, &q.PortCode, &q.Session); err != nil {
				return err
			}
			qs = append(qs, q)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		for _, q := range qs {
			// taken_at IS NULL again: another controller serving the same
			// node's poll at the same moment hands it out only once.
			res, err := tx.Exec(ctx, `UPDATE lg_queries SET taken_at = ? WHERE id = ? AND taken_at IS NULL`, clock.Store(now), q.ID)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return store.ErrConflict
			}
		}
		return nil
	})
	if errors.Is(err, store.ErrConflict) {
		return []lgc.Query{}, nil // taken by another controller's poll
	}
	return qs, err
}

// Answer stores node's answer to query id. A query of another node, one
// already answered, or one no longer kept is NotFound.
func (s *Service) Answer(ctx context.Context, node, id string, a lgc.Answer) error {
	if a.ID != id {
		return fault.Field("id", "the answer names query %q, not %q", a.ID, id)
	}
	body, err := lgc.EncodeAnswer(a)
	if err != nil {
		return fault.Field("answer", "%s", err.Error())
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE lg_queries SET answer = ?, answered_at = ? WHERE id = ? AND node = ? AND answered_at IS NULL`,
			string(body), clock.Store(s.now()), id, node)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fault.New(fault.NotFound, "looking-glass query %s not found", id)
		}
		tx.Changed() // wakes the customer's request, on whichever controller holds it
		return nil
	})
}
