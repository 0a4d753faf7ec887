package flowrec

import (
	"net/netip"
	"time"
)

// Schema names this version of a flow-record batch.
const Schema = "tsunagi.flow-records/v1"

// Batch is what one node sends at a time.
type Batch struct {
	Schema string `json:"schema"`
	// SentAt is when the agent made the batch (its clock).
	SentAt  time.Time `json:"sent_at"`
	Records []Record  `json:"records"`
	// Dropped counts the records the node could not keep since its
	// previous accepted batch: its buffer was full (the controller out of
	// reach, or more connections ending than it sends), or the kernel
	// dropped events on a full netlink socket (ENOBUFS). Per hub when the
	// hub is known, else under no hub (DroppedUnknown).
	Dropped []Dropped `json:"dropped"`
}

// Dropped counts one hub's lost records.
type Dropped struct {
	HubID      string `json:"hub_id"`
	CustomerID string `json:"customer_id"`
	Count      int64  `json:"count"`
}

// Record is one ended connection in one customer hub.
type Record struct {
	HubID      string `json:"hub_id"`
	CustomerID string `json:"customer_id"`
	// Start and End are the kernel's timestamps of the connection's first
	// packet and of its end (nf_conntrack_timestamp).
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Protocol is the IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, …).
	Protocol uint8 `json:"protocol"`
	// Original is the connection as its first packet entered the hub;
	// Reply as the answer came back. Without NAT, Reply is Original
	// mirrored.
	Original Tuple `json:"original"`
	Reply    Tuple `json:"reply"`
	// Translated says which side the hub rewrote: TranslatedNone,
	// TranslatedSource (NAPT: Reply.Dst is the public address), Destination
	// (Original.Dst is the public address, Reply.Src the inside one) or Both.
	Translated string `json:"translated"`
	// Bytes and packets in each direction (nf_conntrack_acct), IP headers
	// included: Orig* from the originator, Reply* back to it.
	OrigBytes    uint64 `json:"orig_bytes"`
	OrigPackets  uint64 `json:"orig_packets"`
	ReplyBytes   uint64 `json:"reply_bytes"`
	ReplyPackets uint64 `json:"reply_packets"`
}

// Tuple is one direction's addresses and ports (ports 0 for protocols
// without them; ICMP carries no ports here).
type Tuple struct {
	Src     netip.Addr `json:"src"`
	Dst     netip.Addr `json:"dst"`
	SrcPort uint16     `json:"src_port"`
	DstPort uint16     `json:"dst_port"`
}

// Translations a record names.
const (
	TranslatedNone        = "none"
	TranslatedSource      = "source"
	TranslatedDestination = "destination"
	TranslatedBoth        = "both"
)

// Translation derives Translated from the two tuples: a source rewritten
// when the reply does not come back to the original source, a destination
// rewritten when the reply does not come from the original destination.
func Translation(orig, reply Tuple) string {
	src := reply.Dst != orig.Src || reply.DstPort != orig.SrcPort
	dst := reply.Src != orig.Dst || reply.SrcPort != orig.DstPort
	switch {
	case src && dst:
		return TranslatedBoth
	case src:
		return TranslatedSource
	case dst:
		return TranslatedDestination
	}
	return TranslatedNone
}
