package web

import (
	"net/http"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/evidence"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/mail"
)

// opcLogPages are the mail outbox and the platform's audit log.
func (s *Server) opcLogPages() []pageRoute {
	return []pageRoute{
		{"GET", "/mail", identity.ActMailRead, []string{"GET /api/v1/mail"}, s.opcMail},
		{"GET", "/audit", identity.ActAuditRead, []string{"GET /api/v1/audit"}, s.opcAudit},
		{"GET", "/audit/verify", identity.ActAuditRead, []string{"GET /api/v1/audit/verify"}, s.opcVerifyAudit},
	}
}

// opcMailData is a page of the outbox. Only the metadata reaches the page:
// mail.Entry carries no body, and a body (a setup link) must never be shown
// to staff, who could then set up the account they invited.
type opcMailData struct {
	Status   string
	Statuses []string
	Entries  []mail.Entry
	Next     string
}

const opcMailPage = 100

func (s *Server) opcMail(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	d := opcMailData{Status: q.Get("status"), Statuses: []string{mail.Pending, mail.Sending, mail.Sent, mail.Failed}}
	var err error
	d.Entries, err = s.deps.Identity.Outbox().List(r.Context(), d.Status, q.Get("after"), opcMailPage)
	if err != nil {
		return s.renderRefused(w, r, "opc-mail", d, opcSentField(r, err))
	}
	if len(d.Entries) == opcMailPage {
		d.Next = d.Entries[len(d.Entries)-1].ID
	}
	return s.render(w, r, "opc-mail", d)
}

// opcAuditData is a page of one chain: the platform's, or a customer's
// read for a stated purpose (recorded in that customer's chain); and the
// verdicts of every chain when they were asked for.
type opcAuditData struct {
	Customer string
	Purpose  string
	// AskPurpose: a customer is named but no purpose was stated yet (a
	// link from an entry): the form asks for it and nothing is read.
	AskPurpose bool
	Limit      int
	Entries    []audit.Entry
	Next       string
	Verdicts   []evidence.Verdict
	Checked    bool // Verdicts holds a verification's result
	Broken     int
}

func (s *Server) opcAuditData(r *http.Request) (opcAuditData, error) {
	q := r.URL.Query()
	d := opcAuditData{Customer: q.Get("customer"), Purpose: q.Get("purpose"), Limit: 100}
	win, err := auditWindow(r, audit.Query{})
	if err != nil {
		return d, err
	}
	d.Limit = win.Limit
	if d.Customer != "" && !q.Has("purpose") {
		d.AskPurpose = true
		return d, nil
	}
	chain, err := s.staffChain(r, d.Customer, d.Purpose)
	if err != nil {
		return d, err
	}
	d.Entries, d.Next, err = s.auditEntries(r, audit.OfChain(chain).Page(win.AfterSeq, win.Limit))
	return d, err
}

func (s *Server) opcAudit(w http.ResponseWriter, r *http.Request) error {
	d, err := s.opcAuditData(r)
	if err != nil {
		return s.renderRefused(w, r, "opc-audit", d, opcSentField(r, err))
	}
	return s.render(w, r, "opc-audit", d)
}

// opcVerifyAudit checks every chain: for htmx, only the verdicts replace
// their place on the audit page; without JavaScript, the audit page with
// them.
func (s *Server) opcVerifyAudit(w http.ResponseWriter, r *http.Request) error {
	vs, err := s.verdicts(r.Context())
	if err != nil {
		return err
	}
	d := opcAuditData{Verdicts: vs, Checked: true}
	for _, v := range vs {
		if !v.Intact {
			d.Broken++
		}
	}
	if r.Header.Get("HX-Request") == "true" {
		return s.fragment(w, r, "opc-audit", "opc-verdict", d)
	}
	page, err := s.opcAuditData(r)
	if err != nil {
		return err
	}
	page.Verdicts, page.Checked, page.Broken = d.Verdicts, true, d.Broken
	return s.render(w, r, "opc-audit", page)
}
