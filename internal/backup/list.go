package backup

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Summary is what the controller knows of an archive without opening it:
// the unencrypted copy of its manifest written beside it, the archive's own
// size and SHA-256.
type Summary struct {
	Name           string       `json:"name"`
	CreatedAt      time.Time    `json:"created_at"`
	CreatedAtJST   string       `json:"created_at_jst"`
	Size           int64        `json:"size"`
	SHA256         string       `json:"sha256"`
	TsunagiVersion string       `json:"tsunagi_version"`
	SchemaVersion  int64        `json:"schema_version"`
	Engine         string       `json:"engine"`
	Tables         int          `json:"tables"`
	Rows           int64        `json:"rows"`
	TableRows      []TableEntry `json:"table_rows"`
}

// Summary is the result's entry in the backup list.
func (r Result) Summary() Summary {
	s := Summary{Name: r.Name, CreatedAt: r.Manifest.CreatedAt, CreatedAtJST: r.Manifest.CreatedAtJST, Size: r.Size,
		SHA256: r.SHA256, TsunagiVersion: r.Manifest.TsunagiVersion, SchemaVersion: r.Manifest.SchemaVersion,
		Engine: r.Manifest.Engine, Tables: len(r.Manifest.Tables), TableRows: r.Manifest.Tables}
	for _, t := range r.Manifest.Tables {
		s.Rows += t.Rows
	}
	return s
}

// List reads the backups in dir, newest first. An archive whose summary is
// missing (copied in by hand) is listed with its size alone. A directory
// that does not exist yet holds no backups.
func List(dir string) ([]Summary, error) {
	names, err := archives(dir)
	if errors.Is(err, os.ErrNotExist) {
		return []Summary{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("backups: %w", err)
	}
	out := make([]Summary, 0, len(names))
	for i := len(names) - 1; i >= 0; i-- {
		n := names[i]
		st, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			continue // removed by retention while we listed
		}
		s := Summary{Name: n}
		if b, err := os.ReadFile(filepath.Join(dir, n+summarySuffix)); err == nil {
			_ = json.Unmarshal(b, &s)
		}
		s.Name, s.Size = n, st.Size()
		if s.CreatedAt.IsZero() {
			s.CreatedAt = st.ModTime().UTC()
		}
		out = append(out, s)
	}
	return out, nil
}
