package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network"
)

// The reviewed-change workflow in the panel (docs/service-spec.md section
// 11): /network shows the applied version and whether each hub's data plane
// runs it, the edit lock with its holder, the draft and the ports; the port
// pages (pages_workflow_port.go) and the object page edit the draft; the
// review shows the diff and the risk and applies; versions are listed and
// rolled back. Every page calls the network.Workflow methods the API's
// handlers call (handlers_network.go), with the viewer's own scope.

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
	}, s.workflowPortPages(), s.workflowObjectPages())
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
	hubs, _, err := s.deps.Catalog.ListHubs(ctx, sc, catalog.Page{Limit: catalog.MaxPage})
	if err != nil {
		return o, err
	}
	for _, h := range hubs {
		dp, err := s.hubDataplaneOf(ctx, sc, h.ID)
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
	ports, _, err := s.deps.Catalog.ListPorts(ctx, sc, "", catalog.Page{Limit: catalog.MaxPage})
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

// wholeFormFault moves a field fault's path into its message, for a form
// whose one field is the whole document.
func wholeFormFault(err error) error {
	f, ok := fault.As(err)
	if !ok || f.Field == "" {
		return err
	}
	g := *f
	g.Message, g.Field = f.Field+": "+f.Message, ""
	return &g
}

// netReview is /network/review.
type netReview struct {
	netEditState
	Review   network.Review
	Groups   []netChangeGroup
	Problems []netProblem
}

// netChangeGroup is the diff's changes of one port, hub or object.
type netChangeGroup struct {
	Object  string
	Changes []netChange
}

type netChange struct {
	Path, Op, Before, After string
}

type netProblem struct{ Field, Message string }

// groupChanges groups a diff by the object a change is in: the path up to
// its first keyed list element ("ports[shc00000001]",
// "objects.addresses[web]") or its first element ("asn").
func groupChanges(cs []network.Change) []netChangeGroup {
	var out []netChangeGroup
	for _, c := range cs {
		obj, rest := c.Path, ""
		if i := strings.Index(c.Path, "]"); i >= 0 {
			obj, rest = c.Path[:i+1], strings.TrimPrefix(c.Path[i+1:], ".")
		} else if i := strings.Index(c.Path, "."); i >= 0 {
			obj, rest = c.Path[:i], c.Path[i+1:]
		}
		if len(out) == 0 || out[len(out)-1].Object != obj {
			out = append(out, netChangeGroup{Object: obj})
		}
		g := &out[len(out)-1]
		g.Changes = append(g.Changes, netChange{Path: rest, Op: c.Op, Before: showValue(c.Before), After: showValue(c.After)})
	}
	return out
}

// showValue is a diff value as compact JSON (a string without its quotes).
func showValue(v any) string {
	if v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func (s *Server) netReviewData(r *http.Request) (netReview, error) {
	var rv netReview
	n, err := s.network()
	if err != nil {
		return rv, err
	}
	if rv.netEditState, err = s.netEditState(r, n); err != nil {
		return rv, err
	}
	if rv.Review, err = n.Review(r.Context(), principal(r).Scope()); err != nil {
		return rv, err
	}
	rv.Groups = groupChanges(rv.Review.Changes)
	// The validation's messages are the API's English; the viewer reads
	// them in its language, as a refused form's.
	lang := s.language(r)
	for _, p := range rv.Review.Problems {
		rv.Problems = append(rv.Problems, netProblem{Field: p.Field, Message: s.pages().Catalogue().Fault(lang, string(fault.Invalid), p.Message)})
	}
	return rv, nil
}

func (s *Server) netReviewPage(w http.ResponseWriter, r *http.Request) error {
	rv, err := s.netReviewData(r)
	if fault.Is(err, fault.NotFound) {
		// Nothing to review: the page says so rather than show an error.
		return s.render(w, r, "net-review", nil)
	}
	if err != nil {
		return err
	}
	return s.render(w, r, "net-review", &rv)
}

func (s *Server) netApplyPage(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	n, err := s.network()
	if err != nil {
		return err
	}
	v, err := n.Apply(r.Context(), principal(r).Scope())
	if err != nil {
		rv, rerr := s.netReviewData(r)
		if fault.Is(rerr, fault.NotFound) {
			return err
		}
		if rerr != nil {
			return rerr
		}
		return s.renderRefused(w, r, "net-review", &rv, wholeFormFault(err))
	}
	return redirect(w, r, "/network/versions/"+strconv.FormatInt(v.Version, 10), "net.flash_applied")
}

// netVersions is /network/versions, newest first, 50 a page.
type netVersions struct {
	Versions []network.VersionSummary
	Older    int64 // the "before" of the next page; 0 = none
}

const netVersionsPage = 50

func (s *Server) netVersionsPage(w http.ResponseWriter, r *http.Request) error {
	n, err := s.network()
	if err != nil {
		return err
	}
	var before int64
	if b := r.URL.Query().Get("before"); b != "" {
		if before, err = strconv.ParseInt(b, 10, 64); err != nil || before < 1 {
			return fault.Field("before", "before must be a version number")
		}
	}
	vs, err := n.ListVersions(r.Context(), principal(r).Scope(), before, netVersionsPage)
	if err != nil {
		return err
	}
	out := netVersions{Versions: vs}
	if len(vs) == netVersionsPage {
		out.Older = vs[len(vs)-1].Version
	}
	return s.render(w, r, "net-versions", out)
}

// netVersion is /network/versions/{version}.
type netVersion struct {
	netEditState
	Version network.Version
	Current int64
	Groups  []netChangeGroup
}

func (s *Server) netVersionData(r *http.Request) (netVersion, error) {
	var out netVersion
	n, err := s.network()
	if err != nil {
		return out, err
	}
	num, err := versionParam(r)
	if err != nil {
		return out, err
	}
	if out.Version, err = n.GetVersion(r.Context(), principal(r).Scope(), num); err != nil {
		return out, err
	}
	cur, err := n.Applied(r.Context(), principal(r).Scope())
	if err != nil {
		return out, err
	}
	out.Current = cur.Version
	if out.Version.Review != nil {
		out.Groups = groupChanges(out.Version.Review.Changes)
	}
	out.netEditState, err = s.netEditState(r, n)
	return out, err
}

func (s *Server) netVersionPage(w http.ResponseWriter, r *http.Request) error {
	out, err := s.netVersionData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "net-version", out)
}

// netRollbackPage makes a draft of an earlier version and goes to its
// review: a rollback is reviewed and applied like any change. It takes the
// edit lock first when the viewer does not hold it, as "start editing" does
// (refused, with the holder, when someone else edits).
func (s *Server) netRollbackPage(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	n, err := s.network()
	if err != nil {
		return err
	}
	num, err := versionParam(r)
	if err != nil {
		return err
	}
	ctx, sc := r.Context(), principal(r).Scope()
	_, err = n.StartEditing(ctx, sc)
	if err == nil {
		_, err = n.Rollback(ctx, sc, num)
	}
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return err
		}
		out, verr := s.netVersionData(r)
		if verr != nil {
			return verr
		}
		return s.renderRefused(w, r, "net-version", out, err)
	}
	return redirect(w, r, "/network/review", "net.flash_rollback")
}

