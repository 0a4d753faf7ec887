package web

import (
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
)

// The termination dates, as the customer's start and contract pages and the
// operator's customer page show them (templates/partials/term.html). They
// add no route: they are read from the customer and its contracts that those
// pages load already.

// lifecycleView is a terminated customer's way out: cancelled (the last
// contract's cancellation), the service through TerminatedOn, sign-in
// stopping on EndsOn (day 1) — EndedAt once the customer.end job has run —
// and erasure by PurgeDueOn.
type lifecycleView struct {
	CancelledAt  *time.Time
	TerminatedOn string
	EndsOn       string
	EndedAt      *time.Time
	PurgeDueOn   string
}

// lifecycleOf is cu's way out, or nil while cu is active (a cancelled
// contract beside active ones does not end the customer).
func lifecycleOf(cu catalog.Customer, contracts []catalog.Contract) *lifecycleView {
	if cu.Status != "terminated" {
		return nil
	}
	v := &lifecycleView{TerminatedOn: cu.TerminatedOn, EndsOn: cu.EndsOn, EndedAt: cu.EndedAt, PurgeDueOn: cu.PurgeDueOn}
	for _, k := range contracts {
		if k.CancelledAt != nil && (v.CancelledAt == nil || k.CancelledAt.After(*v.CancelledAt)) {
			v.CancelledAt = k.CancelledAt
		}
	}
	return v
}
