package network

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/mail"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/webhook"
)

// Holds. A hub node holds a port down when something on the customer's
// side endangers the service, and keeps it down until the customer
// re-enables it; nothing recovers by itself. The kinds today:
//
//   - l2_guard: an on-premises port that received a BPDU (a switch loop or
//     a misconfigured customer switch) or whose link flapped more often
//     than the guard allows is shut;
//   - route_limit: a BGP session whose peer sent more prefixes than
//     Settings.RouteLimit is stopped (BIRD: import limit N action disable).
//
// One model serves every kind: the node reports its holds on every pass
// (level-triggered, observed.Hold) with the re-enable sequence in force
// when each began; the controller records a hold once (port_holds), tells
// the customer — an event in its audit log and a mail from the kind's
// template (mailtext/hold-<kind>.<lang>.txt) to its operations
// administrators — and ignores a report older than the customer's latest
// re-enable. The customer's re-enable (reenable) clears every hold of the
// port and bumps its sequence (port_reenables); the desired state carries
// both to every node that runs the hub (the port shut, its BGP disabled,
// the sequence), so a hold survives the hub moving to another node, and the
// node acts on the new sequence once.

// Shutdown reasons of a layer-2 guard hold.
const (
	ShutBPDU = "bpdu"
	ShutFlap = "flap"
	// ShutUnknown is a port the node holds shut whose record of why it
	// could not read: still a hold, still re-enabled by the customer.
	ShutUnknown = "unknown"
)

// holdKind is what differs between the kinds of hold.
type holdKind struct {
	portKind string // the kind of port it applies to, "" for any
	held     string // audit action (and mail cause) of a recorded hold
	reenable string // audit action of its re-enable
	conflict string // re-enabling a port without the hold
}

var holdKinds = map[string]holdKind{
	observed.HoldL2Guard: {portKind: "onprem",
		held: "port.l2_guard.shut", reenable: "port.l2_guard.reenable", conflict: "port %s is not shut by a layer-2 guard"},
	observed.HoldRouteLimit: {held: "bgp.route_limit.exceeded", reenable: "bgp.reenable", conflict: "the BGP session of port %s is not stopped"},
}

//go:embed mailtext/*.txt
var mailFiles embed.FS

var mailTemplates = mail.ParseTemplates(mailFiles, "mailtext/*.txt")

// heldPort is one recorded hold.
type heldPort struct {
	Kind     string
	Session  string
	Reason   string
	Detail   string
	Since    time.Time
	Prefixes *int64 // route_limit: the count the node reported, nil if none
	Limit    *int64 // route_limit: the limit in force
	Seq      int64  // the re-enable sequence in force when it began
}

// portHolds are a port's holds by kind and its re-enable sequence.
type portHolds struct {
	seq   int64
	holds map[string]heldPort
}

func (s *core) portHolds(ctx context.Context, q store.Querier, cust catalog.CustomerID, portID string) (portHolds, error) {
	ph := portHolds{holds: map[string]heldPort{}}
	err := store.Scan(q.QueryRow(ctx, `SELECT seq FROM port_reenables WHERE customer_id = ? AND port_id = ?`, cust, portID), &ph.seq)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return ph, err
	}
	rows, err := q.Query(ctx, `SELECT kind, session, reason, detail, since, prefixes, route_limit, seq FROM port_holds
		WHERE customer_id = ? AND port_id = ?`, cust, portID)
	if err != nil {
		return ph, err
	}
	defer rows.Close()
	for rows.Next() {
		var h heldPort
		var since string
		if err := rows.Scan(&h.Kind, &h.Session, &h.Reason, &h.Detail, &since, &h.Prefixes, &h.Limit, &h.Seq); err != nil {
			return ph, err
		}
		h.Since, _ = clock.Parse(since)
		ph.holds[h.Kind] = h
	}
	return ph, rows.Err()
}

