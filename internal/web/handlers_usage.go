package web

import (
	"net/http"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/usage"
)

// usageList is GET /api/v1/usage: every port of the customer with traffic
// in the window.
type usageList struct {
	From  time.Time         `json:"from"`
	To    time.Time         `json:"to"`
	Ports []usage.PortUsage `json:"ports"`
}

func (s *Server) usageRecords() (*usage.Usage, error) {
	if s.deps.Usage == nil {
		return nil, fault.New(fault.Unavailable, "usage records are not available on this controller")
	}
	return s.deps.Usage, nil
}

// usageWindow reads ?from&to (RFC 3339) and ?format (json, the default, or
// csv).
func usageWindow(u *usage.Usage, r *http.Request) (from, to time.Time, csv bool, err error) {
	q := r.URL.Query()
	switch q.Get("format") {
	case "", "json":
	case "csv":
		csv = true
	default:
		return from, to, false, fault.Field("format", "must be json or csv")
	}
	from, to, err = u.Window(q.Get("from"), q.Get("to"), clock.Now())
	return from, to, csv, err
}

func (s *Server) usageAll(w http.ResponseWriter, r *http.Request) error {
	u, err := s.usageRecords()
	if err != nil {
		return err
	}
	from, to, csv, err := usageWindow(u, r)
	if err != nil {
		return err
	}
	ports, err := u.All(r.Context(), principal(r).Scope(), from, to)
	if err != nil {
		return err
	}
	if csv {
		return writeUsageCSV(w, "usage-"+clock.Date(from)+".csv", ports)
	}
	if ports == nil {
		ports = []usage.PortUsage{}
	}
	writeJSON(w, http.StatusOK, usageList{From: from, To: to, Ports: ports})
	return nil
}

func (s *Server) usagePort(w http.ResponseWriter, r *http.Request) error {
	u, err := s.usageRecords()
	if err != nil {
		return err
	}
	from, to, csv, err := usageWindow(u, r)
	if err != nil {
		return err
	}
	p, err := u.Port(r.Context(), principal(r).Scope(), r.PathValue("code"), from, to)
	if err != nil {
		return err
	}
	if csv {
		return writeUsageCSV(w, "usage-"+p.PortCode+"-"+clock.Date(from)+".csv", []usage.PortUsage{p})
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func writeUsageCSV(w http.ResponseWriter, name string, ports []usage.PortUsage) error {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.WriteHeader(http.StatusOK)
	_, err := w.Write([]byte(usage.CSV(ports)))
	return err
}

func (s *Server) usageFirewall(w http.ResponseWriter, r *http.Request) error {
	u, err := s.usageRecords()
	if err != nil {
		return err
	}
	fc, err := u.Firewall(r.Context(), principal(r).Scope(), r.PathValue("code"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, fc)
	return nil
}
