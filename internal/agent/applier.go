package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
)

// DataplaneApplier realises desired states with the data-plane manager:
// every hub of the document is applied on its own (a hub that cannot be
// realised keeps its last good state and stops no other), hubs this agent
// created that the document no longer names are removed, sessions the
// customer re-enabled after a route-limit stop are enabled again, and each
// hub is observed for the report. Observing also shuts the on-premises
// ports whose layer-2 guards tripped; a shut port is brought back by the
// same re-enable, which reaches the data plane as the port's ReenableSeq
// (Translate) and is acted on there, from the shut record on disk, so it
// is neither lost nor repeated across restarts.
type DataplaneApplier struct {
	M      *dataplane.Manager
	RunDir string // the manager's RunDir: one directory per owned namespace
	// StateDir is the agent's state directory, where the configuration
	// version each hub truly runs is kept across restarts; "" keeps it in
	// memory only.
	StateDir string

	once    sync.Once
	running *runningVersions

	mu       sync.Mutex       // guards reenable, awaiting and last
	reenable map[string]int64 // port code → last re-enable sequence acted on
	// awaiting holds ports re-enabled but not yet seen out of the stopped
	// state: until BIRD has brought the session back, the old stop is still
	// visible and must not be reported as a new one.
	awaiting map[string]bool
	// last is what the previous pass observed of each session and hold,
	// for the report's events: session key → BIRD's info, hold key → its
	// reason.
	last map[string]string
}

// Apply implements Applier. Every hub of s is in the report: reached (its
// ConfigVersion the document's) or kept at its last good version with the
// reason in its Error. The returned error is a failure outside any one
// hub's version (the node's links could not be listed, a hub could not be
// observed or removed); the pass is retried.
func (a *DataplaneApplier) Apply(ctx context.Context, s desired.State) ([]observed.Hub, error) {
	a.once.Do(func() { a.running = &runningVersions{path: runningPath(a.StateDir)} })
	hubs, problems := Translate(s)
	var errs []error
	failed, err := a.M.ApplyAll(ctx, hubs)
	if err != nil {
		// Nothing was touched: every hub runs what it ran.
		failed = make([]error, len(hubs))
		for i := range failed {
			failed[i] = fmt.Errorf("not applied: %w", err)
		}
		errs = append(errs, err)
	}
	want := map[string]bool{}
	keep := map[string]bool{}
	reached := map[string]int64{}
	out := make([]observed.Hub, 0, len(hubs))
	for i, dp := range hubs {
		hub := s.Hubs[i] // Translate keeps the document's order
		want[dp.Namespace()] = true
		keep[hub.HubID] = true
		if failed[i] == nil {
			reached[hub.HubID] = hub.ConfigVersion
		}
		keys := keysOf(hub, dp)
		// A hub that could not be realised still runs its last good state:
		// it is observed like any other — unless it never ran at all. (What
		// cannot be read of a hub that failed is not a failure of the pass:
		// the hub's Error says why it is not what was asked.)
		var st dataplane.Status
		var err error
		if ran, rerr := a.running.get(hub.HubID); failed[i] == nil || ran > 0 || rerr != nil {
			st, err = a.M.Observe(ctx, dp)
		}
		if err != nil && failed[i] == nil {
			errs = append(errs, fmt.Errorf("hub %s: observe: %w", dp.ID, err))
		}
		o := observedHub(hub, keys, st)
		o.Problems = append(o.Problems, problems[i]...)
		if failed[i] != nil {
			o.Error = observed.Clip(failed[i].Error())
		} else if err == nil {
			o.Problems = append(o.Problems, gaps(dp, keys, o)...)
		}
		if len(o.Problems) > observed.MaxProblems {
			o.Problems = o.Problems[:observed.MaxProblems]
		}
		out = append(out, o)
	}
	// The stops are reported with the sequence acted on before this pass's
	// re-enables, so a stop observed just before a re-enable is stale.
	a.limitHolds(out)
	errs = append(errs, a.reenableSessions(ctx, s, hubs)...)
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
	if err := a.running.update(reached, keep); err != nil {
		errs = append(errs, err)
	}
	for i := range out {
		v, err := a.running.get(out[i].HubID)
		if err != nil {
			errs = append(errs, err)
		}
		out[i].ConfigVersion = v
	}
	a.events(out, time.Now())
	return out, errors.Join(errs...)
}

