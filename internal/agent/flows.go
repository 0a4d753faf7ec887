package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/network/flowrec"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
)

// The flow collector: one connection-tracking event stream per hub
// namespace, whose ended connections (DESTROY events) become flow records
// (network/flowrec), buffered and sent to the controller every few
// seconds. It never slows forwarding: the kernel sends events whether or
// not anyone reads them, a full buffer here drops and counts, and a
// socket the kernel overran (ENOBUFS) is opened again and counted. Only
// ended connections are recorded; a long-lived one is recorded once, with
// its whole lifetime, when it ends.

// FlowSender sends a batch to the controller (Client.SendFlows).
type FlowSender interface {
	SendFlows(ctx context.Context, b flowrec.Batch) error
}

// FlowSource opens one hub's stream of ended connections: emit takes each
// record, lost counts records the stream lost. Closing the stream stops
// both calls before Close returns.
type FlowSource func(h desired.Hub, emit func(flowrec.Record), lost func(n int64)) (io.Closer, error)

// Defaults of a FlowCollector.
const (
	DefaultFlowEvery  = 5 * time.Second
	DefaultFlowBuffer = 50000 // records: about 20 MB, ten seconds of a very busy node
)

// FlowCollector keeps one stream per hub of the desired state (Set) and
// sends what they record (Run).
type FlowCollector struct {
	Send  FlowSender
	Open  FlowSource // openConntrack if nil
	Every time.Duration
	Max   int // bound of the buffer, in records
	Log   *slog.Logger

	mu      sync.Mutex // guards the fields below
	streams map[string]flowStream
	buf     []flowrec.Record
	dropped map[string]flowrec.Dropped // by hub ID
}

// flowStream is one open hub stream and what it was opened for.
type flowStream struct {
	cust, ns string
	c        io.Closer
}

