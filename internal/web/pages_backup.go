package web

import (
	"net/http"

	"github.com/tsunagi-net/tsunagi/internal/backup"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
)

// backupPages are the operator console's backups page: the schedule, the
// archives in the backup directory, the last run of the scheduled job and
// its last failure, and "back up now".
func (s *Server) backupPages() []pageRoute {
	return []pageRoute{
		{"GET", "/backups", identity.ActBackupsManage, []string{"GET /api/v1/backups"}, s.bakList},
		{"POST", "/backups", identity.ActBackupsManage, []string{"POST /api/v1/backups"}, s.bakCreate},
	}
}

// bakView is the backups page. The job's runs are read only when the viewer
// may read them too (jobs.read), as the API would answer.
type bakView struct {
	backupList
	EveryHours  float64
	LastRun     *schedule.Run
	LastFailure *schedule.Run
	ShowRuns    bool
}

func (s *Server) bakData(r *http.Request) (bakView, error) {
	l, err := s.backups()
	if err != nil {
		return bakView{}, err
	}
	d := bakView{backupList: l, EveryHours: float64(l.EverySeconds) / 3600}
	if s.deps.Jobs == nil || !can(r, identity.ActJobsRead) {
		return d, nil
	}
	d.ShowRuns = true
	for _, o := range []string{"", schedule.Failed} {
		runs, err := s.deps.Jobs.Runs(r.Context(), schedule.Query{Job: backup.JobName, Outcome: o, Limit: 1})
		if err != nil {
			return d, err
		}
		if len(runs) == 1 {
			if o == "" {
				d.LastRun = &runs[0]
			} else {
				d.LastFailure = &runs[0]
			}
		}
	}
	return d, nil
}

func (s *Server) bakList(w http.ResponseWriter, r *http.Request) error {
	d, err := s.bakData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "bak-backups", d)
}

func (s *Server) bakCreate(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	if _, err := s.runBackup(r); err != nil {
		d, lerr := s.bakData(r)
		if lerr != nil {
			return err // the backup's failure, not the list's
		}
		return s.renderRefused(w, r, "bak-backups", d, err)
	}
	return redirect(w, r, "/backups", "bak.flash.created")
}
