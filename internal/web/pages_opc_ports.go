package web

import (
	"net/http"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// opcPortData is one customer port for operator staff: where it runs, where
// the service would place it, and its dated speed changes.
type opcPortData struct {
	Customer  catalog.Customer
	Port      catalog.Port
	Placement *network.Placement
	// Proposal is the service's proposal; ProposalError says why there is
	// none (no room, no physical port of the kind), in the viewer's
	// language.
	Proposal      *network.Placement
	ProposalError string
	Changes       []network.BandwidthChange
	Speeds        []int64
}

func (s *Server) opcPortData(r *http.Request) (opcPortData, tenant.Operator, error) {
	var d opcPortData
	op, err := s.pathCustomer(r)
	if err != nil {
		return d, op, err
	}
	ops, err := s.netOps()
	if err != nil {
		return d, op, err
	}
	ctx, code := r.Context(), r.PathValue("code")
	if d.Customer, err = s.deps.Catalog.GetCustomer(ctx, op); err != nil {
		return d, op, err
	}
	if d.Port, err = s.deps.Catalog.GetPort(ctx, op, code); err != nil {
		return d, op, err
	}
	placements, err := ops.Placements(ctx, op)
	if err != nil {
		return d, op, err
	}
	for _, p := range placements {
		if p.PortCode == code {
			d.Placement = &p
		}
	}
	prop, err := ops.ProposePlacement(ctx, op, code)
	switch f := classify(err); {
	case err == nil:
		d.Proposal = &prop
	case f.Kind == fault.Internal || f.Kind == fault.Unavailable:
		return d, op, err
	default:
		d.ProposalError = s.faultText(s.language(r), f)
	}
	if d.Changes, err = ops.BandwidthHistory(ctx, op, code); err != nil {
		return d, op, err
	}
	d.Speeds = catalog.PortKinds[d.Port.Kind]
	return d, op, nil
}

func (s *Server) opcPort(w http.ResponseWriter, r *http.Request) error {
	d, _, err := s.opcPortData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "opc-port", d)
}

func (s *Server) opcPortForm(w http.ResponseWriter, r *http.Request, flash string,
	do func(ops *network.Operations, op tenant.Operator, code string) error) error {
	d, op, err := s.opcPortData(r)
	if err != nil {
		return err
	}
	ops, err := s.netOps()
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	if err := do(ops, op, d.Port.PortCode); err != nil {
		return s.renderRefused(w, r, "opc-port", d, opcSentField(r, err))
	}
	return redirect(w, r, "/customers/"+string(d.Customer.ID)+"/ports/"+d.Port.PortCode, flash)
}

// opcPlace places the port: as proposed when no leg is named, else on the
// legs the operator names, with a reason (the service's override rule).
func (s *Server) opcPlace(w http.ResponseWriter, r *http.Request) error {
	return s.opcPortForm(w, r, "opc.flash.placed", func(ops *network.Operations, op tenant.Operator, code string) error {
		in := network.PlaceInput{Primary: opcPhysRef(r, "primary"), Secondary: opcPhysRef(r, "secondary"),
			Reason: strings.TrimSpace(r.PostForm.Get("reason"))}
		_, err := ops.Place(r.Context(), op, code, in)
		return err
	})
}

// opcPhysRef is the leg a place form names in <leg>_node and <leg>_port, or
// nil when both are empty (the proposal's leg).
func opcPhysRef(r *http.Request, leg string) *network.PhysRef {
	node, port := strings.TrimSpace(r.PostForm.Get(leg+"_node")), strings.TrimSpace(r.PostForm.Get(leg+"_port"))
	if node == "" && port == "" {
		return nil
	}
	return &network.PhysRef{Node: node, Port: port}
}

func (s *Server) opcBandwidthChange(w http.ResponseWriter, r *http.Request) error {
	return s.opcPortForm(w, r, "opc.flash.bandwidth_scheduled", func(ops *network.Operations, op tenant.Operator, code string) error {
		speed, err := opcFormInt(r, "speed_mbps")
		if err != nil {
			return err
		}
		_, err = ops.RequestBandwidthChange(r.Context(), op, code, network.BandwidthInput{SpeedMbps: speed,
			EffectiveDate: r.PostForm.Get("effective_date")})
		return err
	})
}

func (s *Server) opcCancelBandwidthChange(w http.ResponseWriter, r *http.Request) error {
	return s.opcPortForm(w, r, "opc.flash.bandwidth_cancelled", func(ops *network.Operations, op tenant.Operator, code string) error {
		_, err := ops.CancelBandwidthChange(r.Context(), op, code, r.PathValue("change"))
		return err
	})
}
