package web

import (
	"net/http"

	"github.com/tsunagi-net/tsunagi/internal/audit"
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

// opcAuditData is a page of the platform's audit log, optionally one
// customer's entries, with the chain's verdict when it was asked for.
type opcAuditData struct {
	Customer string
	Limit    int
	Entries  []audit.Entry
	Next     string
	Verdict  *chainVerdict
}

func (s *Server) opcAuditData(r *http.Request) (opcAuditData, error) {
	d := opcAuditData{Customer: r.URL.Query().Get("customer"), Limit: 100}
	q, err := auditWindow(r, staffAuditQuery(d.Customer))
	if err != nil {
		return d, err
	}
	d.Limit = q.Limit
	d.Entries, d.Next, err = s.auditEntries(r, q)
	return d, err
}

func (s *Server) opcAudit(w http.ResponseWriter, r *http.Request) error {
	d, err := s.opcAuditData(r)
	if err != nil {
		return s.renderRefused(w, r, "opc-audit", d, opcSentField(r, err))
	}
	return s.render(w, r, "opc-audit", d)
}

// opcVerifyAudit checks the chain: for htmx, only the verdict replaces its
// place on the audit page; without JavaScript, the audit page with it.
func (s *Server) opcVerifyAudit(w http.ResponseWriter, r *http.Request) error {
	v, err := s.verifyChain(r)
	if err != nil {
		return err
	}
	if r.Header.Get("HX-Request") == "true" {
		return s.fragment(w, r, "opc-audit", "opc-verdict", opcAuditData{Verdict: &v})
	}
	d, err := s.opcAuditData(r)
	if err != nil {
		return err
	}
	d.Verdict = &v
	return s.render(w, r, "opc-audit", d)
}
