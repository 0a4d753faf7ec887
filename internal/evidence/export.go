package evidence

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/notice"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/text"
)

// ArchiveType and ArchiveExt name an evidence archive (a gzip-compressed tar).
const (
	ArchiveType = "application/gzip"
	ArchiveExt  = ".tar.gz"
)

// MaxWindow bounds an export's window: a year of records and a margin,
// enough for the audit log's default retention.
const MaxWindow = 400 * 24 * time.Hour

// ExportOwn writes the archive of the scope's customer's records in win to
// w; the scope must hold audit.own. The export is audited in the
// customer's chain before the head the archive ends at is signed.
func (s *Service) ExportOwn(ctx context.Context, sc tenant.Scope, win Window, w io.Writer) error {
	cust, err := sc.Authorize(tenant.ActAuditOwn)
	if err != nil {
		return err
	}
	return s.export(ctx, cust, win, "", w)
}

// CheckPurpose trims a purpose stated by staff and refuses one that is not
// a reason (text.Reason: one line of 1 to 500 characters), in words the
// panel translates.
func CheckPurpose(p string) (string, error) {
	p = strings.TrimSpace(p)
	switch msg := text.Reason(p); {
	case msg == "":
		return p, nil
	case p == "" || utf8.RuneCountInString(p) > text.MaxReason:
		return "", fault.Field("purpose", "purpose must be given, at most %d characters", text.MaxReason)
	default:
		return "", fault.Field("purpose", "purpose must be one line of text without control characters")
	}
}

// ExportFor is the security officer's evidence request for customer cust:
// the same archive, with the stated purpose recorded in the customer's
// chain and in the archive's manifest. The caller checked the permission.
func (s *Service) ExportFor(ctx context.Context, cust tenant.CustomerID, win Window, purpose string, w io.Writer) error {
	purpose, err := CheckPurpose(purpose)
	if err != nil {
		return err
	}
	// A customer that was purged is still there (its row and its chain
	// are kept records): its evidence can be requested.
	var n int
	if err := store.Scan(s.db.QueryRow(ctx, `SELECT COUNT(*) FROM customers WHERE id = ?`, string(cust)), &n); err != nil {
		return fmt.Errorf("evidence: export: %w", err)
	}
	if cust == "" || n == 0 {
		return fault.New(fault.NotFound, "customer not found")
	}
	return s.export(ctx, cust, win, purpose, w)
}

// checkWindow applies the window rules at now: From before To, To clamped
// to now, From not in the future, at most MaxWindow long. Instants keep
// the store's precision, microseconds, so that they compare with stored
// ones exactly.
func checkWindow(win Window, now time.Time) (Window, error) {
	win = Window{From: win.From.UTC().Truncate(time.Microsecond), To: win.To.UTC().Truncate(time.Microsecond)}
	if win.From.After(now) {
		return Window{}, fault.Field("from", "from must not be in the future")
	}
	if win.To.After(now) {
		win.To = now
	}
	if !win.From.Before(win.To) {
		return Window{}, fault.Field("from", "from must be before to")
	}
	if win.To.Sub(win.From) > MaxWindow {
		return Window{}, fault.Field("from", "a window is at most %d days", int(MaxWindow/(24*time.Hour)))
	}
	return win, nil
}

// exportPlan is what an export decided inside its transaction: the
// manifest without its files, the checkpoint the segment starts at (nil
// for another start), the signed heads inside the segment, and the
// notices and notification log it counted in its audit entry.
type exportPlan struct {
	manifest   Manifest
	checkpoint *Checkpoint
	heads      []SignedHead
	notices    []notice.CustomerNotice
	deliveries []notice.Delivery
}

