package evidence

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestWindowAnchors: the segment starts at the newest of the last head
// signed at or before the window's start, the retention checkpoint, or the
// chain's beginning, and ends at the first head signed at or after the
// window's end, or at the head the export signs. Entries and heads are
// laid down at chosen past times (days 0 to 9 of a chain).
func TestWindowAnchors(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		cust := e.customer("Acme")
		day0 := clock.Now().Add(-30 * 24 * time.Hour).Truncate(time.Hour)
		day := func(d float64) time.Time { return day0.Add(time.Duration(d * float64(24*time.Hour))) }
		// Entries 1–3 on day 0, head 3 signed on day 1; entries 4–6 on
		// day 2, head 6 signed on day 3; entries 7–9 on day 4, head 9
		// signed on day 5, signed again (unchanged) on day 6.
		for i := range 3 {
			e.plant(cust, 3, day(float64(2*i)), time.Hour)
			e.signAt(cust, day(float64(2*i+1)))
		}
		e.signAt(cust, day(6))
		next := int64(10) // each export appends its record, then signs it
		for _, c := range []struct {
			name       string
			from, to   time.Time
			start, end int64
			startKind  string
		}{
			// First, so that no export has signed a head after day 8 yet.
			{"to after every head", day(4.5), day(8), 6, -1, AnchorHead},
			{"before every head", day(0.5), day(0.9), 0, 3, AnchorGenesis},
			{"from at a head's signing", day(1), day(2.5), 3, 6, AnchorHead},
			{"from between heads", day(2.5), day(4.5), 3, 9, AnchorHead},
			{"to at a head's signing", day(3.5), day(5), 6, 9, AnchorHead},
			{"the oldest head at or after to", day(5.5), day(5.8), 9, 9, AnchorHead},
		} {
			archive := e.exportOwn(cust, Window{From: c.from, To: c.to})
			rep := e.verify(archive)
			want := c.end
			if want < 0 { // ends at the head the export signed
				want = next
			}
			next++
			seg := rep.Segment
			if seg.Start.Kind != c.startKind || seg.Start.Seq != c.start || seg.End.Seq != want {
				t.Errorf("%s: segment %s %d to %d, want %s %d to %d", c.name, seg.Start.Kind, seg.Start.Seq, seg.End.Seq,
					c.startKind, c.start, want)
			}
			if rep.Entries != seg.End.Seq-seg.Start.Seq {
				t.Errorf("%s: %d entries for a segment of %d", c.name, rep.Entries, seg.End.Seq-seg.Start.Seq)
			}
		}

		// Retention removes entries 1–4: a window before head 6 starts at
		// the checkpoint, and the archive carries it; one after starts at
		// head 6 as before.
		cp := e.checkpointAt(cust, 4)
		archive := e.exportOwn(cust, Window{From: day(0), To: day(4.5)})
		rep := e.verify(archive)
		if rep.Segment.Start.Kind != AnchorCheckpoint || rep.Segment.Start.Seq != 4 || rep.Removed == nil ||
			!rep.Removed.EntryAt.Equal(cp.EntryAt) || rep.Segment.End.Seq != 9 {
			t.Errorf("after retention: segment %+v, removed %+v: want the checkpoint of entry 4 to head 9", rep.Segment, rep.Removed)
		}
		files := unpack(t, archive)
		if len(files) != 8 || files[3].name != FileCheckpoint {
			t.Errorf("the archive holds %d files, the 4th %s: want checkpoint.json among 8", len(files), files[3].name)
		}
		rep = e.verify(e.exportOwn(cust, Window{From: day(3.5), To: day(4.5)}))
		if rep.Segment.Start.Kind != AnchorHead || rep.Segment.Start.Seq != 6 || rep.Removed != nil {
			t.Errorf("after retention, from day 3.5: segment starts at %+v, want head 6", rep.Segment.Start)
		}
		// A checkpoint.json whose signature breaks is named.
		c := get(t, files, FileCheckpoint)
		_, err := VerifyArchive(bytes.NewReader(repack(t, with(files, FileCheckpoint, flipSig(t, c)))), e.published())
		wantErr(t, "checkpoint signature", err, FileCheckpoint, 0, 4, "signature does not verify")
	})
}

// flipSig returns checkpoint.json with one bit of its signature flipped.
func flipSig(t *testing.T, doc []byte) []byte {
	t.Helper()
	var c Checkpoint
	if err := json.Unmarshal(doc, &c); err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(c.Signature.Sig)
	if err != nil {
		t.Fatal(err)
	}
	raw[0] ^= 0x01
	c.Signature.Sig = base64.StdEncoding.EncodeToString(raw)
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}
