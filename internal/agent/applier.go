package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
// created that the document no longer names are removed, and each hub is
// observed for the report. Observing also shuts the on-premises ports
// whose layer-2 guards tripped. The ports the node holds — shut by a
// guard, a session stopped at the route limit — are reported on every
// pass, and the customer's re-enable is acted on once, from records on
// disk (holds.go and the data plane's shut records), so it is neither
// lost nor repeated across restarts.
type DataplaneApplier struct {
	M      *dataplane.Manager
	RunDir string // the manager's RunDir: one directory per owned namespace
	// StateDir is the agent's state directory, where the configuration
	// version each hub truly runs is kept across restarts; "" keeps it in
	// memory only.
	StateDir string
	// HoldsFile is the hold record store; RunDir/agent-holds.json if "".
	HoldsFile string

	once    sync.Once
	running *runningVersions

	mu    sync.Mutex // guards holds and last
	holds *holdStore
	// last is what the previous pass observed of each session and hold,
	// for the report's events: session key → BIRD's info, hold key → its
	// reason.
	last map[string]string
}

// holdStore opens the hold records on first use.
func (a *DataplaneApplier) holdStore() (*holdStore, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.holds != nil {
		return a.holds, nil
	}
	path := a.HoldsFile
	if path == "" {
		path = filepath.Join(a.RunDir, holdsFile)
	}
	hs, err := openHoldStore(path)
	if err != nil {
		// An unreadable store must not stop every hub: it is moved aside
		// for the operator and the agent goes on without records (a
		// route-limit hold it held is found again when the peer exceeds
		// the limit again); the error is reported with this pass.
		aside := path + ".unreadable"
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, errors.Join(err, rerr)
		}
		if hs, err = openHoldStore(path); err != nil {
			return nil, err
		}
		a.holds = hs
		return hs, fmt.Errorf("hold records unreadable, moved to %s; going on without them", aside)
	}
	a.holds = hs
	return hs, nil
}

// Apply implements Applier. Every hub of s is in the report: reached (its
// ConfigVersion the document's) or kept at its last good version with the
// reason in its Error. The returned error is a failure outside any one
// hub's version (the node's links could not be listed, a hub could not be
// observed or removed); the pass is retried.
func (a *DataplaneApplier) Apply(ctx context.Context, s desired.State) ([]observed.Hub, error) {
	return a.apply(ctx, s, a.M.ApplyAll)
}

// ApplyChanged implements ChangeApplier: Apply, with the data plane
// leaving alone what did not change since its last successful set
// (dataplane.Manager.ApplyChanged).
func (a *DataplaneApplier) ApplyChanged(ctx context.Context, s desired.State) ([]observed.Hub, error) {
	return a.apply(ctx, s, a.M.ApplyChanged)
}

func (a *DataplaneApplier) apply(ctx context.Context, s desired.State, applyAll func(context.Context, []dataplane.Hub) ([]error, error)) ([]observed.Hub, error) {
	a.once.Do(func() { a.running = &runningVersions{path: runningPath(a.StateDir)} })
	hubs, problems := Translate(s)
	var errs []error
	hs, err := a.holdStore()
	if hs == nil {
		return nil, err
	}
	if err != nil {
		errs = append(errs, err)
	}
	failed, err := applyAll(ctx, hubs)
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
	var limited []limitSeen
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
		limited = append(limited, limitsSeen(hub.HubID, dp, st)...)
		o := observedHub(hub, keys, st)
		// Shut ports come from records on disk: they are reported even
		// when BIRD cannot be read.
		o.Holds = append(o.Holds, guardHolds(dp, st)...)
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
	// The stops are recorded with the sequence acted on before this pass's
	// re-enables, so a stop observed just before a re-enable is stale.
	if err := hs.observeLimits(limited); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, a.reenableSessions(ctx, hs, s, hubs)...)
	// Every route-limit hold on record is reported, a failed hub's too: it
	// keeps its last good state, held ports included. (A guard's hold is
	// the data plane's shut record, read by Observe.)
	for i := range out {
		out[i].Holds = append(out[i].Holds, hs.limitHolds(out[i].HubID)...)
	}
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

// reenableSessions acts on the ports' re-enable sequences (holdStore's
// reenable), enabling in BIRD the sessions of a port that this node runs:
// a redundant port's other session may be on another node.
func (a *DataplaneApplier) reenableSessions(ctx context.Context, hs *holdStore, s desired.State, hubs []dataplane.Hub) []error {
	type run struct{ hub, port string } // the data plane's hub ID and port name
	here := map[string]run{}            // port code/session → where it runs
	for _, h := range hubs {
		for _, p := range h.Ports {
			here[p.PortCode+"/"+p.Session] = run{h.ID, p.Name}
		}
	}
	var ports []desired.Port
	for _, h := range s.Hubs {
		ports = append(ports, h.Ports...)
	}
	errs := hs.reenable(ports, func(p desired.Port) error {
		var errs []error
		for _, sess := range p.Sessions {
			r, ok := here[p.PortCode+"/"+sess.Name]
			if !ok {
				continue
			}
			proto := dataplane.SessionName(r.port)
			if err := a.M.BirdClient(r.hub).Enable(ctx, proto); err != nil {
				errs = append(errs, fmt.Errorf("re-enable %s: %w", proto, err))
			}
		}
		return errors.Join(errs...)
	})
	if err := hs.forget(ports); err != nil {
		errs = append(errs, err)
	}
	return errs
}
