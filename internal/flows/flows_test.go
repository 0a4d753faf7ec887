package flows

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
	"github.com/tsunagi-net/tsunagi/internal/network/flowrec"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

var (
	t0     = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	placed = fleet.Placed{"hub_a": "cus_a", "hub_b": "cus_b"}
)

// rec is a NAPT connection of hub's customer from inside host 10.0.0.<n>.
func rec(hub, cust string, n int, end time.Time) flowrec.Record {
	orig := flowrec.Tuple{Src: netip.AddrFrom4([4]byte{10, 0, 0, byte(n)}), Dst: netip.MustParseAddr("198.51.100.7"), SrcPort: uint16(40000 + n), DstPort: 443}
	reply := flowrec.Tuple{Src: orig.Dst, Dst: netip.MustParseAddr("203.0.113.9"), SrcPort: 443, DstPort: uint16(60000 + n)}
	return flowrec.Record{HubID: hub, CustomerID: cust, Start: end.Add(-time.Second), End: end, Protocol: 6, Original: orig, Reply: reply,
		Translated: flowrec.TranslatedSource, OrigBytes: 100, OrigPackets: 2, ReplyBytes: 3000, ReplyPackets: 3}
}

func batch(recs ...flowrec.Record) flowrec.Batch {
	return flowrec.Batch{Schema: flowrec.Schema, SentAt: t0, Records: recs, Dropped: []flowrec.Dropped{}}
}

func newStore(db *store.DB, perHour int64) *Store {
	s := New(db, perHour)
	s.now = func() time.Time { return t0 }
	return s
}

func window() Query { return Query{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)} }

// TestIngestAndRead: records are stored under their customers, read newest
// first in pages, filtered by any of their four addresses, and never by
// another customer; a batch sent again is stored once.
func TestIngestAndRead(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newStore(db, 0)
		var recs []flowrec.Record
		for i := 1; i <= 5; i++ {
			recs = append(recs, rec("hub_a", "cus_a", i, t0.Add(time.Duration(i)*time.Minute)))
		}
		recs = append(recs, rec("hub_b", "cus_b", 9, t0))
		b := batch(recs...)
		b.Dropped = []flowrec.Dropped{{HubID: "hub_a", CustomerID: "cus_a", Count: 7}}
		for range 2 {
			if err := s.Ingest(ctx, "node_1", placed, b); err != nil {
				t.Fatal(err)
			}
		}
		a := tenanttest.Customer("cus_a")
		q := window()
		q.Limit = 2
		var got []string
		for {
			p, err := s.Read(ctx, a, q, MaxLimit)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range p.Flows {
				got = append(got, f.OrigSrc)
			}
			if p.Counts.NodeDropped != 14 || p.Counts.Stored != 10 {
				t.Fatalf("counts %+v, want 14 dropped on the node (twice 7) and 10 stored", p.Counts)
			}
			if p.Next == "" {
				break
			}
			q.Cursor = p.Next
		}
		if want := "10.0.0.5 10.0.0.4 10.0.0.3 10.0.0.2 10.0.0.1"; strings.Join(got, " ") != want {
			t.Fatalf("pages read %v, want %s (newest first, each once)", got, want)
		}
		for addr, want := range map[string]int{"10.0.0.3": 1, "203.0.113.9": 5, "198.51.100.7": 5, "10.0.0.9": 0} {
			q := window()
			q.Address = netip.MustParseAddr(addr)
			p, err := s.Read(ctx, a, q, MaxLimit)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Flows) != want {
				t.Errorf("address %s: %d records, want %d", addr, len(p.Flows), want)
			}
		}
		p, err := s.Read(ctx, tenanttest.Customer("cus_b"), window(), MaxLimit)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Flows) != 1 || p.Flows[0].OrigSrc != "10.0.0.9" || p.Counts.NodeDropped != 0 {
			t.Fatalf("customer B reads %+v, want only its own record", p)
		}
	})
}

