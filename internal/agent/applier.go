package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	obs "github.com/tsunagi-net/tsunagi/internal/network/observed"
)

// DataplaneApplier realises desired states with the data-plane manager:
// every hub of the document is applied (one failing hub does not stop the
// others), hubs this agent created that the document no longer names are
// removed, and each hub is observed for the report. Observing also shuts
// the on-premises ports whose layer-2 guards tripped. The ports the node
// holds — shut by a guard, a session stopped at the route limit — are
// reported on every pass, and the customer's re-enable is acted on once,
// from records on disk (holds.go), so it is neither lost nor repeated
// across restarts.
type DataplaneApplier struct {
	M      *dataplane.Manager
	RunDir string // the manager's RunDir: one directory per owned namespace
	// HoldsFile is the hold record store; RunDir/agent-holds.json if "".
	HoldsFile string

	mu    sync.Mutex // guards holds
	holds *holdStore
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
		return nil, err
	}
	a.holds = hs
	return hs, nil
}

// Apply implements Applier.
func (a *DataplaneApplier) Apply(ctx context.Context, s desired.State) (map[string]any, error) {
	hubs, problems := Translate(s)
	// A document the node cannot realise (say, an interface that does not
	// exist) is refused whole: nothing of it is applied and every hub keeps
	// its previous state; the error goes to the controller in the report.
	failed, refused := a.M.ApplyAll(ctx, hubs)
	if refused != nil {
		return map[string]any{"problems": problems}, fmt.Errorf("desired state refused whole: %w", refused)
	}
	hs, err := a.holdStore()
	if err != nil {
		return map[string]any{"problems": problems}, err
	}
	var errs []error
	want := map[string]bool{}
	observed := map[string]any{}
	var limited []limitSeen
	guarded := map[string][]obs.Hold{}
	reached := make([]HubReport, 0, len(hubs))
	for i, h := range hubs {
		want[h.Namespace()] = true
		// Translate keeps the document's order: hubs[i] is s.Hubs[i].
		r := HubReport{HubID: s.Hubs[i].HubID, ConfigVersion: s.Hubs[i].ConfigVersion}
		if err := failed[i]; err != nil {
			errs = append(errs, err)
			r.Error = err.Error()
			reached = append(reached, r)
			continue
		}
		r.Applied = true
		reached = append(reached, r)
		st, err := a.M.Observe(ctx, h)
		// Shut ports come from records on disk: they are reported even
		// when BIRD cannot be read.
		guarded[r.HubID] = guardHolds(h, st)
		if err == nil {
			observed[h.ID] = st
			limited = append(limited, limitsSeen(r.HubID, h, st)...)
		} else {
			errs = append(errs, fmt.Errorf("hub %s: observe: %w", h.ID, err))
		}
	}
	// The stops are recorded with the sequence acted on before this pass's
	// re-enables, so a stop observed just before a re-enable is stale.
	if err := hs.observeLimits(limited); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, a.reenableSessions(ctx, hs, s, hubs)...)
	// Every hold on record is reported, a failed hub's too: it keeps its
	// last good state, held ports included.
	var holds []obs.Hold
	for _, h := range s.Hubs {
		holds = append(holds, guarded[h.HubID]...)
		holds = append(holds, hs.limitHolds(h.HubID)...)
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
	observed[HubsKey] = reached
	if len(problems) > 0 {
		observed["problems"] = problems
	}
	if len(holds) > 0 {
		observed[HoldsKey] = holds
	}
	return observed, errors.Join(errs...)
}

// HubsKey names, in a report's observations, what the data plane reached
// for each hub of the document: the controller shows it to the customer as
// whether its hub runs its applied configuration version.
const HubsKey = "hubs"

// HubReport is one hub in a report.
type HubReport struct {
	HubID         string `json:"hub_id"`
	ConfigVersion int64  `json:"config_version"`
	Applied       bool   `json:"applied"`
	Error         string `json:"error,omitempty"`
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
