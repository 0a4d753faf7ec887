package dataplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Options configure a Manager.
type Options struct {
	// RunDir holds each hub's BIRD files and ownership marker, one
	// directory per namespace. Keep it short: BIRD's control socket path
	// must fit in 107 bytes. Default /run/tsunagi.
	RunDir string
	// NodeNamespace names the namespace where port interfaces are before a
	// hub takes them; "" is the agent's own. Tests set it to a namespace of
	// their own so that nothing of the root namespace is touched.
	NodeNamespace string
	// Log receives what goes wrong where no caller waits for an error: in
	// the layer-2 guards' watchers (guardwatch.go). Default: discarded.
	Log *slog.Logger
}

// Manager realises hubs on this node. Its subsystems hold no state of
// their own between calls: what is running is read back each time (by
// Apply and ApplyAll), so a restarted agent adopts what the previous one
// left. The exceptions are the flap guard's carrier samples (shut.go),
// which only a running agent can take, the guards' watchers
// (guardwatch.go), started by Apply and stopped by Remove and Close — a
// port's shut itself is recorded on disk —, and the digests of each hub's
// last successful set (memory.go), which only ApplyChanged consults to
// leave unchanged subsystems alone: a new Manager starts without them.
type Manager struct {
	runDir string
	links  *linkSet
	nft    *nftSet
	// underlay is the node namespace's VXLAN source filter (underlay.go).
	underlay *underlaySet
	tc       *tcSet
	bird     *birdSet
	// memory is the digests of each hub's last successful set, for
	// ApplyChanged (memory.go).
	memory setMemory
	flaps  *flapMemory
	// guardMu serialises the guards' judgements and the removal of shut
	// records (shut.go).
	guardMu sync.Mutex
	// events opens the guard watchers' event sources (guardwatch.go); nil
	// with fake kernels, which have no watchers.
	events *netlinkOps
	watch  guardWatchers
	log    *slog.Logger
	// counters reads a port's link counters; nil with fake kernels.
	counters func(ns, dev string) (LinkCounters, error)
}

// NewManager returns a Manager on the real kernel and BIRD.
func NewManager(o Options) *Manager {
	if o.RunDir == "" {
		o.RunDir = "/run/tsunagi"
	}
	nl := netlinkOps{nodeNS: o.NodeNamespace}
	m := newManager(o.RunDir, nl, nftCLI{}, nodeNft{ns: o.NodeNamespace}, netlinkTC{ops: nl}, birdDaemon{})
	m.counters = nl.linkCounters
	m.events = &nl
	if o.Log != nil {
		m.log = o.Log
	}
	return m
}

func newManager(runDir string, n netOps, f nftOps, u underlayOps, t tcOps, b birdOps) *Manager {
	return &Manager{
		runDir:   runDir,
		links:    &linkSet{ops: n, runDir: runDir},
		nft:      &nftSet{ops: f},
		underlay: &underlaySet{ops: u},
		tc:       &tcSet{ops: t},
		bird:     &birdSet{ops: b, runDir: runDir},
		flaps:    newFlapMemory(time.Now),
		watch:    guardWatchers{tripped: make(chan struct{}, 1), listings: make(chan struct{}, maxListings)},
		log:      slog.New(slog.DiscardHandler),
	}
}

// Check reports whether h can be realised on this node as it stands — a
// valid hub whose port interfaces exist — without changing anything.
func (m *Manager) Check(h Hub) error {
	node, err := m.links.nodeLinks()
	if err != nil {
		return err
	}
	return m.check(h, node)
}

// check is Check against the node's links as listed once for a pass.
func (m *Manager) check(h Hub, node map[string]bool) error {
	if err := h.Validate(); err != nil {
		return fmt.Errorf("hub %s refused: %w", h.ID, err)
	}
	if err := m.links.Check(h, node); err != nil {
		return fmt.Errorf("hub %s refused: %w", h.ID, err)
	}
	return nil
}

// Apply realises one hub: checked first, so that a hub that cannot be
// realised is refused before anything of it changes.
func (m *Manager) Apply(ctx context.Context, h Hub) error {
	if err := m.Check(h); err != nil {
		m.memory.forget(h.ID)
		return err
	}
	return m.set(ctx, h, false)
}

// ApplyAll realises a node's hubs, each on its own: a hub that cannot be
// realised (its check fails: say, one of its interfaces has gone from the
// node) is left exactly as it is — its last good state keeps forwarding —
// and every other hub is applied. One customer's hub can thus never stop
// the others' changes. failed[i] is hubs[i]'s error, nil when it applied;
// err is a failure of the node itself (its links cannot be listed), when
// no hub is touched. Every subsystem of every hub is set in full, read
// back from the kernel and repaired: the agent's start and resync passes.
func (m *Manager) ApplyAll(ctx context.Context, hubs []Hub) (failed []error, err error) {
	return m.applyAll(ctx, hubs, false)
}

// ApplyChanged is ApplyAll for a pass that brings a new desired state,
// when a customer waits for the change: a subsystem of a hub whose input
// is the one it last set successfully on this Manager is left alone
// rather than read back (memory.go), and a firewall known to differ is
// replaced without being listed first. What it leaves alone is what the
// last full or changed set made it; drift since then is repaired by the
// next ApplyAll.
func (m *Manager) ApplyChanged(ctx context.Context, hubs []Hub) (failed []error, err error) {
	return m.applyAll(ctx, hubs, true)
}

