package web

import (
	"net/http"
	"net/url"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
)

// inventoryPages are the operator console's start page and its inventory:
// regions, hub nodes with their physical ports, enrolment and revocation,
// status, underlay, desired state and affected customers
// (pages_inventory_nodes.go), capacity, NAT pools and the scheduled jobs'
// runs. Each page is admitted with the action of the API operation it
// offers, so that a role sees exactly what the API lets it do.
func (s *Server) inventoryPages() []pageRoute {
	const inv, capRead = identity.ActInventoryManage, identity.ActCapacityRead
	return []pageRoute{
		// The start page is every staff member's: each part shows only
		// what the viewer's role may read.
		{"GET", "/{$}", identity.ActSelf, nil, s.invHome},
		{"GET", "/regions", identity.ActSelf, []string{"GET /api/v1/regions"}, s.invRegions},
		{"POST", "/regions", inv, []string{"POST /api/v1/regions"}, s.invCreateRegion},
		{"GET", "/nodes", inv, []string{"GET /api/v1/nodes"}, s.invNodes},
		{"POST", "/nodes", inv, []string{"POST /api/v1/nodes"}, s.invCreateNode},
		{"GET", "/nodes/{node}", inv, []string{"GET /api/v1/nodes/{node}/status", "GET /api/v1/nodes/{node}/underlay",
			"GET /api/v1/nodes/{node}/lifecycle"}, s.invNode},
		{"POST", "/nodes/{node}/physical-ports", inv, []string{"POST /api/v1/nodes/{node}/physical-ports"}, s.invAddPort},
		{"POST", "/nodes/{node}/enrolment-token", inv, []string{"POST /api/v1/nodes/{node}/enrolment-token"}, s.invIssueToken},
		{"POST", "/nodes/{node}/revoke", inv, []string{"POST /api/v1/nodes/{node}/revoke"}, s.invRevoke},
		{"POST", "/nodes/{node}/underlay", inv, []string{"PUT /api/v1/nodes/{node}/underlay"}, s.invSetUnderlay},
		{"GET", "/nodes/{node}/desired-state", capRead, []string{"GET /api/v1/nodes/{node}/desired-state"}, s.invDesiredState},
		{"GET", "/nodes/{node}/affected", capRead, []string{"GET /api/v1/nodes/{node}/affected"}, s.invAffected},
		{"GET", "/capacity", capRead, []string{"GET /api/v1/capacity", "GET /api/v1/capacity.csv"}, s.invCapacity},
		{"GET", "/nat-pools", capRead, []string{"GET /api/v1/nat-pools"}, s.invPools},
		{"POST", "/nat-pools", inv, []string{"POST /api/v1/nat-pools"}, s.invCreatePool},
		{"GET", "/jobs", identity.ActJobsRead, []string{"GET /api/v1/job-runs"}, s.invJobs},
	}
}

// can says whether the signed-in viewer's role may perform action: a page
// that several roles open reads each part only for those allowed it.
func can(r *http.Request, action identity.Action) bool {
	return identity.Allowed(principal(r).Role, action)
}

// invHomeView is the start page: the nodes with their last report, the
// flagged physical ports and the latest failed job runs, each present only
// when the viewer may read it.
type invHomeView struct {
	Nodes      []invNodeRow
	MoreNodes  bool
	Capacity   *network.CapacityReport
	Flagged    []invCapRow
	FailedRuns []schedule.Run
	ShowNodes  bool
	ShowJobs   bool
	JobsDown   bool // the scheduler does not run on this controller
}

// homeFailedRuns is how many failed runs the start page lists.
const homeFailedRuns = 5

func (s *Server) invHome(w http.ResponseWriter, r *http.Request) error {
	var d invHomeView
	ctx := r.Context()
	if can(r, identity.ActInventoryManage) {
		nodes, next, err := s.deps.Catalog.ListNodes(ctx, catalog.Page{})
		if err != nil {
			return err
		}
		if d.Nodes, err = s.invNodeRows(r, nodes); err != nil {
			return err
		}
		d.ShowNodes, d.MoreNodes = true, next != ""
	}
	if can(r, identity.ActCapacityRead) && s.deps.NetOps != nil {
		rep, err := s.deps.NetOps.Capacity(ctx)
		if err != nil {
			return err
		}
		d.Capacity = &rep
		for _, row := range capRows(rep) {
			if row.Flagged {
				d.Flagged = append(d.Flagged, row)
			}
		}
	}
	if can(r, identity.ActJobsRead) {
		d.ShowJobs = true
		if s.deps.Jobs == nil {
			d.JobsDown = true
		} else {
			runs, err := s.deps.Jobs.Runs(ctx, schedule.Query{Outcome: schedule.Failed, Limit: homeFailedRuns})
			if err != nil {
				return err
			}
			d.FailedRuns = runs
		}
	}
	return s.render(w, r, "inv-home", d)
}

// invRegionsView is the regions page: one page of regions and the key of
// the next.
type invRegionsView struct {
	Regions []catalog.Region
	Next    string
}

func (s *Server) invRegionsData(r *http.Request) (invRegionsView, error) {
	p, err := page(r)
	if err != nil {
		return invRegionsView{}, err
	}
	regions, next, err := s.deps.Catalog.ListRegions(r.Context(), p)
	return invRegionsView{Regions: regions, Next: next}, err
}

func (s *Server) invRegions(w http.ResponseWriter, r *http.Request) error {
	d, err := s.invRegionsData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "inv-regions", d)
}

