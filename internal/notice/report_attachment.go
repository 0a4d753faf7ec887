package notice

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/text"
)

// MaxAttachment is the largest attachment, in bytes. The web layer stops
// reading a request at this size (plus its other fields); it never reads
// a larger file into memory.
const MaxAttachment = 5 << 20

// Upload is a file as the customer sent it: its name, the type its
// browser or client declared, and its bytes.
type Upload struct {
	Filename     string
	DeclaredType string
	Content      []byte
}

// attachmentKind is one allowed type: the signature its content starts
// with ("" for text: what starts with no other signature), the check its
// whole content must pass, the type it is stored and served as, and the
// file name extensions that may carry it.
type attachmentKind struct {
	magic string
	check func([]byte) error
	serve string
	exts  []string
}

// attachmentKinds is the allow-list. Everything else — HTML, scripts,
// archives, office documents, executables — is refused: the operator's
// staff open these files, and a type that could run is a way into the
// operator's network. Each check reads the whole file, not only its start:
// a file that starts like an allowed type and goes on as another (an image
// signature followed by a script, a page of text followed by a program) is
// refused.
var attachmentKinds = []attachmentKind{
	{"\x89PNG\r\n\x1a\n", checkPNG, "image/png", []string{".png"}},
	{"\xff\xd8\xff", checkJPEG, "image/jpeg", []string{".jpg", ".jpeg"}},
	{"%PDF-", checkPDF, "application/pdf", []string{".pdf"}},
	{"", checkText, "text/plain; charset=utf-8", []string{".txt", ".log"}},
}

// maxImagePixels bounds an image attachment (width × height): the check
// decodes the whole image, and a small compressed file can claim a huge
// one.
const maxImagePixels = 24_000_000

// AttachmentTypes names the allowed types, for the messages and the docs.
const AttachmentTypes = "PNG, JPEG, PDF or plain text (UTF-8)"

// errNotAllowed refuses content that is not one of the allowed types.
var errNotAllowed = fault.Field("attachment", "the attachment's content is not an allowed type (%s)", AttachmentTypes)

// checkImage decodes the configuration and then the whole image, refusing
// an image of more than maxImagePixels before decoding it. It returns the
// reader the whole image was decoded from.
func checkImage(b []byte, config func(io.Reader) (image.Config, error), decode func(io.Reader) (image.Image, error)) (*bytes.Reader, error) {
	c, err := config(bytes.NewReader(b))
	if err != nil || c.Width <= 0 || c.Height <= 0 {
		return nil, errNotAllowed
	}
	if int64(c.Width)*int64(c.Height) > maxImagePixels {
		return nil, fault.Field("attachment", "the image has more than %d pixels", maxImagePixels)
	}
	r := bytes.NewReader(b)
	if _, err := decode(r); err != nil {
		return nil, errNotAllowed
	}
	return r, nil
}

// checkPNG: a whole PNG image, and nothing after its IEND chunk (the
// decoder reads exactly up to it).
func checkPNG(b []byte) error {
	r, err := checkImage(b, png.DecodeConfig, png.Decode)
	if err == nil && r.Len() != 0 {
		err = errNotAllowed
	}
	return err
}

// checkJPEG: a whole JPEG image whose last two bytes are the end-of-image
// marker.
func checkJPEG(b []byte) error {
	_, err := checkImage(b, jpeg.DecodeConfig, jpeg.Decode)
	if err == nil && !bytes.HasSuffix(b, []byte("\xff\xd9")) {
		err = errNotAllowed
	}
	return err
}

// checkPDF: a PDF starts with %PDF- and ends with %%EOF, which PDF allows
// to be followed by white space. The content is not parsed.
func checkPDF(b []byte) error {
	if !bytes.HasSuffix(bytes.TrimRight(b, "\x00\t\n\f\r "), []byte("%%EOF")) {
		return errNotAllowed
	}
	return nil
}

// checkText: valid UTF-8 throughout, no control character but tab, CR and
// LF anywhere (no NUL, no escape sequences), and a start that Go's content
// sniffing (http.DetectContentType, the first 512 bytes) takes for plain
// text, not for HTML, XML or another known type.
func checkText(b []byte) error {
	if !utf8.Valid(b) || http.DetectContentType(b) != "text/plain; charset=utf-8" {
		return errNotAllowed
	}
	for _, c := range string(b) {
		if unicode.IsControl(c) && c != '\t' && c != '\r' && c != '\n' {
			return errNotAllowed
		}
	}
	return nil
}

type checkedUpload struct {
	filename, contentType, sha string
	content                    []byte
}

