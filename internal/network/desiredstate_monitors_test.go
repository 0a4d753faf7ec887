package network

import (
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/network/desired"
)

// TestDesiredStateMonitors: a hub's running monitors go into its document
// sorted by ID, those on a port the hub does not run on this node are
// left out, and the document still passes its own check; a hub without
// monitors has none (the field is absent, the document as before).
func TestDesiredStateMonitors(t *testing.T) {
	in := fixtureNode()
	base := BuildDesiredState(in)
	if len(base.Hubs[0].Monitors) != 0 {
		t.Fatalf("monitors without any: %+v", base.Hubs[0].Monitors)
	}
	port := base.Hubs[0].Ports[0].PortCode
	in.Hubs[0].Monitors = []desired.Monitor{
		{ID: "mon_b", PortCode: port, Target: "192.0.2.2", Probe: "tcp", TCPPort: 443, IntervalSeconds: 60, FailAfter: 3},
		{ID: "mon_a", PortCode: port, Target: "192.0.2.1", Probe: "icmp", IntervalSeconds: 10, FailAfter: 1},
		{ID: "mon_c", PortCode: "shc99999999", Target: "192.0.2.3", Probe: "icmp", IntervalSeconds: 10, FailAfter: 1},
	}
	st := BuildDesiredState(in)
	got := st.Hubs[0].Monitors
	if len(got) != 2 || got[0].ID != "mon_a" || got[1].ID != "mon_b" {
		t.Fatalf("monitors %+v, want mon_a and mon_b in order", got)
	}
	a, err1 := desired.Encode(&base)
	b, err2 := desired.Encode(&st)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if _, err := desired.Decode(b); err != nil {
		t.Fatal(err)
	}
	if string(a) == string(b) || st.Generation == base.Generation {
		t.Error("the generation did not change with the monitors")
	}
}
