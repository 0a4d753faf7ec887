package web

import (
	"io"
	"net/http"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/evidence"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
)

// The panel's audit evidence: on the customer's /audit page the chain's
// status and the export form (evidencePanel, ownEvidenceForm); in the
// console the list of chains with their verdicts and the security
// officer's evidence request.

// evidenceCustomerPages are the customer listener's.
func (s *Server) evidenceCustomerPages() []pageRoute {
	return []pageRoute{
		{"POST", "/audit/export", identity.ActAuditOwn, []string{"POST /api/v1/evidence-exports"}, s.ownEvidenceForm},
	}
}

// evidenceOpPages are the management listener's.
func (s *Server) evidenceOpPages() []pageRoute {
	return []pageRoute{
		{"GET", "/audit/chains", identity.ActAuditRead, []string{"GET /api/v1/audit/chains", "GET /api/v1/audit/verify"}, s.opcChains},
		{"GET", "/evidence", identity.ActAuditRead, nil, s.opcEvidencePage},
		{"POST", "/evidence", identity.ActAuditRead, []string{"POST /api/v1/customers/{customer}/evidence-exports"}, s.opcEvidenceForm},
	}
}

// evidencePanel is the top of the customer's audit page: the chain's status
// and the export form's default window (the last 30 days, JST).
type evidencePanel struct {
	Status   evidence.ChainStatus
	From, To string
}

func (s *Server) evidencePanel(r *http.Request) (evidencePanel, error) {
	ev, err := s.evidence()
	if err != nil {
		return evidencePanel{}, err
	}
	st, err := ev.Status(r.Context(), principal(r).Scope())
	if err != nil {
		return evidencePanel{}, err
	}
	now := time.Now()
	return evidencePanel{Status: st, From: clock.Date(now.AddDate(0, 0, -30)), To: clock.Date(now)}, nil
}

// dateWindow reads the form's JST dates, to inclusive, as a window whose
// end is the midnight after to (the evidence service applies the window's
// rules).
func dateWindow(from, to string) (evidence.Window, error) {
	f, err := formDate("from", from)
	if err != nil {
		return evidence.Window{}, err
	}
	t, err := formDate("to", to)
	if err != nil {
		return evidence.Window{}, err
	}
	return evidence.Window{From: f.UTC(), To: t.AddDate(0, 0, 1).UTC()}, nil
}

func formDate(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, fault.Field(field, "%s is required", field)
	}
	d, err := clock.ParseDate(v)
	if err != nil {
		return time.Time{}, fault.Field(field, "%s must be a date YYYY-MM-DD", field)
	}
	return d, nil
}

// ownEvidenceForm answers the export as a download, or the audit page with
// the form's error.
func (s *Server) ownEvidenceForm(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	win, err := dateWindow(r.PostForm.Get("from"), r.PostForm.Get("to"))
	var a *archive
	if err == nil {
		a, err = s.ownArchive(r, win)
	}
	if err != nil {
		d, derr := s.ownAuditData(r)
		if derr != nil {
			return derr
		}
		return s.renderRefused(w, r, "acct-audit", d, err)
	}
	cust, err := principal(r).Scope().Customer()
	if err != nil {
		a.Close()
		return err
	}
	return a.send(w, string(cust), win)
}

func (s *Server) ownArchive(r *http.Request, win evidence.Window) (*archive, error) {
	ev, err := s.evidence()
	if err != nil {
		return nil, err
	}
	return buildArchive(func(out io.Writer) error {
		return ev.ExportOwn(r.Context(), principal(r).Scope(), win, out)
	})
}

// opcChainsData is every chain's head, its last signed head and a fresh
// verdict.
type opcChainsData struct {
	Chains []opcChain
	Broken int
}

type opcChain struct {
	evidence.ChainHead
	Verdict *evidence.Verdict // nil for a chain the verification did not reach
}

func (s *Server) opcChains(w http.ResponseWriter, r *http.Request) error {
	ev, err := s.evidence()
	if err != nil {
		return err
	}
	heads, err := ev.Chains(r.Context())
	if err != nil {
		return err
	}
	vs, err := s.verdicts(r.Context())
	if err != nil {
		return err
	}
	byChain := map[string]*evidence.Verdict{}
	var d opcChainsData
	for i := range vs {
		byChain[vs[i].Chain] = &vs[i]
		if !vs[i].Intact {
			d.Broken++
		}
	}
	for _, h := range heads {
		d.Chains = append(d.Chains, opcChain{ChainHead: h, Verdict: byChain[h.Chain]})
	}
	return s.render(w, r, "evidence-chains", d)
}

// opcEvidenceData is the evidence request form's default window.
type opcEvidenceData struct {
	From, To string
}

func defaultEvidenceForm() opcEvidenceData {
	now := time.Now()
	return opcEvidenceData{From: clock.Date(now.AddDate(0, 0, -30)), To: clock.Date(now)}
}

func (s *Server) opcEvidencePage(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, "evidence-request", defaultEvidenceForm())
}

// opcEvidenceForm is the security officer's evidence request: the archive
// of the customer's records in the window, with the purpose recorded in
// the customer's chain and in the archive; or the form with its error.
func (s *Server) opcEvidenceForm(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	f := r.PostForm
	cust, win, a, err := s.officerArchive(r, f.Get("customer"), f.Get("from"), f.Get("to"), f.Get("purpose"))
	if err != nil {
		return s.renderRefused(w, r, "evidence-request", defaultEvidenceForm(), err)
	}
	return a.send(w, string(cust), win)
}

func (s *Server) officerArchive(r *http.Request, customer, from, to, purpose string) (catalog.CustomerID, evidence.Window, *archive, error) {
	if customer == "" {
		return "", evidence.Window{}, nil, fault.Field("customer", "%s is required", "customer")
	}
	win, err := dateWindow(from, to)
	if err != nil {
		return "", win, nil, err
	}
	if purpose, err = evidence.CheckPurpose(purpose); err != nil {
		return "", win, nil, err
	}
	op, err := principal(r).Manage(catalog.CustomerID(customer))
	if err != nil {
		return "", win, nil, err
	}
	if _, err := s.deps.Catalog.GetCustomer(r.Context(), op); err != nil {
		return "", win, nil, err
	}
	ev, err := s.evidence()
	if err != nil {
		return "", win, nil, err
	}
	cust := catalog.CustomerID(customer)
	a, err := buildArchive(func(out io.Writer) error {
		return ev.ExportFor(r.Context(), cust, win, purpose, out)
	})
	return cust, win, a, err
}
