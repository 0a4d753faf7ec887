package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// Private makes dir (created when missing) and everything under it readable
// by the owner only: directories 0700, files 0600 (an owner's execute bit is
// kept). It tightens what an earlier version or a careless umask left open;
// it never loosens. Symbolic links are left alone, and not followed.
//
// The controller's data directory and the agent's state directory hold
// secrets (the database with its sealed values and mail, keys, the node's
// desired state with BGP passwords): nobody but their owner reads them.
func Private(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walked (a temporary file)
			}
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 || (!d.IsDir() && !d.Type().IsRegular()) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		mode := info.Mode().Perm()
		want := mode &^ 0o077
		if d.IsDir() {
			want = 0o700
		}
		if mode == want {
			return nil
		}
		if err := os.Chmod(path, want); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
}
