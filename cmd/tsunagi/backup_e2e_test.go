package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestBackupRestoreCommands: serve with a backup schedule makes a backup at
// start; `tsunagi backup` makes another while serve runs; `tsunagi restore`
// refuses a fresh data directory without the controller's secret key,
// then restores into it with the key; serve starts on the restored
// directory and answers the same customers to the same API token.
func TestBackupRestoreCommands(t *testing.T) {
	t.Parallel()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	idFile := filepath.Join(t.TempDir(), "backup-identity.txt")
	if err := os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pub := id.Recipient().String()
	scheduled := t.TempDir()
	s1 := startServe(t, serveOpts{args: []string{"--demo", "--backup-dir", scheduled, "--backup-recipient", pub}})
	tok := s1.bootstrap()
	customers := s1.must("GET", s1.mgmtURL("/api/v1/customers"), nil, bearer(tok))
	if customers.status != http.StatusOK || !bytes.Contains(customers.body, []byte("Example Trading")) {
		t.Fatalf("customers: %d %s", customers.status, customers.body)
	}
	waitFor(t, startTimeout, "the scheduled backup at start", func() bool {
		r := s1.must("GET", s1.mgmtURL("/api/v1/backups"), nil, bearer(tok))
		return r.status == http.StatusOK && bytes.Contains(r.body, []byte(`"name":"tsunagi-backup-`))
	})

	out := t.TempDir()
	b := launch(t, "backup", "--data-dir", s1.dataDir, "--out", out, "--recipient", pub, "--keep", "1")
	if code, _ := b.wait(exitTimeout); code != 0 {
		t.Fatalf("backup exited %d\n%s%s", code, b.stdout, b.stderr)
	}
	archives, _ := filepath.Glob(filepath.Join(out, "tsunagi-backup-*.tar.age"))
	if len(archives) != 1 || !strings.Contains(b.stdout.String(), "wrote "+archives[0]) {
		t.Fatalf("archives %v; stdout %s", archives, b.stdout)
	}
	if st, err := os.Stat(filepath.Join(out, "erasures.json")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("erasure list: %v", err)
	}
	bad := launch(t, "backup", "--data-dir", s1.dataDir, "--out", out, "--recipient", "age1notakey")
	if code, _ := bad.wait(exitTimeout); code == 0 || !strings.Contains(bad.stderr.String(), "not an age X25519 public key") {
		t.Errorf("backup with a bad recipient: exit %d, %s", code, bad.stderr)
	}
	s1.stop()

	fresh := storetest.DataDir(t)
	r := launch(t, "restore", "--data-dir", fresh, "--identity", idFile, archives[0])
	if code, _ := r.wait(exitTimeout); code == 0 || !strings.Contains(r.stderr.String(), "secret.key does not exist") {
		t.Fatalf("restore without the secret key: exit %d\n%s", code, r.stderr)
	}
	key, err := os.ReadFile(filepath.Join(s1.dataDir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fresh, "secret.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	r = launch(t, "restore", "--data-dir", fresh, "--identity", idFile, archives[0])
	if code, _ := r.wait(exitTimeout); code != 0 || !strings.Contains(r.stdout.String(), "restored ") {
		t.Fatalf("restore exited %d\n%s%s", code, r.stdout, r.stderr)
	}
	again := launch(t, "restore", "--data-dir", fresh, "--identity", idFile, archives[0])
	if code, _ := again.wait(exitTimeout); code == 0 || !strings.Contains(again.stderr.String(), "restore only into an empty database") {
		t.Errorf("second restore into the same database: exit %d\n%s", code, again.stderr)
	}

	s2 := startServe(t, serveOpts{dataDir: fresh})
	if s2.setupURL != "" {
		t.Errorf("the restored controller issued a first-operator link: its operator was not restored")
	}
	got := s2.must("GET", s2.mgmtURL("/api/v1/customers"), nil, bearer(tok))
	if got.status != http.StatusOK || !bytes.Equal(got.body, customers.body) {
		t.Errorf("customers after restore:\n%s\nwant\n%s", got.body, customers.body)
	}
	s2.stop()
}
