package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
)

// DataplaneApplier realises desired states with the data-plane manager:
// every hub of the document is applied (one failing hub does not stop the
// others), hubs this agent created that the document no longer names are
// removed, sessions the customer re-enabled after a route-limit stop are
// enabled again, and each hub is observed for the report.
type DataplaneApplier struct {
	M      *dataplane.Manager
	RunDir string // the manager's RunDir: one directory per owned namespace

	mu       sync.Mutex       // guards reenable
	reenable map[string]int64 // port code → last re-enable sequence acted on
}

// Apply implements Applier.
func (a *DataplaneApplier) Apply(ctx context.Context, s desired.State) (map[string]any, error) {
	hubs, problems := Translate(s)
	var errs []error
	want := map[string]bool{}
	observed := map[string]any{}
	for _, h := range hubs {
		want[h.Namespace()] = true
		if err := a.M.Apply(ctx, h); err != nil {
			errs = append(errs, err)
			continue
		}
		if st, err := a.M.Observe(ctx, h); err == nil {
			observed[h.ID] = st
		} else {
			errs = append(errs, fmt.Errorf("hub %s: observe: %w", h.ID, err))
		}
	}
	errs = append(errs, a.reenableSessions(ctx, s)...)
	owned, err := os.ReadDir(a.RunDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("list owned hubs: %w", err))
	}
	for _, e := range owned {
		ns := e.Name()
		if !e.IsDir() || !strings.HasPrefix(ns, dataplane.NamespacePrefix) || want[ns] {
			continue
		}
		if err := a.M.Remove(ctx, strings.TrimPrefix(ns, dataplane.NamespacePrefix)); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", ns, err))
		}
	}
	if len(problems) > 0 {
		observed["problems"] = problems
	}
	return observed, errors.Join(errs...)
}

// reenableSessions acts on each port's re-enable sequence: BIRD keeps a
// session that exceeded its import limit down even across a reconfigure, so
// the customer's "re-enable" (a bumped sequence) is an explicit enable. The
// first sequence seen after a start is taken as already acted on.
func (a *DataplaneApplier) reenableSessions(ctx context.Context, s desired.State) []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.reenable == nil {
		a.reenable = map[string]int64{}
	}
	var errs []error
	for _, h := range s.Hubs {
		id := strings.TrimPrefix(h.Namespace, dataplane.NamespacePrefix)
		for _, p := range h.Ports {
			last, seen := a.reenable[p.PortCode]
			a.reenable[p.PortCode] = p.ReenableSeq
			if !seen || p.ReenableSeq <= last || !p.BGPEnabled {
				continue
			}
			for _, sess := range p.Sessions {
				proto := dataplane.SessionName(portName(p.PortCode, sess.Name))
				if err := a.M.BirdClient(id).Enable(ctx, proto); err != nil {
					errs = append(errs, fmt.Errorf("re-enable %s: %w", proto, err))
				}
			}
		}
	}
	return errs
}
