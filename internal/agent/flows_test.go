package agent

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/network/flowrec"
)

// fakeFlows is a FlowSource whose streams the test feeds.
type fakeFlows struct {
	mu     sync.Mutex
	opened []string
	emit   map[string]func(flowrec.Record)
	lost   map[string]func(int64)
	closed []string
}

type fakeStream struct {
	f   *fakeFlows
	hub string
}

func (s fakeStream) Close() error {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	s.f.closed = append(s.f.closed, s.hub)
	delete(s.f.emit, s.hub)
	return nil
}

func (f *fakeFlows) open(h desired.Hub, emit func(flowrec.Record), lost func(int64)) (io.Closer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opened = append(f.opened, h.HubID)
	f.emit[h.HubID], f.lost[h.HubID] = emit, lost
	return fakeStream{f, h.HubID}, nil
}

func (f *fakeFlows) send(hub, cust string, n int) {
	f.mu.Lock()
	emit := f.emit[hub]
	f.mu.Unlock()
	for i := range n {
		at := time.Date(2026, 12, 6, 12, 0, i, 0, time.UTC)
		o := flowrec.Tuple{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("192.0.2.1"), SrcPort: uint16(1000 + i), DstPort: 80}
		r := flowrec.Tuple{Src: o.Dst, Dst: o.Src, SrcPort: 80, DstPort: o.SrcPort}
		emit(flowrec.Record{HubID: hub, CustomerID: cust, Start: at, End: at, Protocol: 6, Original: o, Reply: r, Translated: flowrec.TranslatedNone})
	}
}

// fakeSender keeps what it was sent, or fails with err.
type fakeSender struct {
	err     error
	batches []flowrec.Batch
}

func (s *fakeSender) SendFlows(_ context.Context, b flowrec.Batch) error {
	if err := b.Check(); err != nil {
		return err
	}
	if s.err != nil {
		return s.err
	}
	s.batches = append(s.batches, b)
	return nil
}

func state(hubs ...string) desired.State {
	var s desired.State
	for _, h := range hubs {
		s.Hubs = append(s.Hubs, desired.Hub{HubID: h, CustomerID: "cus_" + h[4:], Namespace: "hub-" + h})
	}
	return s
}

// TestFlowCollector: Set opens a stream per hub once and closes those of
// hubs gone, with their buffered records; a full buffer drops and counts;
// a failed send keeps the batch, a refused one drops it.
func TestFlowCollector(t *testing.T) {
	src := &fakeFlows{emit: map[string]func(flowrec.Record){}, lost: map[string]func(int64){}}
	snd := &fakeSender{}
	c := &FlowCollector{Send: snd, Open: src.open, Max: 5}
	ctx := context.Background()
	for range 2 {
		if err := c.Set(state("hub_a", "hub_b")); err != nil {
			t.Fatal(err)
		}
	}
	if len(src.opened) != 2 {
		t.Fatalf("opened %v: Set again with the same state must open nothing", src.opened)
	}
	src.send("hub_a", "cus_a", 4)
	src.send("hub_b", "cus_b", 3) // one fits, two are dropped
	src.lost["hub_a"](10)         // the kernel overran hub A's socket

	snd.err = errors.New("controller unreachable")
	if _, err := c.Flush(ctx); err == nil {
		t.Fatal("a failed send reported no error")
	}
	snd.err = nil
	if more, err := c.Flush(ctx); err != nil || more {
		t.Fatalf("flush: more %v, %v", more, err)
	}
	if len(snd.batches) != 1 {
		t.Fatalf("%d batches sent", len(snd.batches))
	}
	b := snd.batches[0]
	drops := map[string]int64{}
	for _, d := range b.Dropped {
		drops[d.HubID] = d.Count
	}
	if len(b.Records) != 5 || drops["hub_a"] != 10 || drops["hub_b"] != 2 {
		t.Fatalf("batch: %d records, dropped %v; want the 5 kept after the failure, 10 lost on A and 2 over the bound on B", len(b.Records), drops)
	}
	if more, _ := c.Flush(ctx); more || len(snd.batches) != 1 {
		t.Fatal("a sent batch was sent again")
	}

	src.send("hub_a", "cus_a", 2)
	src.send("hub_b", "cus_b", 2)
	if err := c.Set(state("hub_a")); err != nil {
		t.Fatal(err)
	}
	if len(src.closed) != 1 || src.closed[0] != "hub_b" {
		t.Fatalf("closed %v, want hub_b's stream", src.closed)
	}
	c.Flush(ctx)
	if last := snd.batches[len(snd.batches)-1]; len(last.Records) != 2 || last.Records[0].HubID != "hub_a" {
		t.Fatalf("after hub B left: %+v", last.Records)
	}

	src.send("hub_a", "cus_a", 1)
	snd.err = &ErrStatus{Code: 400, Message: "hub hub_a of customer cus_a is not placed on this node"}
	if _, err := c.Flush(ctx); err != nil {
		t.Fatalf("a refused batch: %v", err)
	}
	snd.err = nil
	if more, _ := c.Flush(ctx); more {
		t.Fatal("a refused batch was kept")
	}
	if err := c.Close(); err != nil || len(src.closed) != 2 {
		t.Fatalf("close: %v, closed %v", err, src.closed)
	}
}
