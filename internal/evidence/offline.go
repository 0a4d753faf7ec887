package evidence

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/notice"
	"github.com/tsunagi-net/tsunagi/internal/signing"
)

// Report is what VerifyArchive found in an archive that holds: the
// manifest's customer, window, time, requester and segment, and what was
// checked — the audit entries of the segment, the files of the archive
// (the manifest included), the key that signed the manifest, the signed
// heads, and the notices and notification log rows.
type Report struct {
	Customer string `json:"customer"`
	Window   Window `json:"window"`
	Entries  int64  `json:"entries"`
	Files    int    `json:"files"`
	KeyID    string `json:"key_id"`

	CreatedAt   time.Time `json:"created_at"`
	RequestedBy Requester `json:"requested_by"`
	Segment     Segment   `json:"segment"`
	SignedHeads int       `json:"signed_heads"`
	Notices     int       `json:"notices"`
	Deliveries  int       `json:"deliveries"`
	// Removed is the retention checkpoint the segment starts at, when it
	// starts at one: the chain's entries up to its Seq (the last of them
	// made at its EntryAt) were removed by retention and are not in the
	// archive, even where the window reaches back before EntryAt.
	Removed *Checkpoint `json:"removed,omitempty"`
}

// maxArchiveBytes bounds what VerifyArchive reads: the archive is held in
// memory, and a year of a busy customer is far below this.
const maxArchiveBytes = 4 << 30

// VerifyArchive checks an archive offline against keys (the published
// signing keys): it needs no server and no database. A key with an empty
// ID (one given as a bare public key) checks a signature of any key ID.
//
// It checks, in this order, and stops at the first problem, returned as
// an *ArchiveError naming the file, line and audit entry: the manifest's
// form and signature; that the archive holds exactly the files the
// manifest lists; every signed head of heads.jsonl (of the chain, inside
// the segment, its signature); the checkpoint the segment starts at, if
// any; the audit segment with audit.Walker from its start — each entry of
// the chain, the next number, linked to the previous hash, hashing to its
// own, and equal to every signed head of its number — to the end head,
// which it must reach; that the start head was signed at or before the
// window's start and the end head at or after its end; every file's
// SHA-256, size and line count; and that every notice and notification
// log row reads as one and is the customer's.
func VerifyArchive(r io.Reader, keys []signing.PublicKey) (Report, error) {
	a, err := readArchive(r)
	if err != nil {
		return Report{}, err
	}
	m, err := a.manifest(keys)
	if err != nil {
		return Report{}, err
	}
	if err := a.fileSet(m); err != nil {
		return Report{}, err
	}
	heads, err := a.heads(m, keys)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Customer: m.Customer, Window: m.Window, Files: len(a.names), KeyID: m.Signature.KeyID,
		CreatedAt: m.CreatedAt, RequestedBy: m.RequestedBy, Segment: m.Segment}
	for _, hs := range heads {
		rep.SignedHeads += len(hs)
	}
	if m.Segment.Start.Kind == AnchorCheckpoint {
		if rep.Removed, err = a.checkpoint(m, keys); err != nil {
			return Report{}, err
		}
	}
	if rep.Entries, err = a.walk(m, heads); err != nil {
		return Report{}, err
	}
	if err := anchors(m, heads); err != nil {
		return Report{}, err
	}
	if err := a.digests(m); err != nil {
		return Report{}, err
	}
	if rep.Notices, rep.Deliveries, err = a.records(m); err != nil {
		return Report{}, err
	}
	return rep, nil
}

// archive is an archive's files as read, in their order.
type archive struct {
	names []string
	files map[string][]byte
}

