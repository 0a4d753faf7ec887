package usage

import (
	"time"

	"github.com/tsunagi-net/tsunagi/internal/network/observed"
)

// BinWidth is the width of a usage bin.
const BinWidth = 5 * time.Minute

// Counters are one link's six counters, cumulative or as a delta. In is
// what the hub's port interface received (from the customer's side), out
// what it sent.
type Counters struct {
	InBytes, InPackets, InDrops    uint64
	OutBytes, OutPackets, OutDrops uint64
}

// sample is one link's counters as a node observed them.
type sample struct {
	At      time.Time
	IfIndex int
	Counters
}

func sampleOf(at time.Time, l observed.Link) sample {
	return sample{At: at, IfIndex: l.IfIndex, Counters: Counters{
		InBytes: l.RxBytes, InPackets: l.RxPackets, InDrops: l.RxDrops,
		OutBytes: l.TxBytes, OutPackets: l.TxPackets, OutDrops: l.TxDrops}}
}

// delta is the traffic between prev and cur, and false when cur is not
// newer than prev (a report sent again, or one overtaken by a later one):
// then nothing is counted. A changed interface index (both known) or any
// counter smaller than before means the interface counts again from zero —
// it was made again, or the node restarted — and the delta is cur's
// counters whole. An agent that restarts on a running kernel keeps the
// interface and its counters, which then simply continue.
func delta(prev, cur sample) (Counters, bool) {
	if !cur.At.After(prev.At) {
		return Counters{}, false
	}
	p, c := prev.Counters, cur.Counters
	restarted := (prev.IfIndex != 0 && cur.IfIndex != 0 && prev.IfIndex != cur.IfIndex) ||
		c.InBytes < p.InBytes || c.InPackets < p.InPackets || c.InDrops < p.InDrops ||
		c.OutBytes < p.OutBytes || c.OutPackets < p.OutPackets || c.OutDrops < p.OutDrops
	if restarted {
		return c, true
	}
	return Counters{
		InBytes: c.InBytes - p.InBytes, InPackets: c.InPackets - p.InPackets, InDrops: c.InDrops - p.InDrops,
		OutBytes: c.OutBytes - p.OutBytes, OutPackets: c.OutPackets - p.OutPackets, OutDrops: c.OutDrops - p.OutDrops,
	}, true
}

// share is the part of a delta that falls into one bin.
type share struct {
	Start time.Time // the bin's start (UTC, a multiple of BinWidth)
	Counters
}

// spread divides d, counted over (from, to], among the bins that interval
// covers, in proportion to the time in each. Each counter's shares add up
// to it exactly (each bin gets the floor of its cumulative part less what
// the bins before it got).
func spread(from, to time.Time, d Counters) []share {
	from, to = from.UTC(), to.UTC()
	total := to.Sub(from)
	if total <= 0 {
		return nil
	}
	var out []share
	var given Counters
	for start := from.Truncate(BinWidth); start.Before(to); start = start.Add(BinWidth) {
		end := start.Add(BinWidth)
		if end.After(to) {
			end = to
		}
		if !end.After(from) {
			continue
		}
		// The part of the interval up to this bin's end: shares are cut by
		// cumulative time so that rounding never loses or invents a byte.
		upTo := float64(end.Sub(from)) / float64(total)
		part := func(v, gotSoFar uint64) uint64 {
			if end.Equal(to) {
				return v - gotSoFar
			}
			return uint64(float64(v)*upTo) - gotSoFar
		}
		s := share{Start: start, Counters: Counters{
			InBytes: part(d.InBytes, given.InBytes), InPackets: part(d.InPackets, given.InPackets), InDrops: part(d.InDrops, given.InDrops),
			OutBytes: part(d.OutBytes, given.OutBytes), OutPackets: part(d.OutPackets, given.OutPackets), OutDrops: part(d.OutDrops, given.OutDrops),
		}}
		given.add(s.Counters)
		out = append(out, s)
	}
	return out
}

func (c *Counters) add(d Counters) {
	c.InBytes += d.InBytes
	c.InPackets += d.InPackets
	c.InDrops += d.InDrops
	c.OutBytes += d.OutBytes
	c.OutPackets += d.OutPackets
	c.OutDrops += d.OutDrops
}
