package backup

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestRetention: with keep 2, four backups leave the newest two (archives
// and their summaries), listed newest first; the erasure list is beside them.
func TestRetention(t *testing.T) {
	db := storetest.SQLite(t)
	dir := t.TempDir()
	clk := newFakeNow()
	o := clk.opts(Options{Dir: dir, Recipients: []age.Recipient{newIdentity(t).Recipient()}, Keep: 2})
	var names []string
	for range 4 {
		r, err := Create(context.Background(), db, o)
		must(t, err)
		names = append(names, r.Name)
		clk.add(time.Hour)
	}
	list, err := List(dir)
	must(t, err)
	var listed []string
	for _, s := range list {
		listed = append(listed, s.Name)
		if s.Size == 0 || s.SHA256 == "" || s.SchemaVersion == 0 || s.Tables == 0 || s.CreatedAt.IsZero() {
			t.Errorf("summary %+v", s)
		}
	}
	if want := []string{names[3], names[2]}; !reflect.DeepEqual(listed, want) {
		t.Errorf("kept %v, want %v", listed, want)
	}
	ents, err := os.ReadDir(dir)
	must(t, err)
	if len(ents) != 5 { // two archives, two summaries, the erasure list
		for _, e := range ents {
			t.Log(e.Name())
		}
		t.Errorf("%d files in the backup directory, want 5", len(ents))
	}
	if _, err := os.Stat(filepath.Join(dir, ErasureFile)); err != nil {
		t.Error(err)
	}
	if names[0] != "tsunagi-backup-20261206-120000.000.tar.age" {
		t.Errorf("first name %s: want the JST time", names[0])
	}
}

// TestScheduledBackupTwoControllers: two controllers on one PostgreSQL run
// the backup job at the same due times; each due time gives one archive,
// one ok run and one backup.create entry, and the job is next due a period
// later.
func TestScheduledBackupTwoControllers(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	// Controllers on one database share its secret key file.
	sharedKey := filepath.Join(t.TempDir(), "secret.key")
	dir := t.TempDir()
	recipient := newIdentity(t).Recipient().String()
	clk := newFakeNow()
	var scheds []*schedule.Scheduler
	var dbs []*store.DB
	for i := range 2 {
		db, err := store.Open(context.Background(), store.Options{DSN: dsn, SecretKeyFile: sharedKey})
		must(t, err)
		t.Cleanup(func() { db.Close() })
		log := audit.New(db)
		svc, err := NewService(db, log, dir, []string{recipient}, 6*time.Hour, 10)
		must(t, err)
		s, err := schedule.New(db, log, []string{"ctl-a", "ctl-b"}[i], svc.Job())
		must(t, err)
		s.Now = clk.now
		scheds, dbs = append(scheds, s), append(dbs, db)
	}
	runAll := func() {
		t.Helper()
		done := make(chan error, len(scheds))
		for _, s := range scheds {
			go func() { _, err := s.RunDue(context.Background()); done <- err }()
		}
		for range scheds {
			must(t, <-done)
		}
	}
	runAll()
	clk.add(time.Hour) // not due yet
	runAll()
	clk.add(5 * time.Hour) // the next due time
	runAll()
	runAll()
	list, err := List(dir)
	must(t, err)
	if len(list) != 2 {
		t.Fatalf("%d archives for two due times, want 2: %+v", len(list), list)
	}
	runs, err := schedule.Runs(context.Background(), dbs[0], schedule.Query{Job: JobName})
	must(t, err)
	if len(runs) != 2 || runs[0].Outcome != schedule.OK || runs[1].Outcome != schedule.OK || runs[0].Done != 1 {
		t.Errorf("runs %+v", runs)
	}
	var created int
	must(t, store.Scan(dbs[0].QueryRow(context.Background(),
		`SELECT COUNT(*) FROM audit_events WHERE action = 'backup.create' AND result = 'ok'`), &created))
	if created != 2 {
		t.Errorf("%d backup.create entries, want 2", created)
	}
}

// TestNewServiceRefuses: no recipient (no unencrypted backup), a key that is
// not an age public key, a period under a minute, keep 0.
func TestNewServiceRefuses(t *testing.T) {
	db := storetest.SQLite(t)
	r := newIdentity(t).Recipient().String()
	for _, tc := range []struct {
		recipients []string
		every      time.Duration
		keep       int
		want       string
	}{
		{nil, time.Hour, 1, "no recipient"},
		{[]string{"ssh-ed25519 AAAA"}, time.Hour, 1, "not an age X25519 public key"},
		{[]string{r}, time.Second, 1, "at least 1m"},
		{[]string{r}, time.Hour, 0, "--backup-keep"},
	} {
		if _, err := NewService(db, nil, t.TempDir(), tc.recipients, tc.every, tc.keep); !contains(err, tc.want) {
			t.Errorf("%v: %v, want %q", tc.recipients, err, tc.want)
		}
	}
}
