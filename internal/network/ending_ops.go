package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// The operator's side of ending (ending.go has the effect itself): a port
// ended on a date, a hub removed, and the "port.end" job that ends, on the
// day after their date (JST), the ports with a dated end and the ports and
// hubs of contracts whose termination date has passed. As for contracts,
// the service continues through the date: a port ending on D runs all of D
// and is ended on D+1. What ends outside the customer's workflow changes
// the customer's configuration by a version the system makes (applied_by
// "system: …", with a review), so that the applied configuration never
// holds an ended port or a removed hub; a draft based on the version before
// is then stale and is started again.

// PortEndJobName names the ending job in the scheduler.
const PortEndJobName = "port.end"

// PortEndInput ends a port on a date.
type PortEndInput struct {
	EndDate string `json:"end_date"` // JST, today or later; the port runs through it
	Reason  string `json:"reason"`
}

// PortEnd is a port's dated end.
type PortEnd struct {
	ID          string    `json:"id"`
	PortCode    string    `json:"port_code"`
	EndDate     string    `json:"end_date"`
	EndsOn      string    `json:"ends_on"` // the day after EndDate, when the job ends the port
	Reason      string    `json:"reason"`
	State       string    `json:"state"` // pending | cancelled | done
	RequestedAt time.Time `json:"requested_at"`
	RequestedBy string    `json:"requested_by"`
	// ClosedAt is when it was cancelled or carried out (nil while pending).
	ClosedAt *time.Time `json:"closed_at,omitempty"`
}

