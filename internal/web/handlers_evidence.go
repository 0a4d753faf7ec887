package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/evidence"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
)

// Audit evidence (ISO/IEC 27017 16.1.7, 18.1.3): a customer reads the
// status of its own chain and exports its records with the chain segment
// that proves them; the security officer reads a customer's chain only
// with a stated purpose, which is recorded in that chain first, checks
// every chain and requests a customer's evidence.

// evidenceCustomerRoutes are the customer listener's.
func (s *Server) evidenceCustomerRoutes() []route {
	return []route{
		{"GET", "/api/v1/audit/status", identity.ActAuditOwn, s.myAuditStatus},
		{"POST", "/api/v1/evidence-exports", identity.ActAuditOwn, s.exportOwnEvidence},
	}
}

// evidenceMgmtRoutes are the management listener's.
func (s *Server) evidenceMgmtRoutes() []route {
	return []route{
		{"GET", "/api/v1/audit", identity.ActAuditRead, s.listAudit},
		{"GET", "/api/v1/audit/chains", identity.ActAuditRead, s.listChains},
		{"GET", "/api/v1/audit/verify", identity.ActAuditRead, s.verifyAudit},
		{"POST", "/api/v1/customers/{customer}/evidence-exports", identity.ActAuditRead, s.exportEvidenceFor},
	}
}

func (s *Server) evidence() (*evidence.Service, error) {
	if s.deps.Evidence == nil {
		return nil, fault.New(fault.Unavailable, "audit evidence is not available on this controller")
	}
	return s.deps.Evidence, nil
}

func (s *Server) myAuditStatus(w http.ResponseWriter, r *http.Request) error {
	ev, err := s.evidence()
	if err != nil {
		return err
	}
	st, err := ev.Status(r.Context(), principal(r).Scope())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// windowInput is a customer's export request: RFC 3339 instants, from
// inclusive, to exclusive.
type windowInput struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// evidenceRequestInput is the security officer's evidence request.
type evidenceRequestInput struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Purpose string `json:"purpose"`
}

// window reads an export window; the evidence service applies its rules
// (from before to, not in the future, at most evidence.MaxWindow).
func (in windowInput) window() (evidence.Window, error) {
	from, err := instant("from", in.From)
	if err != nil {
		return evidence.Window{}, err
	}
	to, err := instant("to", in.To)
	if err != nil {
		return evidence.Window{}, err
	}
	return evidence.Window{From: from, To: to}, nil
}

func instant(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, fault.Field(field, "%s is required", field)
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fault.Field(field, "%s must be an RFC 3339 instant, e.g. 2026-04-01T00:00:00+09:00", field)
	}
	return t.UTC(), nil
}

func (s *Server) exportOwnEvidence(w http.ResponseWriter, r *http.Request) error {
	var in windowInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	win, err := in.window()
	if err != nil {
		return err
	}
	ev, err := s.evidence()
	if err != nil {
		return err
	}
	sc := principal(r).Scope()
	cust, err := sc.Authorize(identity.ActAuditOwn)
	if err != nil {
		return err
	}
	return sendArchive(w, string(cust), win, func(out io.Writer) error {
		return ev.ExportOwn(r.Context(), sc, win, out)
	})
}

func (s *Server) exportEvidenceFor(w http.ResponseWriter, r *http.Request) error {
	op, err := s.pathCustomer(r)
	if err != nil {
		return err
	}
	cust, err := op.Customer()
	if err != nil {
		return err
	}
	var in evidenceRequestInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	win, err := windowInput{From: in.From, To: in.To}.window()
	if err != nil {
		return err
	}
	purpose, err := evidence.CheckPurpose(in.Purpose)
	if err != nil {
		return err
	}
	ev, err := s.evidence()
	if err != nil {
		return err
	}
	return sendArchive(w, string(cust), win, func(out io.Writer) error {
		return ev.ExportFor(r.Context(), cust, win, purpose, out)
	})
}

// archive is an evidence archive built into a temporary file first, so
// that a failure is answered as a fault (or the form with its error)
// rather than as a download cut short.
type archive struct {
	f    *os.File
	size int64
}

