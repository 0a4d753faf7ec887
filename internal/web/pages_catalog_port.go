package web

import (
	"context"
	"net/http"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/web/panel"
)

// portPage is a port's page: what was bought, its speed changes, its BGP
// sessions as the node reported them with the route limit, its holds and
// the carrier of each leg. The network part is read with the same service
// calls as GET /api/v1/ports/{code}/bgp, /l2-guard and /bandwidth-changes.
type portPage struct {
	Port        catalog.Port
	HubRegion   string
	HubPriority string
	SpeedBPS    int64
	Live        panel.LiveState
	// Network is false for a viewer who may not read the customer's
	// network: the page then shows the catalog part only.
	Network  bool
	Changes  []speedChange
	BGP      network.BGPState
	Guard    *network.PortGuardState // on-premises ports only
	Sessions []sessionRow
	Refused  []refusedRow
	Links    []observed.Link
}

// speedChange is a bandwidth change with its speeds in bit/s, as the
// panel's bps shows speeds.
type speedChange struct {
	network.BandwidthChange
	FromBPS, ToBPS int64
}

// sessionRow is a BGP session with its state reduced to one the catalogue
// names (BIRD's protocol states; any other is "other").
type sessionRow struct {
	observed.Session
	StateKey string
}

func sessionRows(ss []observed.Session) []sessionRow {
	out := make([]sessionRow, len(ss))
	for i, s := range ss {
		out[i] = sessionRow{Session: s, StateKey: "other"}
		switch s.State {
		case "up", "start", "down":
			out[i].StateKey = s.State
		}
	}
	return out
}

// refusedRow is a prefix a session refused, and why (the node's words).
type refusedRow struct {
	observed.Refused
	Session string
}

func (s *Server) readPortPage(ctx context.Context, sc tenant.Scope, lang, code string) (portPage, error) {
	pt, err := s.deps.Catalog.GetPort(ctx, sc, code)
	if err != nil {
		return portPage{}, err
	}
	pg := portPage{Port: pt, SpeedBPS: pt.SpeedMbps * 1e6, Live: panel.StateUnknown}
	h, err := s.deps.Catalog.GetHub(ctx, sc, pt.HubID)
	if err != nil {
		return pg, err
	}
	cv, err := s.readRegions(ctx, lang)
	if err != nil {
		return pg, err
	}
	pg.HubRegion, pg.HubPriority = cv.RegionName(h.Region), h.Priority
	if s.deps.Workflow == nil || !sc.Can(identity.ActNetworkRead) {
		return pg, nil
	}
	pg.Network = true
	wf := s.deps.Workflow
	changes, err := wf.BandwidthHistory(ctx, sc, code)
	if err != nil {
		return pg, err
	}
	for _, c := range changes {
		pg.Changes = append(pg.Changes, speedChange{c, c.FromMbps * 1e6, c.ToMbps * 1e6})
	}
	if pg.BGP, err = wf.GetBGPState(ctx, sc, code); err != nil {
		return pg, err
	}
	if pt.Kind == "onprem" {
		g, err := wf.GetPortGuard(ctx, sc, code)
		if err != nil {
			return pg, err
		}
		pg.Guard = &g
	}
	lv, err := s.readLive(ctx, sc, []catalog.HubID{pt.HubID})
	if err != nil {
		return pg, err
	}
	if lp := lv.ports[code]; lp != nil {
		pg.Sessions, pg.Links = sessionRows(lp.Sessions), lp.Links
		for _, s := range lp.Sessions {
			for _, rf := range s.Refused {
				pg.Refused = append(pg.Refused, refusedRow{rf, s.Name})
			}
		}
	}
	pg.Live = lv.ports[code].state()
	return pg, nil
}

func (s *Server) catPort(w http.ResponseWriter, r *http.Request) error {
	pg, err := s.readPortPage(r.Context(), principal(r).Scope(), s.language(r), r.PathValue("code"))
	if err != nil {
		return err
	}
	return s.render(w, r, "cat-port", pg)
}

// catReenableBGP restarts the port's BGP sessions that the route limit
// stopped (POST /api/v1/ports/{code}/bgp/reenable).
func (s *Server) catReenableBGP(w http.ResponseWriter, r *http.Request) error {
	return s.catReenable(w, r, "bgp_reenable", "cat.flash.bgp_reenabled", func(wf *network.Workflow, code string) error {
		_, err := wf.Reenable(r.Context(), principal(r).Scope(), code)
		return err
	})
}

// catReenableL2 brings back a port a layer-2 guard shut (POST
// /api/v1/ports/{code}/l2-guard/reenable).
func (s *Server) catReenableL2(w http.ResponseWriter, r *http.Request) error {
	return s.catReenable(w, r, "l2_reenable", "cat.flash.l2_reenabled", func(wf *network.Workflow, code string) error {
		_, err := wf.ReenablePort(r.Context(), principal(r).Scope(), code)
		return err
	})
}

// catReenable runs a re-enable and returns to the port's page. A refusal
// (the port is not held, say) is shown on the port's page next to the
// section's form, named by field; another customer's port is 404.
func (s *Server) catReenable(w http.ResponseWriter, r *http.Request, field, flash string, do func(*network.Workflow, string) error) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	wf, err := netPart(s.deps.Workflow)
	if err != nil {
		return err
	}
	code := r.PathValue("code")
	if err := do(wf, code); err != nil {
		f := classify(err)
		if f.Kind == fault.NotFound || f.Kind == fault.Forbidden {
			return err
		}
		pg, perr := s.readPortPage(r.Context(), principal(r).Scope(), s.language(r), code)
		if perr != nil {
			return perr
		}
		placed := *f
		placed.Field = field
		return s.renderRefused(w, r, "cat-port", pg, &placed)
	}
	return redirect(w, r, "/ports/"+code, flash)
}