// readArchive reads every file of a tar.gz into memory. It reads the
// compressed stream to its end, so that gzip checks its checksum.
func readArchive(r io.Reader) (*archive, error) {
	bad := func(err error) error {
		return archiveErr("archive", 0, 0, "not a readable gzip-compressed tar: %v", err)
	}
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, bad(err)
	}
	a := &archive{files: map[string][]byte{}}
	var total int64
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, bad(err)
		}
		_, dup := a.files[h.Name]
		switch {
		case h.Typeflag != tar.TypeReg:
			return nil, archiveErr(h.Name, 0, 0, "is not a regular file")
		case dup:
			return nil, archiveErr(h.Name, 0, 0, "is in the archive twice")
		case total+h.Size > maxArchiveBytes:
			return nil, archiveErr(h.Name, 0, 0, "the archive is larger than %d bytes", int64(maxArchiveBytes))
		}
		total += h.Size
		b := make([]byte, h.Size)
		if _, err := io.ReadFull(tr, b); err != nil {
			return nil, bad(err)
		}
		a.names = append(a.names, h.Name)
		a.files[h.Name] = b
	}
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return nil, bad(err)
	}
	return a, nil
}

// manifest reads manifest.json and checks its form and signature, and the
// facts the rest of the checks rely on.
func (a *archive) manifest(keys []signing.PublicKey) (Manifest, error) {
	doc, ok := a.files[FileManifest]
	if !ok {
		return Manifest{}, archiveErr(FileManifest, 0, 0, "missing: this is not an evidence archive")
	}
	var m Manifest
	if err := strictDecode(doc, &m); err != nil {
		return Manifest{}, archiveErr(FileManifest, 0, 0, "not a manifest: %v", err)
	}
	if m.Format != Format {
		return Manifest{}, archiveErr(FileManifest, 0, 0, "format %q is not %s", m.Format, Format)
	}
	if m.Signature == nil {
		return Manifest{}, archiveErr(FileManifest, 0, 0, "not signed")
	}
	again, err := encodeManifest(m)
	if err != nil {
		return Manifest{}, err
	}
	if !bytes.Equal(again, doc) {
		return Manifest{}, archiveErr(FileManifest, 0, 0, "not in its canonical encoding")
	}
	msg, err := SignedBytes(m)
	if err != nil {
		return Manifest{}, err
	}
	if problem := checkSig(keys, msg, *m.Signature); problem != "" {
		return Manifest{}, archiveErr(FileManifest, 0, 0, "%s", problem)
	}
	start, end := m.Segment.Start, m.Segment.End
	switch {
	case m.Customer == "" || m.Customer == audit.Platform:
		return Manifest{}, archiveErr(FileManifest, 0, 0, "names no customer")
	case m.Segment.Chain != audit.ChainOf(m.Customer):
		return Manifest{}, archiveErr(FileManifest, 0, 0, "the segment is of chain %q, not of customer %s", m.Segment.Chain, m.Customer)
	case !m.Window.From.Before(m.Window.To):
		return Manifest{}, archiveErr(FileManifest, 0, 0, "the window ends before it starts")
	case !slices.Contains([]string{AnchorGenesis, AnchorCheckpoint, AnchorHead}, start.Kind):
		return Manifest{}, archiveErr(FileManifest, 0, 0, "the segment starts at %q, which is no kind of start", start.Kind)
	case start.Kind == AnchorGenesis && (start.Seq != 0 || start.Hash != ""):
		return Manifest{}, archiveErr(FileManifest, 0, 0, "the segment starts at the chain's beginning, but not at entry 0")
	case start.Kind == AnchorHead && start.SignedAt == nil, end.Kind != AnchorHead || end.SignedAt == nil:
		return Manifest{}, archiveErr(FileManifest, 0, 0, "the segment does not start or end at a signed head as it says")
	case end.Seq < start.Seq:
		return Manifest{}, archiveErr(FileManifest, 0, 0, "the segment ends (entry %d) before it starts (entry %d)", end.Seq, start.Seq)
	}
	return m, nil
}

// required are the files every archive holds besides the manifest.
var required = []string{FileReadme, FileKeys, FileHeads, FileAudit, FileNotices, FileDeliveries}

