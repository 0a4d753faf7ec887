package main

import (
	"errors"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/backup"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// backupFlags configure serve's scheduled backups.
type backupFlags struct {
	dir        string
	recipients []string
	every      time.Duration
	keep       int
}

func (f *backupFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.dir, "backup-dir", os.Getenv("TSUNAGI_BACKUP_DIR"),
		"directory for the scheduled, encrypted backups of the database (empty: no scheduled backup)")
	var env []string
	if v := os.Getenv("TSUNAGI_BACKUP_RECIPIENTS"); v != "" {
		env = strings.Split(v, ",")
	}
	fl.StringArrayVar(&f.recipients, "backup-recipient", env,
		"age X25519 public key (age1…) the backups are encrypted to; repeat for several; required with --backup-dir")
	fl.DurationVar(&f.every, "backup-every", 24*time.Hour, "time between scheduled backups")
	fl.IntVar(&f.keep, "backup-keep", 14, "number of backups kept in --backup-dir; older ones are deleted after a new one is complete")
}

// service is nil when no backup directory is configured. Recipients without
// a directory are a mistake worth refusing: the operator meant to back up.
func (f *backupFlags) service(db *store.DB, log *audit.Log) (*backup.Service, error) {
	if f.dir == "" {
		if len(f.recipients) > 0 {
			return nil, errors.New("--backup-recipient needs --backup-dir")
		}
		return nil, nil
	}
	return backup.NewService(db, log, f.dir, f.recipients, f.every, f.keep)
}

// backupJobs is the backup job when backups are configured.
func backupJobs(s *backup.Service) []schedule.Job {
	if s == nil {
		return nil
	}
	return []schedule.Job{s.Job()}
}
