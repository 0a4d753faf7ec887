package web

import (
	"net/http"

	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
)

// listJobRuns lists the scheduled jobs' runs (management listener, jobs.read):
// platform records, with no customer's data in them.
func (s *Server) listJobRuns(w http.ResponseWriter, r *http.Request) error {
	if s.deps.Jobs == nil {
		return fault.New(fault.Unavailable, "the scheduler is not running on this controller")
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	v := r.URL.Query()
	q := schedule.Query{Job: v.Get("job"), Outcome: v.Get("outcome"), After: p.After, Limit: p.Limit}
	runs, err := s.deps.Jobs.Runs(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(runs, schedule.NextAfter(runs, q.Limit)))
	return nil
}
