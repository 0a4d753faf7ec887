package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// runningFile keeps, in the agent's state directory, the configuration
// version each hub's data plane truly runs.
const runningFile = "running-versions.json"

// runningVersions remembers per hub the configuration version its data
// plane truly runs: the version of the last pass that realised the hub in
// full. A hub that cannot be realised keeps its last good state, and with
// it its version here; the record survives a restart, so a restarted agent
// that cannot realise a hub still reports what the hub runs rather than
// nothing.
type runningVersions struct {
	path string // "" keeps the versions in memory only

	mu       sync.Mutex       // guards versions
	versions map[string]int64 // hub ID → version; loaded on first use
}

func (r *runningVersions) load() error {
	if r.versions != nil {
		return nil
	}
	r.versions = map[string]int64{}
	if r.path == "" {
		return nil
	}
	b, err := os.ReadFile(r.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err == nil {
		err = json.Unmarshal(b, &r.versions)
	}
	if err != nil {
		r.versions = map[string]int64{}
		return fmt.Errorf("running versions: %w", err)
	}
	return nil
}

// get returns the version hub runs, 0 when none is known.
func (r *runningVersions) get(hub string) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.load()
	return r.versions[hub], err
}

// update records the hubs reached in a pass and forgets the hubs the node
// no longer runs (keep names every hub still on the node), writing the
// file only when something changed.
func (r *runningVersions) update(reached map[string]int64, keep map[string]bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	loadErr := r.load()
	changed := false
	for hub, v := range reached {
		if r.versions[hub] != v {
			r.versions[hub], changed = v, true
		}
	}
	for hub := range r.versions {
		if !keep[hub] {
			delete(r.versions, hub)
			changed = true
		}
	}
	if !changed || r.path == "" {
		return loadErr
	}
	b, err := json.Marshal(r.versions)
	if err == nil {
		err = writeFile(r.path, b)
	}
	if err != nil {
		return errors.Join(loadErr, fmt.Errorf("running versions: %w", err))
	}
	return loadErr
}

func runningPath(stateDir string) string {
	if stateDir == "" {
		return ""
	}
	return filepath.Join(stateDir, runningFile)
}
