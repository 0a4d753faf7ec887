package web

import (
	"net/http"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/monitor"
)

func (s *Server) monitors() (*monitor.Service, error) {
	if s.deps.Monitors == nil {
		return nil, fault.New(fault.Unavailable, "reachability monitors are not available on this controller")
	}
	return s.deps.Monitors, nil
}

func (s *Server) listMonitors(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.monitors()
	if err != nil {
		return err
	}
	items, err := svc.List(r.Context(), principal(r).Scope())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(items, ""))
	return nil
}

func (s *Server) createMonitor(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.monitors()
	if err != nil {
		return err
	}
	var in monitor.Input
	if err := decode(w, r, &in); err != nil {
		return err
	}
	m, err := svc.Create(r.Context(), principal(r).Scope(), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, m)
	return nil
}

func (s *Server) getMonitor(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.monitors()
	if err != nil {
		return err
	}
	m, err := svc.Get(r.Context(), principal(r).Scope(), r.PathValue("monitor"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

func (s *Server) updateMonitor(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.monitors()
	if err != nil {
		return err
	}
	var p monitor.Patch
	if err := decode(w, r, &p); err != nil {
		return err
	}
	m, err := svc.Update(r.Context(), principal(r).Scope(), r.PathValue("monitor"), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

func (s *Server) deleteMonitor(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.monitors()
	if err != nil {
		return err
	}
	if err := svc.Delete(r.Context(), principal(r).Scope(), r.PathValue("monitor")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// monitorReason is the optional body of stop and resume.
type monitorReason struct {
	Reason string `json:"reason"`
}

func (s *Server) stopMonitor(w http.ResponseWriter, r *http.Request) error {
	return s.stopResumeMonitor(w, r, true)
}

func (s *Server) resumeMonitor(w http.ResponseWriter, r *http.Request) error {
	return s.stopResumeMonitor(w, r, false)
}

func (s *Server) stopResumeMonitor(w http.ResponseWriter, r *http.Request, stop bool) error {
	svc, err := s.monitors()
	if err != nil {
		return err
	}
	var in monitorReason
	if r.ContentLength != 0 {
		if err := decode(w, r, &in); err != nil {
			return err
		}
	}
	act := svc.Resume
	if stop {
		act = svc.Stop
	}
	m, err := act(r.Context(), principal(r).Scope(), r.PathValue("monitor"), in.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

// monitorSpan reads ?from and ?to (RFC 3339); absent, the last day.
func monitorSpan(r *http.Request) (monitor.Span, error) {
	var sp monitor.Span
	q := r.URL.Query()
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"from", &sp.From}, {"to", &sp.To}} {
		if v := q.Get(f.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return sp, fault.Field(f.name, "%s must be a time in RFC 3339, e.g. 2026-12-01T09:00:00+09:00", f.name)
			}
			*f.dst = t.UTC()
		}
	}
	return sp, nil
}

func (s *Server) monitorEvents(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.monitors()
	if err != nil {
		return err
	}
	sp, err := monitorSpan(r)
	if err != nil {
		return err
	}
	evs, err := svc.Events(r.Context(), principal(r).Scope(), r.PathValue("monitor"), sp)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(evs, ""))
	return nil
}

func (s *Server) monitorSeries(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.monitors()
	if err != nil {
		return err
	}
	sp, err := monitorSpan(r)
	if err != nil {
		return err
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "csv" {
		return fault.Field("format", "format must be json or csv")
	}
	id := r.PathValue("monitor")
	bins, err := svc.Series(r.Context(), principal(r).Scope(), id, sp)
	if err != nil {
		return err
	}
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+id+`-series.csv"`)
		return monitor.WriteCSV(w, bins)
	}
	writeJSON(w, http.StatusOK, newList(bins, ""))
	return nil
}
