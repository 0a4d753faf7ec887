package web

import (
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/dataplane"
)

// The node's status of a hub, as the data plane names things, becomes the
// customer's view by port code and session role: a cloud port's two
// sessions, a redundant on-premises port's single session over two legs
// (one without carrier), and the backbone sessions by peer role.
func TestHubObserved(t *testing.T) {
	since := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	up := func(name string) dataplane.SessionStatus {
		return dataplane.SessionStatus{ProtocolStatus: dataplane.ProtocolStatus{Name: name, Proto: "BGP", State: "up", Since: since, Info: "Established"},
			Routes: dataplane.RouteCounts{Imported: 3, Filtered: 1, Exported: 4}}
	}
	onprem := up("port_p00000001_s")
	onprem.Filtered = []dataplane.FilteredRoute{{Prefix: "100.64.0.0/10", Reason: "bogon"}}
	st := dataplane.Status{
		Sessions: []dataplane.SessionStatus{onprem, up("port_p00000002_p"), up("port_p00000002_s"), up("bb_sub"),
			{ProtocolStatus: dataplane.ProtocolStatus{Name: "kernel4", Proto: "Kernel", State: "up"}}},
		Links: []dataplane.LinkCounters{
			{Name: "br00000001", Port: "p00000001_s", Carrier: true, RxBytes: 10},
			{Name: "eth1", Port: "p00000001_s", Leg: "primary", Carrier: false},
			{Name: "eth2", Port: "p00000001_s", Leg: "secondary", Carrier: true, TxPackets: 7},
			{Name: "eth3.101", Port: "p00000002_p", Carrier: true},
			{Name: "eth4.101", Port: "p00000002_s", Carrier: true},
		},
	}
	ports, backbone := hubObserved(st)
	if len(ports) != 2 || ports[0].PortCode != "shc00000001" || ports[1].PortCode != "shc00000002" {
		t.Fatalf("ports = %+v", ports)
	}
	on := ports[0]
	if len(on.Sessions) != 1 || on.Sessions[0].Name != "single" || on.Sessions[0].Info != "Established" ||
		len(on.Sessions[0].Refused) != 1 || on.Sessions[0].Refused[0].Reason != "bogon" {
		t.Errorf("on-premises sessions = %+v", on.Sessions)
	}
	if len(on.Links) != 3 || on.Links[0].Leg != "" || on.Links[1].Leg != "primary" || on.Links[1].Carrier ||
		on.Links[2].Leg != "secondary" || !on.Links[2].Carrier || on.Links[2].TxPackets != 7 || on.Links[0].Connection != "single" {
		t.Errorf("on-premises links = %+v", on.Links)
	}
	cl := ports[1]
	if len(cl.Sessions) != 2 || cl.Sessions[0].Name != "primary" || cl.Sessions[1].Name != "secondary" ||
		len(cl.Links) != 2 || cl.Links[1].Connection != "secondary" {
		t.Errorf("cloud port = %+v", cl)
	}
	if len(backbone) != 1 || backbone[0].Name != "sub" || backbone[0].Imported != 3 {
		t.Errorf("backbone = %+v", backbone)
	}
}
