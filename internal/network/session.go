package network

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/mail"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// The route limit. A BGP peer that sends more than Settings.RouteLimit
// prefixes has its session stopped by the hub (BIRD: import limit N action
// disable). The agent reports it (RecordRouteLimitExceeded); the session
// stays down, the customer is told (an event in the customer's audit log and
// a mail to its operations administrators), and only the customer re-enables it after fixing
// what the peer sends (Reenable), which the desired state carries to the
// agent as an incremented reenable_seq.

// BGPState is a port's session state as the controller knows it.
type BGPState struct {
	PortCode    string     `json:"port_code"`
	State       string     `json:"state"` // enabled | stopped-limit
	Received    int64      `json:"received_prefixes"`
	RouteLimit  int        `json:"route_limit"`
	TrippedAt   *time.Time `json:"tripped_at,omitempty"`
	ReenableSeq int64      `json:"reenable_seq"`
}

// GetBGPState returns the port's session state.
func (s *Workflow) GetBGPState(ctx context.Context, sc tenant.Scope, code string) (BGPState, error) {
	cust, err := sc.Authorize(identity.ActNetworkRead)
	if err != nil {
		return BGPState{}, err
	}
	p, err := s.portRow(ctx, s.db, cust, code)
	if err != nil {
		return BGPState{}, err
	}
	return s.bgpState(ctx, s.db, cust, p)
}

func (s *core) bgpState(ctx context.Context, q store.Querier, cust catalog.CustomerID, p portRow) (BGPState, error) {
	st := BGPState{PortCode: p.code, State: "enabled", RouteLimit: s.settings.RouteLimit}
	var tripped *string
	err := store.Scan(q.QueryRow(ctx, `SELECT state, received, tripped_at, reenable_seq FROM bgp_sessions WHERE customer_id = ? AND port_id = ?`,
		cust, p.id), &st.State, &st.Received, &tripped, &st.ReenableSeq)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return st, err
	}
	if tripped != nil {
		t, _ := clock.Parse(*tripped)
		st.TrippedAt = &t
	}
	return st, nil
}