// NodeReportsHolds records the holds a node reports (all of them, on
// every pass). A node may report only ports placed on it, and a layer-2
// guard only for an on-premises port; anything else is refused (NotFound,
// Invalid) without changing anything for that hold, and the others are
// still recorded. A hold already recorded changes nothing, and one that
// began before the customer's latest re-enable (ReenableSeq below the
// port's sequence) is stale and ignored. A route-limit hold carries the
// count of prefixes BIRD reported and the limit in force: they go into the
// audit entry and the mail as reported.
func (s *Compiler) NodeReportsHolds(ctx context.Context, node string, holds []observed.Hold) error {
	var errs []error
	for _, h := range holds {
		if err := s.recordHold(ctx, node, h); err != nil {
			errs = append(errs, fmt.Errorf("hold %s %s: %w", h.Kind, h.PortCode, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Compiler) recordHold(ctx context.Context, node string, h observed.Hold) error {
	k, ok := holdKinds[h.Kind]
	if !ok {
		return fault.Field("kind", "want %s or %s", observed.HoldL2Guard, observed.HoldRouteLimit)
	}
	if !observed.ValidHoldReason(h.Kind, h.Reason) {
		return fault.Field("reason", "a %s hold's reason is one of %v", h.Kind, observed.HoldReasons(h.Kind))
	}
	if h.Prefixes < 0 || h.Limit < 0 || h.ReenableSeq < 0 {
		return fault.Field("prefixes", "counts and sequences are not negative")
	}
	cust, err := s.nodePortCustomer(ctx, node, h.PortCode, k.portKind)
	if err != nil {
		return err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		p, err := s.portRow(ctx, tx, cust, h.PortCode)
		if err != nil {
			return err
		}
		ph, err := s.portHolds(ctx, tx, cust, p.id)
		if err != nil {
			return err
		}
		if _, held := ph.holds[h.Kind]; held || h.ReenableSeq < ph.seq {
			return nil
		}
		now := s.now()
		since := h.Since
		if since.IsZero() || since.After(now) {
			since = now
		}
		var prefixes, limit *int64
		detail := map[string]any{"node": node, "reason": h.Reason}
		if h.Kind == observed.HoldRouteLimit {
			// The limit the node enforced; the deployment's if it did not say.
			l := int64(h.Limit)
			if l == 0 {
				l = int64(s.settings.RouteLimit)
			}
			limit = &l
			detail["limit"], detail["session"] = l, h.Session
			if h.Prefixes > 0 {
				n := int64(h.Prefixes)
				prefixes = &n
				detail["prefixes"] = n
			}
		}
		if h.Detail != "" {
			detail["detail"] = h.Detail
		}
		if _, err := tx.Exec(ctx, `INSERT INTO port_holds (port_id, customer_id, kind, session, reason, detail, since, prefixes, route_limit, seq,
			node, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.id, cust, h.Kind, h.Session, h.Reason, h.Detail, clock.Store(since), prefixes, limit, ph.seq, node, clock.Store(now)); err != nil {
			return err
		}
		if err := s.audit.RecordTx(ctx, tx, audit.Event{Action: k.held, Target: "port:" + h.PortCode, CustomerID: string(cust),
			Result: audit.Failed, Detail: detail}); err != nil {
			return err
		}
		data := holdMail{Port: h.PortCode, Session: h.Session, Reason: h.Reason, Detail: h.Detail}
		if prefixes != nil {
			data.Prefixes = *prefixes
		}
		if limit != nil {
			data.Limit = *limit
		}
		if err := s.mailOpsAdmins(ctx, tx, cust, k.held, "hold-"+h.Kind, data); err != nil {
			return err
		}
		if h.Kind != observed.HoldRouteLimit {
			return nil
		}
		// The route quota's second step (quota.go warns at 90 %).
		return webhook.Emit(ctx, tx, webhook.Event{Customer: tenant.CustomerID(cust), Type: webhook.TypeRouteQuotaExceeded,
			Subject: "ports/" + h.PortCode + "/sessions/" + h.Session, Time: since,
			Data: map[string]any{"port_code": h.PortCode, "session": h.Session, "accepted": data.Prefixes, "limit": data.Limit}})
	})
	if errors.Is(err, store.ErrConflict) {
		// Another controller recorded the same hold at the same moment
		// (the node's reports reached two of them): its record, event and
		// mail stand, and this one rolled back.
		return nil
	}
	return err
}

// holdMail is what the hold mail templates read.
type holdMail struct {
	Port, Session, Reason, Detail string
	Prefixes, Limit               int64
}

// reenable brings back a port the node holds (the customer, after fixing
// the cause): the port must hold kind, and every hold of it is cleared —
// the port comes back whole — and its re-enable sequence incremented,
// which the desired state carries to the node. Each hold cleared is an
// event in the customer's audit log.
func (s *Workflow) reenable(ctx context.Context, sc tenant.Scope, code, kind string) (portRow, portHolds, error) {
	cust, err := sc.Authorize(identity.ActNetworkEdit)
	if err != nil {
		return portRow{}, portHolds{}, err
	}
	var p portRow
	var after portHolds
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if p, err = s.portRow(ctx, tx, cust, code); err != nil {
			return err
		}
		prev, err := s.portHolds(ctx, tx, cust, p.id)
		if err != nil {
			return err
		}
		if _, held := prev.holds[kind]; !held {
			return fault.New(fault.Conflict, holdKinds[kind].conflict, code)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM port_holds WHERE customer_id = ? AND port_id = ?`, cust, p.id); err != nil {
			return err
		}
		now := clock.Store(s.now())
		res, err := tx.Exec(ctx, `UPDATE port_reenables SET seq = seq + 1, updated_at = ? WHERE customer_id = ? AND port_id = ?`, now, cust, p.id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO port_reenables (port_id, customer_id, seq, updated_at) VALUES (?, ?, 1, ?)`,
				p.id, cust, now); err != nil {
				return err
			}
		}
		if after, err = s.portHolds(ctx, tx, cust, p.id); err != nil {
			return err
		}
		for _, k := range []string{observed.HoldL2Guard, observed.HoldRouteLimit} {
			h, held := prev.holds[k]
			if !held {
				continue
			}
			if err := s.audit.RecordTx(ctx, tx, audit.Event{Action: holdKinds[k].reenable, Target: "port:" + code, CustomerID: string(cust),
				Detail: map[string]any{"reason": h.Reason, "reenable_seq": after.seq}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return portRow{}, portHolds{}, fmt.Errorf("re-enable port: %w", err)
	}
	return p, after, nil
}

// mailOpsAdmins queues mail from template name, in each recipient's
// language, to every active operations administrator of the customer,
// inside tx: the mail commits with the event that causes it. The
// recipients are identity's (an invited account without a password gets
// none, as with every system mail).
func (s *core) mailOpsAdmins(ctx context.Context, tx *store.Tx, cust catalog.CustomerID, cause, name string, data any) error {
	rs, err := identity.OpsAdminRecipients(ctx, tx, cust)
	if err != nil {
		return err
	}
	for _, r := range rs {
		m, err := mailTemplates.Message(name, cause, r.Language, r.Email, data)
		if err != nil {
			return err
		}
		m.CustomerID = string(cust)
		if _, err := mail.Enqueue(ctx, tx, m); err != nil {
			return err
		}
	}
	return nil
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
