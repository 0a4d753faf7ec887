package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
)

// Applier realises a desired state on this node's data plane. It must be
// idempotent: applying the state the data plane already has changes nothing.
// It returns, for the report, every hub of the state: what its data plane
// truly runs (its version, and why not the wanted one) and observed. The
// error is a failure of the pass outside any one hub's version; the loop
// retries the pass.
type Applier interface {
	Apply(ctx context.Context, s desired.State) ([]observed.Hub, error)
}

// ChangeApplier is an Applier that can apply a new document sooner by
// leaving alone what did not change since its last successful pass. The
// loop calls ApplyChanged for a pass that brings a new document, and
// Apply for every other pass (start, resync, retry, wake), which must
// still read back and repair everything.
type ChangeApplier interface {
	Applier
	ApplyChanged(ctx context.Context, s desired.State) ([]observed.Hub, error)
}

// Loop is the agent's level-triggered loop.
type Loop struct {
	Client  *Client
	Applier Applier
	Dir     string // state directory (identity and last desired state)
	Version string // agent version for reports
	Log     *slog.Logger
	// Wait is the long-poll duration; Resync re-applies the current state
	// even when nothing changed, so drift in the data plane is repaired.
	Wait, Resync time.Duration
	// MaxBackoff bounds the wait between failed calls to the controller.
	MaxBackoff time.Duration
	// Wake, when it fires, ends the long poll early for a pass and a
	// report: the data plane has acted on its own (a layer-2 guard shut a
	// port, dataplane.Manager.Tripped) and the controller is told at once.
	Wake <-chan struct{}
	// Monitors, when set, run the desired state's reachability monitors:
	// the loop gives them each state it applies, sends what they measured
	// with each report, and reports at once when they signal that a
	// monitor went down or came back.
	Monitors Monitors

	// persist keeps a received document on disk; writeFile if nil (tests
	// slow it down).
	persist func(path string, doc []byte) error
}

// Monitors are the node's reachability monitors (Prober): Set is
// declarative; Take hands over what was measured since the last Take;
// Return gives back a batch the controller did not accept; Wake signals a
// monitor's change of state.
type Monitors interface {
	Set(s desired.State)
	Take() ProbeBatch
	Return(b ProbeBatch)
	Wake() <-chan struct{}
}

func (l *Loop) defaults() {
	if l.Wait == 0 {
		l.Wait = 30 * time.Second
	}
	if l.Resync == 0 {
		l.Resync = time.Minute
	}
	if l.MaxBackoff == 0 {
		l.MaxBackoff = time.Minute
	}
	if l.Log == nil {
		l.Log = slog.New(slog.DiscardHandler)
	}
	if l.persist == nil {
		l.persist = writeFile
	}
}

// LoadLastState reads the last desired state the agent received, if any.
func LoadLastState(dir string) (desired.State, bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return desired.State{}, false, nil
	}
	if err != nil {
		return desired.State{}, false, err
	}
	s, err := desired.Decode(b)
	if err != nil {
		return desired.State{}, false, fmt.Errorf("stored desired state: %w", err)
	}
	return s, true, nil
}

