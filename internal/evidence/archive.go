package evidence

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/signing"
)

// An evidence archive is a gzip-compressed tar of these files, in this
// order, the manifest first so that a reader knows what to expect before
// the rest arrives:
//
//	manifest.json           what the archive holds, signed (Manifest)
//	README.txt              how to verify it, in English and Japanese
//	keys.json               the published signing keys at export time, as
//	                        GET /api/v1/signing-keys serves them ({"items": […]})
//	checkpoint.json         the retention checkpoint the segment starts at,
//	                        only when it starts at one (Checkpoint)
//	heads.jsonl             the chain's signed heads inside the segment,
//	                        one SignedHead per line, by sequence number
//	audit.jsonl             the chain segment: one audit.Entry per line in
//	                        chain order, personal fields opened
//	notices.jsonl           the notices that reached the customer, one
//	                        notice.CustomerNotice (with its timeline) per line
//	notification-log.jsonl  the mails those notices caused to the
//	                        customer's recipients, one notice.Delivery per line
//
// keys.json is a convenience: a verifier trusts the keys it fetched from
// the operator, not the ones the archive brings along.
const (
	FileManifest   = "manifest.json"
	FileReadme     = "README.txt"
	FileKeys       = "keys.json"
	FileCheckpoint = "checkpoint.json"
	FileHeads      = "heads.jsonl"
	FileAudit      = "audit.jsonl"
	FileNotices    = "notices.jsonl"
	FileDeliveries = "notification-log.jsonl"
)

// Format names the archive's layout and version (Manifest.Format).
const Format = "tsunagi-evidence/1"

// Manifest is manifest.json: whose records, for which window, made when
// and at whose request, the chain segment that proves the audit entries
// complete, and every other file with its SHA-256, size and line count.
//
// Signature covers the manifest without this member, encoded as
// SignedBytes does: compact JSON, members in the order below, no HTML
// escaping — what `jq -cj 'del(.signature)' manifest.json` prints. The
// file holds exactly that encoding of the whole manifest (signature
// included, no trailing newline), and a verifier refuses any other
// spelling of it, so that what it checked is what it read.
type Manifest struct {
	Format      string             `json:"format"`
	Customer    string             `json:"customer"`
	Window      Window             `json:"window"`
	CreatedAt   time.Time          `json:"created_at"`
	RequestedBy Requester          `json:"requested_by"`
	Segment     Segment            `json:"segment"`
	Files       []File             `json:"files"`
	Signature   *signing.Signature `json:"signature,omitempty"`
}

// Requester is who asked for the export: the actor's kind ("customer" for
// a customer's own export, "operator" for a security officer's evidence
// request) and account ID, and for staff the purpose they stated.
type Requester struct {
	Kind    string `json:"kind"`
	ID      string `json:"id"`
	Purpose string `json:"purpose,omitempty"`
}

// Segment is the part of the customer's chain in audit.jsonl: the entries
// after Start up to and including End's.
type Segment struct {
	Chain string `json:"chain"`
	Start Anchor `json:"start"`
	End   Anchor `json:"end"`
}

// Kinds of anchor.
const (
	AnchorGenesis    = "genesis"    // the chain's beginning: seq 0, hash ""
	AnchorCheckpoint = "checkpoint" // the retention checkpoint in checkpoint.json
	AnchorHead       = "head"       // a signed head in heads.jsonl
)

// Anchor is where a segment starts or ends: the sequence number and hash of
// the entry before its first (start) or of its last (end), and for a signed
// head when it was signed. An end is always a signed head.
type Anchor struct {
	Kind     string     `json:"kind"`
	Seq      int64      `json:"seq"`
	Hash     string     `json:"hash"`
	SignedAt *time.Time `json:"signed_at,omitempty"`
}

// File is one file of the archive as the manifest lists it: lines counts
// the newline characters (a JSON-lines file has one per record).
type File struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
	Lines  int64  `json:"lines"`
}

// SignedBytes is what a manifest's signature covers: m without its
// signature, canonically encoded.
func SignedBytes(m Manifest) ([]byte, error) {
	m.Signature = nil
	return encodeManifest(m)
}

// encodeManifest is the canonical encoding of m: encoding/json, compact,
// without HTML escaping and without the encoder's trailing newline.
func encodeManifest(m Manifest) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("evidence: manifest: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// ArchiveError names the first place where an archive does not hold: the
// file, the line in it (from 1; 0 for the file as a whole), the audit entry
// concerned (0 for none) and what is wrong.
type ArchiveError struct {
	File    string
	Line    int64
	Seq     int64
	Problem string
}

func (e *ArchiveError) Error() string {
	s := e.File
	if e.Line > 0 {
		s += fmt.Sprintf(" line %d", e.Line)
	}
	if e.Seq > 0 {
		s += fmt.Sprintf(" (entry %d)", e.Seq)
	}
	return s + ": " + e.Problem
}

func archiveErr(file string, line, seq int64, format string, args ...any) error {
	return &ArchiveError{File: file, Line: line, Seq: seq, Problem: fmt.Sprintf(format, args...)}
}

// readme is README.txt.
const readme = `tsunagi evidence archive (` + Format + `)

This archive holds a customer's audit log entries, notices and
notification log for a time window, as the tsunagi controller exported
them. To check it without trusting the operator's database:

  1. Fetch the operator's public signing keys (GET /api/v1/signing-keys,
     no sign-in needed) and keep them in a file, e.g. keys.json.
  2. Run: tsunagi evidence verify ARCHIVE.tar.gz --key keys.json
     It needs no server and no database.

It checks the Ed25519 signature of manifest.json, the SHA-256, size and
line count of every file it lists, and the hash chain of audit.jsonl from
a signed start (a signed head, a signed retention checkpoint, or the
chain's beginning) to a signed head at or after the window's end, so that
no entry of the window can be missing, added or altered. The keys.json
inside this archive only shows that the archive is consistent, not who
made it: use the keys you fetched yourself.

----

tsunagi 証跡アーカイブ（` + Format + `）

このアーカイブには、tsunagi コントローラが出力した、ある期間のお客さまの
監査ログ、お知らせ、通知記録が入っています。運用者のデータベースを信頼
せずに確認するには:

  1. 運用者の公開署名鍵（GET /api/v1/signing-keys、サインイン不要）を
     取得し、ファイル（例: keys.json）に保存します。
  2. 実行: tsunagi evidence verify ARCHIVE.tar.gz --key keys.json
     サーバーもデータベースも不要です。

manifest.json の Ed25519 署名、そこに記載された各ファイルの SHA-256・
サイズ・行数、そして audit.jsonl のハッシュチェーンを、署名された始点
（署名済みヘッド、署名済みの保存期間チェックポイント、またはチェーンの
先頭）から期間の終わり以降に署名されたヘッドまで確認します。期間中の
記録の欠落・追加・改ざんはすべて検出されます。アーカイブ内の keys.json
は整合性を示すだけで、作成者を証明しません。ご自身で取得した鍵を使って
ください。
`
