package flowrec

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/network/schematest"
)

func sample() Batch {
	start := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	orig := Tuple{Src: netip.MustParseAddr("10.1.0.5"), Dst: netip.MustParseAddr("198.51.100.7"), SrcPort: 40000, DstPort: 443}
	reply := Tuple{Src: orig.Dst, Dst: netip.MustParseAddr("203.0.113.9"), SrcPort: 443, DstPort: 61000}
	return Batch{Schema: Schema, SentAt: start.Add(time.Minute), Records: []Record{{
		HubID: "hub_a1", CustomerID: "cus_a1", Start: start, End: start.Add(3 * time.Second), Protocol: 6,
		Original: orig, Reply: reply, Translated: TranslatedSource, OrigBytes: 1200, OrigPackets: 10, ReplyBytes: 90000, ReplyPackets: 70,
	}}, Dropped: []Dropped{{HubID: "hub_a1", CustomerID: "cus_a1", Count: 3}}}
}

// TestRoundTrip: what Encode writes, the schema accepts and Decode reads
// back to the same batch.
func TestRoundTrip(t *testing.T) {
	b := sample()
	enc, err := Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	if errs := schematest.Validate(SchemaJSON, enc); len(errs) > 0 {
		t.Fatalf("schema refuses an encoded batch:\n%s", strings.Join(errs, "\n"))
	}
	got, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Encode(got)
	if string(again) != string(enc) {
		t.Fatalf("round trip changed the batch:\n%s\n%s", enc, again)
	}
	if errs := schematest.Validate(SchemaJSON, []byte(`{"schema":"tsunagi.flow-records/v1","records":[{"hub_id":"x"}]}`)); len(errs) == 0 {
		t.Fatal("the schema validator accepted a bad batch")
	}
}

// TestDecodeRefuses: each broken batch is refused by Decode, and where the
// schema can say it, by the schema too.
func TestDecodeRefuses(t *testing.T) {
	cases := map[string]struct {
		change func(*Batch)
		schema bool
	}{
		"schema":              {func(b *Batch) { b.Schema = "tsunagi.flow-records/v0" }, true},
		"no sent_at":          {func(b *Batch) { b.SentAt = time.Time{} }, false},
		"hub id":              {func(b *Batch) { b.Records[0].HubID = "Hub A" }, true},
		"end before start":    {func(b *Batch) { b.Records[0].End = b.Records[0].Start.Add(-time.Second) }, false},
		"no address":          {func(b *Batch) { b.Records[0].Reply.Dst = netip.Addr{} }, false},
		"mixed families":      {func(b *Batch) { b.Records[0].Reply.Dst = netip.MustParseAddr("2001:db8::1") }, false},
		"translation lies":    {func(b *Batch) { b.Records[0].Translated = TranslatedNone }, false},
		"unknown translation": {func(b *Batch) { b.Records[0].Translated = "sideways" }, true},
		"negative dropped":    {func(b *Batch) { b.Dropped[0].Count = -1 }, true},
		"dropped twice":       {func(b *Batch) { b.Dropped = append(b.Dropped, b.Dropped[0]) }, false},
		"too many": {func(b *Batch) {
			for len(b.Records) <= MaxRecords {
				b.Records = append(b.Records, b.Records[0])
			}
		}, true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			b := sample()
			c.change(&b)
			enc, err := Encode(b)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Decode(enc); err == nil {
				t.Fatal("Decode accepted it")
			}
			if c.schema && len(schematest.Validate(SchemaJSON, enc)) == 0 {
				t.Fatal("the schema accepted it")
			}
		})
	}
	if _, err := Decode([]byte(`{"schema":"tsunagi.flow-records/v1","sent_at":"2026-12-06T12:00:00Z","records":[],"dropped":[],"extra":1}`)); err == nil {
		t.Fatal("Decode accepted an unknown field")
	}
}

func TestTranslation(t *testing.T) {
	a, b, p := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("203.0.113.1")
	orig := Tuple{Src: a, Dst: b, SrcPort: 1000, DstPort: 80}
	for _, c := range []struct {
		reply Tuple
		want  string
	}{
		{Tuple{Src: b, Dst: a, SrcPort: 80, DstPort: 1000}, TranslatedNone},
		{Tuple{Src: b, Dst: p, SrcPort: 80, DstPort: 1000}, TranslatedSource},
		{Tuple{Src: b, Dst: a, SrcPort: 80, DstPort: 2000}, TranslatedSource},
		{Tuple{Src: p, Dst: a, SrcPort: 8080, DstPort: 1000}, TranslatedDestination},
		{Tuple{Src: p, Dst: p, SrcPort: 80, DstPort: 1000}, TranslatedBoth},
	} {
		if got := Translation(orig, c.reply); got != c.want {
			t.Errorf("reply %+v: %s, want %s", c.reply, got, c.want)
		}
	}
}
