package network

import (
	"context"
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
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Bandwidth (speed) changes: items on the contract with an effective date
// (JST), admitted against the physical ports' capacity like a placement,
// requested by operators here and by customers through the draft
// (speedchange.go), brought into the catalog on their date by the
// scheduler's bandwidth.apply job.

// BandwidthChange is a speed item change on the contract.
type BandwidthChange struct {
	ID            string    `json:"id"`
	PortCode      string    `json:"port_code"`
	FromMbps      int64     `json:"from_mbps"`
	ToMbps        int64     `json:"to_mbps"`
	EffectiveDate string    `json:"effective_date"`
	State         string    `json:"state"` // scheduled | effective | cancelled
	RequestedAt   time.Time `json:"requested_at"`
	RequestedBy   string    `json:"requested_by"`
}

// BandwidthInput requests a speed change.
type BandwidthInput struct {
	SpeedMbps     int64  `json:"speed_mbps"`
	EffectiveDate string `json:"effective_date"` // JST date, today or later
}

// RequestBandwidthChange records a speed change effective on a date
// (operator, on the customer's order). The speed must be one the port type
// allows, and every physical port the port is placed on must have room for
// it from today on (admission control).
func (s *Operations) RequestBandwidthChange(ctx context.Context, op tenant.Operator, code string, in BandwidthInput) (BandwidthChange, error) {
	cust, err := op.Authorize(identity.ActCatalogManage)
	if err != nil {
		return BandwidthChange{}, err
	}
	if err := s.checkBandwidthInput(in); err != nil {
		return BandwidthChange{}, err
	}
	var out BandwidthChange
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		out, err = s.recordBandwidthChange(ctx, tx, cust, code, in)
		return err
	})
	if err != nil {
		return BandwidthChange{}, fmt.Errorf("bandwidth change: %w", err)
	}
	return out, nil
}

// checkBandwidthInput checks what can be checked of a speed change without
// the store: a JST date, today or later.
func (s *core) checkBandwidthInput(in BandwidthInput) error {
	if _, err := clock.ParseDate(in.EffectiveDate); err != nil {
		return fault.Field("effective_date", "effective_date must be a date YYYY-MM-DD")
	}
	if in.EffectiveDate < s.today() {
		return fault.Field("effective_date", "effective_date must be today or later (JST)")
	}
	return nil
}

// recordBandwidthChange records one speed change of the customer's port in
// tx, for the operator's request and the customer's applied draft alike:
// the speed must be in the port kind's speed set, and admission control on
// every physical port the port is placed on must pass from today on, decided
// with those ports locked.
func (s *core) recordBandwidthChange(ctx context.Context, tx *store.Tx, cust catalog.CustomerID, code string, in BandwidthInput) (BandwidthChange, error) {
	var out BandwidthChange
	p, err := s.speedPort(ctx, tx, cust, code, in.SpeedMbps)
	if err != nil {
		return out, err
	}
	inv, err := s.inventory(ctx, tx)
	if err != nil {
		return out, err
	}
	var hosts []string
	for _, pp := range inv {
		for _, l := range pp.legs {
			if l.portID == p.id {
				hosts = append(hosts, pp.ID)
			}
		}
	}
	if err := lockPhysical(ctx, tx, hosts...); err != nil {
		return out, err
	}
	// Decide on what is committed now that the ports are locked.
	from, err := s.admitSpeed(ctx, tx, p, in)
	if err != nil {
		return out, err
	}
	today := s.today()
	a := audit.ActorFrom(ctx)
	out = BandwidthChange{ID: ids.New("bwc"), PortCode: code, FromMbps: from, ToMbps: in.SpeedMbps, EffectiveDate: in.EffectiveDate,
		RequestedAt: s.now(), RequestedBy: a.Name, State: "scheduled"}
	if in.EffectiveDate <= today {
		out.State = "effective"
	}
	// Effective today: the contract's item (the catalog's port speed)
	// changes now, and the change is marked applied so that the scheduled
	// job (speedsync.go) leaves it alone; later dates are brought in by that
	// job on their date.
	var applied *string
	if out.State == "effective" {
		at := clock.Store(out.RequestedAt)
		applied = &at
	}
	if _, err := tx.Exec(ctx, `INSERT INTO bandwidth_changes (id, customer_id, port_id, from_mbps, to_mbps, effective_date, status, requested_at, requested_by, applied_at)
		VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)`, out.ID, cust, p.id, from, in.SpeedMbps, in.EffectiveDate, clock.Store(out.RequestedAt), a.Name, applied); err != nil {
		return out, err
	}
	if applied != nil {
		if _, err := tx.Exec(ctx, `UPDATE ports SET speed_mbps = ? WHERE id = ?`, in.SpeedMbps, p.id); err != nil {
			return out, err
		}
	}
	return out, s.audit.RecordTx(ctx, tx, audit.Event{Action: "port.bandwidth.change", Target: "port:" + code, CustomerID: string(cust),
		Detail: map[string]any{"change": out.ID, "from_mbps": from, "to_mbps": in.SpeedMbps, "effective_date": in.EffectiveDate}})
}