func buildArchive(build func(io.Writer) error) (*archive, error) {
	f, err := os.CreateTemp("", "tsunagi-evidence-*"+evidence.ArchiveExt)
	if err != nil {
		return nil, fmt.Errorf("evidence archive: %w", err)
	}
	a := &archive{f: f}
	if err := build(f); err != nil {
		a.Close()
		return nil, err
	}
	if a.size, err = f.Seek(0, io.SeekCurrent); err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("evidence archive: %w", err)
	}
	return a, nil
}

// Close removes the temporary file.
func (a *archive) Close() {
	a.f.Close()
	os.Remove(a.f.Name())
}

// send answers the archive as an attachment named after the customer and
// the window, and removes it.
func (a *archive) send(w http.ResponseWriter, cust string, win evidence.Window) error {
	defer a.Close()
	w.Header().Set("Content-Type", evidence.ArchiveType)
	w.Header().Set("Content-Length", strconv.FormatInt(a.size, 10))
	w.Header().Set("Content-Disposition", `attachment; filename="`+archiveName(cust, win)+`"`)
	w.WriteHeader(http.StatusOK)
	_, err := io.Copy(w, a.f)
	return err
}

// sendArchive builds the archive and answers it.
func sendArchive(w http.ResponseWriter, cust string, win evidence.Window, build func(io.Writer) error) error {
	a, err := buildArchive(build)
	if err != nil {
		return err
	}
	return a.send(w, cust, win)
}

// archiveName is "tsunagi-evidence-<customer>-<first JST day>-<last JST
// day>.tar.gz": to is exclusive, so a window ending at midnight JST ends
// on the day before, and the export ends at the latest now (its window is
// clamped there).
func archiveName(cust string, win evidence.Window) string {
	to := win.To
	if now := time.Now(); now.Before(to) {
		to = now // the export clamps the window to now
	}
	return "tsunagi-evidence-" + cust + "-" + clock.Date(win.From) + "-" + clock.Date(to.Add(-time.Nanosecond)) + evidence.ArchiveExt
}

// listAudit is the security officer's read of one chain: the platform's,
// or, with ?customer= and a stated ?purpose=, that customer's.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	q, err := auditWindow(r, audit.Query{})
	if err != nil {
		return err
	}
	chain, err := s.staffChain(r, r.URL.Query().Get("customer"), r.URL.Query().Get("purpose"))
	if err != nil {
		return err
	}
	items, next, err := s.auditEntries(r, audit.OfChain(chain).Page(q.AfterSeq, q.Limit))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(items, next))
	return nil
}

// staffChain is the chain a staff read names: the platform's when no
// customer is named; a customer's only for a stated purpose, which is
// recorded in that customer's own chain (audit.read) before anything is
// read, so that the customer sees who read its records and why.
func (s *Server) staffChain(r *http.Request, customer, purpose string) (string, error) {
	if customer == "" {
		return audit.Platform, nil
	}
	purpose, err := evidence.CheckPurpose(purpose)
	if err != nil {
		return "", err
	}
	op, err := principal(r).Manage(catalog.CustomerID(customer))
	if err != nil {
		return "", err
	}
	if _, err := s.deps.Catalog.GetCustomer(r.Context(), op); err != nil {
		return "", err
	}
	if err := s.deps.Audit.Record(r.Context(), audit.Event{Action: "audit.read", Target: "customer:" + customer,
		CustomerID: customer, Reason: purpose}); err != nil {
		return "", err
	}
	return audit.ChainOf(customer), nil
}

func (s *Server) listChains(w http.ResponseWriter, r *http.Request) error {
	ev, err := s.evidence()
	if err != nil {
		return err
	}
	cs, err := ev.Chains(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(cs, ""))
	return nil
}

func (s *Server) verifyAudit(w http.ResponseWriter, r *http.Request) error {
	vs, err := s.verdicts(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(vs, ""))
	return nil
}

// verdicts checks every chain; a broken chain is a verdict, not an error.
func (s *Server) verdicts(ctx context.Context) ([]evidence.Verdict, error) {
	ev, err := s.evidence()
	if err != nil {
		return nil, err
	}
	vs, err := ev.VerifyLive(ctx)
	if vs == nil {
		vs = []evidence.Verdict{}
	}
	return vs, err
}