// Run loops until ctx ends. It first re-applies the state kept on disk, so a
// restarted agent converges without the controller.
func (l *Loop) Run(ctx context.Context) error {
	l.defaults()
	var (
		current desired.State
		have    bool
		// applied is the generation of the last document processed in full:
		// every hub of it reached or reported with its error (see
		// observed.Report.AppliedGeneration).
		applied  string
		hubs     = []observed.Hub{}
		lastErr  error
		retry    bool // the last pass left an error or a hub short of its version
		lastPass time.Time
		// observedAt is when the hubs above were observed: the end of the
		// pass that returned them. A report sent between passes carries
		// the same observation and says so, so that the controller never
		// takes counters read a minute ago for counters read now.
		observedAt time.Time
	)
	apply := func(changed bool) {
		pass := l.Applier.Apply
		if ca, ok := l.Applier.(ChangeApplier); ok && changed {
			pass = ca.ApplyChanged
		}
		got, err := pass(ctx, current)
		if err != nil && ctx.Err() != nil {
			return // stopping: an interrupted pass is not a failure
		}
		lastPass, lastErr, retry = time.Now(), err, err != nil
		if got != nil {
			hubs, observedAt = got, lastPass
		}
		for _, h := range hubs {
			if h.Error != "" {
				retry = true
				l.Log.Error("hub keeps its last good state; will retry", "hub", h.HubID, "running", h.ConfigVersion, "wanted", h.WantedVersion, "err", h.Error)
			}
		}
		if err != nil {
			l.Log.Error("apply pass failed; will retry", "generation", current.Generation, "err", err)
		}
		if l.Monitors != nil {
			l.Monitors.Set(current)
		}
		if applied != current.Generation {
			l.Log.Info("desired state processed", "generation", current.Generation, "hubs", len(current.Hubs))
		}
		applied = current.Generation
	}
	if s, ok, err := LoadLastState(l.Dir); err != nil {
		l.Log.Error("ignoring the stored desired state", "err", err)
	} else if ok {
		current, have = s, true
		apply(false)
	}
	backoff := time.Second
	for ctx.Err() == nil {
		doc, woken, err := l.poll(ctx, current.Generation)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil
			}
			l.Log.Warn("controller unreachable; keeping the last applied state", "err", err, "retry_in", backoff.String())
			if have && time.Since(lastPass) >= l.Resync {
				apply(false)
			}
			sleep(ctx, backoff+time.Duration(rand.Int64N(int64(backoff/4)+1)))
			backoff = min(2*backoff, l.MaxBackoff)
			continue
		case doc != nil:
			s, derr := desired.Decode(doc)
			if derr != nil {
				// A document that fails its checks is refused whole; the
				// data plane keeps the last good state.
				lastErr = fmt.Errorf("refused desired state: %w", derr)
				l.Log.Error("refused desired state", "err", derr)
				break
			}
			// The document is kept on disk while it is applied: the
			// customer's change does not wait for the fsync. The report
			// below, which acknowledges the generation, waits for both, so
			// a restarted agent never runs less than it acknowledged.
			persisted := make(chan error, 1)
			go func() { persisted <- l.persist(filepath.Join(l.Dir, stateFile), doc) }()
			current, have = s, true
			apply(true)
			if werr := <-persisted; werr != nil {
				l.Log.Error("cannot keep the desired state on disk", "err", werr)
				lastErr = errors.Join(lastErr, fmt.Errorf("keep the desired state on disk: %w", werr))
			}
		default:
			if have && (retry || woken || time.Since(lastPass) >= l.Resync) {
				apply(false)
			}
		}
		backoff = time.Second
		at := observedAt
		if at.IsZero() {
			at = time.Now() // nothing observed yet: the report holds no hub
		}
		rep := observed.Report{Schema: observed.Schema, AppliedGeneration: applied, AgentVersion: l.Version,
			ObservedAt: at.UTC(), Hubs: hubs}
		if lastErr != nil {
			rep.Error = observed.Clip(lastErr.Error())
		}
		var probes, unsent ProbeBatch
		if l.Monitors != nil {
			probes = l.Monitors.Take()
			rep.Hubs, unsent = withProbes(hubs, probes)
		}
		sendErr := l.Client.SendReport(ctx, rep)
		if sendErr != nil && ctx.Err() == nil {
			l.Log.Warn("status report failed", "err", sendErr)
		}
		if l.Monitors != nil {
			// Probes the controller did not take are sent with the next
			// report; those it took are never sent again.
			if sendErr != nil {
				l.Monitors.Return(probes)
			} else {
				l.Monitors.Return(unsent)
			}
		}
		if doc == nil && err == nil && l.Wait == 0 {
			sleep(ctx, time.Second) // no long poll: do not spin
		}
	}
	return nil
}

// withProbes returns the report's hubs with their monitors' probes (the
// hubs themselves are left as they are, for the next report), and the
// probes of hubs the report does not have.
func withProbes(hubs []observed.Hub, b ProbeBatch) ([]observed.Hub, ProbeBatch) {
	out := slices.Clone(hubs)
	unsent := ProbeBatch{}
	for hub, rs := range b {
		i := slices.IndexFunc(out, func(h observed.Hub) bool { return h.HubID == hub })
		if i < 0 {
			unsent[hub] = rs
			continue
		}
		out[i].Monitors = rs
	}
	return out, unsent
}

// poll is the long poll for a new desired state, ended early (no document,
// no error, woken) when Wake or the monitors' wake fires.
func (l *Loop) poll(ctx context.Context, generation string) (doc []byte, woken bool, err error) {
	var monitors <-chan struct{}
	if l.Monitors != nil {
		monitors = l.Monitors.Wake()
	}
	if l.Wake == nil && monitors == nil {
		doc, err = l.Client.DesiredState(ctx, generation, l.Wait)
		return doc, false, err
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wake := make(chan bool, 1)
	go func() {
		select {
		case <-l.Wake: // a nil channel (no guard, or no monitors below) never fires
			cancel()
			wake <- true
		case <-monitors:
			cancel()
			wake <- true
		case <-pctx.Done():
			wake <- false
		}
	}()
	doc, err = l.Client.DesiredState(pctx, generation, l.Wait)
	cancel()
	if woken = <-wake; woken && errors.Is(err, context.Canceled) && ctx.Err() == nil {
		err = nil // the poll was cut short, not failed
	}
	return doc, woken, err
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
