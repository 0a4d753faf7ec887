package evidence

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// wantErr checks that err is an *ArchiveError at file, line and entry
// (0 for "any") whose problem contains problem.
func wantErr(t *testing.T, what string, err error, file string, line, seq int64, problem string) {
	t.Helper()
	var ae *ArchiveError
	if !errors.As(err, &ae) {
		t.Errorf("%s: err = %v, want an ArchiveError at %s", what, err, file)
		return
	}
	if ae.File != file || (line != 0 && ae.Line != line) || (seq != 0 && ae.Seq != seq) || !strings.Contains(ae.Problem, problem) {
		t.Errorf("%s: err = %q, want %s line %d entry %d: …%s", what, err, file, line, seq, problem)
	}
}

// TestArchiveTampering: every way of changing an archive fails
// verification, and the error names the first broken place.
func TestArchiveTampering(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a, b := e.customer("Acme"), e.customer("Other")
		now := clock.Now()
		// A: 20 entries, a head signed after the 12th, then the rest and
		// the export (entry 21), signed at the export.
		e.plant(a, 12, now.Add(-50*time.Minute), time.Minute)
		e.signAt(a, now.Add(-30*time.Minute))
		e.plant(a, 8, now.Add(-20*time.Minute), time.Minute)
		e.plant(b, 5, now.Add(-50*time.Minute), time.Minute)
		n := e.seedNotice("maintenance", []time.Time{now.Add(-10 * time.Minute)}, a)
		e.seedDelivery(n, a, "ops@acme.example", now.Add(-9*time.Minute))
		archive := e.exportOwn(a, lastHour())
		keys := e.published()
		rep := e.verify(archive)
		if rep.Entries != 21 || rep.SignedHeads != 2 {
			t.Fatalf("report %+v: want 21 entries and 2 signed heads", rep)
		}
		files := unpack(t, archive)
		check := func(what string, files []file, file string, line, seq int64, problem string) {
			t.Helper()
			_, err := VerifyArchive(bytes.NewReader(repack(t, files)), keys)
			wantErr(t, what, err, file, line, seq, problem)
		}

		// One byte flipped in the middle of each file: the file is named.
		for _, f := range files {
			body := bytes.Clone(f.body)
			body[len(body)/2] ^= 0x01
			check("a byte flipped in "+f.name, with(files, f.name, body), f.name, 0, 0, "")
		}
		// A byte flipped in the compressed archive itself.
		raw := bytes.Clone(archive)
		raw[len(raw)/2] ^= 0x01
		_, err := VerifyArchive(bytes.NewReader(raw), keys)
		if err == nil {
			t.Error("an archive with a byte flipped verifies")
		}

		audited := lines(get(t, files, FileAudit))
		// A line dropped: the entry is missing where it was.
		dropped := append(append([][]byte{}, audited[:6]...), audited[7:]...)
		check("line 7 dropped", with(files, FileAudit, joinLines(dropped)), FileAudit, 7, 7, "is missing (found entry 8)")
		// The last line dropped.
		check("last line dropped", with(files, FileAudit, joinLines(audited[:20])), FileAudit, 0, 0,
			"ends at entry 20, the end head signed entry 21: the segment was cut short")
		// Cut short: the last lines and the end head dropped.
		heads := lines(get(t, files, FileHeads))
		cut := with(with(files, FileAudit, joinLines(audited[:15])), FileHeads, joinLines(heads[:1]))
		check("cut short", cut, FileAudit, 0, 0, "ends at entry 15, the end head signed entry 21: the segment was cut short")
		// Two lines swapped.
		swapped := append([][]byte{}, audited...)
		swapped[3], swapped[4] = swapped[4], swapped[3]
		check("lines 4 and 5 swapped", with(files, FileAudit, joinLines(swapped)), FileAudit, 4, 4, "is missing (found entry 5)")
		// An entry altered, its hash and every later link recomputed: the
		// signed head of entry 12 no longer matches.
		var ent map[string]any
		if err := json.Unmarshal(audited[2], &ent); err != nil {
			t.Fatal(err)
		}
		ent["action"] = "test.rewritten"
		altered, _ := json.Marshal(ent)
		rewritten := append([][]byte{}, audited...)
		rewritten[2] = altered
		check("entry 3 altered", with(files, FileAudit, joinLines(rewritten)), FileAudit, 3, 3, "was altered")
		rewritten = rehash(t, rewritten)
		check("entry 3 altered and the chain rehashed", with(files, FileAudit, joinLines(rewritten)), FileAudit, 12, 12,
			"differs from its signed head")
		// A line replaced by an entry of another customer's chain.
		var other bytes.Buffer
		if err := e.svc.ExportOwn(customerCtx("bob"), tenanttest.Customer(b), lastHour(), &other); err != nil {
			t.Fatal(err)
		}
		foreign := lines(get(t, unpack(t, other.Bytes()), FileAudit))
		replaced := append([][]byte{}, audited...)
		replaced[4] = foreign[4]
		check("line 5 from another chain", with(files, FileAudit, joinLines(replaced)), FileAudit, 5, 5,
			fmt.Sprintf("belongs to chain %q", b))

		// The manifest's window edited: its signature breaks.
		var m Manifest
		if err := json.Unmarshal(get(t, files, FileManifest), &m); err != nil {
			t.Fatal(err)
		}
		m.Window.From = m.Window.From.Add(-24 * time.Hour)
		doc, err := encodeManifest(m)
		if err != nil {
			t.Fatal(err)
		}
		check("window edited", with(files, FileManifest, doc), FileManifest, 0, 0, "signature does not verify")
		// The manifest re-spaced: not its canonical encoding.
		var spaced bytes.Buffer
		if err := json.Indent(&spaced, get(t, files, FileManifest), "", " "); err != nil {
			t.Fatal(err)
		}
		check("manifest re-spaced", with(files, FileManifest, spaced.Bytes()), FileManifest, 0, 0, "canonical")
		// A file left out, and one added.
		var without []file
		for _, f := range files {
			if f.name != FileNotices {
				without = append(without, f)
			}
		}
		check("notices.jsonl left out", without, FileNotices, 0, 0, "missing from the archive")
		check("a file added", append(append([]file{}, files...), file{"extra.jsonl", []byte("{}\n")}), "extra.jsonl", 0, 0,
			"not listed in the manifest")
		// A head from outside the segment, a head with a broken signature.
		var h SignedHead
		if err := json.Unmarshal(heads[0], &h); err != nil {
			t.Fatal(err)
		}
		h.Seq = 30
		moved, _ := json.Marshal(h)
		check("a head beyond the segment", with(files, FileHeads, joinLines(append([][]byte{moved}, heads[1:]...))), FileHeads, 1, 30,
			"outside the segment")
		h.Seq = 11
		resigned, _ := json.Marshal(h)
		check("a head's entry changed", with(files, FileHeads, joinLines(append([][]byte{resigned}, heads[1:]...))), FileHeads, 1, 11,
			"signature does not verify")
		// A notification log row's customer edited.
		check("notices.jsonl edited", with(files, FileNotices, bytes.ReplaceAll(get(t, files, FileNotices), []byte("maintenance"),
			[]byte("maintenancf"))), FileNotices, 0, 0, "SHA-256 differs from the manifest")
	})
}

