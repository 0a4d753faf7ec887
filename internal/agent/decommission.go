package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/disposal"
)

// Decommissioning a node (ISO/IEC 27017 11.2.7) is done on the node, by the
// agent's own code, because only the node can say what it removed. In
// order:
//
//  1. every customer hub this agent owns (a directory hub-<id> in the run
//     directory) is removed by the data plane — BIRD stopped, shaping and
//     ifb devices removed, port interfaces given back, the namespace with
//     its nftables tables deleted, the underlay table deleted;
//  2. every file left in the run directory (hold records, BIRD files), then
//     the directory;
//  3. every file of the state directory but the node's identity: the cached
//     desired state (with customers' BGP passwords), the running versions;
//  4. the report goes to the controller, authenticated by the node's
//     certificate one last time: the controller records it and revokes the
//     certificate;
//  5. the identity (key overwritten, then removed; certificate; CA) and the
//     state directory go.
//
// The identity goes last so that the report can be authenticated; whether
// or not the controller could be told, the node is wiped.

// ErrNotReported is returned, wrapped, when the node was wiped but the
// controller could not be told: the operator retires the node by hand.
var ErrNotReported = errors.New("the node was wiped but the controller was not told")

// Decommissioner wipes a node.
type Decommissioner struct {
	M        *dataplane.Manager
	RunDir   string
	StateDir string
	// Client reports the wipe; nil when the node has no identity (never
	// enrolled, or wiped before): the wipe is then not reported.
	Client  *Client
	Version string
}

// Run wipes the node and reports it. The report is returned in any case;
// its Failures name what could not be removed (and make err non-nil).
func (d *Decommissioner) Run(ctx context.Context) (disposal.Report, error) {
	r := disposal.Report{Schema: disposal.Schema, AgentVersion: d.Version, HubsRemoved: []string{}, FilesRemoved: []string{}, Failures: []string{}}
	fail := func(err error) { r.Failures = append(r.Failures, disposal.Clip(err.Error())) }

	owned, err := os.ReadDir(d.RunDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		fail(fmt.Errorf("list owned hubs: %w", err))
	}
	for _, e := range owned {
		ns := e.Name()
		if !e.IsDir() || !strings.HasPrefix(ns, dataplane.NamespacePrefix) {
			continue
		}
		id := strings.TrimPrefix(ns, dataplane.NamespacePrefix)
		if err := d.M.Remove(ctx, id); err != nil {
			fail(fmt.Errorf("remove hub %s: %w", id, err))
			continue
		}
		r.HubsRemoved = append(r.HubsRemoved, id)
	}
	if len(r.Failures) == 0 {
		// A hub that could not be removed keeps its run directory: its
		// ownership marker is what a second run needs to remove it.
		removeTree(d.RunDir, "run", nil, &r)
	}
	identity := []string{keyFile, certFile, caFile}
	removeTree(d.StateDir, "state", identity, &r)
	// The node's identity goes before the report is sent, so that the
	// report says whether it went: the client already holds the key and
	// certificate in memory. The key is overwritten before it is
	// unlinked: a copy of the filesystem taken later holds no usable key.
	keyPath := filepath.Join(d.StateDir, keyFile)
	if fi, err := os.Stat(keyPath); err == nil {
		if err := os.WriteFile(keyPath, make([]byte, fi.Size()), 0o600); err != nil {
			fail(fmt.Errorf("overwrite the node key: %w", err))
		}
	}
	for _, f := range identity {
		err := os.Remove(filepath.Join(d.StateDir, f))
		switch {
		case err == nil:
			r.FilesRemoved = append(r.FilesRemoved, "state/"+f)
		case !errors.Is(err, os.ErrNotExist):
			fail(err)
		}
	}
	if err := os.Remove(d.StateDir); err != nil && !errors.Is(err, os.ErrNotExist) {
		fail(fmt.Errorf("state directory: %w", err))
	}
	r.WipedAt = time.Now().UTC()

	var reportErr error
	if d.Client == nil {
		reportErr = ErrNotReported // the caller says why there is no client
	} else if err := d.Client.SendDecommission(ctx, r); err != nil {
		reportErr = fmt.Errorf("%w: %w", ErrNotReported, err)
	}
	var wipeErr error
	if !r.Complete() {
		wipeErr = fmt.Errorf("the wipe is not complete: %s", strings.Join(r.Failures, "; "))
	}
	return r, errors.Join(wipeErr, reportErr)
}

// removeTree removes every file under dir but those named in keep (at its
// top level), recording each as prefix/<path>, then the directories it
// emptied, and dir itself unless something is kept.
func removeTree(dir, prefix string, keep []string, r *disposal.Report) {
	var dirs []string
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && path == dir {
				return nil
			}
			r.Failures = append(r.Failures, disposal.Clip(err.Error()))
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		if e.IsDir() {
			dirs = append(dirs, path)
			return nil
		}
		if slices.Contains(keep, rel) {
			return nil
		}
		if err := os.Remove(path); err != nil {
			r.Failures = append(r.Failures, disposal.Clip(err.Error()))
			return nil
		}
		r.FilesRemoved = append(r.FilesRemoved, prefix+"/"+filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		r.Failures = append(r.Failures, disposal.Clip(err.Error()))
	}
	// Deepest first; the top directory only when nothing is kept in it.
	slices.Reverse(dirs)
	for _, p := range dirs {
		if p == dir && len(keep) > 0 {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			r.Failures = append(r.Failures, disposal.Clip(err.Error()))
		}
	}
}
