package web

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/notice"
)

// postReport sends the new report's form as a browser does: multipart,
// same origin.
func (c *pageClient) postReport(fields map[string]string, filename, ctype string, content []byte) htmlPage {
	c.t.Helper()
	body, ct := reportForm(fields, filename, ctype, content)
	req, _ := http.NewRequest("POST", c.base+"/reports", bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Origin", c.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return c.do(req)
}

// TestReportPages: the customer files a report with an attachment on the
// panel (refusals keep what was typed and store nothing), follows it and
// replies; the operator's console queues it, replies and sets its status;
// another customer gets 404, a security officer 403; every page renders in
// Japanese and English.
func TestReportPages(t *testing.T) {
	t.Parallel()
	r := startRptEnv(t)
	a, b := r.pageClient(r.customer), r.pageClient(r.customer)
	a.login("rpt-a", rptPW)
	b.login("rpt-b", rptPW)
	op, so := r.pageClient(r.mgmt), r.pageClient(r.mgmt)
	op.login("rpt-op", rptPW)
	so.login("rpt-so", rptPW)
	img := rptPNG(t)

	// Refused forms: the error shown, the typed text kept, nothing filed.
	typed := map[string]string{"category": "security", "subject": "", "description": "typed <b>text</b>"}
	p := a.postReport(typed, "", "", nil)
	expectPage(t, "blank subject", p, http.StatusBadRequest, `id="rpt-subject-error"`, "typed &lt;b&gt;text&lt;/b&gt;", `value="security" selected`)
	typed["subject"] = "Kept subject"
	p = a.postReport(typed, "shot.pdf", "application/pdf", img)
	expectPage(t, "png as pdf", p, http.StatusBadRequest, `id="rpt-attachment-error"`, `value="Kept subject"`)
	p = a.postReport(typed, "big.txt", "text/plain", bytes.Repeat([]byte("a"), notice.MaxAttachment+1))
	expectPage(t, "too large", p, http.StatusRequestEntityTooLarge, `id="form-error"`, `value="Kept subject"`)
	// A multipart form from another site is refused like every form.
	body, ct := reportForm(rptFields, "shot.png", "image/png", img)
	req, _ := http.NewRequest("POST", a.base+"/reports", bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if p := a.send(req); p.code != http.StatusForbidden {
		t.Fatalf("cross-site report: %d", p.code)
	}
	expectPage(t, "empty list", a.get("/reports"), http.StatusOK, `id="rpt-new-link"`)
	if strings.Contains(a.get("/reports").body, `id="rpt-list"`) {
		t.Fatal("a refused report is listed")
	}

	// Filed with the attachment.
	fields := map[string]string{"category": "outage", "subject": "Port <i>down</i>", "description": "Since 10:00\nno BGP"}
	p = a.postReport(fields, "shot.png", "image/png", img)
	if p.code != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/reports/rpt_") {
		t.Fatalf("file: %d → %q\n%s", p.code, p.location(), p.body)
	}
	detail := p.location()
	id := strings.TrimPrefix(detail, "/reports/")
	p = a.get(detail)
	expectPage(t, "detail", p, http.StatusOK, `id="rpt-number">R-`, "Port &lt;i&gt;down&lt;/i&gt;", "shot.png", "Since 10:00\nno BGP", `id="rpt-reply"`)
	dl := a.get(detail + "/attachments/" + attachmentID(t, p.body))
	if dl.code != http.StatusOK || !bytes.Equal([]byte(dl.body), img) || dl.hdr.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("panel download: %d %v", dl.code, dl.hdr)
	}
	expectPage(t, "list", a.get("/reports"), http.StatusOK, `id="rpt-list"`, "Port &lt;i&gt;down&lt;/i&gt;")

	// Another customer: 404 for the page, the reply and the file.
	expectPage(t, "b detail", b.get(detail), http.StatusNotFound)
	expectPage(t, "b reply", b.post(detail+"/messages", url.Values{"body": {"hijack"}}), http.StatusNotFound)
	expectPage(t, "b file", b.get(detail+"/attachments/"+attachmentID(t, p.body)), http.StatusNotFound)

	// The operator: the queue, a refused reply, a reply, the status.
	expectPage(t, "queue", op.get("/reports?status=open"), http.StatusOK, `id="oprpt-queue"`, id, "Port &lt;i&gt;down&lt;/i&gt;")
	expectPage(t, "queue filtered", op.get("/reports?status=closed"), http.StatusOK, `value="closed" selected`)
	p = op.post(detail+"/messages", url.Values{"body": {"  "}, "status": {""}})
	expectPage(t, "blank reply", p, http.StatusBadRequest, `id="oprpt-body-error"`)
	if d, err := r.srv.deps.Reports.StaffGet(r.seed, id); err != nil || len(d.Messages) != 1 || d.Report.Status != notice.ReportOpen {
		t.Fatalf("a refused reply changed the report: %+v %v", d, err)
	}
	expectRedirect(t, "reply", op.post(detail+"/messages", url.Values{"body": {"Which prefix?"}, "status": {"waiting-customer"}}), detail)
	expectPage(t, "op detail", op.get(detail), http.StatusOK, "Which prefix?", "rpt-op", "shot.png")
	p = op.post(detail+"/status", url.Values{"status": {"waiting-customer"}})
	expectPage(t, "same status", p, http.StatusBadRequest, `id="oprpt-new-status-error"`)

	// The customer sees the reply without the staff member's name, and
	// its answer puts the report back in progress.
	p = a.get(detail)
	expectPage(t, "customer sees reply", p, http.StatusOK, "Which prefix?", "お客様の回答待ち")
	if strings.Contains(p.body, "rpt-op") {
		t.Fatal("the customer's page names the staff member")
	}
	expectRedirect(t, "customer reply", a.post(detail+"/messages", url.Values{"body": {"10.0.0.0/8"}}), detail)
	expectPage(t, "in progress", a.get(detail), http.StatusOK, "対応中", "10.0.0.0/8")
	p = a.post(detail+"/messages", url.Values{"body": {""}})
	expectPage(t, "blank customer reply", p, http.StatusBadRequest, `id="rpt-body-error"`)
	expectRedirect(t, "close", op.post(detail+"/status", url.Values{"status": {"closed"}}), detail)
	p = a.get(detail)
	if strings.Contains(p.body, `id="rpt-reply"`) {
		t.Fatal("a closed report offers a reply")
	}

	// The security officer may not manage reports.
	expectPage(t, "so queue", so.get("/reports"), http.StatusForbidden)
	expectPage(t, "so detail", so.get(detail), http.StatusForbidden)
	expectPage(t, "so status", so.post(detail+"/status", url.Values{"status": {"open"}}), http.StatusForbidden)

	// Every page in both languages.
	for _, lang := range []struct{ code, list, queue string }{{"ja", "事象の報告", "顧客からの報告"}, {"en", "Your reports", "Customer reports"}} {
		for _, c := range []*pageClient{a, op} {
			expectRedirect(t, "language", c.post("/language", url.Values{"lang": {lang.code}, "next": {"/reports"}}), "/reports")
		}
		for _, path := range []string{"/reports", "/reports/new", detail} {
			expectPage(t, lang.code+" "+path, a.get(path), http.StatusOK, `<html lang="`+lang.code+`"`, lang.list)
		}
		for _, path := range []string{"/reports", detail} {
			expectPage(t, lang.code+" op "+path, op.get(path), http.StatusOK, `<html lang="`+lang.code+`"`, lang.queue)
		}
	}
}

// attachmentID is the first attachment linked on a report's page.
func attachmentID(t *testing.T, body string) string {
	t.Helper()
	_, rest, ok := strings.Cut(body, "/attachments/")
	id, _, ok2 := strings.Cut(rest, `"`)
	if !ok || !ok2 || !strings.HasPrefix(id, "att_") {
		t.Fatalf("no attachment link on the page")
	}
	return id
}