// fileSet checks that the archive holds exactly the files the manifest
// lists, and that the manifest lists those an archive must hold.
func (a *archive) fileSet(m Manifest) error {
	listed := map[string]bool{}
	for _, f := range m.Files {
		if listed[f.Name] || f.Name == FileManifest {
			return archiveErr(FileManifest, 0, 0, "lists %s twice", f.Name)
		}
		listed[f.Name] = true
		if _, ok := a.files[f.Name]; !ok {
			return archiveErr(f.Name, 0, 0, "missing from the archive")
		}
	}
	for _, name := range a.names {
		if name != FileManifest && !listed[name] {
			return archiveErr(name, 0, 0, "not listed in the manifest")
		}
	}
	want := required
	if m.Segment.Start.Kind == AnchorCheckpoint {
		want = append(slices.Clone(required), FileCheckpoint)
	}
	for _, name := range want {
		if !listed[name] {
			return archiveErr(FileManifest, 0, 0, "lists no %s", name)
		}
	}
	if listed[FileCheckpoint] && m.Segment.Start.Kind != AnchorCheckpoint {
		return archiveErr(FileCheckpoint, 0, 0, "the segment does not start at a checkpoint")
	}
	return nil
}

// lineHead is a signed head of heads.jsonl and its line.
type lineHead struct {
	SignedHead
	line int64
}

// heads reads heads.jsonl: every head must be of the chain, inside the
// segment, and signed by a trusted key. It returns them by sequence number.
func (a *archive) heads(m Manifest, keys []signing.PublicKey) (map[int64][]lineHead, error) {
	out := map[int64][]lineHead{}
	seg := m.Segment
	err := eachLine(a.files[FileHeads], func(n int64, line []byte) error {
		var h SignedHead
		if err := strictDecode(line, &h); err != nil {
			return archiveErr(FileHeads, n, 0, "not a signed head: %v", err)
		}
		switch {
		case h.Chain != seg.Chain:
			return archiveErr(FileHeads, n, h.Seq, "is a head of chain %q", h.Chain)
		case h.Seq < seg.Start.Seq || h.Seq > seg.End.Seq:
			return archiveErr(FileHeads, n, h.Seq, "is outside the segment (entries %d to %d)", seg.Start.Seq, seg.End.Seq)
		}
		if problem := checkSig(keys, h.Message(), h.Signature); problem != "" {
			return archiveErr(FileHeads, n, h.Seq, "%s", problem)
		}
		out[h.Seq] = append(out[h.Seq], lineHead{h, n})
		return nil
	})
	return out, err
}

// checkpoint reads checkpoint.json: the checkpoint the segment starts at,
// signed by a trusted key.
func (a *archive) checkpoint(m Manifest, keys []signing.PublicKey) (*Checkpoint, error) {
	var c Checkpoint
	if err := strictDecode(a.files[FileCheckpoint], &c); err != nil {
		return nil, archiveErr(FileCheckpoint, 0, 0, "not a checkpoint: %v", err)
	}
	start := m.Segment.Start
	if c.Chain != m.Segment.Chain || c.Seq != start.Seq || c.Hash != start.Hash {
		return nil, archiveErr(FileCheckpoint, 0, c.Seq, "is not the checkpoint the segment starts at (entry %d)", start.Seq)
	}
	if problem := checkSig(keys, c.Message(), c.Signature); problem != "" {
		return nil, archiveErr(FileCheckpoint, 0, c.Seq, "%s", problem)
	}
	return &c, nil
}