// export records the export in the customer's chain and signs the chain's
// head in one transaction — so that when the window reaches now, the
// archive's own export record is inside the segment it proves — then
// builds the archive from the committed chain and writes it to w. Nothing
// is written to w before the archive is complete, so a caller that fails
// is left with no partial archive.
func (s *Service) export(ctx context.Context, cust tenant.CustomerID, win Window, purpose string, w io.Writer) error {
	win, err := checkWindow(win, clock.Now())
	if err != nil {
		return err
	}
	chain := audit.ChainOf(string(cust))
	actor := audit.ActorFrom(ctx)
	p := exportPlan{manifest: Manifest{Format: Format, Customer: string(cust),
		RequestedBy: Requester{Kind: actor.Kind, ID: actor.ID, Purpose: purpose}}}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if p.notices, err = notice.EvidenceNotices(ctx, tx, cust, win.From, win.To); err != nil {
			return err
		}
		if p.deliveries, err = notice.EvidenceDeliveries(ctx, tx, cust, win.From, win.To); err != nil {
			return err
		}
		if err := s.log.RecordTx(ctx, tx, audit.Event{Action: "evidence.export", Target: "customer:" + string(cust),
			CustomerID: string(cust), Reason: purpose, Detail: map[string]any{
				"from": win.From.Format(time.RFC3339Nano), "to": win.To.Format(time.RFC3339Nano),
				"notices": len(p.notices), "deliveries": len(p.deliveries)}}); err != nil {
			return err
		}
		head, err := s.SignHeadTx(ctx, tx, chain, WhyExport)
		if err != nil {
			return err
		}
		// The window cannot end after the head that closes it was signed;
		// it could only if the wall clock stepped back since it was read.
		if win.To.After(head.SignedAt) {
			win.To = head.SignedAt
		}
		p.manifest.Window, p.manifest.CreatedAt = win, head.SignedAt
		if p.manifest.Segment, p.checkpoint, err = segmentOf(ctx, tx, chain, win, head); err != nil {
			return err
		}
		p.heads, err = SignedHeads(ctx, tx, chain, p.manifest.Segment.Start.Seq, p.manifest.Segment.End.Seq)
		return err
	})
	if err != nil {
		return err
	}
	keys, err := s.keys.PublicKeys(ctx)
	if err != nil {
		return err
	}
	return s.writeArchive(ctx, p, keys, w)
}

// segmentOf chooses the chain segment that proves every entry appended in
// win is in the archive. An entry appended before a head was signed is at
// or below the head's sequence number, and one appended after it is above.
// So the segment starts at the newest of: the last head signed at or
// before win.From, the chain's retention checkpoint, or — with neither —
// the chain's beginning; it ends at the first head signed at or after
// win.To (at least as far as the start), which the export's own head is
// when no older one is.
func segmentOf(ctx context.Context, tx *store.Tx, chain string, win Window, exported SignedHead) (Segment, *Checkpoint, error) {
	seg := Segment{Chain: chain, Start: Anchor{Kind: AnchorGenesis}}
	cp, err := storedCheckpoint(ctx, tx, chain)
	if err != nil {
		return Segment{}, nil, err
	}
	start, found, err := oneHead(ctx, tx, `chain = ? AND signed_at <= ? ORDER BY seq DESC, signed_at DESC`,
		chain, clock.Store(win.From))
	if err != nil {
		return Segment{}, nil, err
	}
	switch {
	case cp != nil && (!found || cp.Seq >= start.Seq):
		seg.Start = Anchor{Kind: AnchorCheckpoint, Seq: cp.Seq, Hash: cp.Hash}
	case found:
		seg.Start = headAnchor(start)
	}
	if seg.Start.Kind != AnchorCheckpoint {
		cp = nil
	}
	end, found, err := oneHead(ctx, tx, `chain = ? AND signed_at >= ? AND seq >= ? ORDER BY signed_at, seq`,
		chain, clock.Store(win.To), seg.Start.Seq)
	if err != nil {
		return Segment{}, nil, err
	}
	if !found {
		end = exported
	}
	seg.End = headAnchor(end)
	return seg, cp, nil
}

func headAnchor(h SignedHead) Anchor {
	at := h.SignedAt
	return Anchor{Kind: AnchorHead, Seq: h.Seq, Hash: h.Hash, SignedAt: &at}
}

// oneHead reads the first signed head matching where (a condition and an
// order over audit_signed_heads).
func oneHead(ctx context.Context, q store.Querier, where string, args ...any) (SignedHead, bool, error) {
	var h SignedHead
	var at string
	err := store.Scan(q.QueryRow(ctx, `SELECT chain, seq, hash, signed_at, why, key_id, sig FROM audit_signed_heads
		WHERE `+where+` LIMIT 1`, args...), &h.Chain, &h.Seq, &h.Hash, &at, &h.Why, &h.Signature.KeyID, &h.Signature.Sig)
	if errors.Is(err, store.ErrNotFound) {
		return SignedHead{}, false, nil
	}
	if err != nil {
		return SignedHead{}, false, fmt.Errorf("evidence: signed head: %w", err)
	}
	h.Signature.Alg = signing.Alg
	if h.SignedAt, err = clock.Parse(at); err != nil {
		return SignedHead{}, false, fmt.Errorf("evidence: signed head: %w", err)
	}
	return h, true, nil
}