func (s *Server) invCreateRegion(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	f := r.PostForm
	_, err := s.deps.Catalog.CreateRegion(r.Context(), catalog.RegionInput{Code: f.Get("code"), NameEN: f.Get("name_en"),
		NameJA: f.Get("name_ja"), DataLocation: f.Get("data_location")})
	if err != nil {
		d, lerr := s.invRegionsData(r)
		if lerr != nil {
			return lerr
		}
		return s.renderRefused(w, r, "inv-regions", d, err)
	}
	return redirect(w, r, "/regions", "inv.flash.region_created")
}

// allRegions reads every region, for a form's region list.
func (s *Server) allRegions(r *http.Request) ([]catalog.Region, error) {
	return everything(func(p catalog.Page) ([]catalog.Region, string, error) {
		return s.deps.Catalog.ListRegions(r.Context(), p)
	})
}

// invCapRow is a capacity row with the percentages the page shows, and
// which of the two thresholds it crosses (the report's own reasons are
// English sentences; the page says them in the viewer's language).
type invCapRow struct {
	network.CapacityRow
	Pct, ForecastPct, ThresholdPct int
	OverNow, OverForecast          bool
	// A measured port is flagged on its measured peak, not its allocation.
	MeasuredPct  int
	OverMeasured bool
}

func capRows(rep network.CapacityReport) []invCapRow {
	out := make([]invCapRow, 0, len(rep.Rows))
	for _, row := range rep.Rows {
		out = append(out, invCapRow{CapacityRow: row, Pct: ratioPct(row.Utilisation), ForecastPct: ratioPct(row.ForecastUtil),
			ThresholdPct: ratioPct(rep.Threshold), OverNow: row.MeasuredUtil == nil && row.CapacityMbps > 0 && row.Utilisation >= rep.Threshold,
			OverForecast: row.CapacityMbps > 0 && row.ForecastUtil >= rep.Threshold})
		if m := row.MeasuredUtil; m != nil {
			r := &out[len(out)-1]
			r.MeasuredPct, r.OverMeasured = ratioPct(*m), *m >= rep.Threshold
		}
	}
	return out
}

func ratioPct(f float64) int { return int(f*100 + 0.5) }

type invCapacityView struct {
	Report       network.CapacityReport
	Rows         []invCapRow
	ThresholdPct int
	Flagged      int
}

func (s *Server) invCapacity(w http.ResponseWriter, r *http.Request) error {
	ops, err := s.netOps()
	if err != nil {
		return err
	}
	rep, err := ops.Capacity(r.Context())
	if err != nil {
		return err
	}
	d := invCapacityView{Report: rep, Rows: capRows(rep), ThresholdPct: ratioPct(rep.Threshold)}
	for _, row := range d.Rows {
		if row.Flagged {
			d.Flagged++
		}
	}
	return s.render(w, r, "inv-capacity", d)
}

type invPoolsView struct {
	Pools   []invPool
	Regions []catalog.Region // for the form; only when the viewer may add a pool
}

type invPool struct {
	network.Pool
	Free, Pct int64
}

func (s *Server) invPoolsData(r *http.Request) (invPoolsView, error) {
	ops, err := s.netOps()
	if err != nil {
		return invPoolsView{}, err
	}
	pools, err := ops.ListPools(r.Context())
	if err != nil {
		return invPoolsView{}, err
	}
	var d invPoolsView
	for _, p := range pools {
		ip := invPool{Pool: p, Free: p.Size - p.Used}
		if p.Size > 0 {
			ip.Pct = (p.Used*100 + p.Size/2) / p.Size
		}
		d.Pools = append(d.Pools, ip)
	}
	if can(r, identity.ActInventoryManage) {
		if d.Regions, err = s.allRegions(r); err != nil {
			return invPoolsView{}, err
		}
	}
	return d, nil
}

func (s *Server) invPools(w http.ResponseWriter, r *http.Request) error {
	d, err := s.invPoolsData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "inv-pools", d)
}

func (s *Server) invCreatePool(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	ops, err := s.netOps()
	if err != nil {
		return err
	}
	f := r.PostForm
	if _, err := ops.CreatePool(r.Context(), network.PoolInput{Region: f.Get("region"), Prefix: f.Get("prefix"), Purpose: f.Get("purpose")}); err != nil {
		d, lerr := s.invPoolsData(r)
		if lerr != nil {
			return lerr
		}
		return s.renderRefused(w, r, "inv-pools", d, err)
	}
	return redirect(w, r, "/nat-pools", "inv.flash.pool_created")
}

// invJobsView is one page of job runs, with the filter it was read with and
// the link to the next page.
type invJobsView struct {
	Runs     []schedule.Run
	Job      string
	Outcome  string
	Outcomes []string
	NextHref string
}

func (s *Server) invJobs(w http.ResponseWriter, r *http.Request) error {
	runs, q, err := s.jobRuns(r)
	if err != nil {
		return err
	}
	v := r.URL.Query()
	d := invJobsView{Runs: runs, Job: q.Job, Outcome: q.Outcome, Outcomes: []string{schedule.Running, schedule.OK, schedule.Failed}}
	if next := schedule.NextAfter(runs, q.Limit); next != "" {
		nq := url.Values{"after": {next}}
		for _, k := range []string{"job", "outcome", "limit"} {
			if v.Get(k) != "" {
				nq.Set(k, v.Get(k))
			}
		}
		d.NextHref = "/jobs?" + nq.Encode()
	}
	return s.render(w, r, "inv-jobs", d)
}
