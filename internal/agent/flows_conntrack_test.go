package agent

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ti-mo/conntrack"

	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/network/flowrec"
)

// TestFlowRecordFromEvent: a DESTROY event of a NAPT connection becomes a
// record with the hub's identity, both tuples, the counters and the
// kernel's times, translated "source"; an event without timestamps ends
// and starts when it is read; other events and incomplete flows give none.
func TestFlowRecordFromEvent(t *testing.T) {
	h := desired.Hub{HubID: "hub_a", CustomerID: "cus_a", Namespace: "hub-a"}
	start := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	tuple := func(src, dst string, sp, dp uint16) conntrack.Tuple {
		return conntrack.Tuple{IP: conntrack.IPTuple{SourceAddress: netip.MustParseAddr(src), DestinationAddress: netip.MustParseAddr(dst)},
			Proto: conntrack.ProtoTuple{Protocol: 6, SourcePort: sp, DestinationPort: dp}}
	}
	f := &conntrack.Flow{TupleOrig: tuple("10.10.0.1", "20.1.0.1", 40000, 443), TupleReply: tuple("20.1.0.1", "203.0.113.5", 443, 1024),
		CountersOrig: conntrack.Counter{Packets: 11, Bytes: 100580}, CountersReply: conntrack.Counter{Packets: 10, Bytes: 528, Direction: true},
		Timestamp: conntrack.Timestamp{Start: start, Stop: start.Add(2 * time.Second)}}
	r, ok := flowRecord(h, conntrack.Event{Type: conntrack.EventDestroy, Flow: f})
	if !ok {
		t.Fatal("no record")
	}
	want := flowrec.Record{HubID: "hub_a", CustomerID: "cus_a", Start: start, End: start.Add(2 * time.Second), Protocol: 6,
		Original:   flowrec.Tuple{Src: netip.MustParseAddr("10.10.0.1"), Dst: netip.MustParseAddr("20.1.0.1"), SrcPort: 40000, DstPort: 443},
		Reply:      flowrec.Tuple{Src: netip.MustParseAddr("20.1.0.1"), Dst: netip.MustParseAddr("203.0.113.5"), SrcPort: 443, DstPort: 1024},
		Translated: flowrec.TranslatedSource, OrigBytes: 100580, OrigPackets: 11, ReplyBytes: 528, ReplyPackets: 10}
	if r != want {
		t.Fatalf("record\n%+v\nwant\n%+v", r, want)
	}

	bare := *f
	bare.Timestamp = conntrack.Timestamp{}
	before := time.Now()
	r, ok = flowRecord(h, conntrack.Event{Type: conntrack.EventDestroy, Flow: &bare})
	if !ok || !r.Start.Equal(r.End) || r.End.Before(before) {
		t.Fatalf("without timestamps: %v %+v", ok, r)
	}
	if _, ok := flowRecord(h, conntrack.Event{Type: conntrack.EventNew, Flow: f}); ok {
		t.Error("a NEW event made a record")
	}
	half := *f
	half.TupleReply = conntrack.Tuple{}
	if _, ok := flowRecord(h, conntrack.Event{Type: conntrack.EventDestroy, Flow: &half}); ok {
		t.Error("a flow without its reply tuple made a record")
	}
}
