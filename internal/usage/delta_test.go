package usage

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 6, 14, 58, 0, 0, time.UTC)

func in(b uint64) Counters {
	return Counters{InBytes: b, InPackets: b / 100, OutBytes: 2 * b, OutPackets: b / 50}
}

// TestDelta: the counter cases of a link between two reports.
func TestDelta(t *testing.T) {
	at := func(min int, ifindex int, c Counters) sample {
		return sample{At: t0.Add(time.Duration(min) * time.Minute), IfIndex: ifindex, Counters: c}
	}
	for _, c := range []struct {
		name      string
		prev, cur sample
		want      Counters
		newer     bool
	}{
		{"counters continue", at(0, 7, in(1000)), at(1, 7, in(5000)), in(4000), true},
		{"agent restarted, same interface: counters continue", at(0, 7, in(1000)), at(3, 7, in(1500)), in(500), true},
		{"interface made again: the new counters whole", at(0, 7, in(9000)), at(1, 8, in(300)), in(300), true},
		{"another index with larger counters is still a restart", at(0, 7, in(100)), at(1, 8, in(300)), in(300), true},
		{"counter smaller (reset or wrap): the new value", at(0, 7, in(9000)), at(1, 7, in(200)), in(200), true},
		{"index not reported: counters decide", at(0, 0, in(100)), at(1, 5, in(300)), in(200), true},
		{"the same report again", at(1, 7, in(5000)), at(1, 7, in(5000)), Counters{}, false},
		{"an older report after a newer one", at(2, 7, in(5000)), at(1, 7, in(4000)), Counters{}, false},
	} {
		got, newer := delta(c.prev, c.cur)
		if got != c.want || newer != c.newer {
			t.Errorf("%s: delta %+v, %v; want %+v, %v", c.name, got, newer, c.want, c.newer)
		}
	}
}

// TestSpread: a delta is divided among the bins its interval covers in
// proportion to time, and the shares add up exactly.
func TestSpread(t *testing.T) {
	// 14:58 to 15:08: 2 minutes in the 14:55 bin, 5 in 15:00, 3 in 15:05.
	got := spread(t0, t0.Add(10*time.Minute), Counters{InBytes: 1000, OutBytes: 7, InDrops: 1})
	want := []struct {
		start        string
		inB, outB, d uint64
	}{{"14:55", 200, 1, 0}, {"15:00", 500, 3, 0}, {"15:05", 300, 3, 1}}
	if len(got) != len(want) {
		t.Fatalf("shares %+v", got)
	}
	var sum Counters
	for i, w := range want {
		g := got[i]
		if g.Start.Format("15:04") != w.start || g.InBytes != w.inB || g.OutBytes != w.outB || g.InDrops != w.d {
			t.Errorf("share %d: %s %+v, want %+v", i, g.Start.Format("15:04"), g.Counters, w)
		}
		sum.add(g.Counters)
	}
	if sum.InBytes != 1000 || sum.OutBytes != 7 || sum.InDrops != 1 {
		t.Errorf("shares add up to %+v", sum)
	}
	// Inside one bin: one share, whole.
	if one := spread(t0.Add(3*time.Minute), t0.Add(4*time.Minute), Counters{InBytes: 9}); len(one) != 1 || one[0].InBytes != 9 ||
		one[0].Start.Format("15:04") != "15:00" {
		t.Errorf("one bin: %+v", one)
	}
	if none := spread(t0, t0, Counters{InBytes: 9}); none != nil {
		t.Errorf("empty interval: %+v", none)
	}
}

// TestDailyIsJST: a JST day runs from 15:00 UTC; bins on either side of it
// fall on two dates.
func TestDailyIsJST(t *testing.T) {
	b := func(start time.Time, bytes int64, peak int64) Bin {
		return Bin{Start: start, InBytes: bytes, InPeakBps: peak}
	}
	days := Daily([]Bin{
		b(time.Date(2026, 12, 6, 14, 50, 0, 0, time.UTC), 10, 5),
		b(time.Date(2026, 12, 6, 14, 55, 0, 0, time.UTC), 20, 9),
		b(time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC), 300, 1),
		b(time.Date(2026, 12, 7, 14, 55, 0, 0, time.UTC), 4000, 2),
	})
	if len(days) != 2 || days[0].Date != "2026-12-06" || days[0].InBytes != 30 || days[0].InPeakBps != 9 ||
		days[1].Date != "2026-12-07" || days[1].InBytes != 4300 || days[1].InPeakBps != 2 {
		t.Errorf("days %+v", days)
	}
}
