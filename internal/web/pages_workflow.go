package web

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network"
)

// The reviewed-change workflow in the panel (docs/service-spec.md section
// 11): /network shows the applied version and whether each hub's data plane
// runs it, the edit lock with its holder, the draft and the ports; the port
// pages (pages_workflow_port.go), the object page (_objects.go), the hub
// settings (_hubs.go) and the JSON editor edit the draft; the review shows
// the diff and the risk and applies, and versions are listed and rolled
// back (_review.go). Every page calls the network.Workflow methods the
// API's handlers call (handlers_network.go), with the viewer's own scope;
// a page shows its controls only to a viewer holding the edit lock, and the
// handlers are admitted with the API's own permissions.

// workflowPages are the panel's pages for the customer's reviewed-change workflow: lock, draft, review, apply, versions, rollback, NAT.
func (s *Server) workflowPages() []pageRoute {
	read, edit := identity.ActNetworkRead, identity.ActNetworkEdit
	return concatPages([]pageRoute{
		{"GET", "/network", read, []string{"GET /api/v1/network/config", "GET /api/v1/network/lock", "GET /api/v1/network/draft"}, s.netOverviewPage},
		{"GET", "/network/lock", read, []string{"GET /api/v1/network/lock"}, s.netLockFragment},
		{"POST", "/network/lock", edit, []string{"POST /api/v1/network/lock"}, s.netStartEditingPage},
		{"POST", "/network/lock/release", edit, []string{"DELETE /api/v1/network/lock"}, s.netReleaseLockPage},
		{"POST", "/network/lock/break", identity.ActLockBreak, []string{"POST /api/v1/network/lock/break"}, s.netBreakLockPage},
		{"POST", "/network/draft/discard", edit, []string{"DELETE /api/v1/network/draft"}, s.netDiscardPage},
		{"GET", "/network/draft/json", read, []string{"GET /api/v1/network/draft"}, s.netJSONPage},
		{"POST", "/network/draft/json", edit, []string{"PUT /api/v1/network/draft"}, s.netSaveJSONPage},
		{"GET", "/network/review", read, []string{"GET /api/v1/network/draft/review"}, s.netReviewPage},
		{"POST", "/network/apply", edit, []string{"POST /api/v1/network/draft/apply"}, s.netApplyPage},
		{"GET", "/network/versions", read, []string{"GET /api/v1/network/versions"}, s.netVersionsPage},
		{"GET", "/network/versions/{version}", read, []string{"GET /api/v1/network/versions/{version}"}, s.netVersionPage},
		{"POST", "/network/versions/{version}/rollback", edit, []string{"POST /api/v1/network/versions/{version}/rollback"}, s.netRollbackPage},
		{"GET", "/network/nat", read, []string{"GET /api/v1/network/nat"}, s.netNATPage},
	}, s.workflowPortPages(), s.workflowObjectPages(), s.workflowHubPages())
}

// netOverview is /network.
type netOverview struct {
	Applied network.Version
	Hubs    []netHub
	netEditState
	Draft  *network.Draft
	Review *network.Review
	Ports  []netPortRow
}

// netEditState is the edit lock as every workflow page shows it.
type netEditState struct {
	Lock *network.Lock // nil: nobody is editing
	// Editing: the viewer holds the lock (and so may change the draft).
	Editing bool
}

type netHub struct {
	catalog.Hub
	Dataplane hubDataplane
}

// netPortRow is a contracted port and where it stands in the configuration.
type netPortRow struct {
	catalog.Port
	Applied, InDraft, Changed bool
}

func (s *Server) netEditState(r *http.Request, n *network.Workflow) (netEditState, error) {
	l, err := n.GetLock(r.Context(), principal(r).Scope())
	if fault.Is(err, fault.NotFound) {
		return netEditState{}, nil
	}
	if err != nil {
		return netEditState{}, err
	}
	return netEditState{Lock: &l, Editing: l.Mine && identity.Allowed(principal(r).Role, identity.ActNetworkEdit)}, nil
}

// netDraftOrNil is the draft, or nil when there is none.
func netDraftOrNil(r *http.Request, n *network.Workflow) (*network.Draft, error) {
	d, err := n.GetDraft(r.Context(), principal(r).Scope())
	if fault.Is(err, fault.NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &d, nil
}

func (s *Server) netOverviewData(r *http.Request) (netOverview, error) {
	var o netOverview
	n, err := s.network()
	if err != nil {
		return o, err
	}
	ctx, sc := r.Context(), principal(r).Scope()
	if o.Applied, err = n.Applied(ctx, sc); err != nil {
		return o, err
	}
	hubs, err := everything(func(p catalog.Page) ([]catalog.Hub, string, error) { return s.deps.Catalog.ListHubs(ctx, sc, p) })
	if err != nil {
		return o, err
	}
	for _, h := range hubs {
		dp, err := s.hubDataplane(ctx, sc, h.ID)
		if err != nil {
			return o, err
		}
		o.Hubs = append(o.Hubs, netHub{Hub: h, Dataplane: dp})
	}
	if o.netEditState, err = s.netEditState(r, n); err != nil {
		return o, err
	}
	if o.Draft, err = netDraftOrNil(r, n); err != nil {
		return o, err
	}
	if o.Draft != nil {
		rev, err := n.Review(ctx, sc)
		if err != nil {
			return o, err
		}
		o.Review = &rev
	}
	ports, err := everything(func(p catalog.Page) ([]catalog.Port, string, error) { return s.deps.Catalog.ListPorts(ctx, sc, "", p) })
	if err != nil {
		return o, err
	}
	for _, p := range ports {
		row := netPortRow{Port: p, Applied: hasPort(o.Applied.Config, p.PortCode)}
		if o.Draft != nil {
			row.InDraft = hasPort(o.Draft.Config, p.PortCode)
			row.Changed = slices.Contains(o.Review.AffectedPorts, p.PortCode)
		}
		o.Ports = append(o.Ports, row)
	}
	return o, nil
}

func hasPort(c network.Config, code string) bool {
	return slices.ContainsFunc(c.Ports, func(p network.PortConfig) bool { return p.PortCode == code })
}

func (s *Server) netOverviewPage(w http.ResponseWriter, r *http.Request) error {
	o, err := s.netOverviewData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "net-overview", o)
}

