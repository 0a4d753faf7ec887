package main

import (
	"net/http"
	"testing"

	"filippo.io/age"
)

// TestBrowserBackups: with a backup schedule, the operator's backups page
// lists the backup made at start and the scheduled job's last run; "back up
// now" adds one; the page passes axe-core in both languages.
func TestBrowserBackups(t *testing.T) {
	t.Parallel()
	defer timed(t, "TestBrowserBackups")()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	s := startServe(t, serveOpts{args: []string{"--demo", "--backup-dir", t.TempDir(), "--backup-recipient", id.Recipient().String()}})
	s.createOperator()
	b := newBrowser(t, s)
	op := b.person("operator", "ja")
	base := s.mgmtOrigin()
	op.signIn(base, opLogin, opPassword)
	waitFor(t, startTimeout, "the backup made at start", func() bool {
		op.open(base + "/backups")
		return op.has("#bak-table tbody tr")
	})
	before := eval[int](op, `document.querySelectorAll("#bak-table tbody tr").length`)
	op.contains("the scheduled job's last run", "成功", "失敗はありません")
	if st := op.submit("#bak-now"); st != http.StatusOK {
		t.Fatalf("back up now: %d:\n%s", st, op.text())
	}
	op.contains("the flash", "バックアップを作成しました。")
	if n := eval[int](op, `document.querySelectorAll("#bak-table tbody tr").length`); n != before+1 {
		t.Errorf("%d backups listed after back up now, want %d", n, before+1)
	}
	op.axe()
	op.checkLanguages("/backups", "tsunagi-backup-", "SHA-256", "sqlite")
	op.shoot("operator-backups")
}
