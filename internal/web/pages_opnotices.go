package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/notice"
)

// noticeOpPages are the operator console's notice pages: the list of
// announcements and incidents, a new or edited draft, one notice with its
// history, the preview of the customers it reaches and the publish, update
// and cancel forms (pages_opnotices_detail.go), and the security officer's
// approvals. Each form target is admitted with the action of the API
// operation it performs and calls the same notice.Service method.
func (s *Server) noticeOpPages() []pageRoute {
	const one = "/api/v1/notices/{id}"
	return []pageRoute{
		{"GET", "/notices", identity.ActNoticesManage, []string{"GET /api/v1/notices"}, s.opnList},
		{"GET", "/notices/new", identity.ActNoticesManage, nil, s.opnNew},
		{"POST", "/notices", identity.ActNoticesManage, []string{"POST /api/v1/notices"}, s.opnCreate},
		{"GET", "/notices/{id}", identity.ActNoticesManage, []string{"GET " + one, "GET " + one + "/preview"}, s.opnNotice},
		{"GET", "/notices/{id}/edit", identity.ActNoticesManage, nil, s.opnEditForm},
		{"POST", "/notices/{id}", identity.ActNoticesManage, []string{"PUT " + one}, s.opnEdit},
		{"POST", "/notices/{id}/publish", identity.ActNoticesManage, []string{"POST " + one + "/publish"}, s.opnPublish},
		{"POST", "/notices/{id}/updates", identity.ActNoticesManage, []string{"POST " + one + "/updates"}, s.opnPost},
		{"POST", "/notices/{id}/cancel", identity.ActNoticesManage, []string{"POST " + one + "/cancel"}, s.opnCancel},
		{"GET", "/notice-approvals", identity.ActNoticesApprove, []string{"GET /api/v1/notice-approvals"}, s.opnApprovals},
		{"POST", "/notice-approvals/{id}", identity.ActNoticesApprove, []string{"POST " + one + "/approval"}, s.opnApprove},
	}
}

// The choices the forms offer, in the order the operator reads them. The
// service checks them again; these only fill the selects.
var (
	opnCategories = map[string][]string{
		notice.Announcement: {"maintenance", "migration", "speed-change", "service-change", "other"},
		notice.Incident:     {"outage", "degradation", "security", "other"},
	}
	opnSeverities     = []string{"critical", "major", "minor"}
	opnIncidentStates = []string{notice.StatusInvestigating, notice.StatusIdentified, notice.StatusMonitoring, notice.StatusResolved}
	opnStatuses       = []string{notice.StatusDraft, notice.StatusPublished, notice.StatusInvestigating, notice.StatusIdentified,
		notice.StatusMonitoring, notice.StatusResolved, notice.StatusCancelled}
)

// opnPageSize is how many notices the list shows at once.
const opnPageSize = 100

// opnListData is the list of notices with its filters. Automatic drafts
// come first: a condition the platform saw is waiting for the operator to
// confirm it.
type opnListData struct {
	Notices         []notice.Notice
	Kind, Status    string
	Kinds, Statuses []string
	Next            string // the last notice shown, where the next page starts
	AutomaticDrafts int
}

func (s *Server) opnList(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.notices()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	d := opnListData{Kind: q.Get("kind"), Status: q.Get("status"), Kinds: []string{notice.Announcement, notice.Incident},
		Statuses: opnStatuses}
	// An unknown filter value is the operator's typo in an address: it
	// shows everything rather than an error page.
	if !slices.Contains(d.Kinds, d.Kind) {
		d.Kind = ""
	}
	if !slices.Contains(d.Statuses, d.Status) {
		d.Status = ""
	}
	if d.Notices, err = svc.List(r.Context(), notice.Query{Kind: d.Kind, Status: d.Status, After: q.Get("after"), Limit: opnPageSize}); err != nil {
		return err
	}
	if len(d.Notices) == opnPageSize {
		d.Next = d.Notices[len(d.Notices)-1].ID
	}
	// The automatic drafts wait for the operator: the first page lists
	// every one of them first, however old, when the filter admits them.
	if q.Get("after") == "" && d.Kind != notice.Announcement && (d.Status == "" || d.Status == notice.StatusDraft) {
		drafts, err := svc.List(r.Context(), notice.Query{Kind: notice.Incident, Status: notice.StatusDraft, Limit: 500})
		if err != nil {
			return err
		}
		auto := slices.DeleteFunc(drafts, func(n notice.Notice) bool { return !opnAutomaticDraft(n) })
		d.AutomaticDrafts = len(auto)
		d.Notices = append(auto, slices.DeleteFunc(d.Notices, opnAutomaticDraft)...)
	}
	return s.render(w, r, "opnotice-list", d)
}

