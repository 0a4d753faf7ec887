package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/backup"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// newTestBackups configures backups into dir, encrypted to a fresh key.
func newTestBackups(t testing.TB, db *store.DB, log *audit.Log, dir string) *backup.Service {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	b, err := backup.NewService(db, log, dir, []string{id.Recipient().String()}, 24*time.Hour, 3)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBackupsAPI: an operator makes a backup now (201, audited with its
// file, size and SHA-256) and lists it; a security officer is refused both.
func TestBackupsAPI(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	const pw = "backups api passphrase 12"
	e.account("", "bak-op", identity.RoleOperator, pw)
	e.account("", "bak-so", identity.RoleSecurityOfficer, pw)
	op := e.client(e.mgmt)
	op.login("bak-op", pw)
	var l backupList
	op.expect(http.StatusOK, "GET", "/api/v1/backups", nil).json(t, &l)
	if !l.Configured || l.Keep != 3 || l.EverySeconds != 86400 || len(l.Items) != 0 {
		t.Fatalf("before: %+v", l)
	}
	var b backup.Summary
	op.expect(http.StatusCreated, "POST", "/api/v1/backups", nil).json(t, &b)
	if !strings.HasPrefix(b.Name, "tsunagi-backup-") || b.Size == 0 || len(b.SHA256) != 64 || len(b.TableRows) == 0 {
		t.Fatalf("created %+v", b)
	}
	if _, err := os.Stat(e.backupDir + "/" + b.Name); err != nil {
		t.Fatal(err)
	}
	op.expect(http.StatusOK, "GET", "/api/v1/backups", nil).json(t, &l)
	if len(l.Items) != 1 || l.Items[0].Name != b.Name || l.Items[0].SHA256 != b.SHA256 || l.Items[0].Rows != b.Rows {
		t.Fatalf("after: %+v", l)
	}
	var n int
	e.must("audit", store.Scan(e.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM audit_events
		WHERE action = 'backup.create' AND result = 'ok' AND actor_name = 'bak-op' AND detail LIKE ?`, "%"+b.SHA256+"%"), &n))
	if n != 1 {
		t.Errorf("%d backup.create entries by the operator with the archive's SHA-256, want 1", n)
	}
	so := e.client(e.mgmt)
	so.login("bak-so", pw)
	so.expect(http.StatusForbidden, "GET", "/api/v1/backups", nil)
	so.expect(http.StatusForbidden, "POST", "/api/v1/backups", nil)
}

// TestBackupsUnconfigured: without --backup-dir the list says so and
// "back up now" is a conflict that names the flags.
func TestBackupsUnconfigured(t *testing.T) {
	s := &Server{}
	l, err := s.backups()
	if err != nil || l.Configured || l.Items == nil {
		t.Fatalf("%+v %v", l, err)
	}
	_, err = s.runBackup(httptest.NewRequest("POST", "/api/v1/backups", nil))
	if !fault.Is(err, fault.Conflict) || !strings.Contains(err.Error(), "--backup-dir") {
		t.Fatalf("%v", err)
	}
}

// TestBackupsPage: the page in Japanese and English; "back up now" adds an
// archive; the scheduled job's last run shows; a backup that fails (the
// directory is a file) is an error page that changes nothing and shows as
// the last failure once the job fails too; a security officer gets 403.
func TestBackupsPage(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	const pw = "backups page passphrase 34"
	e.account("", "bakp-op", identity.RoleOperator, pw)
	e.account("", "bakp-so", identity.RoleSecurityOfficer, pw)
	c := e.pageClient(e.mgmt)
	c.login("bakp-op", pw)
	for _, lang := range []struct{ code, title, none, every string }{
		{"ja", "バックアップ", "バックアップはまだありません。", "24 時間ごと"},
		{"en", "Backups", "No backups yet.", "every 24 hours"},
	} {
		useLanguage(t, c, lang.code)
		expectPage(t, lang.code, c.get("/backups"), 200, `<html lang="`+lang.code+`">`, lang.title, lang.none, lang.every, `id="bak-now"`)
	}
	expectRedirect(t, "back up now", c.post("/backups", url.Values{}), "/backups")
	list, err := backup.List(e.backupDir)
	e.must("list", err)
	if len(list) != 1 {
		t.Fatalf("%d backups after back up now", len(list))
	}
	jobs, err := schedule.New(e.db, e.audit, "test-controller", e.backups.Job())
	e.must("scheduler", err)
	_, err = jobs.RunDue(e.seed)
	e.must("scheduled backup", err)
	expectPage(t, "listed", c.get("/backups"), 200, "<code>"+list[0].Name+"</code>", "The backup was written.", "Succeeded", "No failure")

	// The directory becomes a file: the backup fails and nothing is written.
	e.must("break dir", os.RemoveAll(e.backupDir))
	e.must("break dir", os.WriteFile(e.backupDir, []byte("not a directory"), 0o600))
	expectPage(t, "failed", c.post("/backups", url.Values{}), http.StatusServiceUnavailable, "the backup failed")
	if st, err := os.Stat(e.backupDir); err != nil || st.IsDir() {
		t.Errorf("the failed backup changed the directory: %v", err)
	}
	if !e.auditHas("backup.create", "failed") {
		t.Error("the failed backup is not in the audit log")
	}
	jobs.Now = func() time.Time { return time.Now().Add(25 * time.Hour) }
	if _, err := jobs.RunDue(e.seed); err == nil {
		t.Fatal("a scheduled backup into a file succeeded")
	}
	expectPage(t, "last failure", c.get("/backups"), 503)
	e.must("restore dir", os.Remove(e.backupDir))
	expectPage(t, "last failure", c.get("/backups"), 200, `id="bak-last-failure"`, "not a directory")

	so := e.pageClient(e.mgmt)
	so.login("bakp-so", pw)
	useLanguage(t, so, "en")
	expectPage(t, "officer", so.get("/backups"), http.StatusForbidden, "your role does not allow this")
	expectPage(t, "officer post", so.post("/backups", url.Values{}), http.StatusForbidden)
}
