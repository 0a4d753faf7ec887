package agent

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
)

// Prober runs the reachability monitors of the node's desired state: each
// monitor probes its target every interval from its hub's monitoring
// address, and keeps what it measured for the next report (Take).
//
// Each monitor is one goroutine waiting on one timer: 200 monitors are 200
// parked goroutines and 200 entries of the runtime's own timer heap, which
// is what a hand-made scheduler would rebuild. A probe in flight holds no
// thread either (dataplane.Probe waits on the poller). A monitor's probes
// fall on a fixed phase of its interval, drawn from its hub and ID, so the
// node's monitors are spread over the interval instead of firing together,
// and a restarted agent keeps each monitor's rhythm.
type Prober struct {
	probe func(context.Context, dataplane.ProbeSpec) dataplane.ProbeResult
	wake  chan struct{}
	log   *slog.Logger

	ctx    context.Context // ends every monitor (Close)
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu sync.Mutex
	// monitors are the running monitors (guarded by mu, as is every
	// monitor's buffer and state).
	monitors map[monitorKey]*monitor
}

// ProbeBatch is what monitors measured, per hub ID: each hub's monitors
// by ID, each with its probes oldest first.
type ProbeBatch map[string][]observed.MonitorReport

type monitorKey struct{ hub, id string }

// monitorSpec is what a monitor does; another spec restarts it.
type monitorSpec struct {
	namespace      string
	source, target netip.Addr
	tcpPort        int
	interval       time.Duration
	failAfter      int
}

// monitor is a running monitor: its goroutine's stop, and (guarded by
// Prober.mu) the probes kept for the next report and its failure count.
type monitor struct {
	spec monitorSpec
	stop context.CancelFunc

	probes  []observed.Probe
	dropped int
	last    time.Time // of the last probe kept: the next is later
	fails   int       // consecutive failed probes
	down    bool      // fails reached spec.failAfter
}

// NewProber returns a prober with no monitors; Set gives it the desired
// state's, Close stops them. A probe the node could not send is logged to
// log (nil: discarded) when its cause changes.
func NewProber(log *slog.Logger) *Prober {
	p := newProber(dataplane.Probe)
	if log != nil {
		p.log = log
	}
	return p
}

func newProber(probe func(context.Context, dataplane.ProbeSpec) dataplane.ProbeResult) *Prober {
	ctx, cancel := context.WithCancel(context.Background())
	return &Prober{probe: probe, wake: make(chan struct{}, 1), log: slog.New(slog.DiscardHandler), ctx: ctx, cancel: cancel,
		monitors: map[monitorKey]*monitor{}}
}

