package agent

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
)

// kindCounter is a ChangeApplier that notes which kind of pass it ran, and
// when.
type kindCounter struct {
	mu    sync.Mutex // guards kinds and at
	kinds []string
	at    []time.Time
}

func (a *kindCounter) note(kind string) ([]observed.Hub, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.kinds = append(a.kinds, kind)
	a.at = append(a.at, time.Now())
	return []observed.Hub{}, nil
}

func (a *kindCounter) Apply(context.Context, desired.State) ([]observed.Hub, error) {
	return a.note("full")
}

func (a *kindCounter) ApplyChanged(context.Context, desired.State) ([]observed.Hub, error) {
	return a.note("changed")
}

func (a *kindCounter) passes() ([]string, []time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.kinds...), append([]time.Time(nil), a.at...)
}

// TestLoopPersistsBeforeItAcknowledges: a new document is applied while it
// is being written to disk — the change does not wait for the fsync —,
// yet the report that acknowledges its generation is sent only once the
// document is on disk, so an agent restarted after the controller saw the
// acknowledgement re-applies that document, never an older one. The write
// is slowed to 300 ms: a loop that reported without waiting for it would
// send the acknowledgement with no document on disk, and one that wrote
// before applying would start the pass 300 ms late. The document's pass is
// a changed-only pass; a wake's pass is a full one.
func TestLoopPersistsBeforeItAcknowledges(t *testing.T) {
	s := desired.State{Schema: desired.Schema, Node: "tyo-1", Region: "tyo", RouteLimit: 1000}
	doc, err := desired.Encode(&s)
	if err != nil {
		t.Fatal(err)
	}
	srv, reports := fakeController(t, s.Generation, doc)
	dir := t.TempDir()
	const slow = 300 * time.Millisecond
	var written time.Time
	var wmu sync.Mutex // guards written
	wake := make(chan struct{}, 1)
	applier := &kindCounter{}
	l := &Loop{Client: &Client{base: srv.URL, hc: srv.Client()}, Applier: applier, Dir: dir,
		Wait: 30 * time.Second, Resync: time.Hour, Wake: wake,
		persist: func(path string, b []byte) error {
			time.Sleep(slow)
			err := writeFile(path, b)
			wmu.Lock()
			written = time.Now()
			wmu.Unlock()
			return err
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	start := time.Now()
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("loop: %v", err)
		}
	})

	var rep observed.Report
	select {
	case rep = <-reports:
	case <-time.After(5 * time.Second):
		t.Fatal("no report")
	}
	// Read at once: the document must be on disk when the report arrives.
	stored, ok, err := LoadLastState(dir)
	if err != nil || !ok || stored.Generation != rep.AppliedGeneration || rep.AppliedGeneration != s.Generation {
		t.Fatalf("report acknowledges %q, the disk holds %q (ok %v, err %v); want %q on disk first",
			rep.AppliedGeneration, stored.Generation, ok, err, s.Generation)
	}
	if rep.Error != "" {
		t.Errorf("report error: %s", rep.Error)
	}
	kinds, at := applier.passes()
	wmu.Lock()
	w := written
	wmu.Unlock()
	if len(kinds) != 1 || kinds[0] != "changed" {
		t.Fatalf("passes %v, want one changed-only pass for the document", kinds)
	}
	if !at[0].Before(w) || at[0].Sub(start) >= slow {
		t.Errorf("the pass began %v after the start, the document was written %v after: the pass waited for the write",
			at[0].Sub(start), w.Sub(start))
	}

	wake <- struct{}{}
	select {
	case <-reports:
	case <-time.After(5 * time.Second):
		t.Fatal("no report after the wake")
	}
	if kinds, _ := applier.passes(); len(kinds) != 2 || kinds[1] != "full" {
		t.Errorf("passes %v, want a full pass after the wake", kinds)
	}
}