// speedPort is the customer's port for a speed change to mbps: active, and
// mbps in its kind's speed set.
func (s *core) speedPort(ctx context.Context, q store.Querier, cust catalog.CustomerID, code string, mbps int64) (portRow, error) {
	p, err := s.portRow(ctx, q, cust, code)
	if err != nil {
		return p, err
	}
	if p.status != "active" {
		return p, fault.New(fault.Conflict, "port %s is cancelled", code)
	}
	if allowed := catalog.PortKinds[p.kind]; !slices.Contains(allowed, mbps) {
		return p, fault.Field("speed_mbps", "speed_mbps for a %s port must be one of %v", p.kind, allowed)
	}
	return p, nil
}

// admitSpeed is admission control for a speed change of port p: it returns
// the speed the change replaces on its date, or a refusal with the numbers
// when a physical port the port is placed on would be over capacity from
// today on. It only reads; the caller locks the ports when it will write.
func (s *core) admitSpeed(ctx context.Context, q store.Querier, p portRow, in BandwidthInput) (int64, error) {
	inv, err := s.inventory(ctx, q)
	if err != nil {
		return 0, err
	}
	today := s.today()
	speeds, err := s.speedsAt(ctx, q, p.cust, in.EffectiveDate)
	if err != nil {
		return 0, err
	}
	from, ok := speeds[p.id]
	if !ok {
		from = p.speed
	}
	for _, pp := range inv {
		for _, l := range pp.legs {
			if l.portID != p.id {
				continue
			}
			from = l.speedOn(in.EffectiveDate)
			l.changes = append(slices.Clone(l.changes), speedChange{in.EffectiveDate, in.SpeedMbps})
			slices.SortStableFunc(l.changes, func(a, b speedChange) int { return strings.Compare(a.date, b.date) })
			if err := admit(pp, today, p.id, l.committed(today)); err != nil {
				return 0, fault.Field("speed_mbps", "%s", err)
			}
		}
	}
	return from, nil
}

// BandwidthHistory lists one of the customer's ports' speed changes, oldest
// first.
func (s *Workflow) BandwidthHistory(ctx context.Context, sc tenant.Scope, code string) ([]BandwidthChange, error) {
	cust, err := sc.Authorize(identity.ActNetworkRead)
	if err != nil {
		return nil, err
	}
	return s.bandwidthHistory(ctx, cust, code)
}

// BandwidthHistory is the operator's view of a port's speed changes.
func (s *Operations) BandwidthHistory(ctx context.Context, op tenant.Operator, code string) ([]BandwidthChange, error) {
	cust, err := op.Authorize(identity.ActCapacityRead)
	if err != nil {
		return nil, err
	}
	return s.bandwidthHistory(ctx, cust, code)
}

func (s *core) bandwidthHistory(ctx context.Context, cust catalog.CustomerID, code string) ([]BandwidthChange, error) {
	p, err := s.portRow(ctx, s.db, cust, code)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT id, from_mbps, to_mbps, effective_date, requested_at, requested_by, status FROM bandwidth_changes
		WHERE customer_id = ? AND port_id = ? ORDER BY effective_date, requested_at`, cust, p.id)
	if err != nil {
		return nil, fmt.Errorf("bandwidth history: %w", err)
	}
	defer rows.Close()
	out := []BandwidthChange{}
	today := s.today()
	for rows.Next() {
		c := BandwidthChange{PortCode: code, State: "scheduled"}
		var at, status string
		if err := rows.Scan(&c.ID, &c.FromMbps, &c.ToMbps, &c.EffectiveDate, &at, &c.RequestedBy, &status); err != nil {
			return nil, err
		}
		c.RequestedAt, _ = clock.Parse(at)
		switch {
		case status == "cancelled":
			c.State = "cancelled"
		case c.EffectiveDate <= today:
			c.State = "effective"
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// CancelBandwidthChange withdraws a speed change that has not taken effect
// yet (operator, on the customer's order); it stays in the history as
// cancelled and frees the capacity it had committed.
func (s *Operations) CancelBandwidthChange(ctx context.Context, op tenant.Operator, code, id string) (BandwidthChange, error) {
	cust, err := op.Authorize(identity.ActCatalogManage)
	if err != nil {
		return BandwidthChange{}, err
	}
	var out BandwidthChange
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		p, err := s.portRow(ctx, tx, cust, code)
		if err != nil {
			return err
		}
		var date, status string
		if err := store.Scan(tx.QueryRow(ctx, `SELECT effective_date, status FROM bandwidth_changes WHERE id = ? AND customer_id = ? AND port_id = ?`,
			id, cust, p.id), &date, &status); err != nil {
			return notFound("bandwidth change", err)
		}
		switch {
		case status == "cancelled":
			return fault.New(fault.Conflict, "the change is already cancelled")
		case date <= s.today():
			return fault.New(fault.Conflict, "the change took effect on %s; request another change instead", date)
		}
		if _, err := tx.Exec(ctx, `UPDATE bandwidth_changes SET status = 'cancelled' WHERE id = ?`, id); err != nil {
			return err
		}
		if err := s.audit.RecordTx(ctx, tx, audit.Event{Action: "port.bandwidth.cancel", Target: "port:" + code, CustomerID: string(cust),
			Detail: map[string]any{"change": id, "effective_date": date}}); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return BandwidthChange{}, fmt.Errorf("cancel bandwidth change: %w", err)
	}
	hist, err := s.bandwidthHistory(ctx, cust, code)
	if err != nil {
		return BandwidthChange{}, err
	}
	for _, c := range hist {
		if c.ID == id {
			out = c
		}
	}
	return out, nil
}