// EndPortOn records that port code ends after end_date (operator,
// contractual). One pending end per port: another is refused until the
// first is cancelled.
func (s *Operations) EndPortOn(ctx context.Context, op tenant.Operator, code string, in PortEndInput) (PortEnd, error) {
	cust, err := op.Authorize(identity.ActCatalogManage)
	if err != nil {
		return PortEnd{}, err
	}
	if _, err := clock.ParseDate(in.EndDate); err != nil {
		return PortEnd{}, fault.Field("end_date", "end_date must be a date YYYY-MM-DD")
	}
	if in.EndDate < s.today() {
		return PortEnd{}, fault.Field("end_date", "end_date must be today or later (JST)")
	}
	// As a contract's termination date: a year typed wrong would keep the
	// port (and its capacity) for ever.
	today, _ := clock.ParseDate(s.today())
	if latest := today.AddDate(catalog.TerminationYears, 0, 0).Format(clock.DateLayout); in.EndDate > latest {
		return PortEnd{}, fault.Field("end_date", "end_date must be no later than %s (JST, %d years ahead)", latest, catalog.TerminationYears)
	}
	in.Reason = strings.TrimSpace(in.Reason)
	if err := checkReason(in.Reason); err != nil {
		return PortEnd{}, err
	}
	var out PortEnd
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		p, err := s.portRow(ctx, tx, cust, code)
		if err != nil {
			return err
		}
		if p.status != "active" {
			return fault.New(fault.Conflict, "port %s has already ended", code)
		}
		if pe, err := s.pendingEnd(ctx, tx, p); err == nil {
			return fault.New(fault.Conflict, "port %s already ends after %s; cancel that end first", code, pe.EndDate)
		} else if !fault.Is(err, fault.NotFound) {
			return err
		}
		a := audit.ActorFrom(ctx)
		out = PortEnd{ID: ids.New("pend"), PortCode: code, EndDate: in.EndDate, EndsOn: dayAfter(in.EndDate), Reason: in.Reason,
			State: "pending", RequestedAt: s.now(), RequestedBy: a.Name}
		if _, err := tx.Exec(ctx, `INSERT INTO port_ends (id, customer_id, port_id, end_date, reason, requested_at, requested_by)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, out.ID, cust, p.id, out.EndDate, out.Reason, clock.Store(out.RequestedAt), out.RequestedBy); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fault.Wrap(fault.Conflict, err, "port %s has just been given an end", code)
			}
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "port.end.schedule", Target: "port:" + code, CustomerID: string(cust),
			Detail: map[string]any{"end": out.ID, "end_date": out.EndDate, "ends_on": out.EndsOn, "reason": out.Reason}})
	})
	if err != nil {
		return PortEnd{}, fmt.Errorf("end port: %w", err)
	}
	return out, nil
}

// PortEnds lists port code's dated ends, newest first: at most one
// pending, the others cancelled or done.
func (s *Operations) PortEnds(ctx context.Context, op tenant.Operator, code string) ([]PortEnd, error) {
	cust, err := op.Authorize(identity.ActCatalogManage)
	if err != nil {
		return nil, err
	}
	p, err := s.portRow(ctx, s.db, cust, code)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, portEndSelect+` WHERE port_id = ? ORDER BY requested_at DESC, id`, p.id)
	if err != nil {
		return nil, fmt.Errorf("port ends: %w", err)
	}
	defer rows.Close()
	out := []PortEnd{}
	for rows.Next() {
		pe, err := scanPortEnd(rows, code)
		if err != nil {
			return nil, fmt.Errorf("port ends: %w", err)
		}
		out = append(out, pe)
	}
	return out, rows.Err()
}

const portEndSelect = `SELECT id, end_date, reason, requested_at, requested_by, cancelled_at, done_at FROM port_ends`

func scanPortEnd(row interface{ Scan(...any) error }, code string) (PortEnd, error) {
	pe := PortEnd{PortCode: code, State: "pending"}
	var at string
	var cancelled, done *string
	if err := row.Scan(&pe.ID, &pe.EndDate, &pe.Reason, &at, &pe.RequestedBy, &cancelled, &done); err != nil {
		return pe, err
	}
	pe.RequestedAt, _ = clock.Parse(at)
	pe.EndsOn = dayAfter(pe.EndDate)
	for state, closed := range map[string]*string{"cancelled": cancelled, "done": done} {
		if closed != nil {
			t, _ := clock.Parse(*closed)
			pe.State, pe.ClosedAt = state, &t
		}
	}
	return pe, nil
}

// CancelPortEnd withdraws port code's pending dated end, possible until the
// job has ended the port.
func (s *Operations) CancelPortEnd(ctx context.Context, op tenant.Operator, code string) (PortEnd, error) {
	cust, err := op.Authorize(identity.ActCatalogManage)
	if err != nil {
		return PortEnd{}, err
	}
	var out PortEnd
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		p, err := s.portRow(ctx, tx, cust, code)
		if err != nil {
			return err
		}
		if out, err = s.pendingEnd(ctx, tx, p); err != nil {
			return err
		}
		now := s.now()
		res, err := tx.Exec(ctx, `UPDATE port_ends SET cancelled_at = ? WHERE id = ? AND cancelled_at IS NULL AND done_at IS NULL`, clock.Store(now), out.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fault.New(fault.Conflict, "the end of port %s has just been carried out or cancelled", code)
		}
		out.State, out.ClosedAt = "cancelled", &now
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "port.end.cancel", Target: "port:" + code, CustomerID: string(cust),
			Detail: map[string]any{"end": out.ID, "end_date": out.EndDate}})
	})
	if err != nil {
		return PortEnd{}, fmt.Errorf("cancel port end: %w", err)
	}
	return out, nil
}

func (s *core) pendingEnd(ctx context.Context, q store.Querier, p portRow) (PortEnd, error) {
	pe, err := scanPortEnd(q.QueryRow(ctx, portEndSelect+` WHERE port_id = ? AND cancelled_at IS NULL AND done_at IS NULL`, p.id), p.code)
	return pe, notFound("pending end", store.Wrap(err))
}

// dayAfter is the JST date after date (a valid YYYY-MM-DD).
func dayAfter(date string) string {
	t, err := clock.ParseDate(date)
	if err != nil {
		return ""
	}
	return t.AddDate(0, 0, 1).Format(clock.DateLayout)
}

// RemoveHub removes one of the customer's hubs that carries no active port:
// it leaves its node (its placement goes, so the node's desired state no
// longer has it) and the backbone (the other hubs' desired states no longer
// list it as a peer), and the customer's DR group shrinks. A hub with ports
// is refused with their codes.
func (s *Operations) RemoveHub(ctx context.Context, op tenant.Operator, hub catalog.HubID) error {
	cust, err := op.Authorize(identity.ActCatalogManage)
	if err != nil {
		return err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := lockCustomer(ctx, tx, cust); err != nil {
			return err
		}
		var ended *string
		if err := store.Scan(tx.QueryRow(ctx, `SELECT ended_at FROM hubs WHERE customer_id = ? AND id = ?`, cust, hub), &ended); err != nil {
			return notFound("hub", err)
		}
		if ended != nil {
			return fault.New(fault.Conflict, "hub %s has already been removed", hub)
		}
		ports, err := activePorts(ctx, tx, hub)
		if err != nil {
			return err
		}
		if len(ports) > 0 {
			return fault.New(fault.Conflict, "hub %s still has ports %s; end them first", hub, strings.Join(ports, ", "))
		}
		_, err = s.removeHubTx(ctx, tx, cust, hub, map[string]any{"via": "operator"})
		return err
	})
	if err != nil {
		return fmt.Errorf("remove hub: %w", err)
	}
	return nil
}

func activePorts(ctx context.Context, q store.Querier, hub catalog.HubID) ([]string, error) {
	return store.Strings(ctx, q, `SELECT port_code FROM ports WHERE hub_id = ? AND status = 'active' ORDER BY port_code`, hub)
}

// removeHubTx removes hub inside tx; its conditional UPDATE is the done
// marker, so it reports false when the hub was already removed.
func (s *core) removeHubTx(ctx context.Context, tx *store.Tx, cust catalog.CustomerID, hub catalog.HubID, detail map[string]any) (bool, error) {
	res, err := tx.Exec(ctx, `UPDATE hubs SET ended_at = ? WHERE customer_id = ? AND id = ? AND ended_at IS NULL`, clock.Store(s.now()), cust, hub)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	var node string
	err = store.Scan(tx.QueryRow(ctx, `SELECT n.name FROM hub_placements hp JOIN hub_nodes n ON n.id = hp.node_id WHERE hp.hub_id = ?`, hub), &node)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	for _, q := range []string{`DELETE FROM hub_placements WHERE hub_id = ?`, `DELETE FROM hub_observations WHERE hub_id = ?`} {
		if _, err := tx.Exec(ctx, q, hub); err != nil {
			return false, err
		}
	}
	if err := s.systemVersion(ctx, tx, cust, "hub "+string(hub)+" removed", nil); err != nil {
		return false, err
	}
	d := map[string]any{"node": node}
	for k, v := range detail {
		d[k] = v
	}
	return true, s.audit.RecordTx(ctx, tx, audit.Event{Action: "hub.remove", Target: "hub:" + string(hub), CustomerID: string(cust), Detail: d})
}

// endWithVersion ends port p outside the customer's workflow: the end
// itself (whose conditional UPDATE is the done marker), then the system
// version without its configuration, then its static NAT addresses, which
// that version's NAT allocation has just unassigned.
func (s *core) endWithVersion(ctx context.Context, tx *store.Tx, p portRow, detail map[string]any) (bool, error) {
	_, applied, err := s.current(ctx, tx, p.cust)
	if err != nil {
		return false, err
	}
	nat, err := s.natAddresses(ctx, tx, p.cust)
	if err != nil {
		return false, err
	}
	rm, err := s.removal(ctx, tx, p, applied, nat)
	if err != nil {
		return false, err
	}
	return s.endPortTx(ctx, tx, p, rm.insides, detail, func() error {
		return s.systemVersion(ctx, tx, p.cust, "port "+p.code+" ended", []PortRemoval{rm})
	})
}

// systemVersion makes the customer's next version from the current one
// normalized against today's facts — which drops ended ports and removed
// hubs — when that changes anything, with its review (removals says what
// stopped) and NAT allocation. Before the first apply there is nothing to
// change.
func (s *core) systemVersion(ctx context.Context, tx *store.Tx, cust catalog.CustomerID, why string, removals []PortRemoval) error {
	n, old, err := s.current(ctx, tx, cust)
	if err != nil || n == 0 {
		return err
	}
	f, err := s.facts(ctx, tx, cust)
	if err != nil {
		return err
	}
	cfg := old
	Normalize(f, &cfg, s.settings)
	// An empty list and none are the same configuration.
	for _, c := range []*Config{&old, &cfg} {
		if c.Ports == nil {
			c.Ports = []PortConfig{}
		}
		if c.Hubs == nil {
			c.Hubs = []HubConfig{}
		}
	}
	r := BuildReview(f, old, cfg, s.settings)
	addRemovals(&r, removals)
	for _, h := range old.Hubs {
		if !slices.ContainsFunc(cfg.Hubs, func(n HubConfig) bool { return n.HubID == h.HubID }) {
			r.Reasons = append(r.Reasons, Reason{Risk: "low", Impact: "none", Object: "hub:" + string(h.HubID),
				Text: fmt.Sprintf("removes hub %s, which has no ports, from your DR group: it leaves its node and the backbone; your other hubs' sessions are not touched", h.HubID)})
		}
	}
	r.levels()
	// A port that was never configured ends without a version: the
	// configuration does not change.
	if len(Diff(old, cfg)) == 0 {
		return nil
	}
	r.BaseVersion, r.CurrentVersion = n, n
	raw, err := encodeStored(tx, cust, cfg)
	if err != nil {
		return err
	}
	rev, err := json.Marshal(r)
	if err != nil {
		return err
	}
	v := n + 1
	by := "system: " + why
	if _, err := tx.Exec(ctx, `INSERT INTO net_versions (customer_id, version, base_version, rollback_of, config, review, applied_at, applied_by)
		VALUES (?, ?, ?, NULL, ?, ?, ?, ?)`, cust, v, n, raw, string(rev), clock.Store(s.now()), by); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fault.Wrap(fault.Conflict, err, "another version was applied at the same time")
		}
		return err
	}
	if err := s.allocateNAT(ctx, tx, cust, f, cfg); err != nil {
		return err
	}
	return s.audit.RecordTx(ctx, tx, audit.Event{Action: "network.apply", Target: fmt.Sprintf("customer:%s/version:%d", cust, v),
		CustomerID: string(cust), Detail: r.auditDetail(v)})
}

// lockCustomer holds the customer's row until tx ends (SQLite serialises
// writers anyway), so that two controllers ending two of its ports at once
// make their system versions one after the other instead of both trying
// the same version number.
func lockCustomer(ctx context.Context, tx *store.Tx, cust catalog.CustomerID) error {
	_, err := tx.Exec(ctx, `UPDATE customers SET name = name WHERE id = ?`, cust)
	return err
}

// releaseStatic returns to the pool the customer's static NAT addresses
// last assigned to insides and now unassigned.
func releaseStatic(ctx context.Context, tx *store.Tx, cust catalog.CustomerID, insides []string) (int64, error) {
	var total int64
	for _, in := range insides {
		// The version's NAT allocation has unassigned the address (inside
		// NULL, last_inside kept) unless another port took it over.
		res, err := tx.Exec(ctx, `DELETE FROM nat_allocations WHERE customer_id = ? AND purpose = 'static' AND inside IS NULL AND last_inside = ?`, cust, in)
		if err != nil {
			return total, err
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}

// EndJob is the scheduler's job that ends, daily at JST midnight, the ports
// whose dated end has passed and the ports and hubs of contracts whose
// termination date has passed — also when the customer has no other
// contract, and then its whole network goes.
func (s *Operations) EndJob() schedule.Job {
	return schedule.Job{Name: PortEndJobName, Due: s.dueEnds, Do: s.doEnd, Next: schedule.Daily}
}

// dueEnds lists, at now, the dated ends past their date ("end:<id>"), then
// the active ports of contracts past their termination date
// ("port:<id>"), then those contracts' hubs ("hub:<id>"), so that a run
// ends a contract's ports before its hubs.
func (s *Operations) dueEnds(ctx context.Context, now time.Time) ([]string, error) {
	today := clock.Date(now)
	var out []string
	for _, q := range []struct{ prefix, query string }{
		{"end:", `SELECT id FROM port_ends WHERE done_at IS NULL AND cancelled_at IS NULL AND end_date < ? ORDER BY end_date, id`},
		{"port:", `SELECT p.id FROM ports p JOIN contracts k ON k.id = p.contract_id WHERE p.status = 'active' AND k.status = 'cancelled'
			AND k.termination_date < ? ORDER BY p.port_code`},
		{"hub:", `SELECT h.id FROM hubs h JOIN contracts k ON k.id = h.contract_id WHERE h.ended_at IS NULL AND k.status = 'cancelled'
			AND k.termination_date < ? ORDER BY h.id`},
	} {
		rows, err := s.db.Query(ctx, q.query, today)
		if err != nil {
			return nil, fmt.Errorf("due ends: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("due ends: %w", err)
			}
			out = append(out, q.prefix+id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("due ends: %w", err)
		}
	}
	return out, nil
}

// doEnd acts on one due item in one transaction whose conditional UPDATE
// (the dated end's done_at, the port's status, the hub's ended_at) is the
// item's done marker; it reports false when the item was already done or
// is not due (cancelled meanwhile).
func (s *Operations) doEnd(ctx context.Context, now time.Time, item string) (bool, error) {
	today := clock.Date(now)
	kind, id, _ := strings.Cut(item, ":")
	done := false
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		switch kind {
		case "end":
			var cust catalog.CustomerID
			var code, date, reason string
			if err := store.Scan(tx.QueryRow(ctx, `SELECT e.customer_id, p.port_code, e.end_date, e.reason FROM port_ends e JOIN ports p ON p.id = e.port_id
				WHERE e.id = ?`, id), &cust, &code, &date, &reason); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return nil // erased with its customer since it was listed
				}
				return err
			}
			if err := lockCustomer(ctx, tx, cust); err != nil {
				return err
			}
			res, err := tx.Exec(ctx, `UPDATE port_ends SET done_at = ? WHERE id = ? AND done_at IS NULL AND cancelled_at IS NULL AND end_date < ?`,
				clock.Store(now), id, today)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return nil
			}
			p, err := s.portRow(ctx, tx, cust, code)
			if err != nil {
				return err
			}
			done = true
			_, err = s.endWithVersion(ctx, tx, p, map[string]any{"via": "dated", "end": id, "end_date": date, "reason": reason})
			return err
		case "port":
			var cust catalog.CustomerID
			var code, serviceCode, date string
			if err := store.Scan(tx.QueryRow(ctx, `SELECT p.customer_id, p.port_code, k.service_code, k.termination_date FROM ports p
				JOIN contracts k ON k.id = p.contract_id WHERE p.id = ? AND k.status = 'cancelled' AND k.termination_date < ?`, id, today),
				&cust, &code, &serviceCode, &date); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return nil
				}
				return err
			}
			if err := lockCustomer(ctx, tx, cust); err != nil {
				return err
			}
			p, err := s.portRow(ctx, tx, cust, code)
			if err != nil {
				return err
			}
			done, err = s.endWithVersion(ctx, tx, p, map[string]any{"via": "contract", "service_code": serviceCode, "termination_date": date})
			return err
		case "hub":
			var cust catalog.CustomerID
			var serviceCode, date string
			if err := store.Scan(tx.QueryRow(ctx, `SELECT h.customer_id, k.service_code, k.termination_date FROM hubs h
				JOIN contracts k ON k.id = h.contract_id WHERE h.id = ? AND k.status = 'cancelled' AND k.termination_date < ?`, id, today),
				&cust, &serviceCode, &date); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return nil
				}
				return err
			}
			if err := lockCustomer(ctx, tx, cust); err != nil {
				return err
			}
			// Ports of another, active contract keep the hub: the
			// failure is visible in the job's runs until the operator
			// ends or moves them.
			ports, err := activePorts(ctx, tx, catalog.HubID(id))
			if err != nil {
				return err
			}
			if len(ports) > 0 {
				return fmt.Errorf("hub %s of ended contract %s still has ports %s of other contracts", id, serviceCode, strings.Join(ports, ", "))
			}
			done, err = s.removeHubTx(ctx, tx, cust, catalog.HubID(id), map[string]any{"via": "contract", "service_code": serviceCode, "termination_date": date})
			return err
		}
		return fmt.Errorf("unknown item %q", item)
	})
	if err != nil {
		return false, fmt.Errorf("end %s: %w", item, err)
	}
	return done, nil
}

// RunEnds runs every due end now, outside the scheduler (for tools and
// tests); it returns how many items it acted on.
func (s *Operations) RunEnds(ctx context.Context) (int, error) {
	now := s.now()
	due, err := s.dueEnds(ctx, now)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, item := range due {
		ok, err := s.doEnd(ctx, now, item)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}
