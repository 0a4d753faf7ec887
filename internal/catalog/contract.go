package catalog

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// PurgeDays is how long after the termination date everything of a customer
// may remain: day 1 is the day after the termination date (CLD.8.1.5).
const PurgeDays = 90

// Contract is one contracted service.
type Contract struct {
	ID              ContractID `json:"-"`
	CustomerID      CustomerID `json:"customer_id"`
	ServiceCode     string     `json:"service_code"`
	Plan            string     `json:"plan"`
	Status          string     `json:"status"` // active | cancelled
	StartDate       string     `json:"start_date"`
	TerminationDate string     `json:"termination_date,omitempty"`
	CancelledAt     *time.Time `json:"cancelled_at,omitempty"`
	CancelReason    string     `json:"cancel_reason,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
	Options         []Option   `json:"options"`

	// EndsOn is the day after TerminationDate (JST): day 1, when the
	// contract's ports and hubs end.
	EndsOn string `json:"ends_on,omitempty"`
	// PurgeDueOn is the customer's erasure deadline, set once its last
	// contract is cancelled (Customer.PurgeDueOn).
	PurgeDueOn string `json:"purge_due_on,omitempty"`
}

// Option is an option bought on a contract.
type Option struct {
	Name      string    `json:"name"`
	Quantity  int64     `json:"quantity"`
	CreatedAt time.Time `json:"created_at"`
}

// Plans a contract can be for.
var Plans = []string{"smart-hub"}

// ContractInput creates a contract.
type ContractInput struct {
	Plan      string `json:"plan"`
	StartDate string `json:"start_date"` // JST date; today when empty
}

// OptionInput adds an option or changes its quantity.
type OptionInput struct {
	Name     string `json:"name"`
	Quantity int64  `json:"quantity"`
}

// Option names a contract can carry. The service model gives them effect.
var OptionNames = []string{"static-nat-address", "napt-grade", "reachability-monitor", "extra-hub"}

// CancelInput fixes a contract's termination date.
type CancelInput struct {
	TerminationDate string `json:"termination_date"` // JST date, today or later
	Reason          string `json:"reason"`
}

func checkDate(field, s string) error {
	if _, err := clock.ParseDate(s); err != nil {
		return fault.Field(field, "%s must be a date YYYY-MM-DD", field)
	}
	return nil
}

// CreateContract issues a service code and records the contract (operator).
func (c *Catalog) CreateContract(ctx context.Context, op tenant.Operator, in ContractInput) (Contract, error) {
	cust, err := op.Authorize(tenant.ActCatalogManage)
	if err != nil {
		return Contract{}, err
	}
	if !contains(Plans, in.Plan) {
		return Contract{}, fault.Field("plan", "plan must be one of %v", Plans)
	}
	if in.StartDate == "" {
		in.StartDate = clock.Today()
	}
	if err := checkDate("start_date", in.StartDate); err != nil {
		return Contract{}, err
	}
	k := Contract{ID: ContractID(ids.New("ctr")), CustomerID: cust, Plan: in.Plan, Status: "active",
		StartDate: in.StartDate, CreatedAt: clock.Now(), Options: []Option{}}
	err = c.db.InTx(ctx, func(tx *store.Tx) error {
		var status string
		if err := store.Scan(tx.QueryRow(ctx, `SELECT status FROM customers WHERE id = ?`, cust), &status); err != nil {
			return notFound("customer", err)
		}
		if status != "active" {
			return fault.New(fault.Conflict, "customer is terminated")
		}
		code, err := issueCode(ctx, tx, "shb")
		if err != nil {
			return err
		}
		k.ServiceCode = code
		if _, err := tx.Exec(ctx, `INSERT INTO contracts (id, customer_id, service_code, plan, status, start_date, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, k.ID, cust, code, k.Plan, k.Status, k.StartDate, clock.Store(k.CreatedAt)); err != nil {
			return err
		}
		return c.audit.RecordTx(ctx, tx, audit.Event{Action: "contract.create", Target: "contract:" + code,
			CustomerID: string(cust), Detail: map[string]any{"plan": k.Plan, "start_date": k.StartDate}})
	})
	if err != nil {
		return Contract{}, fmt.Errorf("create contract: %w", err)
	}
	return k, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

