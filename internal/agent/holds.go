package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/tsunagi-net/tsunagi/internal/atomicfile"
	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
)

// The ports this node holds down, and the customer's re-enables acted on.
//
// A layer-2 guard's hold is the data plane's shut record (dataplane's
// shut.go): the data plane keeps the port's devices down from it, on disk,
// and lets it go when the port's re-enable sequence passes the one it
// holds. A route limit's hold is BIRD's, and BIRD forgets it: once the
// controller has recorded the stop, the desired state disables the
// session, and BIRD shows it "Disabled" without the reason; a restarted
// BIRD has no trace of it. So the agent keeps its own record of each
// route-limit hold, and of the re-enable sequence it last acted on for
// each port, in one file (holdStore) that survives an agent restart: a
// re-enable that reached the node while the agent was down is acted on
// when it comes back (not lost), and one acted on before is not acted on
// again (not repeated).
//
// Ports are named by the desired state's own keys — the port code and the
// session (dataplane.Port.PortCode, Session) — never by taking BIRD's
// protocol names apart.

// holdsFile is the record store's file in the applier's RunDir.
const holdsFile = "agent-holds.json"

// holdsSchema names the record store's format.
const holdsSchema = "tsunagi.agent-holds/v1"

// limitHold is a route-limit hold and the hub it is on.
type limitHold struct {
	HubID string        `json:"hub_id"`
	Hold  observed.Hold `json:"hold"`
}

// holdRecords is the record store's content.
type holdRecords struct {
	Schema string `json:"schema"`
	// Acted is the re-enable sequence last acted on, by port code.
	Acted map[string]int64 `json:"acted"`
	// Limits are the route-limit holds by port code.
	Limits map[string]limitHold `json:"route_limits"`
	// Awaiting are ports re-enabled whose session BIRD may still show
	// stopped: that old stop is not recorded again.
	Awaiting map[string]bool `json:"awaiting"`
}

// holdStore is the agent's hold records, written through to its file.
type holdStore struct {
	path string
	mu   sync.Mutex
	r    holdRecords // guarded by mu
}

// openHoldStore reads the store at path; a missing file is an empty store.
func openHoldStore(path string) (*holdStore, error) {
	s := &holdStore{path: path, r: holdRecords{Schema: holdsSchema}}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("hold records: %w", err)
	default:
		var r holdRecords
		if err := json.Unmarshal(b, &r); err != nil || r.Schema != holdsSchema {
			return nil, fmt.Errorf("hold records %s: not a %s file (%v)", path, holdsSchema, err)
		}
		s.r = r
	}
	if s.r.Acted == nil {
		s.r.Acted = map[string]int64{}
	}
	if s.r.Limits == nil {
		s.r.Limits = map[string]limitHold{}
	}
	if s.r.Awaiting == nil {
		s.r.Awaiting = map[string]bool{}
	}
	return s, nil
}

// save writes the records atomically and durably; called with mu held.
func (s *holdStore) save() error {
	b, err := json.MarshalIndent(s.r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("hold records: %w", err)
	}
	if err := atomicfile.Write(s.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("hold records: %w", err)
	}
	return nil
}

// limitSeen is a session BIRD shows stopped at the import limit.
type limitSeen struct {
	HubID string
	Hold  observed.Hold // without ReenableSeq: the store sets it
}

