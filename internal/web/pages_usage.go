package web

import (
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/graph"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/usage"
)

// usagePages are the customer's traffic pages: a port's graph, totals and
// firewall counters, and the CSV downloads (the API's own handlers).
func (s *Server) usagePages() []pageRoute {
	return []pageRoute{
		{"GET", "/ports/{code}/traffic", identity.ActUsageRead,
			[]string{"GET /api/v1/ports/{code}/usage", "GET /api/v1/ports/{code}/firewall-counters"}, s.usageTrafficPage},
		{"GET", "/ports/{code}/traffic/csv", identity.ActUsageRead, nil, s.usagePortCSV},
		{"GET", "/traffic/csv", identity.ActUsageRead, []string{"GET /api/v1/usage"}, s.usageAllCSV},
	}
}

// usageWindows are the page's window choices.
var usageWindows = []struct {
	Key  string
	Span time.Duration
}{{"1d", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour}, {"60d", 60 * 24 * time.Hour}}

// trafficPage is what /ports/{code}/traffic shows.
type trafficPage struct {
	Code     string
	Window   string // a usageWindows key, or "custom"
	Windows  []string
	FromDate string // the custom window's JST dates, as typed
	ToDate   string
	From, To time.Time
	Graph    template.HTML
	// Total is the window's; Days its JST calendar days.
	Total    amountRow
	Days     []amountRow
	Firewall usage.FirewallCounters
	// CSVQuery is the window as the CSV links repeat it.
	CSVQuery string
}

// pageWindow reads the page's window: ?window=1d|7d|30d|60d (1d by
// default), or ?from&to as JST dates (to included), and returns it as the
// API's RFC 3339 parameters.
func pageWindow(r *http.Request, now time.Time) (key, fromDate, toDate, from, to string, err error) {
	q := r.URL.Query()
	fromDate, toDate = q.Get("from"), q.Get("to")
	if fromDate != "" || toDate != "" {
		f, err1 := clock.ParseDate(fromDate)
		t, err2 := clock.ParseDate(toDate)
		switch {
		case err1 != nil:
			return "custom", fromDate, toDate, "", "", fault.Field("from", "must be a date such as 2026-12-01")
		case err2 != nil:
			return "custom", fromDate, toDate, "", "", fault.Field("to", "must be a date such as 2026-12-01")
		}
		return "custom", fromDate, toDate, f.Format(time.RFC3339), t.Add(24 * time.Hour).Format(time.RFC3339), nil
	}
	key = q.Get("window")
	if key == "" {
		key = "1d"
	}
	for _, w := range usageWindows {
		if w.Key == key {
			end := now.UTC().Truncate(usage.BinWidth).Add(usage.BinWidth)
			return key, "", "", end.Add(-w.Span).Format(time.RFC3339), end.Format(time.RFC3339), nil
		}
	}
	return key, "", "", "", "", fault.Field("window", "must be 1d, 7d, 30d or 60d")
}

func (s *Server) usageTrafficPage(w http.ResponseWriter, r *http.Request) error {
	u, err := s.usageRecords()
	if err != nil {
		return err
	}
	ctx, sc, lang, code := r.Context(), principal(r).Scope(), s.language(r), r.PathValue("code")
	key, fromDate, toDate, fromArg, toArg, err := pageWindow(r, clock.Now())
	if err != nil {
		return err
	}
	from, to, err := u.Window(fromArg, toArg, clock.Now())
	if err != nil {
		return err
	}
	read, step := u.Port, usage.BinWidth
	if to.Sub(from) > usage.HourlyAfter {
		read, step = u.Hourly, time.Hour
	}
	p, err := read(ctx, sc, code, from, to)
	if err != nil {
		return err
	}
	fw, err := u.Firewall(ctx, sc, code)
	if err != nil {
		return err
	}
	pg := trafficPage{Code: p.PortCode, Window: key, FromDate: fromDate, ToDate: toDate, From: from, To: to,
		Total: amounts("", p.Totals), Firewall: fw}
	for _, d := range usage.Daily(p.Bins) {
		pg.Days = append(pg.Days, amounts(d.Date, d.Totals))
	}
	for _, w := range usageWindows {
		pg.Windows = append(pg.Windows, w.Key)
	}
	v := url.Values{"from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}}
	pg.CSVQuery = v.Encode()
	pg.Graph = trafficGraph(s.pages().Catalogue().MustText, lang, p, step)
	return s.render(w, r, "usage-traffic", pg)
}

// trafficGraph draws a port's in and out rates: the averages of its bins
// (of step each) as areas, their peaks dashed.
func trafficGraph(text func(lang, key string, args ...any) string, lang string, p usage.PortUsage, step time.Duration) template.HTML {
	series := make([][]graph.Point, 4)
	for _, b := range p.Bins {
		at := b.Start.Add(step / 2)
		for i, v := range []int64{b.InAvgBps, b.OutAvgBps, b.InPeakBps, b.OutPeakBps} {
			series[i] = append(series[i], graph.Point{At: at, Value: float64(v)})
		}
	}
	return graph.Render(graph.Chart{ID: "traffic", Lang: lang, Title: text(lang, "usage.graph.title", p.PortCode),
		From: p.From, To: p.To, Step: step, Unit: graph.BitsPerSecond, Width: 880, Height: 280,
		Series: []graph.Series{
			{Label: text(lang, "usage.graph.in_avg"), Points: series[0], Area: true, Tone: 0},
			{Label: text(lang, "usage.graph.out_avg"), Points: series[1], Area: true, Tone: 1},
			{Label: text(lang, "usage.graph.in_peak"), Points: series[2], Peak: true, Tone: 0},
			{Label: text(lang, "usage.graph.out_peak"), Points: series[3], Peak: true, Tone: 1},
		}})
}

// usagePortCSV and usageAllCSV are the page's downloads: the API's CSV.
func (s *Server) usagePortCSV(w http.ResponseWriter, r *http.Request) error {
	return s.usagePort(w, csvRequest(r))
}

func (s *Server) usageAllCSV(w http.ResponseWriter, r *http.Request) error {
	return s.usageAll(w, csvRequest(r))
}

func csvRequest(r *http.Request) *http.Request {
	q := r.URL.Query()
	q.Set("format", "csv")
	r2 := r.Clone(r.Context())
	r2.URL.RawQuery = q.Encode()
	return r2
}

// amountRow is a window's or a day's traffic as people read it: bytes
// with SI prefixes ("12.3 GB"), counts as numbers, peaks in bit/s.
type amountRow struct {
	Date                                     string
	InBytes, OutBytes, InPeak, OutPeak       string
	InPackets, OutPackets, InDrops, OutDrops int64
}

func amounts(date string, t usage.Totals) amountRow {
	b := func(n int64) string { return graph.FormatValue(graph.Bytes, float64(n)) }
	r := func(n int64) string { return graph.FormatValue(graph.BitsPerSecond, float64(n)) }
	return amountRow{Date: date, InBytes: b(t.InBytes), OutBytes: b(t.OutBytes), InPeak: r(t.InPeakBps), OutPeak: r(t.OutPeakBps),
		InPackets: t.InPackets, OutPackets: t.OutPackets, InDrops: t.InDrops, OutDrops: t.OutDrops}
}
