package network

import (
	"context"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// The customer's view of layer-2 guard holds (hold.go): whether a node
// holds an on-premises port shut, and the re-enable.

// PortGuardState is whether a port is shut by a layer-2 guard.
type PortGuardState struct {
	PortCode    string     `json:"port_code"`
	State       string     `json:"state"`            // active | shut
	Reason      string     `json:"reason,omitempty"` // bpdu | flap
	ShutAt      *time.Time `json:"shut_at,omitempty"`
	ReenableSeq int64      `json:"reenable_seq"`
}

func guardState(code string, ph portHolds) PortGuardState {
	st := PortGuardState{PortCode: code, State: "active", ReenableSeq: ph.seq}
	if h, held := ph.holds[observed.HoldL2Guard]; held {
		since := h.Since
		st.State, st.Reason, st.ShutAt = "shut", h.Reason, &since
	}
	return st
}

// GetPortGuard returns the port's layer-2 guard state.
func (s *Workflow) GetPortGuard(ctx context.Context, sc tenant.Scope, code string) (PortGuardState, error) {
	cust, err := sc.Authorize(identity.ActNetworkRead)
	if err != nil {
		return PortGuardState{}, err
	}
	p, err := s.portRow(ctx, s.db, cust, code)
	if err != nil {
		return PortGuardState{}, err
	}
	ph, err := s.portHolds(ctx, s.db, cust, p.id)
	if err != nil {
		return PortGuardState{}, err
	}
	return guardState(p.code, ph), nil
}

// ReenablePort brings back a port a layer-2 guard shut (the customer,
// after fixing the cause). Like every re-enable it clears all the port's
// holds — a BGP session the route limit stopped comes back too.
func (s *Workflow) ReenablePort(ctx context.Context, sc tenant.Scope, code string) (PortGuardState, error) {
	p, ph, err := s.reenable(ctx, sc, code, observed.HoldL2Guard)
	if err != nil {
		return PortGuardState{}, err
	}
	return guardState(p.code, ph), nil
}
