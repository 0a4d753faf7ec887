package web

import (
	"html/template"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/graph"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/monitor"
)

// monitorPages are the customer panel's reachability monitor pages: the
// list with its add form and stop/resume buttons, and one monitor's
// history and RTT/loss graph with its edit form. Each calls the monitor
// service as the matching API operation does, with the viewer's scope.
func (s *Server) monitorPages() []pageRoute {
	return []pageRoute{
		{"GET", "/monitors", identity.ActMonitorsRead, []string{"GET /api/v1/monitors"}, s.monitorListPage},
		{"POST", "/monitors", identity.ActMonitorsManage, []string{"POST /api/v1/monitors"}, s.monitorAdd},
		{"GET", "/monitors/{monitor}", identity.ActMonitorsRead, []string{"GET /api/v1/monitors/{monitor}",
			"GET /api/v1/monitors/{monitor}/events", "GET /api/v1/monitors/{monitor}/series"}, s.monitorPage},
		{"POST", "/monitors/{monitor}", identity.ActMonitorsManage, []string{"PATCH /api/v1/monitors/{monitor}"}, s.monitorEdit},
		{"POST", "/monitors/{monitor}/delete", identity.ActMonitorsManage, []string{"DELETE /api/v1/monitors/{monitor}"}, s.monitorDelete},
		{"POST", "/monitors/{monitor}/stop", identity.ActMonitorsManage, []string{"POST /api/v1/monitors/{monitor}/stop"}, s.monitorStop},
		{"POST", "/monitors/{monitor}/resume", identity.ActMonitorsManage, []string{"POST /api/v1/monitors/{monitor}/resume"}, s.monitorResume},
	}
}

type monitorListData struct {
	Monitors []monitor.Monitor
	Ports    []string // the customer's port codes, for the add form
	Allowed  int      // the option's quantity
	Flagged  int      // monitors stopped over 7 days
}

func (s *Server) monitorListData(r *http.Request) (monitorListData, error) {
	var d monitorListData
	svc, err := s.monitors()
	if err != nil {
		return d, err
	}
	sc := principal(r).Scope()
	if d.Monitors, err = svc.List(r.Context(), sc); err != nil {
		return d, err
	}
	for _, m := range d.Monitors {
		if m.StoppedLong {
			d.Flagged++
		}
	}
	ports, _, err := s.deps.Catalog.ListPorts(r.Context(), sc, "", catalog.Page{Limit: catalog.MaxPage})
	if err != nil {
		return d, err
	}
	for _, p := range ports {
		if p.Status == "active" {
			d.Ports = append(d.Ports, p.PortCode)
		}
	}
	d.Allowed, err = svc.Quota(r.Context(), sc)
	return d, err
}

func (s *Server) monitorListPage(w http.ResponseWriter, r *http.Request) error {
	d, err := s.monitorListData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "monitor-list", d)
}

// monitorInt reads a whole number field; empty is 0 (the default), anything
// else not a number is -1, which the service refuses naming the field.
func monitorInt(r *http.Request, name string) int {
	v := r.PostForm.Get(name)
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return -1
	}
	return n
}

func monitorForm(r *http.Request) monitor.Input {
	f := r.PostForm
	return monitor.Input{Name: f.Get("name"), PortCode: f.Get("port_code"), Target: f.Get("target"), Probe: f.Get("probe"),
		TCPPort: monitorInt(r, "tcp_port"), IntervalSeconds: monitorInt(r, "interval_seconds"), FailAfter: monitorInt(r, "fail_after")}
}

func (s *Server) monitorAdd(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.monitors()
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	m, err := svc.Create(r.Context(), principal(r).Scope(), monitorForm(r))
	if err != nil {
		d, derr := s.monitorListData(r)
		if derr != nil {
			return derr
		}
		return s.renderRefused(w, r, "monitor-list", d, err)
	}
	return redirect(w, r, "/monitors/"+m.ID, "monitor.flash.added")
}

type monitorPageData struct {
	Monitor monitor.Monitor
	Events  []monitor.Event
	Graph   template.HTML
	Loss    template.HTML
	Ports   []string
	CSV     string
}

