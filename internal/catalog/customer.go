package catalog

import (
	"context"
	"fmt"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Customer is a tenant.
type Customer struct {
	ID           CustomerID `json:"id"`
	Name         string     `json:"name"`
	Status       string     `json:"status"` // active | terminated
	CreatedAt    time.Time  `json:"created_at"`
	TerminatedOn string     `json:"terminated_on,omitempty"` // JST date of the last contract's end
	PurgeDueOn   string     `json:"purge_due_on,omitempty"`  // JST date by which everything is erased
	// EndsOn is day 1 (JST), the day after TerminatedOn: the customer's
	// accounts stop signing in from then on.
	EndsOn string `json:"ends_on,omitempty"`
	// EndedAt is when the customer.end job ended the customer (on EndsOn
	// or, if no controller ran that day, at the first run after it).
	EndedAt *time.Time `json:"ended_at,omitempty"`
}

// CustomerInput creates a customer.
type CustomerInput struct {
	Name string `json:"name"`
}

// CreateCustomer adds a customer (operator).
func (c *Catalog) CreateCustomer(ctx context.Context, in CustomerInput) (Customer, error) {
	if err := checkText("name", in.Name, 200); err != nil {
		return Customer{}, err
	}
	cu := Customer{ID: CustomerID(ids.New("cus")), Name: in.Name, Status: "active", CreatedAt: clock.Now()}
	err := c.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO customers (id, name, status, created_at) VALUES (?, ?, ?, ?)`,
			cu.ID, cu.Name, cu.Status, clock.Store(cu.CreatedAt)); err != nil {
			return err
		}
		return c.audit.RecordTx(ctx, tx, audit.Event{Action: "customer.create", Target: "customer:" + string(cu.ID),
			CustomerID: string(cu.ID), Detail: map[string]any{"name": cu.Name}})
	})
	if err != nil {
		return Customer{}, fmt.Errorf("create customer: %w", err)
	}
	return cu, nil
}

const customerCols = `id, name, status, created_at, terminated_on, purge_due_on, ended_at`

func scanCustomer(s interface{ Scan(...any) error }) (Customer, error) {
	var cu Customer
	var at string
	var term, purge, ended *string
	err := s.Scan(&cu.ID, &cu.Name, &cu.Status, &at, &term, &purge, &ended)
	cu.CreatedAt = parseTime(at)
	if term != nil {
		cu.TerminatedOn = *term
		cu.EndsOn = DayOne(*term)
	}
	if ended != nil {
		t := parseTime(*ended)
		cu.EndedAt = &t
	}
	if purge != nil {
		cu.PurgeDueOn = *purge
	}
	return cu, err
}

// GetCustomer returns the customer an operator's handle names: how a
// management route learns that the customer in its path exists (404
// otherwise). It checks no action beyond the handle being staff's; the route
// checked the one it serves.
func (c *Catalog) GetCustomer(ctx context.Context, op tenant.Operator) (Customer, error) {
	id, err := op.Customer()
	if err != nil {
		return Customer{}, err
	}
	return c.customerByID(ctx, id)
}

// OwnCustomer returns the customer whose own scope sc is: its name and
// status, for its panel and its API clients (GET /api/v1/customer).
func (c *Catalog) OwnCustomer(ctx context.Context, sc tenant.Scope) (Customer, error) {
	id, err := sc.Authorize(tenant.ActCatalogRead)
	if err != nil {
		return Customer{}, err
	}
	return c.customerByID(ctx, id)
}

// customerByID reads one customer; the caller has checked that its handle
// may read it.
func (c *Catalog) customerByID(ctx context.Context, id CustomerID) (Customer, error) {
	cu, err := scanCustomer(c.db.QueryRow(ctx, `SELECT `+customerCols+` FROM customers WHERE id = ?`, id))
	if err != nil {
		return Customer{}, notFound("customer", store.Wrap(err))
	}
	return cu, nil
}

// ListCustomers lists customers by ID (operator).
func (c *Catalog) ListCustomers(ctx context.Context, p Page) ([]Customer, string, error) {
	rows, err := c.db.Query(ctx, `SELECT `+customerCols+` FROM customers WHERE id > ? ORDER BY id LIMIT ?`, p.After, p.limit())
	if err != nil {
		return nil, "", fmt.Errorf("list customers: %w", err)
	}
	defer rows.Close()
	out := []Customer{}
	var keys []string
	for rows.Next() {
		cu, err := scanCustomer(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list customers: %w", err)
		}
		out = append(out, cu)
		keys = append(keys, string(cu.ID))
	}
	return out, next(keys, p), rows.Err()
}
