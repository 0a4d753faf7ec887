package dataplane

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/atomicfile"
)

// Shutting a port. The guards' evidence is read where the agent reads
// everything else, in Observe, and by the hub's watcher the moment it may
// have moved (guardwatch.go): a BPDU counted by the port's netdev chain,
// or more carrier losses than the flap limit within the flap window. A
// port so found is shut: a record is written in the hub's run directory,
// then its devices are set down. The record, not memory, is the state: it
// survives an agent restart, and links.Set keeps the devices down on every
// later apply instead of bringing them up. Nothing brings the port back
// but the customer's re-enable, which reaches the data plane as a
// Port.ReenableSeq above the one the record holds; the next apply then
// brings the devices up, replaces the nftables tables (the BPDU count
// starts again, see l2guard.go), and removes the record.

// Reasons a port is shut.
const (
	ShutBPDU = "bpdu"
	ShutFlap = "flap"
	// ShutUnknown is a shut port whose record of why could not be read: it
	// stays shut, and the controller holds it for that reason too.
	ShutUnknown = "unknown"
)

// PortShut is a port shut by its guards, as recorded and reported.
type PortShut struct {
	Port   string `json:"port"`
	Reason string `json:"reason"` // ShutBPDU or ShutFlap
	// Detail says what was seen, for the customer.
	Detail string    `json:"detail"`
	Since  time.Time `json:"since"`
	// ReenableSeq is the port's re-enable sequence when it was shut; a
	// higher one re-enables it.
	ReenableSeq int64 `json:"reenable_seq"`
}

const shutPrefix = "shut-"

func shutPath(runDir string, h Hub, port string) string {
	return filepath.Join(runDir, h.Namespace(), shutPrefix+port)
}

// readShut reads the hub's shut records, by port name. Records of ports
// the hub no longer has are included: set removes them.
func readShut(runDir string, h Hub) (map[string]PortShut, error) {
	dir := filepath.Join(runDir, h.Namespace())
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("shut records: %w", err)
	}
	out := map[string]PortShut{}
	for _, e := range entries {
		port, ok := strings.CutPrefix(e.Name(), shutPrefix)
		if !ok || e.IsDir() || strings.Contains(port, ".") {
			continue // not a record, or a record being written
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("shut record: %w", err)
		}
		var r PortShut
		if err := json.Unmarshal(b, &r); err != nil {
			// Records are written atomically, so only a damaged disk makes
			// one that does not parse. It still names a shut port, of
			// unknown reason and at sequence 0.
			r = PortShut{Port: port, Reason: ShutUnknown, Detail: "unreadable shut record: " + err.Error()}
		}
		r.Port = port
		out[port] = r
	}
	return out, nil
}

// writeShut writes a record atomically (a reader sees all of it or none)
// and durably.
func writeShut(runDir string, h Hub, r PortShut) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	path := shutPath(runDir, h, r.Port)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("shut record: %w", err)
	}
	// Synced before it counts: a shut port must stay shut across a crash.
	if err := atomicfile.Write(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("shut record: %w", err)
	}
	return nil
}

// heldDown reports whether a port's record still holds it down: it was
// shut at the port's current re-enable sequence or a later one.
func heldDown(p Port, records map[string]PortShut) bool {
	r, ok := records[p.Name]
	return ok && r.ReenableSeq >= p.ReenableSeq
}