// walk checks audit.jsonl from the segment's start to its end and returns
// the number of entries.
func (a *archive) walk(m Manifest, heads map[int64][]lineHead) (int64, error) {
	seg := m.Segment
	for _, h := range heads[seg.Start.Seq] {
		if h.Hash != seg.Start.Hash {
			return 0, archiveErr(FileHeads, h.line, h.Seq, "differs from the segment's start")
		}
	}
	w := &audit.Walker{Chain: seg.Chain, Seq: seg.Start.Seq, Hash: seg.Start.Hash}
	var last int64
	err := eachLine(a.files[FileAudit], func(n int64, line []byte) error {
		last = n
		var e audit.Entry
		if err := strictDecode(line, &e); err != nil {
			return archiveErr(FileAudit, n, 0, "not an audit entry: %v", err)
		}
		if e.Seq > seg.End.Seq {
			return archiveErr(FileAudit, n, e.Seq, "is beyond the end head (entry %d)", seg.End.Seq)
		}
		if err := w.Next(e); err != nil {
			var ce *audit.ChainError
			if errors.As(err, &ce) {
				return archiveErr(FileAudit, n, ce.Seq, "%s", ce.Problem)
			}
			return archiveErr(FileAudit, n, e.Seq, "%v", err)
		}
		for _, h := range heads[e.Seq] {
			if h.Hash != e.Hash {
				return archiveErr(FileAudit, n, e.Seq, "differs from its signed head (heads.jsonl line %d)", h.line)
			}
		}
		return nil
	})
	if err != nil {
		return w.N, err
	}
	if w.Seq < seg.End.Seq {
		return w.N, archiveErr(FileAudit, 0, 0, "ends at entry %d, the end head signed entry %d: the segment was cut short",
			w.Seq, seg.End.Seq)
	}
	if w.Hash != seg.End.Hash {
		return w.N, archiveErr(FileAudit, last, w.Seq, "differs from the end head")
	}
	return w.N, nil
}

// anchors checks that the signed heads the segment starts and ends at are
// in heads.jsonl, and that they bracket the window: the start signed at or
// before its start, the end at or after its end. Every entry appended in
// the window is then inside the segment.
func anchors(m Manifest, heads map[int64][]lineHead) error {
	find := func(a Anchor) bool {
		for _, h := range heads[a.Seq] {
			if h.Hash == a.Hash && h.SignedAt.Equal(*a.SignedAt) {
				return true
			}
		}
		return false
	}
	start, end := m.Segment.Start, m.Segment.End
	if start.Kind == AnchorHead {
		if !find(start) {
			return archiveErr(FileHeads, 0, start.Seq, "the head the segment starts at is missing")
		}
		if start.SignedAt.After(m.Window.From) {
			return archiveErr(FileManifest, 0, start.Seq,
				"the segment starts at a head signed after the window's start: entries of the window may be missing before it")
		}
	}
	if !find(end) {
		return archiveErr(FileHeads, 0, end.Seq, "the head the segment ends at is missing")
	}
	if end.SignedAt.Before(m.Window.To) {
		return archiveErr(FileManifest, 0, end.Seq,
			"the segment ends at a head signed before the window's end: entries of the window may be missing after it")
	}
	return nil
}

// digests checks every listed file's SHA-256, size and line count.
func (a *archive) digests(m Manifest) error {
	for _, f := range m.Files {
		b := a.files[f.Name]
		sum := sha256.Sum256(b)
		switch {
		case hex.EncodeToString(sum[:]) != f.SHA256:
			return archiveErr(f.Name, 0, 0, "SHA-256 differs from the manifest")
		case int64(len(b)) != f.Bytes:
			return archiveErr(f.Name, 0, 0, "has %d bytes, the manifest says %d", len(b), f.Bytes)
		case int64(bytes.Count(b, []byte{'\n'})) != f.Lines:
			return archiveErr(f.Name, 0, 0, "has %d lines, the manifest says %d", bytes.Count(b, []byte{'\n'}), f.Lines)
		}
	}
	return nil
}