func (c *FlowCollector) init() {
	if c.streams == nil {
		c.streams, c.dropped = map[string]flowStream{}, map[string]flowrec.Dropped{}
	}
	if c.Open == nil {
		c.Open = openConntrack
	}
	if c.Every == 0 {
		c.Every = DefaultFlowEvery
	}
	if c.Max == 0 {
		c.Max = DefaultFlowBuffer
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Set opens a stream for each hub of s that has none and closes those of
// hubs s no longer has (their buffered records and counts go too: the
// controller takes records only of hubs placed on the node). Calling it
// again with the same state changes nothing; a hub whose stream could not
// be opened is tried again at the next call.
func (c *FlowCollector) Set(s desired.State) error {
	c.mu.Lock()
	c.init()
	want := map[string]desired.Hub{}
	for _, h := range s.Hubs {
		want[h.HubID] = h
	}
	var stale []io.Closer
	for id, st := range c.streams {
		if h, ok := want[id]; !ok || h.CustomerID != st.cust || h.Namespace != st.ns {
			stale = append(stale, st.c)
			delete(c.streams, id)
		}
	}
	kept := c.buf[:0]
	for _, r := range c.buf {
		if h, ok := want[r.HubID]; ok && h.CustomerID == r.CustomerID {
			kept = append(kept, r)
		}
	}
	c.buf = kept
	for id, d := range c.dropped {
		if h, ok := want[id]; !ok || h.CustomerID != d.CustomerID {
			delete(c.dropped, id)
		}
	}
	var open []desired.Hub
	for _, h := range s.Hubs {
		if _, ok := c.streams[h.HubID]; !ok {
			open = append(open, h)
		}
	}
	c.mu.Unlock()
	// Streams are closed and opened outside the lock: closing waits for
	// the stream's last emit, which takes the lock.
	var errs []error
	for _, cl := range stale {
		errs = append(errs, cl.Close())
	}
	for _, h := range open {
		cl, err := c.Open(h, c.emit, func(n int64) { c.lose(h.HubID, h.CustomerID, n) })
		if err != nil {
			errs = append(errs, fmt.Errorf("flows: hub %s: %w", h.HubID, err))
			continue
		}
		c.mu.Lock()
		c.streams[h.HubID] = flowStream{cust: h.CustomerID, ns: h.Namespace, c: cl}
		c.mu.Unlock()
	}
	return errors.Join(errs...)
}

// emit buffers r, or counts it dropped when the buffer is full: it never
// waits.
func (c *FlowCollector) emit(r flowrec.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.buf) >= c.Max {
		c.loseLocked(r.HubID, r.CustomerID, 1)
		return
	}
	c.buf = append(c.buf, r)
}

func (c *FlowCollector) lose(hub, cust string, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loseLocked(hub, cust, n)
}

func (c *FlowCollector) loseLocked(hub, cust string, n int64) {
	d := c.dropped[hub]
	d.HubID, d.CustomerID, d.Count = hub, cust, d.Count+n
	c.dropped[hub] = d
}

// Close closes every stream.
func (c *FlowCollector) Close() error {
	return c.Set(desired.State{})
}

// Run sends the buffer every Every until ctx ends.
func (c *FlowCollector) Run(ctx context.Context) {
	c.mu.Lock()
	c.init()
	c.mu.Unlock()
	t := time.NewTicker(c.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for more := true; more && ctx.Err() == nil; {
			var err error
			if more, err = c.Flush(ctx); err != nil {
				c.Log.Warn("flow records: sending failed; kept for the next try", "err", err)
				break
			}
		}
	}
}

// Flush sends one batch of what is buffered (at most flowrec.MaxRecords
// records) and reports whether more is left. A batch the controller could
// not take (unreachable, 5xx) stays buffered for the next try; one it
// refused (4xx: a hub no longer placed on the node) is dropped, since
// sending it again cannot succeed.
func (c *FlowCollector) Flush(ctx context.Context) (bool, error) {
	c.mu.Lock()
	c.init()
	n := min(len(c.buf), flowrec.MaxRecords)
	b := flowrec.Batch{Schema: flowrec.Schema, SentAt: time.Now().UTC(), Records: append([]flowrec.Record(nil), c.buf[:n]...),
		Dropped: []flowrec.Dropped{}}
	for _, d := range c.dropped {
		b.Dropped = append(b.Dropped, d)
	}
	c.mu.Unlock()
	if len(b.Records) == 0 && len(b.Dropped) == 0 {
		return false, nil
	}
	err := c.Send.SendFlows(ctx, b)
	var st *ErrStatus
	refused := errors.As(err, &st) && st.Code >= 400 && st.Code < 500 && st.Code != http.StatusTooManyRequests
	if err != nil && !refused {
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Set may have removed buffered records of hubs gone meanwhile: only
	// the batch's records still at the front are taken off.
	taken := 0
	for taken < len(b.Records) && taken < len(c.buf) && c.buf[taken] == b.Records[taken] {
		taken++
	}
	c.buf = c.buf[taken:]
	for _, d := range b.Dropped {
		if cur, ok := c.dropped[d.HubID]; ok {
			if cur.Count -= d.Count; cur.Count <= 0 {
				delete(c.dropped, d.HubID)
			} else {
				c.dropped[d.HubID] = cur
			}
		}
	}
	if refused {
		c.Log.Error("flow records: the controller refused a batch; it is dropped", "records", len(b.Records), "err", err)
	}
	return len(c.buf) > 0, nil
}

// WithFlows returns an applier that runs a and then sets c to the state
// applied, so that every hub the data plane runs has its flow stream. A
// stream that cannot be opened is logged, never an apply's failure:
// forwarding does not depend on flow records.
func WithFlows(a ChangeApplier, c *FlowCollector) ChangeApplier {
	return flowApplier{a, c}
}

type flowApplier struct {
	ChangeApplier
	flows *FlowCollector
}

func (f flowApplier) Apply(ctx context.Context, s desired.State) ([]observed.Hub, error) {
	hubs, err := f.ChangeApplier.Apply(ctx, s)
	f.set(s)
	return hubs, err
}

func (f flowApplier) ApplyChanged(ctx context.Context, s desired.State) ([]observed.Hub, error) {
	hubs, err := f.ChangeApplier.ApplyChanged(ctx, s)
	f.set(s)
	return hubs, err
}

func (f flowApplier) set(s desired.State) {
	if err := f.flows.Set(s); err != nil {
		f.flows.Log.Warn("flow records: a hub's stream could not be opened; tried again at the next pass", "err", err)
	}
}
