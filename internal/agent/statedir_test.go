package agent

import (
	"os"
	"path/filepath"
	"testing"
)

// TestStateDirIsPrivate: the state directory holds the node key and the last
// desired state with customers' BGP passwords; one an earlier version or an
// operator left readable is tightened.
func TestStateDirIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, 0o755)
	state := filepath.Join(dir, stateFile)
	if err := os.WriteFile(state, []byte(`{"md5":"s3cret"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(state, 0o644)
	if err := PrivateStateDir(dir); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, state: 0o600} {
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want %v", path, st.Mode().Perm(), err, want)
		}
	}
}