// RecordRouteLimitExceeded records that a port's peer sent received
// prefixes, more than the limit, and that its session is stopped.
func (s *core) recordRouteLimitExceeded(ctx context.Context, cust catalog.CustomerID, code string, received int) (BGPState, error) {
	if received <= s.settings.RouteLimit {
		return BGPState{}, fault.Field("received", "%d prefixes do not exceed the limit of %d", received, s.settings.RouteLimit)
	}
	var st BGPState
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		p, err := s.portRow(ctx, tx, cust, code)
		if err != nil {
			return err
		}
		prev, err := s.bgpState(ctx, tx, cust, p)
		if err != nil {
			return err
		}
		now := clock.Store(s.now())
		if _, err := tx.Exec(ctx, `DELETE FROM bgp_sessions WHERE port_id = ?`, p.id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO bgp_sessions (port_id, customer_id, state, received, tripped_at, reenable_seq, updated_at)
			VALUES (?, ?, 'stopped-limit', ?, ?, ?, ?)`, p.id, cust, received, now, prev.ReenableSeq, now); err != nil {
			return err
		}
		if st, err = s.bgpState(ctx, tx, cust, p); err != nil {
			return err
		}
		if err := s.audit.RecordTx(ctx, tx, audit.Event{Action: "bgp.route_limit.exceeded", Target: "port:" + code, CustomerID: string(cust),
			Result: audit.Failed, Detail: map[string]any{"received": received, "limit": s.settings.RouteLimit, "session": "stopped"}}); err != nil {
			return err
		}
		if prev.State == "stopped-limit" {
			return nil // already told
		}
		return s.mailOpsAdmins(ctx, tx, cust, "bgp.route_limit.exceeded", func(lang string) (string, string) {
			if lang == "en" {
				return "[tsunagi] BGP session stopped on port " + code,
					fmt.Sprintf("The BGP peer of port %s sent %d prefixes, more than the limit of %d.\n"+
						"The session has been stopped and stays down.\n\n"+
						"Reduce the prefixes the peer advertises, then re-enable the session in the control panel\n"+
						"(port %s → BGP → Re-enable).\n", code, received, s.settings.RouteLimit, code)
			}
			return "[tsunagi] ポート " + code + " の BGP セッションを停止しました",
				fmt.Sprintf("ポート %s の BGP ピアから上限 %d を超える %d 経路を受信したため、セッションを停止しました。\n"+
					"セッションは自動では再開しません。\n\n"+
					"ピア側で広報する経路を減らしたうえで、コントロールパネルから再有効化してください\n"+
					"（ポート %s → BGP → 再有効化）。\n", code, s.settings.RouteLimit, received, code)
		})
	})
	if err != nil {
		return BGPState{}, fmt.Errorf("route limit: %w", err)
	}
	return st, nil
}

// Reenable restarts a session stopped by the route limit (the customer,
// after fixing what its peer advertises).
func (s *Workflow) Reenable(ctx context.Context, sc tenant.Scope, code string) (BGPState, error) {
	cust, err := sc.Authorize(identity.ActNetworkEdit)
	if err != nil {
		return BGPState{}, err
	}
	var st BGPState
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		p, err := s.portRow(ctx, tx, cust, code)
		if err != nil {
			return err
		}
		prev, err := s.bgpState(ctx, tx, cust, p)
		if err != nil {
			return err
		}
		if prev.State != "stopped-limit" {
			return fault.New(fault.Conflict, "the BGP session of port %s is not stopped", code)
		}
		if _, err := tx.Exec(ctx, `UPDATE bgp_sessions SET state = 'enabled', received = 0, reenable_seq = reenable_seq + 1, updated_at = ?
			WHERE port_id = ?`, clock.Store(s.now()), p.id); err != nil {
			return err
		}
		if st, err = s.bgpState(ctx, tx, cust, p); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "bgp.reenable", Target: "port:" + code, CustomerID: string(cust),
			Detail: map[string]any{"reenable_seq": st.ReenableSeq}})
	})
	if err != nil {
		return BGPState{}, fmt.Errorf("re-enable: %w", err)
	}
	return st, nil
}

// mailOpsAdmins queues a mail, in each recipient's language, to every active
// operations administrator of the customer, inside tx: the mail commits with
// the event that causes it.
func (s *core) mailOpsAdmins(ctx context.Context, tx *store.Tx, cust catalog.CustomerID, cause string, text func(lang string) (subject, body string)) error {
	rows, err := tx.Query(ctx, `SELECT email, language FROM accounts WHERE customer_id = ? AND role = 'ops-admin' AND disabled_at IS NULL
		ORDER BY id`, cust)
	if err != nil {
		return err
	}
	type rcpt struct{ to, lang string }
	var rs []rcpt
	for rows.Next() {
		var r rcpt
		if err := rows.Scan(&r.to, &r.lang); err != nil {
			rows.Close()
			return err
		}
		rs = append(rs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range rs {
		subject, body := text(r.lang)
		if _, err := mail.Enqueue(ctx, tx, mail.Message{CustomerID: string(cust), Cause: cause, To: r.to, Language: r.lang,
			Subject: subject, Body: body}); err != nil {
			return err
		}
	}
	return nil
}

// NodeReportsRouteLimit is RecordRouteLimitExceeded for an agent's report:
// a node may report only ports placed on it, and the customer is found
// from the port (port codes are unique). An unknown or foreign port is
// NotFound. Agents report a stopped session on every pass (level-triggered),
// together with the re-enable sequence they last acted on: a stop already
// recorded changes nothing, and a report older than the customer's latest
// re-enable is stale and ignored.
func (s *Compiler) NodeReportsRouteLimit(ctx context.Context, node, portCode string, received int, seq int64) (BGPState, error) {
	cust, err := s.nodePortCustomer(ctx, node, portCode, "")
	if err != nil {
		return BGPState{}, err
	}
	p, err := s.portRow(ctx, s.db, cust, portCode)
	if err != nil {
		return BGPState{}, err
	}
	st, err := s.bgpState(ctx, s.db, cust, p)
	if err != nil {
		return BGPState{}, err
	}
	if st.State == "stopped-limit" || seq < st.ReenableSeq {
		return st, nil
	}
	return s.recordRouteLimitExceeded(ctx, cust, portCode, received)
}

// nodePortCustomer finds the customer of a port a node reports on: a node
// may report only ports placed on it (and, with kind set, of that kind);
// anything else is NotFound. Port codes are unique, so the code names the
// customer.
func (s *core) nodePortCustomer(ctx context.Context, node, portCode, kind string) (catalog.CustomerID, error) {
	var cust catalog.CustomerID
	err := store.Scan(s.db.QueryRow(ctx, `SELECT p.customer_id FROM ports p JOIN port_placements pl ON pl.port_id = p.id
		JOIN physical_ports pp ON pp.id = pl.physical_port_id JOIN hub_nodes n ON n.id = pp.node_id
		WHERE p.port_code = ? AND n.name = ? AND (? = '' OR p.kind = ?) LIMIT 1`, portCode, node, kind, kind), &cust)
	if err != nil {
		what := "port"
		if kind == "onprem" {
			what = "on-premises port"
		}
		return "", notFound(what, err)
	}
	return cust, nil
}
