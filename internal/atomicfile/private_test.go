package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

// TestPrivate: a tree left readable is tightened (directories 0700, files
// 0600, an owner's execute bit kept); a symbolic link's target outside the
// tree is not touched.
func TestPrivate(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "data")
	outside := filepath.Join(root, "outside")
	for _, d := range []string{filepath.Join(dir, "tls"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]os.FileMode{"tsunagi.db": 0o644, "tls/key.pem": 0o640, "tool": 0o755}
	for f, m := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), m); err != nil {
			t.Fatal(err)
		}
		_ = os.Chmod(filepath.Join(dir, f), m)
	}
	target := filepath.Join(outside, "shared.pem")
	if err := os.WriteFile(target, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(target, 0o644)
	_ = os.Chmod(dir, 0o755)
	if err := os.Symlink(target, filepath.Join(dir, "link.pem")); err != nil {
		t.Fatal(err)
	}
	if err := Private(dir); err != nil {
		t.Fatal(err)
	}
	want := map[string]os.FileMode{".": 0o700, "tls": 0o700, "tsunagi.db": 0o600, "tls/key.pem": 0o600, "tool": 0o700}
	for f, m := range want {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != m {
			t.Errorf("%s: %v %v, want %v", f, st.Mode().Perm(), err, m)
		}
	}
	if st, _ := os.Stat(target); st.Mode().Perm() != 0o644 {
		t.Errorf("a symbolic link was followed: its target is now %v", st.Mode().Perm())
	}
	// A directory that does not exist yet is made private.
	fresh := filepath.Join(root, "fresh", "state")
	if err := Private(fresh); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(fresh); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("fresh directory: %v %v", st.Mode().Perm(), err)
	}
}