const contractCols = `id, customer_id, service_code, plan, status, start_date, termination_date, cancelled_at, cancel_reason, created_at,
	(SELECT purge_due_on FROM customers WHERE customers.id = contracts.customer_id)`

func scanContract(s interface{ Scan(...any) error }) (Contract, error) {
	var k Contract
	var at string
	var term, cancelled, reason, purge *string
	err := s.Scan(&k.ID, &k.CustomerID, &k.ServiceCode, &k.Plan, &k.Status, &k.StartDate, &term, &cancelled, &reason, &at, &purge)
	k.CreatedAt = parseTime(at)
	if term != nil {
		k.TerminationDate = *term
		k.EndsOn = DayOne(*term)
	}
	if cancelled != nil {
		t := parseTime(*cancelled)
		k.CancelledAt = &t
	}
	if reason != nil {
		k.CancelReason = *reason
	}
	if purge != nil {
		k.PurgeDueOn = *purge
	}
	k.Options = []Option{}
	return k, err
}

// GetContract returns the customer's contract with the given service code.
func (c *Catalog) GetContract(ctx context.Context, h tenant.Holder, code string) (Contract, error) {
	cust, err := h.Authorize(tenant.ActCatalogRead, tenant.ActCatalogManage)
	if err != nil {
		return Contract{}, err
	}
	return c.getContract(ctx, c.db, cust, code)
}

func (c *Catalog) getContract(ctx context.Context, q store.Querier, cust CustomerID, code string) (Contract, error) {
	if !ValidServiceCode(code) {
		return Contract{}, fault.New(fault.NotFound, "contract not found")
	}
	k, err := scanContract(q.QueryRow(ctx, `SELECT `+contractCols+` FROM contracts WHERE customer_id = ? AND service_code = ?`, cust, code))
	if err != nil {
		return Contract{}, notFound("contract", store.Wrap(err))
	}
	opts, err := c.options(ctx, q, k.ID)
	if err != nil {
		return Contract{}, err
	}
	k.Options = opts
	return k, nil
}

// activeContract is the customer's contract that a new hub or port goes on:
// it must exist for this customer and be active; otherwise the fault names
// the service_code field.
func (c *Catalog) activeContract(ctx context.Context, tx *store.Tx, cust CustomerID, code string) (Contract, error) {
	k, err := c.getContract(ctx, tx, cust, code)
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return Contract{}, fault.Field("service_code", "no such contract for this customer")
		}
		return Contract{}, err
	}
	if k.Status != "active" {
		return Contract{}, fault.Field("service_code", "contract %s is cancelled", code)
	}
	return k, nil
}

func (c *Catalog) options(ctx context.Context, q store.Querier, id ContractID) ([]Option, error) {
	rows, err := q.Query(ctx, `SELECT name, quantity, created_at FROM contract_options WHERE contract_id = ? ORDER BY name`, id)
	if err != nil {
		return nil, fmt.Errorf("contract options: %w", err)
	}
	defer rows.Close()
	out := []Option{}
	for rows.Next() {
		var o Option
		var at string
		if err := rows.Scan(&o.Name, &o.Quantity, &at); err != nil {
			return nil, fmt.Errorf("contract options: %w", err)
		}
		o.CreatedAt = parseTime(at)
		out = append(out, o)
	}
	return out, rows.Err()
}

