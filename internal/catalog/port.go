package catalog

import (
	"context"
	"fmt"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Port kinds (REQUIREMENTS §1): an on-premises 10GbE port, or a cloud port of
// type A (AWS Direct Connect), M (Azure ExpressRoute) or M2 (Azure Peering
// Service).
var PortKinds = map[string][]int64{
	"onprem":    {10_000},
	"a-private": {1_000, 2_000, 5_000, 10_000},
	"a-public":  {1_000, 2_000, 5_000, 10_000},
	"m-private": {1_000, 2_000, 5_000, 10_000},
	"m-public":  {1_000, 2_000, 5_000, 10_000},
	"m2-public": {100, 300, 500, 1_000, 2_000, 5_000, 10_000},
}

// Port is a contracted port on a hub, identified by its port code.
type Port struct {
	ID          PortID     `json:"id"`
	CustomerID  CustomerID `json:"customer_id"`
	ServiceCode string     `json:"service_code"`
	HubID       HubID      `json:"hub_id"`
	PortCode    string     `json:"port_code"`
	Kind        string     `json:"kind"`
	SpeedMbps   int64      `json:"speed_mbps"`
	Redundant   bool       `json:"redundant"`
	Status      string     `json:"status"`
	CreatedAt   time.Time  `json:"created_at"`
	// EndedAt is when a cancelled port ended (network/ending.go): its
	// code stays the customer's and is never issued again.
	EndedAt *time.Time `json:"ended_at,omitempty"`
}

// PortInput contracts a port.
type PortInput struct {
	ServiceCode string `json:"service_code"`
	HubID       HubID  `json:"hub_id"`
	Kind        string `json:"kind"`
	SpeedMbps   int64  `json:"speed_mbps"`
	Redundant   bool   `json:"redundant"`
}

// CreatePort issues a port code and records the port (operator, on order).
func (c *Catalog) CreatePort(ctx context.Context, op tenant.Operator, in PortInput) (Port, error) {
	cust, err := op.Authorize(tenant.ActCatalogManage)
	if err != nil {
		return Port{}, err
	}
	speeds, ok := PortKinds[in.Kind]
	if !ok {
		return Port{}, fault.Field("kind", "kind must be one of onprem, a-private, a-public, m-private, m-public, m2-public")
	}
	if !containsInt(speeds, in.SpeedMbps) {
		return Port{}, fault.Field("speed_mbps", "speed_mbps for a %s port must be one of %v", in.Kind, speeds)
	}
	if in.Redundant && in.Kind != "onprem" {
		return Port{}, fault.Field("redundant", "only on-premises ports are single or redundant; cloud ports are always redundant pairs")
	}
	var p Port
	err = c.db.InTx(ctx, func(tx *store.Tx) error {
		k, err := c.activeContract(ctx, tx, cust, in.ServiceCode)
		if err != nil {
			return err
		}
		var hubContract ContractID
		var hubEnded *string
		if err := store.Scan(tx.QueryRow(ctx, `SELECT contract_id, ended_at FROM hubs WHERE customer_id = ? AND id = ?`, cust, in.HubID), &hubContract, &hubEnded); err != nil {
			if fault.Is(notFound("hub", err), fault.NotFound) {
				return fault.Field("hub_id", "no such hub for this customer")
			}
			return err
		}
		if hubEnded != nil {
			return fault.Field("hub_id", "hub %s has been removed", in.HubID)
		}
		code, err := issueCode(ctx, tx, "shc")
		if err != nil {
			return err
		}
		p = Port{ID: PortID(ids.New("prt")), CustomerID: cust, ServiceCode: k.ServiceCode, HubID: in.HubID, PortCode: code,
			Kind: in.Kind, SpeedMbps: in.SpeedMbps, Redundant: in.Redundant, Status: "active", CreatedAt: clock.Now()}
		if _, err := tx.Exec(ctx, `INSERT INTO ports (id, customer_id, contract_id, hub_id, port_code, kind, speed_mbps, redundant, status, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, p.ID, cust, k.ID, p.HubID, code, p.Kind, p.SpeedMbps, p.Redundant, p.Status,
			clock.Store(p.CreatedAt)); err != nil {
			return err
		}
		return c.audit.RecordTx(ctx, tx, audit.Event{Action: "port.create", Target: "port:" + code, CustomerID: string(cust),
			Detail: map[string]any{"kind": p.Kind, "speed_mbps": p.SpeedMbps, "service_code": k.ServiceCode}})
	})
	if err != nil {
		return Port{}, fmt.Errorf("create port: %w", err)
	}
	return p, nil
}

func containsInt(list []int64, v int64) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

const portSelect = `SELECT p.id, p.customer_id, k.service_code, p.hub_id, p.port_code, p.kind, p.speed_mbps, p.redundant, p.status, p.created_at, p.ended_at
	FROM ports p JOIN contracts k ON k.id = p.contract_id`

func scanPort(s interface{ Scan(...any) error }) (Port, error) {
	var p Port
	var at string
	var ended *string
	err := s.Scan(&p.ID, &p.CustomerID, &p.ServiceCode, &p.HubID, &p.PortCode, &p.Kind, &p.SpeedMbps, &p.Redundant, &p.Status, &at, &ended)
	p.CreatedAt = parseTime(at)
	p.EndedAt = parseEnded(ended)
	return p, err
}

// GetPort returns the customer's port with the given port code.
func (c *Catalog) GetPort(ctx context.Context, h tenant.Holder, code string) (Port, error) {
	cust, err := h.Authorize(tenant.ActCatalogRead, tenant.ActCatalogManage)
	if err != nil {
		return Port{}, err
	}
	if !ValidPortCode(code) {
		return Port{}, fault.New(fault.NotFound, "port not found")
	}
	p, err := scanPort(c.db.QueryRow(ctx, portSelect+` WHERE p.customer_id = ? AND p.port_code = ?`, cust, code))
	if err != nil {
		return Port{}, notFound("port", store.Wrap(err))
	}
	return p, nil
}

// ListPorts lists the customer's ports by port code, optionally of one contract.
func (c *Catalog) ListPorts(ctx context.Context, h tenant.Holder, serviceCode string, p Page) ([]Port, string, error) {
	cust, err := h.Authorize(tenant.ActCatalogRead, tenant.ActCatalogManage)
	if err != nil {
		return nil, "", err
	}
	q := portSelect + ` WHERE p.customer_id = ? AND p.port_code > ?`
	args := []any{cust, p.After}
	if serviceCode != "" {
		q += ` AND k.service_code = ?`
		args = append(args, serviceCode)
	}
	rows, err := c.db.Query(ctx, q+` ORDER BY p.port_code LIMIT ?`, append(args, p.limit())...)
	if err != nil {
		return nil, "", fmt.Errorf("list ports: %w", err)
	}
	defer rows.Close()
	out := []Port{}
	var keys []string
	for rows.Next() {
		pt, err := scanPort(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list ports: %w", err)
		}
		out = append(out, pt)
		keys = append(keys, pt.PortCode)
	}
	return out, next(keys, p), rows.Err()
}

// parseEnded reads a nullable ended_at column.
func parseEnded(s *string) *time.Time {
	if s == nil {
		return nil
	}
	t := parseTime(*s)
	return &t
}
