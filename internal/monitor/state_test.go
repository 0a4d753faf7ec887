package monitor

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/network/observed"
)

// seq builds probes from "+" (answered) and "-" (failed), 10 s apart from
// t0 plus off seconds.
func seq(off int, s string) []observed.Probe {
	var out []observed.Probe
	for i, c := range s {
		p := observed.Probe{At: t0.Add(time.Duration(off+10*i) * time.Second), OK: c == '+'}
		if p.OK {
			p.RTTMicros = 500
		} else {
			p.Error = "timeout"
		}
		out = append(out, p)
	}
	return out
}

func TestTake(t *testing.T) {
	fresh := machine{State: Unknown, Since: t0}
	for _, tc := range []struct {
		name      string
		start     machine
		failAfter int
		reports   [][]observed.Probe
		want      string // final state
		changes   string // "from>to" joined by " "
		taken     int
	}{
		{"the first probe leaves unknown", fresh, 3, [][]observed.Probe{seq(0, "+")}, Unknown, "", 1},
		{"a second answer makes it up", fresh, 3, [][]observed.Probe{seq(0, "++")}, Up, "unknown>up", 2},
		{"fewer failures than fail_after stay up", fresh, 3, [][]observed.Probe{seq(0, "++--")}, Up, "unknown>up", 4},
		{"fail_after failures in a row make it down", fresh, 3, [][]observed.Probe{seq(0, "++---")}, Down, "unknown>up up>down", 5},
		{"an answer between failures restarts the count", fresh, 3, [][]observed.Probe{seq(0, "++--+--")}, Up, "unknown>up", 7},
		{"an answer makes a down monitor up", fresh, 1, [][]observed.Probe{seq(0, "+-+")}, Up, "unknown>down down>up", 3},
		{"fail_after 1 and the first failure", fresh, 1, [][]observed.Probe{seq(0, "-")}, Unknown, "", 1},
		{"a report sent again counts nothing twice", fresh, 2, [][]observed.Probe{seq(0, "++-"), seq(0, "++-")}, Up, "unknown>up", 3},
		{"a report sent again with more probes takes the new ones", fresh, 2, [][]observed.Probe{seq(0, "++-"), seq(0, "++--")}, Down,
			"unknown>up up>down", 4},
		{"probes out of order are not taken", fresh, 2, [][]observed.Probe{seq(100, "++"), seq(0, "----")}, Up, "unknown>up", 2},
		{"up stays up on answers", machine{State: Up, Since: t0, Probed: 5}, 3, [][]observed.Probe{seq(0, "+++")}, Up, "", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.start
			var got []string
			taken := 0
			for _, r := range tc.reports {
				var cs []change
				var tk []observed.Probe
				m, cs, tk = m.take(r, tc.failAfter)
				taken += len(tk)
				for _, c := range cs {
					got = append(got, fmt.Sprintf("%s>%s", c.From, c.To))
				}
			}
			if m.State != tc.want || strings.Join(got, " ") != tc.changes || taken != tc.taken {
				t.Errorf("state %s, changes %q, taken %d; want %s, %q, %d", m.State, strings.Join(got, " "), taken, tc.want, tc.changes, tc.taken)
			}
		})
	}
}

func TestTakeDownReasonIsTheProbeError(t *testing.T) {
	m := machine{State: Up, Probed: 3}
	ps := seq(0, "--")
	ps[1].Error = "refused"
	_, cs, _ := m.take(ps, 2)
	if len(cs) != 1 || cs[0].Reason != "refused" || !cs[0].At.Equal(ps[1].At) {
		t.Fatalf("changes %+v, want one to down at the second probe for refused", cs)
	}
}

func TestBins(t *testing.T) {
	ps := seq(0, "+-+")
	ps[0].RTTMicros, ps[2].RTTMicros = 300, 900
	late := observed.Probe{At: t0.Add(5*time.Minute + time.Second), OK: true, RTTMicros: 100}
	got := bins(append(ps, late))
	if len(got) != 2 {
		t.Fatalf("%d bins, want 2", len(got))
	}
	b := got[0]
	if !b.Start.Equal(t0) || b.Sent != 3 || b.Answered != 2 || b.RTTMin != 300 || b.RTTMax != 900 || b.RTTSum != 1200 {
		t.Errorf("first bin %+v", b)
	}
	if got[1].Sent != 1 || got[1].RTTMin != 100 || !got[1].Start.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("second bin %+v", got[1])
	}
}
