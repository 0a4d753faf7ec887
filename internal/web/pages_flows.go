package web

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/flows"
	"github.com/tsunagi-net/tsunagi/internal/identity"
)

// flowPages are the customer panel's flow-record page: a query form, the
// records it selects and the window's dropped counts, each read through
// the store with the viewer's own scope as GET /api/v1/flows does.
func (s *Server) flowPages() []pageRoute {
	return []pageRoute{
		{"GET", "/flows", identity.ActFlowsRead, []string{"GET /api/v1/flows"}, s.flowsPage},
	}
}

// formMinute is the form's from and to: a JST minute, as an HTML
// datetime-local input sends it.
const formMinute = "2006-01-02T15:04"

// formTime reads a form time: the datetime-local minute in JST, or an RFC
// 3339 instant (the API's, kept in the page's own links).
func formTime(s string) (time.Time, error) {
	if t, err := time.ParseInLocation(formMinute, s, clock.JST); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339, s)
}

type flowsData struct {
	From, To, Address string
	Page              flows.Page
	Rows              []flowRow
	// CSV and NextURL are the links to this page as CSV and to the next
	// page ("" when none).
	CSV, NextURL string
}

// flowRow is a record as the table shows it: times in JST to the second.
type flowRow struct {
	flows.Flow
	StartJST, EndJST string
	Proto            string
}

// protoNames are the protocols shown by name; others by number.
var protoNames = map[int]string{1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6", 132: "SCTP"}

func protoName(p int) string {
	if n, ok := protoNames[p]; ok {
		return n
	}
	return strconv.Itoa(p)
}

const rowLayout = "2006-01-02 15:04:05"

func (s *Server) flowsPage(w http.ResponseWriter, r *http.Request) error {
	if s.deps.Flows == nil {
		return errNoFlows()
	}
	v := r.URL.Query()
	q, err := flowQuery(v, formTime)
	d := flowsData{From: v.Get("from"), To: v.Get("to"), Address: v.Get("address")}
	if err == nil {
		d.Page, err = s.deps.Flows.Read(r.Context(), principal(r).Scope(), q, flows.MaxLimit)
	}
	if err != nil {
		return s.renderRefused(w, r, "flows", d, err)
	}
	if d.From == "" {
		d.From = q.From.In(clock.JST).Format(formMinute)
	}
	if d.To == "" {
		d.To = q.To.In(clock.JST).Format(formMinute)
	}
	for _, f := range d.Page.Flows {
		d.Rows = append(d.Rows, flowRow{Flow: f, StartJST: f.Start.In(clock.JST).Format(rowLayout), EndJST: f.End.In(clock.JST).Format(rowLayout),
			Proto: protoName(f.Protocol)})
	}
	// The links carry the window as instants, so that a page read later
	// still shows the same window.
	link := url.Values{"from": {q.From.In(clock.JST).Format(time.RFC3339)}, "to": {q.To.In(clock.JST).Format(time.RFC3339)}}
	if d.Address != "" {
		link.Set("address", d.Address)
	}
	csv := url.Values{"format": {"csv"}, "limit": {strconv.Itoa(flows.MaxCSVLimit)}}
	for k, vs := range link {
		csv[k] = vs
	}
	d.CSV = "/api/v1/flows?" + csv.Encode()
	if d.Page.Next != "" {
		link.Set("cursor", d.Page.Next)
		d.NextURL = "/flows?" + link.Encode()
	}
	return s.render(w, r, "flows", d)
}
