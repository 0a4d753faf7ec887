package web

import (
	"mime"
	"net/http"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/notice"
)

// The reports' pages: the customer files a report (with an optional
// attachment, a multipart form checked for its origin like every form)
// and follows its thread; the operator's console keeps the queue, replies
// and sets the status. Each page calls the notice.Reports method its API
// operation calls, with the viewer's own principal.

const (
	apiReport     = "/api/v1/reports/{report}"
	apiAttachment = apiReport + "/attachments/{attachment}"
)

// reportCustomerPages are the customer panel's report pages.
func (s *Server) reportCustomerPages() []pageRoute {
	return []pageRoute{
		{"GET", "/reports", identity.ActReportsFile, []string{"GET /api/v1/reports"}, s.rptList},
		{"GET", "/reports/new", identity.ActReportsFile, nil, s.rptNew},
		{"POST", "/reports", identity.ActReportsFile, []string{"POST /api/v1/reports"}, s.rptFile},
		{"GET", "/reports/{report}", identity.ActReportsFile, []string{"GET " + apiReport}, s.rptDetail},
		{"POST", "/reports/{report}/messages", identity.ActReportsFile, []string{"POST " + apiReport + "/messages"}, s.rptReply},
		{"GET", "/reports/{report}/attachments/{attachment}", identity.ActReportsFile, []string{"GET " + apiAttachment}, s.reportAttachment},
	}
}

// reportOpPages are the operator console's report-queue pages.
func (s *Server) reportOpPages() []pageRoute {
	return []pageRoute{
		{"GET", "/reports", identity.ActReportsManage, []string{"GET /api/v1/reports"}, s.oprptQueue},
		{"GET", "/reports/{report}", identity.ActReportsManage, []string{"GET " + apiReport}, s.oprptDetail},
		{"POST", "/reports/{report}/messages", identity.ActReportsManage, []string{"POST " + apiReport + "/messages"}, s.oprptReply},
		{"POST", "/reports/{report}/status", identity.ActReportsManage, []string{"PUT " + apiReport + "/status"}, s.oprptStatus},
		{"GET", "/reports/{report}/attachments/{attachment}", identity.ActReportsManage, []string{"GET " + apiAttachment}, s.staffReportAttachment},
	}
}

// rptListData is a page of reports with the status it is filtered by.
type rptListData struct {
	Reports  []notice.Report
	Next     string
	Status   string
	Statuses []string
}

func (s *Server) reportList(r *http.Request, queue bool) (rptListData, error) {
	p, err := page(r)
	if err != nil {
		return rptListData{}, err
	}
	q := reportQuery(r, p)
	d := rptListData{Status: q.Status, Statuses: notice.ReportStatuses}
	if queue {
		d.Reports, d.Next, err = s.deps.Reports.Queue(r.Context(), q)
	} else {
		d.Reports, d.Next, err = s.deps.Reports.List(r.Context(), principal(r).Scope(), q)
	}
	return d, err
}

func (s *Server) rptList(w http.ResponseWriter, r *http.Request) error {
	d, err := s.reportList(r, false)
	if err != nil {
		return err
	}
	return s.render(w, r, "report-list", d)
}

// rptNewData is the new report's form: the choices it offers.
type rptNewData struct {
	Categories []string
	Types      string
	MaxSubject int
}

func newReportData() rptNewData {
	return rptNewData{Categories: notice.ReportCategories, Types: notice.AttachmentTypes, MaxSubject: notice.MaxReportSubject}
}

func (s *Server) rptNew(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, "report-new", newReportData())
}

// rptFile files the report of the form. A refusal shows the form again
// with what was typed (a file input cannot be filled in again: the
// browser asks for the file anew).
func (s *Server) rptFile(w http.ResponseWriter, r *http.Request) error {
	var in notice.ReportInput
	var err error
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		in, err = s.readReport(w, r)
	} else if err = parseForm(w, r); err == nil {
		in = notice.ReportInput{Category: r.PostForm.Get("category"), Subject: r.PostForm.Get("subject"),
			Description: strings.ReplaceAll(r.PostForm.Get("description"), "\r\n", "\n")}
	}
	if err == nil {
		var d notice.ReportDetail
		if d, err = s.deps.Reports.File(r.Context(), principal(r).Scope(), in); err == nil {
			return redirect(w, r, "/reports/"+d.Report.ID, "rpt.flash_filed")
		}
	}
	return s.renderRefused(w, r, "report-new", newReportData(), err)
}

func (s *Server) rptDetail(w http.ResponseWriter, r *http.Request) error {
	d, err := s.deps.Reports.Get(r.Context(), principal(r).Scope(), r.PathValue("report"))
	if err != nil {
		return err
	}
	return s.render(w, r, "report-detail", d)
}

func (s *Server) rptReply(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	sc, id := principal(r).Scope(), r.PathValue("report")
	in := notice.ReplyInput{Body: strings.ReplaceAll(r.PostForm.Get("body"), "\r\n", "\n")}
	_, err := s.deps.Reports.Reply(r.Context(), sc, id, in)
	if err == nil {
		return redirect(w, r, "/reports/"+id, "rpt.flash_replied")
	}
	d, derr := s.deps.Reports.Get(r.Context(), sc, id)
	if derr != nil {
		return derr
	}
	return s.renderRefused(w, r, "report-detail", d, err)
}

func (s *Server) oprptQueue(w http.ResponseWriter, r *http.Request) error {
	d, err := s.reportList(r, true)
	if err != nil {
		return err
	}
	return s.render(w, r, "opreport-queue", d)
}

// oprptData is a report on the console with the statuses it may be set to.
type oprptData struct {
	notice.ReportDetail
	Statuses []string
}

func (s *Server) oprptShow(w http.ResponseWriter, r *http.Request, refused error) error {
	d, err := s.deps.Reports.StaffGet(r.Context(), r.PathValue("report"))
	if err != nil {
		return err
	}
	data := oprptData{ReportDetail: d, Statuses: notice.ReportStatuses}
	if refused != nil {
		return s.renderRefused(w, r, "opreport-detail", data, refused)
	}
	return s.render(w, r, "opreport-detail", data)
}

func (s *Server) oprptDetail(w http.ResponseWriter, r *http.Request) error {
	return s.oprptShow(w, r, nil)
}

func (s *Server) oprptReply(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	id := r.PathValue("report")
	in := notice.ReplyInput{Body: strings.ReplaceAll(r.PostForm.Get("body"), "\r\n", "\n"), Status: r.PostForm.Get("status")}
	if _, err := s.deps.Reports.StaffReply(r.Context(), id, in); err != nil {
		return s.oprptShow(w, r, err)
	}
	return redirect(w, r, "/reports/"+id, "oprpt.flash_replied")
}

func (s *Server) oprptStatus(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	id := r.PathValue("report")
	if _, err := s.deps.Reports.SetStatus(r.Context(), id, r.PostForm.Get("status")); err != nil {
		return s.oprptShow(w, r, err)
	}
	return redirect(w, r, "/reports/"+id, "oprpt.flash_status")
}
