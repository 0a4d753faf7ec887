package evidence

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/signing"
)

// exportPage is how many audit entries the export reads at a time.
const exportPage = 5000

// writeArchive builds the files of p into a temporary directory — each
// hashed, measured and counted as it is written, since the manifest that
// lists them comes first in the archive — signs the manifest, and writes
// the tar.gz to w. The audit segment is read from the committed chain a
// page at a time, so an archive of any size needs memory for one page.
func (s *Service) writeArchive(ctx context.Context, p exportPlan, keys []signing.PublicKey, w io.Writer) error {
	dir, err := os.MkdirTemp("", "tsunagi-evidence-")
	if err != nil {
		return fmt.Errorf("evidence: export: %w", err)
	}
	defer os.RemoveAll(dir)
	steps := []struct {
		name string
		fill func(io.Writer) error
	}{
		{FileReadme, func(w io.Writer) error { _, err := io.WriteString(w, readme); return err }},
		{FileKeys, func(w io.Writer) error { return newEncoder(w).Encode(map[string]any{"items": keys}) }},
		{FileCheckpoint, func(w io.Writer) error { return newEncoder(w).Encode(p.checkpoint) }},
		{FileHeads, jsonLines(p.heads)},
		{FileAudit, func(w io.Writer) error { return s.writeSegment(ctx, p.manifest.Segment, newEncoder(w)) }},
		{FileNotices, jsonLines(p.notices)},
		{FileDeliveries, jsonLines(p.deliveries)},
	}
	var files []*spool
	defer func() {
		for _, f := range files {
			f.f.Close()
		}
	}()
	for _, st := range steps {
		if st.name == FileCheckpoint && p.checkpoint == nil {
			continue
		}
		f, err := newSpool(dir, st.name)
		if err != nil {
			return err
		}
		files = append(files, f)
		if err := st.fill(f); err != nil {
			return fmt.Errorf("evidence: export: %s: %w", st.name, err)
		}
		if err := f.done(); err != nil {
			return err
		}
	}
	m := p.manifest
	for _, f := range files {
		m.Files = append(m.Files, f.file)
	}
	msg, err := SignedBytes(m)
	if err != nil {
		return err
	}
	sig, err := s.keys.Sign(ctx, msg)
	if err != nil {
		return fmt.Errorf("evidence: export: sign the manifest: %w", err)
	}
	m.Signature = &sig
	doc, err := encodeManifest(m)
	if err != nil {
		return err
	}
	return writeTar(w, m, doc, files)
}

// writeTar writes the manifest and then the spooled files as a tar.gz.
func writeTar(w io.Writer, m Manifest, doc []byte, files []*spool) error {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	put := func(name string, size int64, body io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: m.CreatedAt,
			Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := io.Copy(tw, body)
		return err
	}
	if err := put(FileManifest, int64(len(doc)), bytes.NewReader(doc)); err != nil {
		return fmt.Errorf("evidence: export: %w", err)
	}
	for _, f := range files {
		if _, err := f.f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("evidence: export: %w", err)
		}
		if err := put(f.file.Name, f.file.Bytes, f.f); err != nil {
			return fmt.Errorf("evidence: export: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("evidence: export: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("evidence: export: %w", err)
	}
	return nil
}

// newEncoder writes JSON as the archive holds it: one value per line,
// without HTML escaping.
func newEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

// jsonLines writes items one per line.
func jsonLines[T any](items []T) func(io.Writer) error {
	return func(w io.Writer) error { return encodeEach(newEncoder(w), items) }
}

func encodeEach[T any](enc *json.Encoder, items []T) error {
	for _, it := range items {
		if err := enc.Encode(it); err != nil {
			return err
		}
	}
	return nil
}

// writeSegment writes the entries of seg, personal fields opened, one per
// line. The entries are read from the chain as committed; an entry missing
// from it (retention cut the chain while the export ran) fails the export
// rather than leaving a hole for the verifier to find.
func (s *Service) writeSegment(ctx context.Context, seg Segment, enc *json.Encoder) error {
	after := seg.Start.Seq
	for after < seg.End.Seq {
		page, err := s.log.ListStored(ctx, audit.OfChain(seg.Chain).Page(after, exportPage))
		if err != nil {
			return err
		}
		for len(page) > 0 && page[len(page)-1].Seq > seg.End.Seq {
			page = page[:len(page)-1]
		}
		if len(page) == 0 || page[0].Seq != after+1 || page[len(page)-1].Seq != after+int64(len(page)) {
			return fmt.Errorf("entries %d to %d of chain %s are not all stored", after+1, seg.End.Seq, seg.Chain)
		}
		if err := audit.OpenAll(ctx, s.db, page); err != nil {
			return err
		}
		if err := encodeEach(enc, page); err != nil {
			return err
		}
		after = page[len(page)-1].Seq
	}
	return nil
}

// spool is one file of the archive being built: written to a temporary
// file and, on the way, hashed, measured and its lines counted.
type spool struct {
	f    *os.File
	buf  *bufio.Writer
	sum  hash.Hash
	file File
}

func newSpool(dir, name string) (*spool, error) {
	f, err := os.CreateTemp(dir, "file-")
	if err != nil {
		return nil, fmt.Errorf("evidence: export: %w", err)
	}
	return &spool{f: f, buf: bufio.NewWriterSize(f, 1<<16), sum: sha256.New(), file: File{Name: name}}, nil
}

func (s *spool) Write(p []byte) (int, error) {
	n, err := s.buf.Write(p)
	s.sum.Write(p[:n])
	s.file.Bytes += int64(n)
	s.file.Lines += int64(bytes.Count(p[:n], []byte{'\n'}))
	return n, err
}

// done flushes the file and fixes its digest.
func (s *spool) done() error {
	if err := s.buf.Flush(); err != nil {
		return fmt.Errorf("evidence: export: %s: %w", s.file.Name, err)
	}
	s.file.SHA256 = hex.EncodeToString(s.sum.Sum(nil))
	return nil
}
