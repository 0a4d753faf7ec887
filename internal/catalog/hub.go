package catalog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Hub priorities within a customer's DR group.
var Priorities = []string{"main", "sub", "backup"}

// Hub is a customer's virtual hub in one region.
type Hub struct {
	ID           HubID      `json:"id"`
	CustomerID   CustomerID `json:"customer_id"`
	ServiceCode  string     `json:"service_code"`
	Region       string     `json:"region"`
	DataLocation string     `json:"data_location"`
	Priority     string     `json:"priority"`
	CreatedAt    time.Time  `json:"created_at"`
	// EndedAt is when the operator removed the hub (network/ending.go).
	EndedAt *time.Time `json:"ended_at,omitempty"`
}

// HubInput creates a hub.
type HubInput struct {
	ServiceCode string `json:"service_code"`
	Region      string `json:"region"`
	Priority    string `json:"priority"`
}

// CreateHub places a hub for the customer in a region (operator, on order).
func (c *Catalog) CreateHub(ctx context.Context, op tenant.Operator, in HubInput) (Hub, error) {
	cust, err := op.Authorize(tenant.ActCatalogManage)
	if err != nil {
		return Hub{}, err
	}
	if !contains(Priorities, in.Priority) {
		return Hub{}, fault.Field("priority", "priority must be one of %v", Priorities)
	}
	if !ValidServiceCode(in.ServiceCode) {
		return Hub{}, fault.Field("service_code", "service_code must be shb followed by 8 digits")
	}
	var h Hub
	err = c.db.InTx(ctx, func(tx *store.Tx) error {
		k, err := c.activeContract(ctx, tx, cust, in.ServiceCode)
		if err != nil {
			return err
		}
		r, err := c.RegionByCode(ctx, tx, in.Region)
		if err != nil {
			if fault.Is(err, fault.NotFound) {
				return fault.Field("region", "no such region")
			}
			return err
		}
		h = Hub{ID: HubID(ids.New("hub")), CustomerID: cust, ServiceCode: k.ServiceCode, Region: r.Code,
			DataLocation: r.DataLocation, Priority: in.Priority, CreatedAt: clock.Now()}
		if _, err := tx.Exec(ctx, `INSERT INTO hubs (id, customer_id, contract_id, region_id, priority, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, h.ID, cust, k.ID, r.ID, h.Priority, clock.Store(h.CreatedAt)); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fault.Wrap(fault.Conflict, err, "the customer already has a hub in %s or a %s hub", r.Code, h.Priority)
			}
			return err
		}
		return c.audit.RecordTx(ctx, tx, audit.Event{Action: "hub.create", Target: "hub:" + string(h.ID),
			CustomerID: string(cust), Detail: map[string]any{"region": r.Code, "priority": h.Priority, "service_code": k.ServiceCode}})
	})
	if err != nil {
		return Hub{}, fmt.Errorf("create hub: %w", err)
	}
	return h, nil
}

const hubSelect = `SELECT h.id, h.customer_id, k.service_code, r.code, r.data_location, h.priority, h.created_at, h.ended_at
	FROM hubs h JOIN contracts k ON k.id = h.contract_id JOIN regions r ON r.id = h.region_id`

func scanHub(s interface{ Scan(...any) error }) (Hub, error) {
	var h Hub
	var at string
	var ended *string
	err := s.Scan(&h.ID, &h.CustomerID, &h.ServiceCode, &h.Region, &h.DataLocation, &h.Priority, &at, &ended)
	h.CreatedAt = parseTime(at)
	h.EndedAt = parseEnded(ended)
	return h, err
}

// GetHub returns one of the customer's hubs.
func (c *Catalog) GetHub(ctx context.Context, who tenant.Holder, id HubID) (Hub, error) {
	cust, err := who.Authorize(tenant.ActCatalogRead, tenant.ActCatalogManage)
	if err != nil {
		return Hub{}, err
	}
	h, err := scanHub(c.db.QueryRow(ctx, hubSelect+` WHERE h.customer_id = ? AND h.id = ?`, cust, id))
	if err != nil {
		return Hub{}, notFound("hub", store.Wrap(err))
	}
	return h, nil
}

// ListHubs lists the customer's hubs by ID.
func (c *Catalog) ListHubs(ctx context.Context, who tenant.Holder, p Page) ([]Hub, string, error) {
	cust, err := who.Authorize(tenant.ActCatalogRead, tenant.ActCatalogManage)
	if err != nil {
		return nil, "", err
	}
	rows, err := c.db.Query(ctx, hubSelect+` WHERE h.customer_id = ? AND h.id > ? ORDER BY h.id LIMIT ?`, cust, p.After, p.limit())
	if err != nil {
		return nil, "", fmt.Errorf("list hubs: %w", err)
	}
	defer rows.Close()
	out := []Hub{}
	var keys []string
	for rows.Next() {
		h, err := scanHub(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list hubs: %w", err)
		}
		out = append(out, h)
		keys = append(keys, string(h.ID))
	}
	return out, next(keys, p), rows.Err()
}
