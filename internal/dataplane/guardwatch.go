package dataplane

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The layer-2 guards act on events, not on the agent's pass.
//
// Each hub with a guarded port (BPDU guard or flap limit) has a watcher:
// a goroutine that runs the same judgement as Observe (guard, shut.go)
// whenever the evidence may have moved, so that a port is shut within
// moments of its BPDU or its last flap, not at the agent's next resync:
//
//   - Carrier: a netlink subscription to the link updates of the hub's
//     namespace, and a read of the guarded devices' carrier counters
//     every carrierPollEvery between them (the kernel may hold a carrier
//     report back for up to a second: runWatch). Flaps are judged as they
//     are seen.
//   - BPDU: a packet socket bound to each device whose port has the BPDU
//     guard, with a socket filter that passes only frames to the bridge
//     group address. Packet taps see a frame before the netdev ingress
//     hook (the kernel's receive path runs them first), so the socket
//     hears the BPDU that the guard chain then counts and drops. The
//     socket is only the alarm: the evidence stays the chain's counter,
//     read as Observe reads it, so a watcher and a pass never disagree
//     on what shuts a port. (An NFLOG group from the chain would change
//     the ruleset of every guarded hub and need a netfilter-log client;
//     "nft monitor" reports ruleset changes, not counters; polling the
//     counters would cost an nft listing per hub several times a second.)
//
// A watcher holds nothing that is not rebuilt from the kernel: it starts
// with an evaluation (catching BPDUs counted while no agent ran), and its
// sockets and subscription are reopened when a device is replaced or the
// subscription fails. Manager.set starts or updates it with each hub it
// converges, Remove and Close stop it. When a watcher shuts a port it
// signals Tripped, on which the agent reports at once.

// watchRetry is how soon a watcher retries after an event source or an
// evaluation failed, and bpduRecheck how soon it looks again when a BPDU
// was heard but its count not yet read (the tap runs just before the
// chain; this only covers a reader faster than the kernel).
const (
	watchRetry  = time.Second
	bpduRecheck = 50 * time.Millisecond
	bpduChecks  = 3
	// carrierPollEvery is how often a watcher reads its guarded devices'
	// carrier counters (runWatch says why).
	carrierPollEvery = 250 * time.Millisecond
)

// guardWatchers are a Manager's hub watchers.
type guardWatchers struct {
	mu   sync.Mutex
	hubs map[string]*hubWatch // hub ID → its watcher; guarded by mu
	// closed is set by Close: no watcher starts after it; guarded by mu.
	closed bool
	// tripped has room for one signal: a watcher's shut is never lost, and
	// several before the agent looks are one.
	tripped chan struct{}
	// listings bounds the nftables listings the watchers run at once: a
	// new agent starts every hub's watcher within one pass, each with a
	// listing.
	listings chan struct{}
}

// maxListings is the capacity of guardWatchers.listings.
const maxListings = 4

// hubWatch is one hub's watcher.
type hubWatch struct {
	hub    Hub           // the hub as last converged; guarded by guardWatchers.mu
	update chan struct{} // the hub changed: reopen sockets, judge again
	cancel context.CancelFunc
	done   chan struct{} // closed when the watcher has stopped
}

// watched reports whether a hub needs a watcher: a port whose guards act on
// events.
func watched(h Hub) bool {
	for _, p := range h.Ports {
		if g := p.L2Guard; g != nil && (g.BPDUGuard || g.FlapLimit > 0) {
			return true
		}
	}
	return false
}

// Tripped signals that a watcher has shut a port between the agent's
// passes: the agent then observes and reports without waiting for its
// next resync.
func (m *Manager) Tripped() <-chan struct{} { return m.watch.tripped }

