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
)

// DataplaneApplier realises desired states with the data-plane manager:
// every hub of the document is applied (one failing hub does not stop the
// others), hubs this agent created that the document no longer names are
// removed, sessions the customer re-enabled after a route-limit stop are
// enabled again, and each hub is observed for the report. Observing also
// shuts the on-premises ports whose layer-2 guards tripped; a shut port is
// brought back by the same re-enable, which reaches the data plane as the
// port's ReenableSeq (Translate) and is acted on there, from the shut
// record on disk, so it is neither lost nor repeated across restarts.
type DataplaneApplier struct {
	M      *dataplane.Manager
	RunDir string // the manager's RunDir: one directory per owned namespace

	mu       sync.Mutex       // guards reenable and awaiting
	reenable map[string]int64 // port code → last re-enable sequence acted on
	// awaiting holds ports re-enabled but not yet seen out of the stopped
	// state: until BIRD has brought the session back, the old stop is still
	// visible and must not be reported as a new one.
	awaiting map[string]bool
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
	var errs []error
	want := map[string]bool{}
	observed := map[string]any{}
	var limited []string
	var shut []ShutReport
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
		shut = append(shut, shutReports(r.HubID, st)...)
		if err == nil {
			observed[h.ID] = st
			limited = append(limited, routeLimited(st)...)
		} else {
			errs = append(errs, fmt.Errorf("hub %s: observe: %w", h.ID, err))
		}
	}
	// The stops are reported with the sequence acted on before this pass's
	// re-enables, so a stop observed just before a re-enable is stale.
	limits := a.limitReports(limited)
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
	observed[HubsKey] = reached
	if len(problems) > 0 {
		observed["problems"] = problems
	}
	if len(limits) > 0 {
		observed[RouteLimitKey] = limits
	}
	if len(shut) > 0 {
		observed[ShutKey] = shut
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

// RouteLimitKey names, in a report's observations, the ports whose session
// the route limit has stopped, each with the re-enable sequence the agent
// last acted on. They are reported on every pass while stopped; the
// controller records a stop once and ignores reports older than the
// customer's latest re-enable.
const RouteLimitKey = "route_limit_exceeded"

// LimitReport is one stopped port in a report.
type LimitReport struct {
	PortCode    string `json:"port_code"`
	ReenableSeq int64  `json:"reenable_seq"`
}

// ShutKey names, in a report's observations, the on-premises ports the
// layer-2 guards have shut (a BPDU received, or the link flapping), each
// with the reason, since when, and the re-enable sequence in force when it
// was shut. They are reported on every pass while shut. Nothing brings a
// shut port back but the customer's re-enable: the same reenable_seq bump
// as for a route-limited session, so the controller records a shut once
// and ignores reports whose sequence is below the port's latest.
const ShutKey = "port_shut"

// ShutReport is one shut port in a report.
type ShutReport struct {
	HubID       string    `json:"hub_id"`
	PortCode    string    `json:"port_code"`
	Reason      string    `json:"reason"` // bpdu | flap
	Detail      string    `json:"detail"`
	Since       time.Time `json:"since"`
	ReenableSeq int64     `json:"reenable_seq"`
}

// shutReports maps a hub's shut ports to port codes.
func shutReports(hubID string, st dataplane.Status) []ShutReport {
	var out []ShutReport
	for _, s := range st.Shut {
		code, ok := portCode(s.Port)
		if !ok {
			continue // not a port this agent named
		}
		out = append(out, ShutReport{HubID: hubID, PortCode: code, Reason: s.Reason, Detail: s.Detail, Since: s.Since, ReenableSeq: s.ReenableSeq})
	}
	return out
}

func (a *DataplaneApplier) limitReports(codes []string) []LimitReport {
	a.mu.Lock()
	defer a.mu.Unlock()
	stopped := map[string]bool{}
	var out []LimitReport
	for _, c := range codes {
		stopped[c] = true
		if !a.awaiting[c] {
			out = append(out, LimitReport{PortCode: c, ReenableSeq: a.reenable[c]})
		}
	}
	for c := range a.awaiting {
		if !stopped[c] {
			delete(a.awaiting, c) // out of the stop: a new one will be reported
		}
	}
	return out
}

// routeLimited lists the port codes of sessions BIRD stopped at the import
// limit.
func routeLimited(st dataplane.Status) []string {
	seen := map[string]bool{}
	var codes []string
	for _, s := range st.Sessions {
		if s.Established() || !strings.Contains(strings.ToLower(s.Info), "limit") {
			continue
		}
		// Session names are port_p<digits of the port code>_<leg>.
		name := strings.TrimPrefix(s.Name, "port_p")
		if digits, _, ok := strings.Cut(name, "_"); ok && name != s.Name && !seen[digits] {
			seen[digits] = true
			codes = append(codes, "shc"+digits)
		}
	}
	return codes
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
