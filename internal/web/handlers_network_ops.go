package web

import (
	"net/http"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Management-listener handlers of the hub service model: capacity, NAT
// pools, placement, bandwidth changes and desired state. Operator data only:
// customers' saved data in a node's desired state is shown only under a
// break-glass grant for that customer.

func (s *Server) opCapacity(w http.ResponseWriter, r *http.Request) error {
	return opsDo(s, w, func(n *network.Operations) (network.CapacityReport, error) { return n.Capacity(r.Context()) })
}

func (s *Server) opCapacityCSV(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.netOps()
	if err != nil {
		return err
	}
	rep, err := svc.Capacity(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="capacity-`+rep.Date+`.csv"`)
	w.WriteHeader(http.StatusOK)
	_, err = w.Write([]byte(rep.CSV()))
	return err
}

func (s *Server) opPools(w http.ResponseWriter, r *http.Request) error {
	return opsDo(s, w, func(n *network.Operations) (list[network.Pool], error) {
		items, err := n.ListPools(r.Context())
		return newList(items, ""), err
	})
}

func (s *Server) opCreatePool(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.netOps()
	if err != nil {
		return err
	}
	return created(w, r, func(in network.PoolInput) (network.Pool, error) { return svc.CreatePool(r.Context(), in) })
}

func (s *Server) opPlacements(w http.ResponseWriter, r *http.Request) error {
	return s.withCustomer(func(w http.ResponseWriter, r *http.Request, op tenant.Operator) error {
		return opsDo(s, w, func(n *network.Operations) (list[network.Placement], error) {
			items, err := n.Placements(r.Context(), op)
			return newList(items, ""), err
		})
	})(w, r)
}

func (s *Server) opProposePlacement(w http.ResponseWriter, r *http.Request) error {
	return s.withCustomer(func(w http.ResponseWriter, r *http.Request, op tenant.Operator) error {
		return opsDo(s, w, func(n *network.Operations) (network.Placement, error) {
			return n.ProposePlacement(r.Context(), op, r.PathValue("code"))
		})
	})(w, r)
}

func (s *Server) opPlace(w http.ResponseWriter, r *http.Request) error {
	return s.withCustomer(func(w http.ResponseWriter, r *http.Request, op tenant.Operator) error {
		svc, err := s.netOps()
		if err != nil {
			return err
		}
		return created(w, r, func(in network.PlaceInput) (network.Placement, error) {
			return svc.Place(r.Context(), op, r.PathValue("code"), in)
		})
	})(w, r)
}

func (s *Server) opBandwidthHistory(w http.ResponseWriter, r *http.Request) error {
	return s.withCustomer(func(w http.ResponseWriter, r *http.Request, op tenant.Operator) error {
		return opsDo(s, w, func(n *network.Operations) (list[network.BandwidthChange], error) {
			items, err := n.BandwidthHistory(r.Context(), op, r.PathValue("code"))
			return newList(items, ""), err
		})
	})(w, r)
}

func (s *Server) opBandwidthChange(w http.ResponseWriter, r *http.Request) error {
	return s.withCustomer(func(w http.ResponseWriter, r *http.Request, op tenant.Operator) error {
		svc, err := s.netOps()
		if err != nil {
			return err
		}
		return created(w, r, func(in network.BandwidthInput) (network.BandwidthChange, error) {
			return svc.RequestBandwidthChange(r.Context(), op, r.PathValue("code"), in)
		})
	})(w, r)
}

// opDesiredState shows operator staff a node's desired state: each
// customer's section in full only under the reader's live break-glass grant
// for that customer, else cut down to placement (network.StaffView). The
// request states why (?reason=); the service records the read.
func (s *Server) opDesiredState(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.compiler()
	if err != nil {
		return err
	}
	gs, err := s.deps.Identity.ActiveGrants(r.Context(), principal(r))
	if err != nil {
		return err
	}
	grants := map[catalog.CustomerID]network.StaffGrant{}
	for _, g := range gs {
		grants[g.CustomerID] = network.StaffGrant{ID: g.ID, Reason: g.Reason}
	}
	doc, st, err := svc.DesiredStateForStaff(r.Context(), r.PathValue("node"), r.URL.Query().Get("reason"), grants)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", `"`+st.Generation+`"`)
	if strings.Trim(r.Header.Get("If-None-Match"), `"`) == st.Generation {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(doc)
	return err
}

// opAffected lists the customers, hubs and ports that work on a node (or one
// of its physical ports, ?physical_port=) affects, for the change notice.
func (s *Server) opAffected(w http.ResponseWriter, r *http.Request) error {
	return opsDo(s, w, func(n *network.Operations) (network.AffectedReport, error) {
		return n.Affected(r.Context(), r.PathValue("node"), r.URL.Query().Get("physical_port"))
	})
}

func (s *Server) opCancelBandwidthChange(w http.ResponseWriter, r *http.Request) error {
	return s.withCustomer(func(w http.ResponseWriter, r *http.Request, op tenant.Operator) error {
		return opsDo(s, w, func(n *network.Operations) (network.BandwidthChange, error) {
			return n.CancelBandwidthChange(r.Context(), op, r.PathValue("code"), r.PathValue("change"))
		})
	})(w, r)
}

func (s *Server) opUnderlay(w http.ResponseWriter, r *http.Request) error {
	return opsDo(s, w, func(n *network.Operations) (network.Underlay, error) {
		return n.Underlay(r.Context(), r.PathValue("node"))
	})
}

func (s *Server) opSetUnderlay(w http.ResponseWriter, r *http.Request) error {
	var in network.UnderlayInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	return opsDo(s, w, func(n *network.Operations) (network.Underlay, error) {
		return n.SetUnderlay(r.Context(), r.PathValue("node"), in)
	})
}