func (m *Manager) applyAll(ctx context.Context, hubs []Hub, changed bool) (failed []error, err error) {
	node, err := m.links.nodeLinks()
	if err != nil {
		return nil, err
	}
	failed = make([]error, len(hubs))
	for i, h := range hubs {
		if failed[i] = m.check(h, node); failed[i] == nil {
			failed[i] = m.set(ctx, h, changed)
		} else {
			m.memory.forget(h.ID)
		}
	}
	return failed, nil
}

// set converges a checked hub. The order matters and is fixed: the
// underlay filter first (a backbone's VXLAN device takes packets from its
// peers only, from the moment it exists), then the shaping of ports that
// leave the hub is removed, then the namespace, links, addresses and
// sysctls (everything else lives in them; the guards' watcher follows the
// hub from there), then the firewall, NAT and layer-2 guards (in force
// before any route draws traffic), then the shut records of re-enabled
// ports, then shaping, then BIRD. A subsystem that fails stops the ones
// after it and makes the Manager forget the hub's digests; the caller
// retries the whole Apply on its next pass, which is safe because every
// step is idempotent. With changed, a subsystem whose digest is the one it
// last set successfully is skipped (ApplyChanged); the guards' watcher and
// the shut records are always brought up to date. The subsystems see the
// hub as realised (guardbridge.go).
func (m *Manager) set(ctx context.Context, h Hub, changed bool) error {
	h = realised(h)
	d := digestsOf(h, pathsFor(m.runDir, h.Namespace()))
	err := m.setSubsystems(ctx, h, d, changed)
	if err != nil {
		m.memory.forget(h.ID)
	}
	return err
}

func (m *Manager) setSubsystems(ctx context.Context, h Hub, d hubDigests, changed bool) error {
	step := func(sub string, set func() error) error {
		if changed && d[sub] != "" && m.memory.same(h.ID, sub, d[sub]) {
			return nil
		}
		if err := set(); err != nil {
			return err
		}
		if d[sub] != "" {
			m.memory.note(h.ID, sub, d[sub])
		}
		return nil
	}
	if err := step(subUnderlay, func() error { return m.underlay.Set(ctx, h) }); err != nil {
		return fmt.Errorf("hub %s: underlay filter: %w", h.ID, err)
	}
	err := step(subDevices, func() error {
		// A port leaving the hub is unshaped while it is still in the
		// namespace, so that it goes back to the node without the hub's
		// qdiscs.
		if err := m.tc.Release(h); err != nil {
			return fmt.Errorf("tc: %w", err)
		}
		if err := m.links.Set(h); err != nil {
			return fmt.Errorf("links: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("hub %s: %w", h.ID, err)
	}
	// The guards' watcher judges this hub from now on (guardwatch.go); a
	// re-enabled port keeps its record, and is not judged, until
	// clearShut below.
	m.watchHub(h)
	err = step(subNft, func() error {
		if changed && m.memory.known(h.ID, subNft) {
			// The ruleset last set differs from this one: replacing it
			// is what Set would do after listing it.
			return m.nft.replace(ctx, h)
		}
		return m.nft.Set(ctx, h)
	})
	if err != nil {
		return fmt.Errorf("hub %s: nftables: %w", h.ID, err)
	}
	// Only now is a re-enabled port up with its BPDU count reset: its shut
	// record may go.
	if err := m.clearShut(h); err != nil {
		return fmt.Errorf("hub %s: %w", h.ID, err)
	}
	if err := step(subTC, func() error { return m.tc.Set(h) }); err != nil {
		return fmt.Errorf("hub %s: tc: %w", h.ID, err)
	}
	if err := step(subBird, func() error { return m.bird.Set(ctx, h) }); err != nil {
		return fmt.Errorf("hub %s: bird: %w", h.ID, err)
	}
	return nil
}

// Remove tears a hub down in the reverse order: BIRD first (withdrawing
// its routes from the peers), then the ports' shaping and ifb devices,
// then the links given back, then the namespace — with it its nftables table and qdiscs — if this package
// created it, and last the hub's underlay filter in the node namespace
// (kept while a VXLAN device of the hub may still exist).
func (m *Manager) Remove(ctx context.Context, hubID string) error {
	if !hubIDRe.MatchString(hubID) {
		return fmt.Errorf("remove hub: invalid id %q", hubID)
	}
	m.unwatchHub(hubID)
	m.memory.forget(hubID)
	m.flaps.forget(hubID + "/")
	err := errors.Join(m.bird.Remove(hubID), m.tc.Release(Hub{ID: hubID}), m.links.Remove(hubID))
	if err == nil {
		err = m.underlay.Remove(ctx, hubID)
	}
	if err == nil {
		err = os.RemoveAll(filepath.Join(m.runDir, Hub{ID: hubID}.Namespace()))
	}
	return err
}

// BirdClient returns the control-socket client of a hub's BIRD.
func (m *Manager) BirdClient(hubID string) BirdClient {
	return BirdClient{Socket: pathsFor(m.runDir, Hub{ID: hubID}.Namespace()).Socket}
}