// clearShut removes the records that no longer hold a port down (the port
// was re-enabled, or is no longer the hub's) and forgets the carrier
// history of re-enabled ports, whose devices have just come up: their
// flaps count from now. Called after links and nftables are applied, so a
// record outlives a failed re-enable and the next pass tries again.
func (m *Manager) clearShut(h Hub) error {
	m.guardMu.Lock()
	defer m.guardMu.Unlock()
	records, err := readShut(m.runDir, h)
	if err != nil || len(records) == 0 {
		return err
	}
	ports := map[string]Port{}
	for _, p := range h.Ports {
		ports[p.Name] = p
	}
	var errs []error
	// The hub's watcher takes the re-enabled ports' new carrier baseline.
	defer m.pokeWatch(h.ID)
	for name := range records {
		if p, ok := ports[name]; ok && heldDown(p, records) {
			continue
		}
		m.flaps.forget(h.ID + "/" + name + "/")
		if err := os.Remove(shutPath(m.runDir, h, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("re-enable port %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// guard acts on the guards' evidence for one hub (rules are the counters
// of its tables) and returns the ports shut, old and new.
func (m *Manager) guard(h Hub, rules []RuleCounter) ([]PortShut, error) {
	out, _, err := m.guardCount(h, rules)
	return out, err
}

// guardCount is guard, also counting the ports it shut now. Judgements
// are serialised (the agent's pass and the hub's watcher, guardwatch.go,
// both make them): each reads the records the one before wrote, so a port
// is shut once, and carrier samples are recorded in order.
func (m *Manager) guardCount(h Hub, rules []RuleCounter) ([]PortShut, int, error) {
	m.guardMu.Lock()
	defer m.guardMu.Unlock()
	records, err := readShut(m.runDir, h)
	if err != nil {
		return nil, 0, err
	}
	if records == nil {
		records = map[string]PortShut{}
	}
	var carriers map[string]Carrier
	var errs []error
	shutNow := 0
	now := m.flaps.now()
	for _, p := range h.Ports {
		g := p.L2Guard
		// A recorded port is shut, or being re-enabled by an apply that
		// has not finished (its BPDU count may not be reset yet): its
		// evidence is not judged again until the record is gone.
		if _, recorded := records[p.Name]; g == nil || recorded {
			continue
		}
		var reason, detail string
		if g.BPDUGuard {
			for _, dev := range takes(p) {
				if n := counterOf(rules, bpduComment(p, dev)); n > 0 {
					reason, detail = ShutBPDU, fmt.Sprintf("%d BPDU(s) received on %s", n, dev)
					break
				}
			}
		}
		if g.FlapLimit > 0 && carriers == nil {
			if carriers, err = m.links.ops.Carriers(h.Namespace()); err != nil {
				errs = append(errs, err)
				carriers = map[string]Carrier{}
			}
		}
		for _, dev := range takes(p) {
			c, ok := carriers[dev]
			if g.FlapLimit == 0 || !ok {
				continue
			}
			window := time.Duration(g.FlapWindowSeconds) * time.Second
			n := m.flaps.record(h.ID+"/"+p.Name+"/"+dev, carrierSample{at: now, Carrier: c}, window)
			if n >= g.FlapLimit && reason == "" {
				reason, detail = ShutFlap, fmt.Sprintf("%d carrier losses on %s within %d s (limit %d)", n, dev, g.FlapWindowSeconds, g.FlapLimit)
			}
		}
		if reason == "" {
			continue
		}
		r := PortShut{Port: p.Name, Reason: reason, Detail: detail, Since: now.UTC(), ReenableSeq: p.ReenableSeq}
		if err := m.shut(h, p, r); err != nil {
			errs = append(errs, err)
		}
		shutNow++
		records[p.Name] = r
	}
	var out []PortShut
	for _, p := range h.Ports {
		if heldDown(p, records) {
			out = append(out, records[p.Name])
		}
	}
	return out, shutNow, errors.Join(errs...)
}

// shut records the shut before taking the devices down: an agent that
// dies in between leaves a record, and the next apply takes them down.
func (m *Manager) shut(h Hub, p Port, r PortShut) error {
	if err := writeShut(m.runDir, h, r); err != nil {
		return fmt.Errorf("shut port %s: %w", p.Name, err)
	}
	m.flaps.forget(h.ID + "/" + p.Name + "/")
	var errs []error
	for _, dev := range takes(p) {
		if err := m.links.ops.SetUp(h.Namespace(), dev, false); err != nil {
			errs = append(errs, fmt.Errorf("shut port %s: %w", p.Name, err))
		}
	}
	return errors.Join(errs...)
}

// counterOf sums the packets of the rules with the given comment.
func counterOf(rules []RuleCounter, comment string) uint64 {
	var n uint64
	for _, r := range rules {
		if r.Comment == comment {
			n += r.Packets
		}
	}
	return n
}

// carrierSample is a device's carrier as read at one observe.
type carrierSample struct {
	at time.Time
	Carrier
}

// flapMemory keeps each guarded device's recent carrier samples: the only
// state the Manager holds between calls. A restarted agent starts with no
// history, so flaps before its first observe are not held against a port.
type flapMemory struct {
	now     func() time.Time
	mu      sync.Mutex
	samples map[string][]carrierSample // hub/port/device → oldest first; guarded by mu
}

func newFlapMemory(now func() time.Time) *flapMemory {
	return &flapMemory{now: now, samples: map[string][]carrierSample{}}
}

// record adds a sample and returns the carrier losses since the baseline:
// the newest sample at least a window old, or the oldest one kept while
// the history is shorter. Samples come at each observe and at each change
// the hub's watcher sees, so the losses counted span at least the window
// (once there is that much history) and at most one observe interval
// more; older samples are dropped.
func (f *flapMemory) record(key string, s carrierSample, window time.Duration) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	hist := append(f.samples[key], s)
	if len(hist) > 1 && s.Changes < hist[len(hist)-2].Changes {
		hist = hist[len(hist)-1:] // a new device of the same name: start again
	}
	base := 0
	for i, old := range hist {
		if !old.at.After(s.at.Add(-window)) {
			base = i
		}
	}
	hist = slices.Clone(hist[base:])
	f.samples[key] = hist
	return carrierLosses(hist[0], s)
}

// carrierLosses counts the times the carrier went away between two
// samples: the kernel counts every change, up or down, and they alternate.
func carrierLosses(from, to carrierSample) int {
	k := int(to.Changes - from.Changes)
	if from.Up {
		return (k + 1) / 2
	}
	return k / 2
}

// forget drops the samples whose key starts with prefix.
func (f *flapMemory) forget(prefix string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k := range f.samples {
		if strings.HasPrefix(k, prefix) {
			delete(f.samples, k)
		}
	}
}
