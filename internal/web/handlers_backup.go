package web

import (
	"net/http"

	"github.com/tsunagi-net/tsunagi/internal/backup"
	"github.com/tsunagi-net/tsunagi/internal/fault"
)

// backupList is GET /api/v1/backups: the schedule and the archives in the
// backup directory, read from their unencrypted manifest summaries.
type backupList struct {
	Configured   bool             `json:"configured"`
	EverySeconds int64            `json:"every_seconds"`
	Keep         int              `json:"keep"`
	Items        []backup.Summary `json:"items"`
}

// backups reads the backup directory; the API and the backups page share it.
func (s *Server) backups() (backupList, error) {
	b := s.deps.Backups
	if b == nil {
		return backupList{Items: []backup.Summary{}}, nil
	}
	items, err := b.List()
	if err != nil {
		return backupList{}, fault.Wrap(fault.Unavailable, err, "the backup directory cannot be read")
	}
	return backupList{Configured: true, EverySeconds: int64(b.Every().Seconds()), Keep: b.Keep(), Items: items}, nil
}

// listBackups lists the platform backups (management listener, backups.manage).
func (s *Server) listBackups(w http.ResponseWriter, r *http.Request) error {
	l, err := s.backups()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, l)
	return nil
}

// runBackup makes a backup now, audited as the caller (backup.create).
func (s *Server) runBackup(r *http.Request) (backup.Summary, error) {
	if s.deps.Backups == nil {
		return backup.Summary{}, fault.New(fault.Conflict, "backups are not configured on this controller: start it with --backup-dir and --backup-recipient")
	}
	res, err := s.deps.Backups.Run(r.Context())
	if err != nil {
		s.deps.Log.Error("backup failed", "err", err)
		return backup.Summary{}, fault.Wrap(fault.Unavailable, err, "the backup failed: the controller's log and the audit log say why")
	}
	return res.Summary(), nil
}

// createBackup is POST /api/v1/backups: back up now.
func (s *Server) createBackup(w http.ResponseWriter, r *http.Request) error {
	b, err := s.runBackup(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, b)
	return nil
}