func opnAutomaticDraft(n notice.Notice) bool {
	return n.Status == notice.StatusDraft && n.Source != "" && n.Source != notice.SourceOperator
}

// opnFormData is the form of a new draft or of an edited one, with the
// names the scope may use as hints.
type opnFormData struct {
	Kind       string
	Notice     *notice.Notice // the draft being edited; nil for a new one
	Fields     opnFields      // what the fields show before anything was sent
	Categories []string
	Severities []string
	Regions    []catalog.Region
	Nodes      []catalog.Node
	Customers  []catalog.Customer
}

// opnFields are a draft's values as the form's fields write them: lists
// one per line, times as datetime-local in JST.
type opnFields struct {
	Category, Severity                         string
	TitleJA, TitleEN, BodyJA, BodyEN           string
	StartsAt, EndsAt                           string
	Regions, Nodes, PhysicalPorts, Hubs, Custs string
	AffectsForwarding, Security                bool
	DataAffected                               string
}

// opnLocalLayout is the value of an HTML datetime-local input.
const opnLocalLayout = "2006-01-02T15:04"

func opnFieldsOf(n notice.Notice) opnFields {
	local := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.In(clock.JST).Format(opnLocalLayout)
	}
	var pps []string
	for _, pp := range n.Scope.PhysicalPorts {
		pps = append(pps, pp.Node+"/"+pp.Port)
	}
	return opnFields{Category: n.Category, Severity: n.Severity, TitleJA: n.TitleJA, TitleEN: n.TitleEN, BodyJA: n.BodyJA,
		BodyEN: n.BodyEN, StartsAt: local(n.StartsAt), EndsAt: local(n.EndsAt), Regions: strings.Join(n.Scope.Regions, "\n"),
		Nodes: strings.Join(n.Scope.Nodes, "\n"), PhysicalPorts: strings.Join(pps, "\n"), Hubs: strings.Join(n.Scope.Hubs, "\n"),
		Custs: strings.Join(n.Scope.Customers, "\n"), AffectsForwarding: n.AffectsForwarding, Security: n.Security,
		DataAffected: n.DataAffected}
}

func (s *Server) opnFormData(r *http.Request, kind string, n *notice.Notice) (opnFormData, error) {
	d := opnFormData{Kind: kind, Notice: n, Categories: opnCategories[kind], Severities: opnSeverities}
	if n != nil {
		d.Fields = opnFieldsOf(*n)
	}
	ctx := r.Context()
	var err error
	if d.Regions, _, err = s.deps.Catalog.ListRegions(ctx, opcAll); err != nil {
		return d, err
	}
	if d.Nodes, _, err = s.deps.Catalog.ListNodes(ctx, opcAll); err != nil {
		return d, err
	}
	if d.Customers, _, err = s.deps.Catalog.ListCustomers(ctx, opcAll); err != nil {
		return d, err
	}
	return d, nil
}

// opnKind is the kind a new draft's address asks for (an announcement
// when it names none); anything else is refused rather than guessed.
func opnKind(v string) (string, error) {
	if v == "" {
		return notice.Announcement, nil
	}
	if v != notice.Announcement && v != notice.Incident {
		return "", fault.Field("kind", "kind must be announcement or incident")
	}
	return v, nil
}

func (s *Server) opnNew(w http.ResponseWriter, r *http.Request) error {
	kind, err := opnKind(r.URL.Query().Get("kind"))
	if err != nil {
		return err
	}
	d, err := s.opnFormData(r, kind, nil)
	if err != nil {
		return err
	}
	return s.render(w, r, "opnotice-form", d)
}

func (s *Server) opnCreate(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.notices()
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	kind, err := opnKind(r.PostForm.Get("kind"))
	if err != nil {
		return err
	}
	dr, err := opnDraft(kind, r.PostForm)
	var n notice.Notice
	if err == nil {
		n, err = svc.Create(r.Context(), dr)
	}
	if err != nil {
		d, derr := s.opnFormData(r, kind, nil)
		if derr != nil {
			return derr
		}
		return s.renderRefused(w, r, "opnotice-form", d, opnFieldError(err))
	}
	return redirect(w, r, "/notices/"+url.PathEscape(n.ID), "opnotice.flash.created")
}