// ListContracts lists the customer's contracts by service code, with options.
func (c *Catalog) ListContracts(ctx context.Context, h tenant.Holder, p Page) ([]Contract, string, error) {
	cust, err := h.Authorize(tenant.ActCatalogRead, tenant.ActCatalogManage)
	if err != nil {
		return nil, "", err
	}
	rows, err := c.db.Query(ctx, `SELECT `+contractCols+` FROM contracts WHERE customer_id = ? AND service_code > ?
		ORDER BY service_code LIMIT ?`, cust, p.After, p.limit())
	if err != nil {
		return nil, "", fmt.Errorf("list contracts: %w", err)
	}
	out := []Contract{}
	var keys []string
	for rows.Next() {
		k, err := scanContract(rows)
		if err != nil {
			rows.Close()
			return nil, "", fmt.Errorf("list contracts: %w", err)
		}
		out = append(out, k)
		keys = append(keys, k.ServiceCode)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list contracts: %w", err)
	}
	if err := c.attachOptions(ctx, out); err != nil {
		return nil, "", err
	}
	return out, next(keys, p), nil
}

// attachOptions loads the options of a page of contracts in one query.
func (c *Catalog) attachOptions(ctx context.Context, ks []Contract) error {
	if len(ks) == 0 {
		return nil
	}
	idx := make(map[ContractID]int, len(ks))
	args := make([]any, len(ks))
	for i, k := range ks {
		idx[k.ID], args[i] = i, k.ID
	}
	rows, err := c.db.Query(ctx, `SELECT contract_id, name, quantity, created_at FROM contract_options
		WHERE contract_id IN (?`+strings.Repeat(", ?", len(ks)-1)+`) ORDER BY contract_id, name`, args...)
	if err != nil {
		return fmt.Errorf("contract options: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id ContractID
		var o Option
		var at string
		if err := rows.Scan(&id, &o.Name, &o.Quantity, &at); err != nil {
			return fmt.Errorf("contract options: %w", err)
		}
		o.CreatedAt = parseTime(at)
		ks[idx[id]].Options = append(ks[idx[id]].Options, o)
	}
	return rows.Err()
}

var optionNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{1,63}$`)

// SetOption adds an option to a contract or changes its quantity (operator).
func (c *Catalog) SetOption(ctx context.Context, op tenant.Operator, code string, in OptionInput) (Contract, error) {
	cust, err := op.Authorize(tenant.ActCatalogManage)
	if err != nil {
		return Contract{}, err
	}
	if !optionNameRE.MatchString(in.Name) || !contains(OptionNames, in.Name) {
		return Contract{}, fault.Field("name", "name must be one of %v", OptionNames)
	}
	if in.Quantity < 1 || in.Quantity > 10_000 {
		return Contract{}, fault.Field("quantity", "quantity must be between 1 and 10000")
	}
	var out Contract
	err = c.db.InTx(ctx, func(tx *store.Tx) error {
		k, err := c.getContract(ctx, tx, cust, code)
		if err != nil {
			return err
		}
		if k.Status != "active" {
			return fault.New(fault.Conflict, "contract %s is cancelled", code)
		}
		res, err := tx.Exec(ctx, `UPDATE contract_options SET quantity = ? WHERE contract_id = ? AND name = ?`, in.Quantity, k.ID, in.Name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO contract_options (id, customer_id, contract_id, name, quantity, created_at)
				VALUES (?, ?, ?, ?, ?, ?)`, ids.New("opt"), cust, k.ID, in.Name, in.Quantity, clock.Store(clock.Now())); err != nil {
				return err
			}
		}
		if err := c.audit.RecordTx(ctx, tx, audit.Event{Action: "contract.option.set", Target: "contract:" + code,
			CustomerID: string(cust), Detail: map[string]any{"option": in.Name, "quantity": in.Quantity}}); err != nil {
			return err
		}
		out, err = c.getContract(ctx, tx, cust, code)
		return err
	})
	if err != nil {
		return Contract{}, fmt.Errorf("set option: %w", err)
	}
	return out, nil
}

