package web

import (
	"net/http"

	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
)

// listJobRuns lists the scheduled jobs' runs (management listener, jobs.read):
// platform records, with no customer's data in them.
func (s *Server) listJobRuns(w http.ResponseWriter, r *http.Request) error {
	runs, q, err := s.jobRuns(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(runs, schedule.NextAfter(runs, q.Limit)))
	return nil
}

// jobRuns reads one page of job runs with the request's filter (job,
// outcome) and paging; the API and the jobs page both list through it.
func (s *Server) jobRuns(r *http.Request) ([]schedule.Run, schedule.Query, error) {
	if s.deps.Jobs == nil {
		return nil, schedule.Query{}, fault.New(fault.Unavailable, "the scheduler is not running on this controller")
	}
	p, err := page(r)
	if err != nil {
		return nil, schedule.Query{}, err
	}
	v := r.URL.Query()
	q := schedule.Query{Job: v.Get("job"), Outcome: v.Get("outcome"), After: p.After, Limit: p.Limit}
	runs, err := s.deps.Jobs.Runs(r.Context(), q)
	return runs, q, err
}