// observeLimits records the route-limit stops seen in this pass, with the
// re-enable sequence acted on before this pass's re-enables (a stop seen
// just before a re-enable is stale for the controller). A port already
// held, or re-enabled and awaiting BIRD, is not recorded again; a port
// no longer seen stopped stops awaiting.
func (s *holdStore) observeLimits(seen []limitSeen) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	stopped := map[string]bool{}
	changed := false
	for _, l := range seen {
		code := l.Hold.PortCode
		stopped[code] = true
		if _, held := s.r.Limits[code]; held || s.r.Awaiting[code] {
			continue
		}
		h := l.Hold
		h.ReenableSeq = s.r.Acted[code]
		s.r.Limits[code] = limitHold{HubID: l.HubID, Hold: h}
		changed = true
	}
	for code := range s.r.Awaiting {
		if !stopped[code] {
			delete(s.r.Awaiting, code)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return s.save()
}

// reenable acts on each port's re-enable sequence: a sequence above the
// one last acted on, on a port the node holds at the route limit whose
// BGP the desired state enables again, calls enable (which enables the
// port's sessions in BIRD: BIRD keeps a session that hit its import limit
// down even across a reconfigure) and then records it acted on, so a
// failed enable is tried again on the next pass and a done one never. A
// port that holds nothing has its sequence recorded without acting.
func (s *holdStore) reenable(ports []desired.Port, enable func(desired.Port) error) []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	changed := false
	for _, p := range ports {
		last, seen := s.r.Acted[p.PortCode]
		if seen && p.ReenableSeq <= last {
			continue
		}
		if _, held := s.r.Limits[p.PortCode]; held {
			if !p.BGPEnabled {
				continue // the controller still holds it stopped
			}
			if err := enable(p); err != nil {
				errs = append(errs, err)
				continue
			}
			delete(s.r.Limits, p.PortCode)
			s.r.Awaiting[p.PortCode] = true
		}
		s.r.Acted[p.PortCode] = p.ReenableSeq
		changed = true
	}
	if changed {
		if err := s.save(); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// forget drops the records of ports no hub of the document has.
func (s *holdStore) forget(ports []desired.Port) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := map[string]bool{}
	for _, p := range ports {
		keep[p.PortCode] = true
	}
	changed := false
	for code := range s.r.Awaiting {
		if !keep[code] {
			delete(s.r.Awaiting, code)
			changed = true
		}
	}
	for code := range s.r.Acted {
		if !keep[code] {
			delete(s.r.Acted, code)
			changed = true
		}
	}
	for code := range s.r.Limits {
		if !keep[code] {
			delete(s.r.Limits, code)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return s.save()
}

// limitHolds returns the route-limit holds of a hub, by port code.
func (s *holdStore) limitHolds(hubID string) []observed.Hold {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []observed.Hold
	for _, l := range s.r.Limits {
		if l.HubID == hubID {
			out = append(out, l.Hold)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PortCode < out[j].PortCode })
	return out
}

// portsByName maps a hub's data-plane ports by name.
func portsByName(h dataplane.Hub) map[string]dataplane.Port {
	out := map[string]dataplane.Port{}
	for _, p := range h.Ports {
		out[p.Name] = p
	}
	return out
}

// limitsSeen lists the sessions of a hub BIRD shows stopped at the import
// limit, by the desired state's keys of their ports, with the count BIRD
// reports for the stop.
func limitsSeen(hubID string, h dataplane.Hub, st dataplane.Status) []limitSeen {
	bySession := map[string]dataplane.Port{}
	for _, p := range h.Ports {
		bySession[dataplane.SessionName(p.Name)] = p
	}
	var out []limitSeen
	seen := map[string]bool{}
	for _, s := range st.Sessions {
		p, ok := bySession[s.Name]
		if !ok || p.PortCode == "" || s.Established() || !strings.Contains(strings.ToLower(s.Info), "limit") || seen[p.PortCode] {
			continue
		}
		seen[p.PortCode] = true
		limit := h.SessionImportLimit(p)
		out = append(out, limitSeen{HubID: hubID, Hold: observed.Hold{Kind: observed.HoldRouteLimit, PortCode: p.PortCode, Session: p.Session,
			Reason: "limit", Detail: s.Info, Since: s.Since.UTC(), Prefixes: s.Routes.LimitHit, Limit: limit}})
	}
	return out
}

// guardHolds are a hub's ports its layer-2 guards shut, from the data
// plane's shut records.
func guardHolds(h dataplane.Hub, st dataplane.Status) []observed.Hold {
	ports := portsByName(h)
	var out []observed.Hold
	for _, s := range st.Shut {
		p, ok := ports[s.Port]
		if !ok || p.PortCode == "" {
			continue // not a port of the document
		}
		out = append(out, observed.Hold{Kind: observed.HoldL2Guard, PortCode: p.PortCode, Reason: s.Reason, Detail: observed.Clip(s.Detail),
			Since: s.Since, ReenableSeq: s.ReenableSeq})
	}
	return out
}