// netNAT is /network/nat: the public addresses per port with the grades
// and inside addresses of the applied configuration.
type netNAT struct {
	Ports  []netNATPort
	Static []netStaticNAT
}

type netNATPort struct {
	PortCode string
	Grades   []network.NAPTGrade
	Public   []string
}

type netStaticNAT struct{ PortCode, Inside, Public string }

func (s *Server) netNATPage(w http.ResponseWriter, r *http.Request) error {
	n, err := s.network()
	if err != nil {
		return err
	}
	ctx, sc := r.Context(), principal(r).Scope()
	addrs, err := n.NAT(ctx, sc)
	if err != nil {
		return err
	}
	v, err := n.Applied(ctx, sc)
	if err != nil {
		return err
	}
	var out netNAT
	for _, p := range v.Config.Ports {
		if len(p.NAPT) > 0 || len(addrs.NAPT[p.PortCode]) > 0 {
			out.Ports = append(out.Ports, netNATPort{PortCode: p.PortCode, Grades: p.NAPT, Public: addrs.NAPT[p.PortCode]})
		}
		for _, sn := range p.StaticNAT {
			out.Static = append(out.Static, netStaticNAT{PortCode: p.PortCode, Inside: sn.Inside, Public: addrs.Static[sn.Inside]})
		}
	}
	return s.render(w, r, "net-nat", out)
}