// records checks that notices.jsonl and notification-log.jsonl hold one
// record per line, the log's rows all the customer's, and counts them.
func (a *archive) records(m Manifest) (int, int, error) {
	var notices, deliveries int
	err := eachLine(a.files[FileNotices], func(n int64, line []byte) error {
		var c notice.CustomerNotice
		if err := strictDecode(line, &c); err != nil {
			return archiveErr(FileNotices, n, 0, "not a notice: %v", err)
		}
		notices++
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	err = eachLine(a.files[FileDeliveries], func(n int64, line []byte) error {
		var d notice.Delivery
		if err := strictDecode(line, &d); err != nil {
			return archiveErr(FileDeliveries, n, 0, "not a notification log row: %v", err)
		}
		if d.CustomerID != m.Customer {
			return archiveErr(FileDeliveries, n, 0, "is of customer %q", d.CustomerID)
		}
		deliveries++
		return nil
	})
	return notices, deliveries, err
}

// eachLine calls fn with every line of b (numbered from 1) without its
// newline; text after the last newline is a line too.
func eachLine(b []byte, fn func(n int64, line []byte) error) error {
	var n int64
	for len(b) > 0 {
		n++
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if err := fn(n, line); err != nil {
			return err
		}
	}
	return nil
}

// strictDecode reads exactly one JSON value of v's type from b: no unknown
// member, nothing after it.
func strictDecode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one value")
	}
	return nil
}

// checkSig checks sig over msg against the trusted keys, and says what is
// wrong ("" when it verifies). A key without an ID stands for any ID.
func checkSig(keys []signing.PublicKey, msg []byte, sig signing.Signature) string {
	var bare []signing.PublicKey
	for _, k := range keys {
		if k.ID == "" {
			k.ID = sig.KeyID
			bare = append(bare, k)
		}
	}
	err := signing.Verify(keys, msg, sig)
	if errors.Is(err, signing.ErrUnknownKey) && len(bare) > 0 {
		err = signing.ErrBadSig
		for _, k := range bare {
			if signing.Verify([]signing.PublicKey{k}, msg, sig) == nil {
				return ""
			}
		}
	}
	switch {
	case err == nil:
		return ""
	case errors.Is(err, signing.ErrUnknownKey):
		return fmt.Sprintf("signed with key %q, which is not among the trusted keys", sig.KeyID)
	default:
		return "signature does not verify"
	}
}

// ArchiveKeys returns the keys an archive brings along in keys.json. They
// show that the archive is consistent, not who made it: a verifier that
// uses them instead of the keys it fetched from the operator says so.
func ArchiveKeys(r io.Reader) ([]signing.PublicKey, error) {
	a, err := readArchive(r)
	if err != nil {
		return nil, err
	}
	b, ok := a.files[FileKeys]
	if !ok {
		return nil, archiveErr(FileKeys, 0, 0, "missing from the archive")
	}
	keys, err := ParseKeys(b)
	if err != nil {
		return nil, archiveErr(FileKeys, 0, 0, "%v", err)
	}
	return keys, nil
}

// ParseKeys reads trusted keys as a person may hold them: the JSON that
// GET /api/v1/signing-keys serves ({"items": […]}), the bare list of its
// items, or one Ed25519 public key in standard base64 (which stands for any
// key ID).
func ParseKeys(b []byte) ([]signing.PublicKey, error) {
	s := strings.TrimSpace(string(b))
	if strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[") {
		var keys []signing.PublicKey
		var env struct {
			Items []signing.PublicKey `json:"items"`
		}
		if err := json.Unmarshal([]byte(s), &env); err == nil && env.Items != nil {
			keys = env.Items
		} else if err := json.Unmarshal([]byte(s), &keys); err != nil {
			return nil, errors.New("not the JSON of GET /api/v1/signing-keys")
		}
		if len(keys) == 0 {
			return nil, errors.New("no keys in it")
		}
		return keys, nil
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, errors.New("neither the JSON of GET /api/v1/signing-keys nor a base64 Ed25519 public key")
	}
	return []signing.PublicKey{{Algorithm: signing.Alg, PublicKey: s}}, nil
}
