package backup

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// JobName is the scheduled backup's name in job runs and the audit log.
const JobName = "backup.run"

// Service is serve's backups: the scheduled job, and the operator API's
// list and "back up now".
type Service struct {
	db    *store.DB
	opts  Options
	every time.Duration
	// mu keeps this controller from writing two archives at once (the
	// schedule and a "back up now"); across controllers the job's lease does.
	mu sync.Mutex
}

// NewService checks the configuration serve was given: a directory, at least
// one recipient (there is no unencrypted backup) and a period of at least a
// minute.
func NewService(db *store.DB, log *audit.Log, dir string, recipients []string, every time.Duration, keep int) (*Service, error) {
	if dir == "" {
		return nil, errors.New("--backup-dir: no directory")
	}
	rs, err := ParseRecipients(recipients)
	if err != nil {
		return nil, errors.New("--backup-recipient: " + err.Error())
	}
	if every < time.Minute {
		return nil, errors.New("--backup-every must be at least 1m")
	}
	if keep < 1 {
		return nil, errors.New("--backup-keep must be at least 1")
	}
	return &Service{db: db, every: every, opts: Options{Dir: dir, Recipients: rs, Keep: keep, Audit: log}}, nil
}

// Dir is where the archives are written.
func (s *Service) Dir() string { return s.opts.Dir }

// Every is the schedule's period.
func (s *Service) Every() time.Duration { return s.every }

// Keep is the retention count.
func (s *Service) Keep() int { return s.opts.Keep }

// Job is the scheduled backup: due every period after the last run that
// succeeded; with several controllers the job's lease makes one backup per
// due time. The due item is the due time itself: the archive is a file, not
// a row, so there is no done marker to set with it, and the lease is what
// keeps two controllers from each writing one.
func (s *Service) Job() schedule.Job {
	return schedule.Job{
		Name: JobName,
		Due: func(_ context.Context, now time.Time) ([]string, error) {
			return []string{clock.Store(now)}, nil
		},
		Do: func(ctx context.Context, now time.Time, _ string) (bool, error) {
			_, err := s.create(ctx, func() time.Time { return now })
			return err == nil, err
		},
		Next: func(now time.Time) time.Time { return now.Add(s.every) },
	}
}

// Run makes a backup now (the operator's "back up now"), audited as the
// caller.
func (s *Service) Run(ctx context.Context) (Result, error) { return s.create(ctx, nil) }

func (s *Service) create(ctx context.Context, now func() time.Time) (Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.opts
	o.Now = now
	r, err := Create(ctx, s.db, o)
	if err != nil && o.Audit != nil {
		// A failed backup is audited too; the error text is the operator's
		// (paths and engine messages), never a customer's.
		_ = o.Audit.Record(context.WithoutCancel(ctx), audit.Event{Action: "backup.create", Target: "backup:" + o.Dir,
			Result: audit.Failed, Detail: map[string]any{"error": err.Error()}})
	}
	return r, err
}

// List lists the archives in the backup directory, newest first.
func (s *Service) List() ([]Summary, error) { return List(s.opts.Dir) }