// watchHub starts, updates or stops the watcher of a hub being converged.
// Without event sources (fake kernels) there are no watchers.
func (m *Manager) watchHub(h Hub) {
	if m.events == nil {
		return
	}
	if !watched(h) {
		m.unwatchHub(h.ID)
		return
	}
	w := &m.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	if hw := w.hubs[h.ID]; hw != nil {
		if !hw.stopped() {
			hw.hub = watchCopy(h)
			signal(hw.update)
			return
		}
		hw.cancel()
	}
	ctx, cancel := context.WithCancel(context.Background())
	hw := &hubWatch{hub: watchCopy(h), update: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	if w.hubs == nil {
		w.hubs = map[string]*hubWatch{}
	}
	w.hubs[h.ID] = hw
	go m.runWatch(ctx, h.ID, hw)
}

// stopped reports whether the watcher has returned on its own.
func (hw *hubWatch) stopped() bool {
	select {
	case <-hw.done:
		return true
	default:
		return false
	}
}

// pokeWatch has a hub's watcher judge again, if it has one.
func (m *Manager) pokeWatch(id string) {
	m.watch.mu.Lock()
	defer m.watch.mu.Unlock()
	if hw := m.watch.hubs[id]; hw != nil {
		signal(hw.update)
	}
}

// watchCopy is the watcher's own copy of a hub: the caller may reuse the
// ports it passed.
func watchCopy(h Hub) Hub {
	h.Ports = slices.Clone(h.Ports)
	for i, p := range h.Ports {
		h.Ports[i].Legs = slices.Clone(p.Legs)
		if p.L2Guard != nil {
			g := *p.L2Guard
			h.Ports[i].L2Guard = &g
		}
	}
	return h
}

// unwatchHub stops a hub's watcher, if it has one, and waits for it.
func (m *Manager) unwatchHub(id string) {
	w := &m.watch
	w.mu.Lock()
	hw := w.hubs[id]
	delete(w.hubs, id)
	w.mu.Unlock()
	if hw != nil {
		hw.cancel()
		<-hw.done
	}
}

// Close stops every watcher and waits for them. The data plane is left as
// it is: a later Manager adopts it and starts its own watchers.
func (m *Manager) Close() {
	w := &m.watch
	w.mu.Lock()
	w.closed = true
	var ids []string
	for id := range w.hubs {
		ids = append(ids, id)
	}
	w.mu.Unlock()
	for _, id := range ids {
		m.unwatchHub(id)
	}
}

// watchedHub is the hub a watcher judges: the one last converged.
func (m *Manager) watchedHub(id string) (Hub, bool) {
	m.watch.mu.Lock()
	defer m.watch.mu.Unlock()
	hw := m.watch.hubs[id]
	if hw == nil {
		return Hub{}, false
	}
	return hw.hub, true
}

// runWatch is a hub's watcher: open what is missing, judge, wait for the
// next event.
//
// A carrier change of a guarded device is judged on the flaps alone
// (guardCount with no counters): BPDU counters need an nftables listing,
// read only when a BPDU was heard, on start and on a retry. The kernel
// reports a carrier change of a physical device (or of a veth whose index
// matches its peer's) through its link watch, at most once a second for
// the whole machine, the changes in between batched into the next report
// (measured: a burst of five flaps on a veth was reported 0.78 s after
// it). So besides the reports, the guarded devices' carrier counters are
// read every carrierPollEvery over a netlink socket kept open in the
// namespace (carrierpoll.go), and judged when they moved: a burst is
// caught within that interval, reported or not.
//
// Errors are logged (once while they last) and retried every watchRetry;
// the agent's pass still judges the same evidence in Observe, so a watcher
// that cannot open a source leaves the guards acting at the pass.
func (m *Manager) runWatch(ctx context.Context, id string, hw *hubWatch) {
	defer close(hw.done)
	ns := Hub{ID: id}.Namespace()
	var (
		nsIno    uint64 // the namespace the sources below were opened in
		links    chan netlink.LinkUpdate
		linkStop chan struct{}
		poll     *carrierPoll
		seen     map[string]uint32 // guarded device → carrier changes at the last poll
		socks    = map[string]*bpduSocket{}
		heard    = make(chan struct{}, 1) // a BPDU
		broken   = make(chan struct{}, 1) // a BPDU socket failed
		retry    = stoppedTimer()
		tick     = time.NewTicker(carrierPollEvery)
		lastErr  string // the last error logged, logged again only when it changes
		checks   = 0    // judgements left to find a heard BPDU's count
		full     = true // judge the BPDU counters too
		resync   = true // check the BPDU sockets
	)
	stopLinks := func() {
		if links == nil {
			return
		}
		close(linkStop)
		for range links { // the library's reader ends once it may send no more
		}
		links = nil
	}
	closeSources := func() {
		stopLinks()
		if poll != nil {
			poll.close()
			poll = nil
		}
		for dev, s := range socks {
			s.close()
			delete(socks, dev)
		}
	}
	defer func() {
		closeSources()
		retry.Stop()
		tick.Stop()
	}()
	for {
		h, ok := m.watchedHub(id)
		if !ok {
			return
		}
		// The sources hold the namespace they were opened in alive: if
		// the hub's namespace was deleted behind the agent's back, they
		// must not keep it, nor watch it instead of the one a later apply
		// creates under the same name.
		ino, err := namespaceIno(ns)
		if err != nil {
			return // gone: the next set of this hub starts a new watcher
		}
		if ino != nsIno {
			closeSources()
			nsIno, full = ino, true
		}
		var errs []error
		if links == nil {
			links, linkStop = make(chan netlink.LinkUpdate, 64), make(chan struct{})
			if err := m.events.subscribeLinks(ns, links, linkStop); err != nil {
				close(linkStop)
				links = nil
				errs = append(errs, err)
			}
		}
		if poll == nil {
			var err error
			if poll, err = m.events.openCarrierPoll(ns); err != nil {
				errs = append(errs, err)
			}
		}
		if resync || full {
			errs = append(errs, m.syncBPDUSockets(ns, h, socks, heard, broken)...)
		}
		shutNow, err := m.guardNow(ctx, h, full)
		if err != nil {
			errs = append(errs, err)
		}
		switch {
		case shutNow > 0:
			checks = 0
			signal(m.watch.tripped)
		case full && checks > 0:
			checks--
			retry.Reset(bpduRecheck)
		}
		if err := errors.Join(errs...); err != nil && ctx.Err() == nil {
			retry.Reset(watchRetry)
			if err.Error() != lastErr {
				m.log.Warn("layer-2 guard watcher: retrying; the agent's passes still judge the guards", "hub", id, "err", err)
			}
			lastErr = err.Error()
		} else if lastErr != "" && ctx.Err() == nil {
			m.log.Info("layer-2 guard watcher recovered", "hub", id)
			lastErr = ""
		}
		full, resync = false, false
		// Wait for something that may move the evidence; link updates of
		// devices that are not guarded do not.
	wait:
		for {
			select {
			case <-ctx.Done():
				return
			case <-hw.update:
				// The devices may have changed; the counters are read by
				// the pass that follows an apply.
				resync = true
				break wait
			case <-retry.C:
				full = true
				break wait
			case <-heard:
				checks, full = bpduChecks, true
				break wait
			case <-broken:
				resync = true
				break wait
			case <-tick.C:
				if ino, err := namespaceIno(ns); err != nil || ino != nsIno {
					break wait
				}
				if poll == nil {
					continue
				}
				carriers, err := poll.read(guardedDevices(h))
				if err != nil {
					poll.close()
					poll = nil // reopened, and the error reported, by the next judgement
					break wait
				}
				if moved := carriersMoved(h, carriers, seen); seen != nil && moved {
					seen = carrierChanges(h, carriers)
					break wait
				}
				seen = carrierChanges(h, carriers)
			case u, ok := <-links:
				if !ok {
					close(linkStop) // the subscription failed: subscribe again
					links, full = nil, true
					break wait
				}
				if guardedDevice(h, u.Attrs().Name) {
					resync = true
					break wait
				}
			}
		}
	}
}

// carrierChanges are the carrier change counts of a hub's guarded devices.
func carrierChanges(h Hub, carriers map[string]Carrier) map[string]uint32 {
	out := map[string]uint32{}
	for dev, c := range carriers {
		if guardedDevice(h, dev) {
			out[dev] = c.Changes
		}
	}
	return out
}

// carriersMoved reports whether a guarded device's carrier changed since
// the counts in seen, or appeared.
func carriersMoved(h Hub, carriers map[string]Carrier, seen map[string]uint32) bool {
	for dev, c := range carriers {
		if n, ok := seen[dev]; guardedDevice(h, dev) && (!ok || n != c.Changes) {
			return true
		}
	}
	return false
}

// namespaceIno identifies the namespace now named ns.
func namespaceIno(ns string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join("/run/netns", ns), &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// signal sends on a channel with room for one signal, unless one is
// already pending.
func signal(c chan<- struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// stoppedTimer is a timer that has not been set.
func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// guardedDevices are the devices of a hub's guarded ports.
func guardedDevices(h Hub) []string {
	var out []string
	for _, p := range h.Ports {
		if p.L2Guard != nil {
			out = append(out, takes(p)...)
		}
	}
	return out
}

// guardedDevice reports whether dev is a device of a guarded port.
func guardedDevice(h Hub, dev string) bool { return slices.Contains(guardedDevices(h), dev) }

// guardNow judges a hub's evidence as Observe does and returns how many
// ports it shut; the flaps alone unless full.
func (m *Manager) guardNow(ctx context.Context, h Hub, full bool) (int, error) {
	var rules []RuleCounter
	var err error
	if full {
		select {
		case m.watch.listings <- struct{}{}:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		var listing string
		listing, err = m.nft.ops.List(ctx, h.Namespace())
		<-m.watch.listings
		if err != nil {
			// Without the counters there is no BPDU evidence; flaps are
			// still judged.
			err = fmt.Errorf("guard watch %s: %w", h.ID, err)
		}
		rules = parseRuleCounters(listing)
	}
	_, n, gerr := m.guardCount(h, rules)
	return n, errors.Join(err, gerr)
}

// syncBPDUSockets keeps one open socket per device of a port with the BPDU
// guard, bound to the device's current index: a device replaced (same name,
// new index) is reopened; a socket that failed is closed, reported, and
// reopened on the retry.
func (m *Manager) syncBPDUSockets(ns string, h Hub, socks map[string]*bpduSocket, heard, broken chan<- struct{}) []error {
	want := map[string]bool{}
	for _, p := range h.Ports {
		if g := p.L2Guard; g != nil && g.BPDUGuard {
			for _, dev := range takes(p) {
				want[dev] = true
			}
		}
	}
	var errs []error
	failed := map[string]bool{}
	for dev, s := range socks {
		if err := s.failed(); err != nil {
			errs = append(errs, fmt.Errorf("guard watch: BPDU socket on %s in %q: %w", dev, ns, err))
			failed[dev] = true
		}
		if failed[dev] || !want[dev] || m.events.ifindex(ns, dev) != s.ifindex {
			s.close()
			delete(socks, dev)
		}
	}
	for dev := range want {
		if socks[dev] != nil || failed[dev] {
			continue
		}
		s, err := m.events.openBPDUSocket(ns, dev, heard, broken)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		socks[dev] = s
	}
	return errs
}

// subscribeLinks delivers the link updates of a namespace on ch until stop
// is closed; ch is closed when the subscription ends.
func (o netlinkOps) subscribeLinks(ns string, ch chan netlink.LinkUpdate, stop chan struct{}) error {
	nsh, err := o.handle(ns)
	if err != nil {
		return fmt.Errorf("guard watch: namespace %q: %w", ns, err)
	}
	defer nsh.Close()
	err = netlink.LinkSubscribeWithOptions(ch, stop, netlink.LinkSubscribeOptions{Namespace: &nsh})
	if err != nil {
		return fmt.Errorf("guard watch: link updates in %q: %w", ns, err)
	}
	return nil
}

// ifindex is a device's index in ns, 0 if it has none.
func (o netlinkOps) ifindex(ns, dev string) int {
	idx := 0
	_ = o.link(ns, dev, func(_ *netlink.Handle, l netlink.Link) error {
		idx = l.Attrs().Index
		return nil
	})
	return idx
}
