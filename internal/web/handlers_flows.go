package web

import (
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/flows"
)

// defaultFlowWindow is the window of a query that names neither end: the
// last hour.
const defaultFlowWindow = time.Hour

// flowQuery reads ?from, ?to (RFC 3339; an absent to is now, an absent
// from an hour before to), ?address, ?limit and ?cursor.
func flowQuery(v url.Values, parseTime func(string) (time.Time, error)) (flows.Query, error) {
	var q flows.Query
	var err error
	q.To = clock.Now()
	if s := v.Get("to"); s != "" {
		if q.To, err = parseTime(s); err != nil {
			return q, fault.Field("to", "to is a date and time, e.g. 2026-12-06T21:00")
		}
	}
	q.From = q.To.Add(-defaultFlowWindow)
	if s := v.Get("from"); s != "" {
		if q.From, err = parseTime(s); err != nil {
			return q, fault.Field("from", "from is a date and time, e.g. 2026-12-06T20:00")
		}
	}
	if s := v.Get("address"); s != "" {
		if q.Address, err = netip.ParseAddr(s); err != nil {
			return q, fault.Field("address", "address is one IPv4 or IPv6 address")
		}
	}
	if s := v.Get("limit"); s != "" {
		if q.Limit, err = strconv.Atoi(s); err != nil || q.Limit < 1 {
			return q, fault.Field("limit", "limit is a number from 1")
		}
	}
	q.Cursor = v.Get("cursor")
	return q, nil
}

func rfc3339(s string) (time.Time, error) { return time.Parse(time.RFC3339, s) }

// myFlows answers a page of the caller's customer's flow records, as JSON
// or — with ?format=csv — as a CSV download whose next page's cursor is in
// the X-Next-Cursor header.
func (s *Server) myFlows(w http.ResponseWriter, r *http.Request) error {
	if s.deps.Flows == nil {
		return errNoFlows()
	}
	q, err := flowQuery(r.URL.Query(), rfc3339)
	if err != nil {
		return err
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "csv" {
		return fault.Field("format", "format is json or csv")
	}
	max := flows.MaxLimit
	if format == "csv" {
		max = flows.MaxCSVLimit
	}
	p, err := s.deps.Flows.Read(r.Context(), principal(r).Scope(), q, max)
	if err != nil {
		return err
	}
	if format != "csv" {
		writeJSON(w, http.StatusOK, p)
		return nil
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="flows-`+q.From.In(clock.JST).Format("20060102T1504")+`.csv"`)
	if p.Next != "" {
		w.Header().Set("X-Next-Cursor", p.Next)
	}
	w.WriteHeader(http.StatusOK)
	return flows.WriteCSV(w, p.Flows)
}

// errNoFlows answers the flow routes of a controller without the store.
func errNoFlows() error {
	return fault.New(fault.Unavailable, "flow records are not kept by this controller")
}
