package network

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// A customer changes a port's contracted speed through the reviewed-change
// workflow: the request sits in the draft beside the configuration (it is a
// contract item, not saved data), the review shows it with its risk — low,
// and hitless: the port's shaping rate changes in place, no session resets —
// and apply records it as a bandwidth change under the same admission
// control as an operator's (recordBandwidthChange), in the apply's
// transaction, so a refusal leaves nothing applied. A change effective today
// takes effect at once; a later one on its date (speedsync.go).

// SpeedRequest is a speed change asked for in a draft.
type SpeedRequest struct {
	PortCode      string `json:"port_code"`
	SpeedMbps     int64  `json:"speed_mbps"`
	EffectiveDate string `json:"effective_date"` // JST date, today or later
}

// SetPortSpeed asks, in the draft, for port code's contracted speed to
// become in.SpeedMbps on in.EffectiveDate (today, JST, when left out). The
// speed must be in the port kind's speed set and differ from the speed in
// effect on that date, and the physical ports the port is placed on must
// have room for it; otherwise nothing is stored. A second request for the
// same port replaces the first.
func (s *Workflow) SetPortSpeed(ctx context.Context, sc tenant.Scope, code string, in BandwidthInput) (shown Draft, err error) {
	defer shown.mask()
	cust, err := sc.Authorize(identity.ActNetworkEdit)
	if err != nil {
		return Draft{}, err
	}
	if in.EffectiveDate == "" {
		in.EffectiveDate = s.today()
	}
	if err := s.checkBandwidthInput(in); err != nil {
		return Draft{}, err
	}
	return s.editSpeeds(ctx, cust, "network.draft.speed.save", code, func(tx *store.Tx, reqs []SpeedRequest) ([]SpeedRequest, error) {
		p, err := s.speedPort(ctx, tx, cust, code, in.SpeedMbps)
		if err != nil {
			return nil, err
		}
		from, err := s.admitSpeed(ctx, tx, p, in)
		if err != nil {
			return nil, err
		}
		if from == in.SpeedMbps {
			return nil, fault.Field("speed_mbps", "port %s already runs at %d Mb/s on %s", code, from, in.EffectiveDate)
		}
		reqs = slices.DeleteFunc(reqs, func(r SpeedRequest) bool { return r.PortCode == code })
		reqs = append(reqs, SpeedRequest{PortCode: code, SpeedMbps: in.SpeedMbps, EffectiveDate: in.EffectiveDate})
		slices.SortFunc(reqs, func(a, b SpeedRequest) int { return strings.Compare(a.PortCode, b.PortCode) })
		return reqs, nil
	})
}

// RemovePortSpeed withdraws the draft's speed change of port code.
func (s *Workflow) RemovePortSpeed(ctx context.Context, sc tenant.Scope, code string) (shown Draft, err error) {
	defer shown.mask()
	cust, err := sc.Authorize(identity.ActNetworkEdit)
	if err != nil {
		return Draft{}, err
	}
	return s.editSpeeds(ctx, cust, "network.draft.speed.remove", code, func(_ *store.Tx, reqs []SpeedRequest) ([]SpeedRequest, error) {
		i := slices.IndexFunc(reqs, func(r SpeedRequest) bool { return r.PortCode == code })
		if i < 0 {
			return nil, fault.New(fault.NotFound, "the draft has no speed change for port %s", code)
		}
		return slices.Delete(reqs, i, i+1), nil
	})
}

// editSpeeds changes the draft's speed requests under the edit lock (making
// the draft from the current version when there is none) and audits it.
func (s *core) editSpeeds(ctx context.Context, cust catalog.CustomerID, action, code string,
	edit func(*store.Tx, []SpeedRequest) ([]SpeedRequest, error)) (Draft, error) {
	var d Draft
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if d, err = s.lockedDraft(ctx, tx, cust); err != nil {
			return err
		}
		reqs, err := edit(tx, slices.Clone(d.SpeedChanges))
		if err != nil {
			return err
		}
		d.SpeedChanges, d.UpdatedAt, d.UpdatedBy = reqs, s.now(), audit.ActorFrom(ctx).Name
		if err := s.putDraft(ctx, tx, cust, d); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: action, Target: "port:" + code, CustomerID: string(cust),
			Detail: map[string]any{"base_version": d.BaseVersion, "speed_changes": len(reqs)}})
	})
	if err != nil {
		return Draft{}, fmt.Errorf("save draft: %w", err)
	}
	return d, nil
}

// reviewSpeeds adds the draft's speed requests to review r: a change at
// ports[code].speed_mbps and a low-risk, hitless reason each, and a problem
// for each request that admission control or the speed set now refuses (the
// physical port filled up since it was asked for, the date passed).
func (s *core) reviewSpeeds(ctx context.Context, q store.Querier, cust catalog.CustomerID, reqs []SpeedRequest, r *Review) error {
	if len(reqs) == 0 {
		return nil
	}
	for _, sr := range reqs {
		field := fmt.Sprintf("speed_changes[%s]", sr.PortCode)
		in := BandwidthInput{SpeedMbps: sr.SpeedMbps, EffectiveDate: sr.EffectiveDate}
		from := int64(0)
		err := s.checkBandwidthInput(in)
		if err == nil {
			var p portRow
			if p, err = s.speedPort(ctx, q, cust, sr.PortCode, sr.SpeedMbps); err == nil {
				from, err = s.admitSpeed(ctx, q, p, in)
			}
			// A change made since the request was saved (an operator's)
			// can leave nothing to change.
			if err == nil && from == sr.SpeedMbps {
				err = fault.Field("speed_mbps", "port %s already runs at %d Mb/s on %s", sr.PortCode, from, sr.EffectiveDate)
			}
		}
		if err != nil {
			f, ok := fault.As(err)
			if !ok {
				return err
			}
			name := field
			if f.Field != "" {
				name += "." + f.Field
			}
			r.Problems = append(r.Problems, Problem{Field: name, Message: f.Message})
			r.Valid = false
			continue
		}
		r.Changes = append(r.Changes, Change{Path: fmt.Sprintf("ports[%s].speed_mbps", sr.PortCode), Op: "changed", Before: from, After: sr.SpeedMbps})
		r.Reasons = append(r.Reasons, Reason{Risk: "low", Impact: "none", Object: "port:" + sr.PortCode,
			Text: fmt.Sprintf("changes the contracted speed of port %s from %d to %d Mb/s on %s (JST): hitless — the port's shaping rate changes in place, no BGP session resets",
				sr.PortCode, from, sr.SpeedMbps, sr.EffectiveDate)})
	}
	r.levels()
	return nil
}