// limitHolds gives each route-limit hold the re-enable sequence the agent
// last acted on for its port, and leaves out the stops of ports re-enabled
// but not yet seen out of the stopped state.
func (a *DataplaneApplier) limitHolds(hubs []observed.Hub) {
	a.mu.Lock()
	defer a.mu.Unlock()
	stopped := map[string]bool{}
	for i := range hubs {
		holds := hubs[i].Holds[:0]
		for _, hd := range hubs[i].Holds {
			if hd.Kind != observed.HoldRouteLimit {
				holds = append(holds, hd)
				continue
			}
			stopped[hd.PortCode] = true
			if a.awaiting[hd.PortCode] {
				continue
			}
			hd.ReenableSeq = a.reenable[hd.PortCode]
			holds = append(holds, hd)
		}
		hubs[i].Holds = holds
	}
	for c := range a.awaiting {
		if !stopped[c] {
			delete(a.awaiting, c) // out of the stop: a new one will be reported
		}
	}
}

// events adds to each hub what changed since the previous pass: sessions
// whose state changed, and holds that began. The first pass after a start
// reports none (there is nothing to compare with).
func (a *DataplaneApplier) events(hubs []observed.Hub, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	first := a.last == nil
	now := map[string]string{}
	for i := range hubs {
		h := &hubs[i]
		for _, p := range h.Ports {
			for _, s := range p.Sessions {
				key := h.HubID + "/" + p.PortCode + "/" + s.Name
				now[key] = s.Info
				if prev, ok := a.last[key]; !first && ok && prev != s.Info {
					h.Events = append(h.Events, observed.Event{Kind: observed.EventSession, At: at, PortCode: p.PortCode, Session: s.Name, From: prev, To: s.Info})
				}
			}
		}
		for _, hd := range h.Holds {
			key := "hold/" + h.HubID + "/" + hd.Kind + "/" + hd.PortCode + "/" + hd.Session
			now[key] = hd.Reason
			if _, ok := a.last[key]; !first && !ok {
				held := hd
				h.Events = append(h.Events, observed.Event{Kind: observed.EventHold, At: at, PortCode: hd.PortCode, Hold: &held})
			}
		}
		if len(h.Events) > observed.MaxEvents {
			h.Events = h.Events[:observed.MaxEvents]
		}
	}
	a.last = now
}

// reenableSessions acts on each port's re-enable sequence: BIRD keeps a
// session that exceeded its import limit down even across a reconfigure, so
// the customer's "re-enable" (a bumped sequence) is an explicit enable. The
// first sequence seen after a start is taken as already acted on.
func (a *DataplaneApplier) reenableSessions(ctx context.Context, s desired.State, hubs []dataplane.Hub) []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.reenable == nil {
		a.reenable = map[string]int64{}
		a.awaiting = map[string]bool{}
	}
	// Only sessions this node runs: a redundant port's other leg may be on
	// another node.
	here := map[string]bool{}
	for _, h := range hubs {
		for _, p := range h.Ports {
			here[h.ID+"/"+p.Name] = true
		}
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
			a.awaiting[p.PortCode] = true
			for _, sess := range p.Sessions {
				name := portName(p.PortCode, sess.Name)
				if !here[id+"/"+name] {
					continue
				}
				proto := dataplane.SessionName(name)
				if err := a.M.BirdClient(id).Enable(ctx, proto); err != nil {
					errs = append(errs, fmt.Errorf("re-enable %s: %w", proto, err))
				}
			}
		}
	}
	return errs
}