// netLockFragment is the lock's part of /network, which the page refreshes
// (htmx) so that a second administrator sees a lock taken meanwhile.
func (s *Server) netLockFragment(w http.ResponseWriter, r *http.Request) error {
	n, err := s.network()
	if err != nil {
		return err
	}
	st, err := s.netEditState(r, n)
	if err != nil {
		return err
	}
	if r.Header.Get("HX-Request") == "" {
		return redirect(w, r, "/network#lock", "")
	}
	return s.fragment(w, r, "net-overview", "net-lock", netOverview{netEditState: st})
}

// netOverviewAction runs a lock or draft action from /network and returns
// there with flash; a refusal shows /network with the reason.
func (s *Server) netOverviewAction(flash string, do func(*http.Request, *network.Workflow) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := parseForm(w, r); err != nil {
			return err
		}
		n, err := s.network()
		if err != nil {
			return err
		}
		if err := do(r, n); err != nil {
			o, oerr := s.netOverviewData(r)
			if oerr != nil {
				return oerr
			}
			return s.renderRefused(w, r, "net-overview", o, err)
		}
		return redirect(w, r, "/network", flash)
	}
}

func (s *Server) netStartEditingPage(w http.ResponseWriter, r *http.Request) error {
	return s.netOverviewAction("net.flash_editing", func(r *http.Request, n *network.Workflow) error {
		_, err := n.StartEditing(r.Context(), principal(r).Scope())
		return err
	})(w, r)
}

func (s *Server) netReleaseLockPage(w http.ResponseWriter, r *http.Request) error {
	return s.netOverviewAction("net.flash_released", func(r *http.Request, n *network.Workflow) error {
		return n.ReleaseLock(r.Context(), principal(r).Scope())
	})(w, r)
}

func (s *Server) netBreakLockPage(w http.ResponseWriter, r *http.Request) error {
	return s.netOverviewAction("net.flash_broken", func(r *http.Request, n *network.Workflow) error {
		_, err := n.BreakLock(r.Context(), principal(r).Scope())
		return err
	})(w, r)
}

func (s *Server) netDiscardPage(w http.ResponseWriter, r *http.Request) error {
	return s.netOverviewAction("net.flash_discarded", func(r *http.Request, n *network.Workflow) error {
		return n.DiscardDraft(r.Context(), principal(r).Scope())
	})(w, r)
}

// netJSON is the advanced editor: the whole draft as the API's JSON.
type netJSON struct {
	netEditState
	Draft *network.Draft
	JSON  string
}

func (s *Server) netJSONData(r *http.Request) (netJSON, error) {
	var j netJSON
	n, err := s.network()
	if err != nil {
		return j, err
	}
	if j.netEditState, err = s.netEditState(r, n); err != nil {
		return j, err
	}
	if j.Draft, err = netDraftOrNil(r, n); err != nil {
		return j, err
	}
	// Without a draft the editor starts from the applied configuration,
	// as "start editing" does.
	var cfg network.Config
	if j.Draft != nil {
		cfg = j.Draft.Config
	} else {
		v, err := n.Applied(r.Context(), principal(r).Scope())
		if err != nil {
			return j, err
		}
		cfg = v.Config
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return j, err
	}
	j.JSON = string(b)
	return j, nil
}

func (s *Server) netJSONPage(w http.ResponseWriter, r *http.Request) error {
	j, err := s.netJSONData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "net-json", j)
}

func (s *Server) netSaveJSONPage(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	n, err := s.network()
	if err != nil {
		return err
	}
	var cfg network.Config
	err = strictUnmarshal([]byte(r.PostForm.Get("config")), &cfg)
	if err == nil {
		_, err = n.SaveDraft(r.Context(), principal(r).Scope(), cfg)
	}
	if err != nil {
		j, jerr := s.netJSONData(r)
		if jerr != nil {
			return jerr
		}
		// A field path names a place in the document, not a form field:
		// the refusal is shown above the editor with the path in it.
		return s.renderRefused(w, r, "net-json", j, wholeFormFault(err))
	}
	return redirect(w, r, "/network/draft/json", "net.flash_saved")
}

// wholeFormFault marks a field fault to be shown above a form whose one
// field is the whole document, with the fault's path.
func wholeFormFault(err error) error {
	if f, ok := fault.As(err); !ok || f.Field == "" {
		return err
	}
	return aboveForm{err}
}
