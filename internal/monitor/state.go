package monitor

import (
	"time"

	"github.com/tsunagi-net/tsunagi/internal/network/observed"
)

// machine is a monitor's state as the probes move it: a pure value, so
// that the rules below are tested apart from the store.
type machine struct {
	State string
	Since time.Time
	// Fails counts the consecutive failed probes taken.
	Fails int
	// Probed counts the probes taken since the state was reset to unknown;
	// the first of them decides nothing (a prober's first probe may go
	// out before the hub's neighbour entry exists).
	Probed int
	// Last is the newest probe taken: a probe at or before it was taken
	// already (a report sent again) or arrives out of order, and counts
	// nothing.
	Last      time.Time
	LastError string
}

// change is one state change.
type change struct {
	From, To string
	At       time.Time
	Reason   string
}

// Reasons of changes that no probe error names.
const (
	reasonAnswered = "answered"
	reasonSilent   = "node silent"
	reasonNoProbes = "no probes"
	reasonQuota    = "over quota"
)

// take applies probes (oldest first) to m with failAfter: an answer makes
// the monitor up, failAfter failures in a row down; the first probe after
// a reset to unknown only counts. It returns the new machine, its
// changes and the probes it took.
func (m machine) take(probes []observed.Probe, failAfter int) (machine, []change, []observed.Probe) {
	var changes []change
	var taken []observed.Probe
	for _, p := range probes {
		if !p.At.After(m.Last) {
			continue
		}
		taken = append(taken, p)
		m.Last = p.At
		m.Probed++
		to, reason := m.State, ""
		if p.OK {
			m.Fails, m.LastError = 0, ""
			to, reason = Up, reasonAnswered
		} else {
			m.Fails++
			m.LastError = p.Error
			if m.LastError == "" {
				m.LastError = "failed"
			}
			if m.Fails >= failAfter {
				to, reason = Down, m.LastError
			}
		}
		if m.Probed == 1 && m.State == Unknown {
			continue
		}
		if to != m.State {
			changes = append(changes, change{From: m.State, To: to, At: p.At, Reason: reason})
			m.State, m.Since = to, p.At
		}
	}
	return m, changes, taken
}

// binSize is the width of an RTT/loss bin.
const binSize = 5 * time.Minute

// bin is one 5-minute bin of one monitor's probes.
type bin struct {
	Start                  time.Time
	Sent, Answered         int64
	RTTMin, RTTSum, RTTMax int64 // microseconds, over the answered probes
}

// bins groups probes into 5-minute bins, in time order.
func bins(probes []observed.Probe) []bin {
	var out []bin
	for _, p := range probes {
		start := p.At.UTC().Truncate(binSize)
		if len(out) == 0 || !out[len(out)-1].Start.Equal(start) {
			out = append(out, bin{Start: start})
		}
		b := &out[len(out)-1]
		b.Sent++
		if p.OK {
			if b.Answered == 0 || p.RTTMicros < b.RTTMin {
				b.RTTMin = p.RTTMicros
			}
			b.RTTMax = max(b.RTTMax, p.RTTMicros)
			b.Answered++
			b.RTTSum += p.RTTMicros
		}
	}
	return out
}
