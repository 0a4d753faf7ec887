package catalog

import (
	"context"
	"fmt"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// Termination is what a customer is told when its last contract is
// cancelled: the service continues through TerminatedOn (JST), its accounts
// stop signing in on EndsOn (day 1), and everything of it is erased by
// PurgeDueOn.
type Termination struct {
	Customer     CustomerID
	TerminatedOn string
	EndsOn       string
	PurgeDueOn   string
}

// TerminationHook acts inside the transaction that makes a customer
// terminated; its error rolls the cancellation back.
type TerminationHook func(ctx context.Context, tx *store.Tx, t Termination) error

// OnTerminated adds a hook run when CancelContract makes a customer
// terminated. It must be called before the catalog serves requests.
//
// A hook, rather than a call: the notice mail goes to the customer's
// operations administrators, whom package identity knows, and identity
// imports the catalog (not the other way round). Running inside the
// cancellation's transaction keeps "cancelled" and "told" together — a
// cancellation that commits has queued its mail, one that fails has not.
func (c *Catalog) OnTerminated(h TerminationHook) { c.onTerminated = append(c.onTerminated, h) }

func (c *Catalog) terminated(ctx context.Context, tx *store.Tx, t Termination) error {
	for _, h := range c.onTerminated {
		if err := h(ctx, tx, t); err != nil {
			return fmt.Errorf("termination notice: %w", err)
		}
	}
	return nil
}

// DayOne is the day after a termination date (JST): day 1, counted for the
// erasure window (CLD.8.1.5), and the day the service stops.
func DayOne(terminationDate string) string {
	t, err := clock.ParseDate(terminationDate)
	if err != nil {
		return ""
	}
	return t.AddDate(0, 0, 1).Format(clock.DateLayout)
}