// TestIngestRefusesForeignHubs: a record or a dropped count naming a hub not
// placed on the node, or under another customer, refuses the batch whole.
func TestIngestRefusesForeignHubs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newStore(db, 0)
		for name, b := range map[string]flowrec.Batch{
			"other customer": batch(rec("hub_a", "cus_a", 1, t0), rec("hub_b", "cus_a", 2, t0)),
			"not placed":     batch(rec("hub_a", "cus_a", 1, t0), rec("hub_z", "cus_a", 2, t0)),
			"dropped":        {Schema: flowrec.Schema, SentAt: t0, Records: []flowrec.Record{rec("hub_a", "cus_a", 1, t0)}, Dropped: []flowrec.Dropped{{HubID: "hub_b", CustomerID: "cus_a", Count: 1}}},
		} {
			err := s.Ingest(ctx, "node_1", placed, b)
			if !fault.Is(err, fault.Invalid) {
				t.Errorf("%s: %v, want invalid", name, err)
			}
		}
		p, err := s.Read(ctx, tenanttest.Customer("cus_a"), window(), MaxLimit)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Flows) != 0 || p.Counts != (Counts{}) {
			t.Fatalf("a refused batch stored %+v", p)
		}
	})
}

// TestHourlyCap: past the cap a customer's records are counted, not
// stored, and another customer's share is untouched.
func TestHourlyCap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newStore(db, 3)
		for i := 1; i <= 4; i += 2 {
			if err := s.Ingest(ctx, "node_1", placed, batch(rec("hub_a", "cus_a", i, t0), rec("hub_a", "cus_a", i+1, t0), rec("hub_b", "cus_b", i, t0))); err != nil {
				t.Fatal(err)
			}
		}
		p, err := s.Read(ctx, tenanttest.Customer("cus_a"), window(), MaxLimit)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Flows) != 3 || p.Counts != (Counts{Stored: 3, Capped: 1}) {
			t.Fatalf("customer A: %d records, counts %+v; want 3 stored and 1 capped", len(p.Flows), p.Counts)
		}
		pb, err := s.Read(ctx, tenanttest.Customer("cus_b"), window(), MaxLimit)
		if err != nil {
			t.Fatal(err)
		}
		if len(pb.Flows) != 2 || pb.Counts.Capped != 0 {
			t.Fatalf("customer B: %d records, counts %+v; want both stored", len(pb.Flows), pb.Counts)
		}
		tot, err := s.Totals(ctx, t0.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(tot); got != "[{cus_a {3 1 0}} {cus_b {2 0 0}}]" {
			t.Fatalf("totals %s", got)
		}
	})
}

// TestQueryBounds: bad windows, limits and cursors are refused by field,
// and a scope without flows.read is forbidden.
func TestQueryBounds(t *testing.T) {
	s := New(storetest.SQLite(t), 0)
	ctx := context.Background()
	a := tenanttest.Customer("cus_a")
	for name, c := range map[string]struct {
		q     Query
		field string
	}{
		"no window":   {Query{}, "from"},
		"backwards":   {Query{From: t0, To: t0.Add(-time.Second)}, "to"},
		"too long":    {Query{From: t0, To: t0.Add(MaxWindow + time.Hour)}, "to"},
		"limit":       {Query{From: t0, To: t0.Add(time.Hour), Limit: MaxLimit + 1}, "limit"},
		"cursor junk": {Query{From: t0, To: t0.Add(time.Hour), Cursor: "!!"}, "cursor"},
	} {
		_, err := s.Read(ctx, a, c.q, MaxLimit)
		var fe *fault.Error
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%s: %v, want a fault on field %s", name, err, c.field)
		}
	}
	if _, err := s.Read(ctx, tenanttest.As("cus_a", "user"), window(), MaxLimit); !fault.Is(err, fault.Forbidden) {
		t.Fatalf("a scope without flows.read: %v, want forbidden", err)
	}
}