// opnDraftOf loads the notice of the address for its edit form.
func (s *Server) opnDraftOf(r *http.Request) (notice.Notice, error) {
	svc, err := s.notices()
	if err != nil {
		return notice.Notice{}, err
	}
	det, err := svc.Get(r.Context(), r.PathValue("id"))
	return det.Notice, err
}

// opnEditForm shows a draft's form; a notice already published is not
// edited (it takes updates), so its address leads back to its page.
func (s *Server) opnEditForm(w http.ResponseWriter, r *http.Request) error {
	n, err := s.opnDraftOf(r)
	if err != nil {
		return err
	}
	if n.Status != notice.StatusDraft {
		return redirect(w, r, "/notices/"+url.PathEscape(n.ID), "opnotice.flash.not_draft")
	}
	d, err := s.opnFormData(r, n.Kind, &n)
	if err != nil {
		return err
	}
	return s.render(w, r, "opnotice-form", d)
}

func (s *Server) opnEdit(w http.ResponseWriter, r *http.Request) error {
	n, err := s.opnDraftOf(r)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	dr, err := opnDraft(n.Kind, r.PostForm)
	if err == nil {
		_, err = s.deps.Notices.Edit(r.Context(), n.ID, dr)
	}
	if err != nil {
		d, derr := s.opnFormData(r, n.Kind, &n)
		if derr != nil {
			return derr
		}
		return s.renderRefused(w, r, "opnotice-form", d, opnFieldError(err))
	}
	return redirect(w, r, "/notices/"+url.PathEscape(n.ID), "opnotice.flash.saved")
}

// opnDraft reads a draft from the form. Only what a form cannot say in the
// service's terms is checked here (a time's format, "node/port"); the
// rules of a notice are the service's.
func opnDraft(kind string, f url.Values) (notice.Draft, error) {
	d := notice.Draft{Kind: kind, Category: f.Get("category"), TitleJA: f.Get("title_ja"), TitleEN: f.Get("title_en"),
		BodyJA: f.Get("body_ja"), BodyEN: f.Get("body_en"),
		Scope: notice.Scope{Regions: opnList(f.Get("regions")), Nodes: opnList(f.Get("nodes")),
			Hubs: opnList(f.Get("hubs")), Customers: opnList(f.Get("customers"))}}
	var err error
	if d.StartsAt, err = opnTime("starts_at", f.Get("starts_at")); err != nil {
		return d, err
	}
	if d.EndsAt, err = opnTime("ends_at", f.Get("ends_at")); err != nil {
		return d, err
	}
	for _, pp := range opnList(f.Get("physical_ports")) {
		node, port, ok := strings.Cut(pp, "/")
		if !ok || node == "" || port == "" {
			return d, fault.Field("physical_ports", "a physical port is written node/port: %q", pp)
		}
		d.Scope.PhysicalPorts = append(d.Scope.PhysicalPorts, notice.PhysicalPort{Node: node, Port: port})
	}
	switch kind {
	case notice.Announcement:
		d.AffectsForwarding = f.Get("affects_forwarding") == "on"
	case notice.Incident:
		d.Severity = f.Get("severity")
		d.Security = f.Get("security") == "on"
		d.DataAffected = f.Get("data_affected")
	}
	return d, nil
}

// opnList splits a scope list the operator typed: one name a line, or
// separated by commas.
func opnList(s string) []string {
	var out []string
	for _, v := range strings.FieldsFunc(s, func(c rune) bool { return c == '\n' || c == '\r' || c == ',' }) {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// opnTime reads a datetime-local value as JST, the time every page shows.
func opnTime(field, v string) (*time.Time, error) {
	if v = strings.TrimSpace(v); v == "" {
		return nil, nil
	}
	t, err := time.ParseInLocation(opnLocalLayout, v, clock.JST)
	if err != nil {
		return nil, fault.Field(field, "%q is not a date and time (YYYY-MM-DDTHH:MM, JST)", v)
	}
	return &t, nil
}

// opnFormFields are the fields the draft form shows an error next to; a
// refusal naming anything else is shown above the form with its field, so
// that no message is lost.
var opnFormFields = []string{"category", "severity", "title_ja", "title_en", "body_ja", "body_en", "starts_at", "ends_at",
	"regions", "nodes", "physical_ports", "hubs", "customers", "scope", "affects_forwarding", "security", "data_affected"}

func opnFieldError(err error) error {
	f, ok := fault.As(err)
	var above aboveForm
	if !ok || f.Field == "" || errors.As(err, &above) || slices.Contains(opnFormFields, formField(f.Field)) {
		return err
	}
	return aboveForm{err}
}