// checkUpload checks an attachment by its content: the content must be
// one of the allowed types, whole (attachmentKinds), and the name's
// extension and the declared type (unless the client declared none or the
// generic application/octet-stream) must say the same.
func checkUpload(u Upload) (checkedUpload, error) {
	name := filepath.Base(strings.ReplaceAll(u.Filename, `\`, "/"))
	if name == "" || name == "." || name == "/" || utf8.RuneCountInString(name) > 200 || text.SingleLine(name) != "" {
		return checkedUpload{}, fault.Field("attachment", "the attachment needs a file name of one line, at most 200 characters")
	}
	if len(u.Content) == 0 {
		return checkedUpload{}, fault.Field("attachment", "the attachment is empty")
	}
	if len(u.Content) > MaxAttachment {
		return checkedUpload{}, fault.New(fault.TooLarge, "the attachment is larger than 5 MiB")
	}
	i := slices.IndexFunc(attachmentKinds, func(k attachmentKind) bool { return bytes.HasPrefix(u.Content, []byte(k.magic)) })
	k := attachmentKinds[i] // text's empty signature matches any content
	if err := k.check(u.Content); err != nil {
		return checkedUpload{}, err
	}
	if !slices.Contains(k.exts, strings.ToLower(filepath.Ext(name))) {
		return checkedUpload{}, fault.Field("attachment", "the attachment's file name does not match its content (%s)", strings.Join(k.exts, ", "))
	}
	if declared, _, err := mime.ParseMediaType(u.DeclaredType); u.DeclaredType != "" && declared != "application/octet-stream" {
		base, _, _ := mime.ParseMediaType(k.serve)
		if err != nil || declared != base {
			return checkedUpload{}, fault.Field("attachment", "the attachment's declared type does not match its content (%s)", base)
		}
	}
	sum := sha256.Sum256(u.Content)
	return checkedUpload{filename: name, contentType: k.serve, sha: hex.EncodeToString(sum[:]), content: u.Content}, nil
}

// attachmentContext binds a sealed attachment to its row.
func attachmentContext(id string) string { return "report_attachment:" + id }

func insertAttachment(ctx context.Context, tx *store.Tx, report, cust string, seq int64, u checkedUpload, now string) (string, error) {
	id := ids.New("att")
	sealed := tx.Secrets().Seal(base64.StdEncoding.EncodeToString(u.content), attachmentContext(id))
	if _, err := tx.Exec(ctx, `INSERT INTO report_attachments (id, report_id, seq, customer_id, filename, content_type, size, sha256, content, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, report, seq, cust, u.filename, u.contentType, len(u.content), u.sha, sealed, now); err != nil {
		return "", store.Wrap(err)
	}
	return id, nil
}

// readAttachment opens attachment id of report of customer cust; another
// customer's attachment is not found.
func readAttachment(ctx context.Context, q store.Querier, cust, report, id string) (Attachment, []byte, error) {
	if cust == "" {
		return Attachment{}, nil, errNoCustomer
	}
	a, owner, content, err := openAttachment(ctx, q, report, id)
	if err != nil {
		return Attachment{}, nil, err
	}
	if owner != cust {
		return Attachment{}, nil, store.ErrNotFound
	}
	return a, content, nil
}

// openAttachment opens attachment id of report, whoever's it is, and
// returns its owner with it: the one cross-customer read of attachments,
// for readAttachment (which checks the owner) and StaffAttachment.
func openAttachment(ctx context.Context, q store.Querier, report, id string) (Attachment, string, []byte, error) {
	var owner, sealed string
	row := q.QueryRow(ctx, `SELECT id, seq, filename, content_type, size, sha256, created_at, customer_id, content
		FROM report_attachments WHERE id = ? AND report_id = ?`, id, report)
	var a Attachment
	var at string
	if err := store.Scan(row, &a.ID, &a.Seq, &a.Filename, &a.ContentType, &a.Size, &a.SHA256, &at, &owner, &sealed); err != nil {
		return Attachment{}, "", nil, err
	}
	var err error
	if a.CreatedAt, err = clock.Parse(at); err != nil {
		return Attachment{}, "", nil, fmt.Errorf("attachment %s: %w", a.ID, err)
	}
	clear, err := q.Secrets().Open(sealed, attachmentContext(id))
	if err != nil {
		return Attachment{}, "", nil, fault.Wrap(fault.Internal, err, "internal error")
	}
	content, err := base64.StdEncoding.DecodeString(clear)
	if err != nil {
		return Attachment{}, "", nil, fault.Wrap(fault.Internal, err, "internal error")
	}
	return a, owner, content, nil
}

// Attachment returns an attachment of a report of the customer of sc, with
// its content.
func (r *Reports) Attachment(ctx context.Context, sc tenant.Holder, report, id string) (Attachment, []byte, error) {
	cust, err := sc.Authorize(identity.ActReportsFile)
	if err != nil {
		return Attachment{}, nil, err
	}
	return readAttachment(ctx, r.db, string(cust), report, id)
}

// StaffAttachment returns an attachment to the operator's staff (the
// caller holds reports.manage). Staff reading what a customer provided is
// recorded in that customer's audit log, with the reason the report itself
// gives, in the same transaction as the read.
func (r *Reports) StaffAttachment(ctx context.Context, report, id string) (Attachment, []byte, error) {
	var a Attachment
	var content []byte
	err := r.db.InTx(ctx, func(tx *store.Tx) error {
		var owner string
		var err error
		if a, owner, content, err = openAttachment(ctx, tx, report, id); err != nil {
			return err
		}
		var n int64
		if err := store.Scan(tx.QueryRow(ctx, `SELECT number FROM reports WHERE id = ?`, report), &n); err != nil {
			return err
		}
		return r.audit.RecordTx(ctx, tx, audit.Event{Action: "report.attachment.read", Target: "report:" + report,
			CustomerID: owner, Reason: "handling report " + ReportNumber(n),
			Detail: map[string]any{"number": ReportNumber(n), "file": id, "content_type": a.ContentType, "size": a.Size}})
	})
	if err != nil {
		return Attachment{}, nil, err
	}
	return a, content, nil
}