func (s *Server) monitorPageData(r *http.Request) (monitorPageData, error) {
	var d monitorPageData
	svc, err := s.monitors()
	if err != nil {
		return d, err
	}
	sc, id := principal(r).Scope(), r.PathValue("monitor")
	if d.Monitor, err = svc.Get(r.Context(), sc, id); err != nil {
		return d, err
	}
	to := svc.Now().UTC()
	sp := monitor.Span{From: to.Add(-24 * time.Hour), To: to}
	if d.Events, err = svc.Events(r.Context(), sc, id, monitor.Span{From: to.Add(-monitor.Kept), To: to}); err != nil {
		return d, err
	}
	bins, err := svc.Series(r.Context(), sc, id, sp)
	if err != nil {
		return d, err
	}
	lang := s.view(r).Lang
	words := monitorGraphWords[lang]
	if words == nil {
		words = monitorGraphWords["ja"]
	}
	var avg, hi, loss []graph.Point
	for _, b := range bins {
		a, m := math.NaN(), math.NaN()
		if b.RTTAvgMicros != nil {
			a, m = float64(*b.RTTAvgMicros)/1000, float64(*b.RTTMaxMicros)/1000
		}
		avg, hi = append(avg, graph.Point{At: b.Start, Value: a}), append(hi, graph.Point{At: b.Start, Value: m})
		loss = append(loss, graph.Point{At: b.Start, Value: b.LossPercent})
	}
	d.Graph = graph.Render(graph.Chart{ID: "monitor-rtt", Title: words[0], Lang: lang, From: sp.From, To: sp.To, Step: 5 * time.Minute,
		Unit: graph.Milliseconds, Series: []graph.Series{{Label: words[1], Points: avg, Tone: 0}, {Label: words[2], Points: hi, Peak: true, Tone: 0}}})
	d.Loss = graph.Render(graph.Chart{ID: "monitor-loss", Title: words[3], Lang: lang, From: sp.From, To: sp.To, Step: 5 * time.Minute,
		Unit: graph.Percent, Height: 160, Series: []graph.Series{{Label: words[3], Points: loss, Area: true, Tone: 1}}})
	d.CSV = "/api/v1/monitors/" + id + "/series?format=csv"
	if identity.Allowed(principal(r).Role, identity.ActMonitorsManage) {
		l, err := s.monitorListData(r)
		if err != nil {
			return d, err
		}
		d.Ports = l.Ports
	}
	return d, nil
}

// monitorGraphWords are the graphs' titles and series labels per language:
// RTT title, average, maximum, loss.
var monitorGraphWords = map[string][]string{
	"ja": {"往復時間（直近 24 時間、5 分ごと）", "平均", "最大", "損失率"},
	"en": {"Round-trip time (last 24 hours, 5-minute bins)", "average", "maximum", "loss"},
}

func (s *Server) monitorPage(w http.ResponseWriter, r *http.Request) error {
	d, err := s.monitorPageData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "monitor-detail", d)
}

func (s *Server) monitorEdit(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.monitors()
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	in := monitorForm(r)
	p := monitor.Patch{Name: &in.Name, PortCode: &in.PortCode, Target: &in.Target, Probe: &in.Probe, TCPPort: &in.TCPPort,
		IntervalSeconds: &in.IntervalSeconds, FailAfter: &in.FailAfter}
	id := r.PathValue("monitor")
	if _, err := svc.Update(r.Context(), principal(r).Scope(), id, p); err != nil {
		d, derr := s.monitorPageData(r)
		if derr != nil {
			return derr
		}
		return s.renderRefused(w, r, "monitor-detail", d, err)
	}
	return redirect(w, r, "/monitors/"+id, "monitor.flash.changed")
}

func (s *Server) monitorDelete(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.monitors()
	if err != nil {
		return err
	}
	if err := svc.Delete(r.Context(), principal(r).Scope(), r.PathValue("monitor")); err != nil {
		return err
	}
	return redirect(w, r, "/monitors", "monitor.flash.removed")
}

func (s *Server) monitorStop(w http.ResponseWriter, r *http.Request) error {
	return s.monitorStopResume(w, r, true)
}

func (s *Server) monitorResume(w http.ResponseWriter, r *http.Request) error {
	return s.monitorStopResume(w, r, false)
}

func (s *Server) monitorStopResume(w http.ResponseWriter, r *http.Request, stop bool) error {
	svc, err := s.monitors()
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	act, flash := svc.Resume, "monitor.flash.resumed"
	if stop {
		act, flash = svc.Stop, "monitor.flash.stopped"
	}
	if _, err := act(r.Context(), principal(r).Scope(), r.PathValue("monitor"), r.PostForm.Get("reason")); err != nil {
		d, derr := s.monitorListData(r)
		if derr != nil {
			return derr
		}
		return s.renderRefused(w, r, "monitor-list", d, err)
	}
	return redirect(w, r, "/monitors", flash)
}