// CancelContract fixes the contract's termination date. When no active
// contract remains, the customer becomes terminated and its purge is due
// PurgeDays days after the latest termination date (day 1 = the day after).
func (c *Catalog) CancelContract(ctx context.Context, op tenant.Operator, code string, in CancelInput) (Contract, error) {
	cust, err := op.Authorize(tenant.ActCatalogManage)
	if err != nil {
		return Contract{}, err
	}
	if err := checkDate("termination_date", in.TerminationDate); err != nil {
		return Contract{}, err
	}
	if in.TerminationDate < clock.Today() {
		return Contract{}, fault.Field("termination_date", "termination_date must be today or later (JST)")
	}
	// A cancellation cannot be withdrawn, and the erasure follows its date:
	// a far-off date (a typo of the year) would keep the customer and its
	// data for ever.
	if latest := LatestTerminationDate(); in.TerminationDate > latest {
		return Contract{}, fault.Field("termination_date", "termination_date must be no later than %s (JST, %d years ahead)", latest, TerminationYears)
	}
	if err := checkText("reason", in.Reason, 500); err != nil {
		return Contract{}, err
	}
	var out Contract
	err = c.db.InTx(ctx, func(tx *store.Tx) error {
		k, err := c.getContract(ctx, tx, cust, code)
		if err != nil {
			return err
		}
		if k.Status != "active" {
			return fault.New(fault.Conflict, "contract %s is already cancelled", code)
		}
		if in.TerminationDate < k.StartDate {
			return fault.Field("termination_date", "termination_date must not be before the contract's start date %s", k.StartDate)
		}
		now := clock.Store(clock.Now())
		if _, err := tx.Exec(ctx, `UPDATE contracts SET status = 'cancelled', termination_date = ?, cancelled_at = ?, cancel_reason = ?
			WHERE id = ?`, in.TerminationDate, now, in.Reason, k.ID); err != nil {
			return err
		}
		// The ports keep running until the termination date: the service is
		// paid for until then. They are ended on day 1, the day after it, by
		// the port.end job (network.Operations.EndJob); the purge follows.
		detail := map[string]any{"termination_date": in.TerminationDate, "reason": in.Reason}
		var active int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM contracts WHERE customer_id = ? AND status = 'active'`, cust).Scan(&active); err != nil {
			return err
		}
		if active == 0 {
			var last string
			if err := tx.QueryRow(ctx, `SELECT MAX(termination_date) FROM contracts WHERE customer_id = ?`, cust).Scan(&last); err != nil {
				return err
			}
			due := PurgeDueOn(last)
			if _, err := tx.Exec(ctx, `UPDATE customers SET status = 'terminated', terminated_on = ?, purge_due_on = ? WHERE id = ?`,
				last, due, cust); err != nil {
				return err
			}
			detail["customer_terminated_on"], detail["purge_due_on"] = last, due
			if err := c.terminated(ctx, tx, Termination{Customer: cust, TerminatedOn: last, EndsOn: DayOne(last), PurgeDueOn: due}); err != nil {
				return err
			}
		}
		if err := c.audit.RecordTx(ctx, tx, audit.Event{Action: "contract.cancel", Target: "contract:" + code,
			CustomerID: string(cust), Detail: detail}); err != nil {
			return err
		}
		out, err = c.getContract(ctx, tx, cust, code)
		return err
	})
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Contract{}, fault.Wrap(fault.NotFound, err, "contract not found")
		}
		return Contract{}, fmt.Errorf("cancel contract: %w", err)
	}
	return out, nil
}

// TerminationYears is how far ahead a termination date may be set.
const TerminationYears = 5

// LatestTerminationDate is the latest termination date accepted today (JST).
func LatestTerminationDate() string {
	t, _ := clock.ParseDate(clock.Today())
	return t.AddDate(TerminationYears, 0, 0).Format(clock.DateLayout)
}

// PurgeDueOn is the last day of the erasure window for a termination date:
// the day after terminationDate is day 1, so day 90 is terminationDate + 90.
func PurgeDueOn(terminationDate string) string {
	t, err := clock.ParseDate(terminationDate)
	if err != nil {
		return ""
	}
	return t.AddDate(0, 0, PurgeDays).Format(clock.DateLayout)
}