// Set makes the running monitors those of s: it starts the new ones,
// restarts those whose hub namespace, addresses or parameters changed
// (their failure count starts again; what they measured is still sent)
// and stops those s no longer has (what they measured is dropped: a
// stopped monitor raises nothing). Setting the same state again changes
// nothing.
func (p *Prober) Set(s desired.State) {
	want := map[monitorKey]monitorSpec{}
	for _, h := range s.Hubs {
		mon, err := netip.ParsePrefix(h.MonitoringNetwork)
		if err != nil {
			continue // refused by desired.State.Check before it gets here
		}
		for _, m := range h.Monitors {
			target, err := netip.ParseAddr(m.Target)
			if err != nil {
				continue
			}
			want[monitorKey{h.HubID, m.ID}] = monitorSpec{namespace: h.Namespace, source: mon.Addr().Next(), target: target,
				tcpPort: m.TCPPort, interval: time.Duration(m.IntervalSeconds) * time.Second, failAfter: m.FailAfter}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, m := range p.monitors {
		if spec, ok := want[k]; !ok || spec != m.spec {
			m.stop()
			delete(p.monitors, k)
			if ok {
				p.start(k, spec, m)
			}
		}
	}
	for k, spec := range want {
		if p.monitors[k] == nil {
			p.start(k, spec, nil)
		}
	}
}

// start runs a monitor, taking over the unsent probes of the one it
// replaces (nil for none). p.mu is held.
func (p *Prober) start(k monitorKey, spec monitorSpec, old *monitor) {
	ctx, stop := context.WithCancel(p.ctx)
	m := &monitor{spec: spec, stop: stop}
	if old != nil {
		m.probes, m.dropped, m.last = old.probes, old.dropped, old.last
	}
	p.monitors[k] = m
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.run(ctx, k, m)
	}()
}

// run probes every interval until ctx ends. The timeout is half the
// interval, at most 2 s, so a monitor has one probe in flight at most.
func (p *Prober) run(ctx context.Context, k monitorKey, m *monitor) {
	spec := m.spec
	// A hash whose every bit depends on every byte: FNV's high bits hardly
	// change with the last bytes of IDs alike but for a suffix, which
	// would put such monitors on nearly the same phase.
	digest := sha256.Sum256([]byte(k.hub + "/" + k.id))
	sum := binary.BigEndian.Uint32(digest[:])
	// The phase is sum's share of the interval, in milliseconds (the
	// product fits in 64 bits for any interval up to 49 days).
	phase := time.Duration(int64(spec.interval/time.Millisecond)*int64(sum)>>32) * time.Millisecond
	probe := dataplane.ProbeSpec{Namespace: spec.namespace, Source: spec.source, Target: spec.target, TCPPort: spec.tcpPort,
		ID: uint16(sum >> 16), Timeout: min(2*time.Second, spec.interval/2)}
	next := nextSlot(time.Now(), spec.interval, phase)
	t := time.NewTimer(time.Until(next))
	defer t.Stop()
	cause := "" // of the last probe the node could not send: logged once while it lasts
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		at := time.Now()
		res := p.probe(ctx, probe)
		if ctx.Err() != nil {
			return // stopped or restarted meanwhile: the result is no longer this monitor's
		}
		if now := errText(res.Cause); now != cause {
			cause = now
			if now != "" {
				p.log.Warn("reachability probe not sent", "hub", k.hub, "monitor", k.id, "err", res.Cause)
			}
		}
		p.record(k, m, at, res)
		probe.Seq++
		next = nextSlot(time.Now(), spec.interval, phase)
		t.Reset(time.Until(next))
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// nextSlot is the first time after now at the given phase of the
// interval (on the wall clock's multiples of the interval).
func nextSlot(now time.Time, interval, phase time.Duration) time.Time {
	slot := now.Truncate(interval).Add(phase)
	if !slot.After(now) {
		slot = slot.Add(interval)
	}
	return slot
}

// record keeps a probe's result for the next report, the newest
// observed.MaxProbes of them (the older are counted as dropped), and wakes
// the agent's loop when the monitor goes down (fail_after consecutive
// failures) or comes back, so the controller hears it at once.
func (p *Prober) record(k monitorKey, m *monitor, at time.Time, res dataplane.ProbeResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.monitors[k] != m {
		return // replaced or stopped since the probe started
	}
	// Times are the report's key of a probe: increasing per monitor, even
	// when the wall clock steps back.
	at = at.UTC().Truncate(time.Microsecond)
	if !at.After(m.last) {
		at = m.last.Add(time.Microsecond)
	}
	m.last = at
	pr := observed.Probe{At: at, OK: res.OK}
	if res.OK {
		pr.RTTMicros = res.RTT.Microseconds()
	} else {
		pr.Error = observed.Clip(res.Error)
	}
	m.probes = append(m.probes, pr)
	m.trim()
	changed := false
	if res.OK {
		changed, m.down, m.fails = m.down, false, 0
	} else {
		m.fails++
		if !m.down && m.fails >= m.spec.failAfter {
			changed, m.down = true, true
		}
	}
	if changed {
		select {
		case p.wake <- struct{}{}:
		default: // a wake is pending already
		}
	}
}

// trim keeps the newest observed.MaxProbes probes and counts the others.
func (m *monitor) trim() {
	if over := len(m.probes) - observed.MaxProbes; over > 0 {
		m.probes = slices.Delete(m.probes, 0, over)
		m.dropped += over
	}
}

// Take hands over every probe measured since the last Take: the prober
// keeps none of them. The caller gives back (Return) a batch the
// controller did not accept.
func (p *Prober) Take() ProbeBatch {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := ProbeBatch{}
	for k, m := range p.monitors {
		if len(m.probes) == 0 && m.dropped == 0 {
			continue
		}
		b[k.hub] = append(b[k.hub], observed.MonitorReport{ID: k.id, Probes: m.probes, Dropped: m.dropped})
		m.probes, m.dropped = nil, 0
	}
	for _, rs := range b {
		slices.SortFunc(rs, func(a, b observed.MonitorReport) int { return cmp.Compare(a.ID, b.ID) })
	}
	return b
}

// Return gives back a batch the controller did not accept, in front of
// what was measured since, within the same bound. A monitor that has
// stopped meanwhile takes nothing back.
func (p *Prober) Return(b ProbeBatch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for hub, rs := range b {
		for _, r := range rs {
			m := p.monitors[monitorKey{hub, r.ID}]
			if m == nil {
				continue
			}
			m.probes = append(slices.Clone(r.Probes), m.probes...)
			m.dropped += r.Dropped
			m.trim()
		}
	}
}

// Wake signals that a monitor went down or came back since the last
// signal was taken.
func (p *Prober) Wake() <-chan struct{} { return p.wake }

// Close stops every monitor and waits for their goroutines.
func (p *Prober) Close() {
	p.cancel()
	p.wg.Wait()
}
