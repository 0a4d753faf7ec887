package evidence

import (
	"context"
	"errors"
	"io"

	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// errUnbuilt is the frame's placeholder until the export is built (helper ev1).
var errUnbuilt = errors.New("evidence: not built yet")

// ArchiveType and ArchiveExt name an evidence archive (a gzip-compressed tar).
const (
	ArchiveType = "application/gzip"
	ArchiveExt  = ".tar.gz"
)

// ExportOwn writes the archive of the scope's customer's records in win to
// w; the scope must hold audit.own. The export is audited in the
// customer's chain before the head the archive ends at is signed.
func (s *Service) ExportOwn(ctx context.Context, sc tenant.Scope, win Window, w io.Writer) error {
	return errUnbuilt
}

// ExportFor is the security officer's evidence request for customer cust:
// the same archive, with the stated purpose recorded in the customer's
// chain and in the archive's manifest. The caller checked the permission.
func (s *Service) ExportFor(ctx context.Context, cust tenant.CustomerID, win Window, purpose string, w io.Writer) error {
	return errUnbuilt
}

// Report is what VerifyArchive found.
type Report struct {
	Customer string `json:"customer"`
	Window   Window `json:"window"`
	Entries  int64  `json:"entries"`
	Files    int    `json:"files"`
	KeyID    string `json:"key_id"`
}

// VerifyArchive checks an archive offline against keys (the published
// signing keys): it needs no server and no database.
func VerifyArchive(r io.Reader, keys []signing.PublicKey) (Report, error) {
	return Report{}, errUnbuilt
}
