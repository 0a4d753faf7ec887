package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
)

// passCounter is an Applier that counts its passes.
type passCounter struct{ n atomic.Int64 }

func (a *passCounter) Apply(context.Context, desired.State) ([]observed.Hub, error) {
	a.n.Add(1)
	return []observed.Hub{}, nil
}

// TestLoopWakes: with a long poll held by the controller and a resync an
// hour away, a signal on Wake ends the poll at once for a pass and a
// report — how a port shut by a layer-2 guard between passes reaches the
// controller. Without Wake the next report would wait for the poll (30 s).
func TestLoopWakes(t *testing.T) {
	s := desired.State{Schema: desired.Schema, Node: "tyo-1", Region: "tyo", RouteLimit: 1000}
	doc, err := desired.Encode(&s)
	if err != nil {
		t.Fatal(err)
	}
	srv, reports := fakeController(t, s.Generation, doc)

	wake := make(chan struct{}, 1)
	applier := &passCounter{}
	l := &Loop{Client: &Client{base: srv.URL, hc: srv.Client()}, Applier: applier, Dir: t.TempDir(),
		Wait: 30 * time.Second, Resync: time.Hour, Wake: wake}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("loop: %v", err)
		}
	})

	next := func(what string) observed.Report {
		t.Helper()
		select {
		case r := <-reports:
			return r
		case <-time.After(5 * time.Second):
			t.Fatalf("no report %s", what)
			return observed.Report{}
		}
	}
	if r := next("for the first document"); r.AppliedGeneration != s.Generation {
		t.Fatalf("first report: %+v", r)
	}
	for i := 2; i <= 3; i++ {
		time.Sleep(100 * time.Millisecond) // the long poll is held
		wake <- struct{}{}
		next("after a wake")
		if n := applier.n.Load(); int(n) != i {
			t.Errorf("report after wake %d follows pass %d, want pass %d", i-1, n, i)
		}
	}
	if n := applier.n.Load(); n != 3 {
		t.Errorf("%d passes, want 3", n)
	}
}

// fakeController answers the agent's long poll with doc until the agent
// has its generation, then holds the poll as the controller does, and
// passes on the reports.
func fakeController(t *testing.T, generation string, doc []byte) (*httptest.Server, <-chan observed.Report) {
	reports := make(chan observed.Report, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/agent/v1/desired-state":
			if r.Header.Get("If-None-Match") == `"`+generation+`"` {
				// Held as the controller holds it: nothing changes.
				select {
				case <-r.Context().Done():
				case <-time.After(30 * time.Second):
				}
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Write(doc)
		case "/agent/v1/status":
			var rep observed.Report
			if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
				t.Errorf("report: %v", err)
			}
			reports <- rep
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, reports
}
