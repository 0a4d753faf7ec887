package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
)

// hubApplier is an Applier whose passes report every hub of the state.
type hubApplier struct{}

func (hubApplier) Apply(_ context.Context, s desired.State) ([]observed.Hub, error) {
	var out []observed.Hub
	for _, h := range s.Hubs {
		out = append(out, observed.Hub{HubID: h.HubID, CustomerID: h.CustomerID, WantedVersion: h.ConfigVersion, ConfigVersion: h.ConfigVersion})
	}
	return out, nil
}

// TestLoopSendsProbesOnce: the loop sends the monitors' probes with its
// report; a report the controller refuses gives them back, so the next
// report carries them with the newer ones; a report it accepts is the
// last to carry them. A monitor going down, then coming back, each end
// the long poll for a report at once.
func TestLoopSendsProbesOnce(t *testing.T) {
	s := monitorState(icmpMonitor("mon_a", "10.10.0.1", 10, 1))
	s.Hubs[0].ConfigVersion = 1
	doc, err := desired.Encode(&s)
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		rep    observed.Report
		status int
	}
	reports := make(chan answer, 10)
	statuses := []int{http.StatusServiceUnavailable, http.StatusNoContent, http.StatusNoContent}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/agent/v1/desired-state":
			if r.Header.Get("If-None-Match") == `"`+s.Generation+`"` {
				select { // held: only a wake ends it
				case <-r.Context().Done():
				case <-time.After(time.Minute):
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
			status := http.StatusNoContent
			if len(statuses) > 0 {
				status, statuses = statuses[0], statuses[1:]
			}
			w.WriteHeader(status)
			reports <- answer{rep, status}
		}
	}))
	t.Cleanup(srv.Close)

	// The monitor's own probes never finish: the test gives it its results.
	p := newProber(func(ctx context.Context, _ dataplane.ProbeSpec) dataplane.ProbeResult {
		<-ctx.Done()
		return dataplane.ProbeResult{}
	})
	t.Cleanup(p.Close)
	p.Set(s) // what the loop's first pass sets again, changing nothing
	key := monitorKey{"hub_a", "mon_a"}
	measure := func(ok bool) time.Time {
		p.mu.Lock()
		m := p.monitors[key]
		p.mu.Unlock()
		res := dataplane.ProbeResult{OK: ok, RTT: time.Millisecond}
		if !ok {
			res = dataplane.ProbeResult{Error: dataplane.ProbeTimeout}
		}
		at := time.Now()
		p.record(key, m, at, res)
		return us(at)
	}
	a := measure(true)

	l := &Loop{Client: &Client{base: srv.URL, hc: srv.Client()}, Applier: hubApplier{}, Dir: t.TempDir(),
		Wait: time.Minute, Resync: time.Hour, Monitors: p}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("loop: %v", err)
		}
	})
	next := func(what string) answer {
		t.Helper()
		select {
		case r := <-reports:
			return r
		case <-time.After(10 * time.Second):
			t.Fatalf("no report %s", what)
			return answer{}
		}
	}
	probeTimes := func(r observed.Report) []time.Time {
		var out []time.Time
		for _, h := range r.Hubs {
			for _, m := range h.Monitors {
				if h.HubID != "hub_a" || m.ID != "mon_a" {
					t.Errorf("probes of %s/%s", h.HubID, m.ID)
				}
				for _, pr := range m.Probes {
					out = append(out, pr.At)
				}
			}
		}
		return out
	}

	first := next("for the first document")
	if got := probeTimes(first.rep); first.status != http.StatusServiceUnavailable || !slices.EqualFunc(got, []time.Time{a}, time.Time.Equal) {
		t.Fatalf("first report (refused): probes %v, want [%v]; %+v", got, a, first.rep)
	}
	b := measure(false) // down (fail_after 1): wakes the loop
	second := next("after the monitor went down")
	if got := probeTimes(second.rep); !slices.EqualFunc(got, []time.Time{a, b}, time.Time.Equal) {
		t.Errorf("report after a refused one: probes %v, want the refused report's and the new one: %v", got, []time.Time{a, b})
	}
	c := measure(true) // back up: wakes the loop
	third := next("after the monitor came back")
	if got := probeTimes(third.rep); !slices.EqualFunc(got, []time.Time{c}, time.Time.Equal) {
		t.Errorf("report after an accepted one: probes %v, want only the new one %v", got, c)
	}
}