// rehash recomputes every entry's links and hashes from the first, as a
// forger who can edit the database but not sign would.
func rehash(t *testing.T, ls [][]byte) [][]byte {
	t.Helper()
	out := make([][]byte, len(ls))
	prev := ""
	for i, l := range ls {
		var en audit.Entry
		if err := json.Unmarshal(l, &en); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			en.PrevHash = prev
		}
		en.Hash = audit.Hash(en)
		prev = en.Hash
		out[i], _ = json.Marshal(en)
	}
	return out
}

// TestAnchorsBracketTheWindow: an archive whose manifest (signed, as by a
// faulty controller) starts at a head signed after the window's start, or
// ends at one signed before its end, fails: entries of the window could
// be missing.
func TestAnchorsBracketTheWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t))
	cust := e.customer("Acme")
	now := clock.Now()
	e.plant(cust, 4, now.Add(-50*time.Minute), time.Minute)
	e.signAt(cust, now.Add(-40*time.Minute))
	e.plant(cust, 4, now.Add(-30*time.Minute), time.Minute)
	archive := e.exportOwn(cust, Window{From: now.Add(-35 * time.Minute), To: now})
	files := unpack(t, archive)
	var m Manifest
	if err := json.Unmarshal(get(t, files, FileManifest), &m); err != nil {
		t.Fatal(err)
	}
	if m.Segment.Start.Kind != AnchorHead || m.Segment.Start.Seq != 4 {
		t.Fatalf("segment starts at %+v, want the head of entry 4", m.Segment.Start)
	}
	resign := func(m Manifest) []file {
		msg, err := SignedBytes(m)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := e.keys.Sign(context.Background(), msg)
		if err != nil {
			t.Fatal(err)
		}
		m.Signature = &sig
		doc, err := encodeManifest(m)
		if err != nil {
			t.Fatal(err)
		}
		return with(files, FileManifest, doc)
	}
	if _, err := VerifyArchive(bytes.NewReader(repack(t, resign(m))), e.published()); err != nil {
		t.Fatalf("the manifest signed again does not verify: %v", err)
	}
	early := m
	early.Window.From = now.Add(-45 * time.Minute)
	_, err := VerifyArchive(bytes.NewReader(repack(t, resign(early))), e.published())
	wantErr(t, "window from before the start head", err, FileManifest, 0, 4, "signed after the window's start")
	late := m
	late.Window.To = now.Add(time.Hour)
	_, err = VerifyArchive(bytes.NewReader(repack(t, resign(late))), e.published())
	wantErr(t, "window to after the end head", err, FileManifest, 0, 9, "signed before the window's end")
	shifted := m
	shifted.Segment.Start = Anchor{Kind: AnchorGenesis}
	_, err = VerifyArchive(bytes.NewReader(repack(t, resign(shifted))), e.published())
	wantErr(t, "start moved to genesis without the entries", err, FileAudit, 1, 1, "is missing (found entry 5)")
}
