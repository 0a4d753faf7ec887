// Package atomicfile writes files so that a crash leaves either the old
// content or the new, never a mix: keys, certificates, the agent's last
// desired state.
package atomicfile

import (
	"io"
	"os"
	"path/filepath"
)

// Write writes data to path through a temporary file in the same directory,
// fsync and rename, then syncs the directory so that the rename itself
// survives a power loss.
func Write(path string, data []byte, mode os.FileMode) error {
	return WriteFunc(path, mode, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFunc is Write for content too large to hold in memory (a backup
// archive): fill streams it into the temporary file, and an error from fill
// leaves the old file, if any, in place.
func WriteFunc(path string, mode os.FileMode, fill func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	// A temporary file left by a crash keeps its old mode through O_TRUNC:
	// set the mode asked for, whatever the umask or the leftover says.
	err = f.Chmod(mode)
	if err == nil {
		err = fill(f)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	err = dir.Sync()
	if cerr := dir.Close(); err == nil {
		err = cerr
	}
	return err
}
