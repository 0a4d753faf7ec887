package web

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/notice"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

const rptPW = "correct horse battery staple 42"

// rptEnv is a controller with two customers, each with an operations
// administrator, an operator and a security officer (who may not manage
// reports).
type rptEnv struct {
	*idEnv
	a, b     catalog.Customer
	aAPI     *client // a's operations administrator
	bAPI     *client // b's
	opAPI    *client
	soAPI    *client
	aLogin   string
	aAccount identity.Account
}

func startRptEnv(t *testing.T) rptEnv {
	t.Helper()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	r := rptEnv{idEnv: e}
	var err error
	r.a, err = e.cat.CreateCustomer(e.seed, identityCustomerInput("Report A K.K."))
	e.must("customer a", err)
	r.b, err = e.cat.CreateCustomer(e.seed, identityCustomerInput("Report B K.K."))
	e.must("customer b", err)
	r.aAccount = e.account(r.a.ID, "rpt-a", identity.RoleOpsAdmin, rptPW)
	e.account(r.b.ID, "rpt-b", identity.RoleOpsAdmin, rptPW)
	e.account("", "rpt-op", identity.RoleOperator, rptPW)
	e.account("", "rpt-so", identity.RoleSecurityOfficer, rptPW)
	r.aAPI, r.bAPI, r.opAPI, r.soAPI = e.client(e.customer), e.client(e.customer), e.client(e.mgmt), e.client(e.mgmt)
	r.aAPI.login("rpt-a", rptPW)
	r.bAPI.login("rpt-b", rptPW)
	r.opAPI.login("rpt-op", rptPW)
	r.soAPI.login("rpt-so", rptPW)
	return r
}

// rptPNG is a small real PNG image.
func rptPNG(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 3, 2))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// reportForm is a multipart report as a browser sends it: the text fields
// and, when filename is set, the file with its declared type.
func reportForm(fields map[string]string, filename, ctype string, content []byte) ([]byte, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, k := range []string{"category", "subject", "description"} {
		if v, ok := fields[k]; ok {
			_ = mw.WriteField(k, v)
		}
	}
	if filename != "" {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="attachment"; filename="`+filename+`"`)
		h.Set("Content-Type", ctype)
		w, _ := mw.CreatePart(h)
		_, _ = w.Write(content)
	}
	_ = mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

var rptFields = map[string]string{"category": "outage", "subject": "Port down", "description": "Since 10:00 <script>x</script>"}

// fileMultipart posts a multipart report through c and expects code.
func fileMultipart(c *client, code int, filename, ctype string, content []byte) resp {
	c.e.t.Helper()
	body, ct := reportForm(rptFields, filename, ctype, content)
	c.hdr.Set("Content-Type", ct)
	defer c.hdr.Del("Content-Type")
	if code >= 400 {
		return c.expectInvalid(code, "POST", "/api/v1/reports", body)
	}
	return c.expect(code, "POST", "/api/v1/reports", body)
}

// TestReportsAPI: a customer files a report as JSON and as multipart with
// an attachment checked by content; another customer sees none of it; the
// operator's queue, reply, status and download (audited in the customer's
// log, served as an attachment that is never sniffed).
func TestReportsAPI(t *testing.T) {
	t.Parallel()
	r := startRptEnv(t)
	var plain notice.ReportDetail
	r.aAPI.expect(http.StatusCreated, "POST", "/api/v1/reports",
		map[string]string{"category": "degradation", "subject": "Slow", "description": "Latency 300 ms"}).json(t, &plain)
	if plain.Report.Status != notice.ReportOpen || plain.Report.CustomerID != string(r.a.ID) || len(plain.Attachments) != 0 {
		t.Fatalf("filed: %+v", plain)
	}
	if n := r.outboxCount(r.aAccount.Email, "report.file"); n != 1 {
		t.Fatalf("acknowledgements: %d", n)
	}

	img := rptPNG(t)
	// Refused: one byte over 5 MiB (413), a PNG declared a PDF, a script.
	fileMultipart(r.aAPI, http.StatusRequestEntityTooLarge, "big.txt", "text/plain", bytes.Repeat([]byte("a"), notice.MaxAttachment+1))
	fileMultipart(r.aAPI, http.StatusBadRequest, "shot.pdf", "application/pdf", img)
	fileMultipart(r.aAPI, http.StatusBadRequest, "fix.sh", "application/x-sh", []byte("#!/bin/sh\ncurl http://x | sh\n"))
	var l struct{ Items []notice.Report }
	r.aAPI.expect(http.StatusOK, "GET", "/api/v1/reports", nil).json(t, &l)
	if len(l.Items) != 1 {
		t.Fatalf("refused reports were stored: %+v", l.Items)
	}

	var d notice.ReportDetail
	fileMultipart(r.aAPI, http.StatusCreated, "shot.png", "image/png", img).json(t, &d)
	if len(d.Attachments) != 1 || d.Attachments[0].ContentType != "image/png" {
		t.Fatalf("attachment: %+v", d.Attachments)
	}
	att := "/api/v1/reports/" + d.Report.ID + "/attachments/" + d.Attachments[0].ID
	got := r.aAPI.expect(http.StatusOK, "GET", att, nil)
	if !bytes.Equal(got.body, img) || got.hdr.Get("Content-Type") != "image/png" || got.hdr.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.HasPrefix(got.hdr.Get("Content-Disposition"), "attachment;") {
		t.Fatalf("download: %d bytes, headers %v", len(got.body), got.hdr)
	}

	// Another customer: 404 everywhere.
	rep := "/api/v1/reports/" + d.Report.ID
	r.bAPI.expect(http.StatusNotFound, "GET", rep, nil)
	r.bAPI.expect(http.StatusNotFound, "GET", att, nil)
	r.bAPI.expect(http.StatusNotFound, "POST", rep+"/messages", map[string]string{"body": "mine?"})
	r.bAPI.expect(http.StatusOK, "GET", "/api/v1/reports", nil).json(t, &l)
	if len(l.Items) != 0 {
		t.Fatalf("b lists a's reports: %+v", l.Items)
	}

	// The operator: queue oldest first, filtered by status.
	r.opAPI.expect(http.StatusOK, "GET", "/api/v1/reports?status=open", nil).json(t, &l)
	if len(l.Items) != 2 || l.Items[0].ID != plain.Report.ID {
		t.Fatalf("queue: %+v", l.Items)
	}
	r.soAPI.expect(http.StatusForbidden, "GET", "/api/v1/reports", nil)
	r.opAPI.expect(http.StatusCreated, "POST", rep+"/messages", map[string]string{"body": "Looking", "status": "waiting-customer"}).json(t, &d)
	if d.Report.Status != notice.ReportWaitingCustomer || d.Messages[1].AuthorName != "rpt-op" {
		t.Fatalf("after the reply: %+v", d)
	}
	if n := r.outboxCount(r.aAccount.Email, "report.reply"); n != 1 {
		t.Fatalf("reply mails: %d", n)
	}
	r.aAPI.expect(http.StatusOK, "GET", rep, nil).json(t, &d)
	if d.Messages[1].AuthorName != "" {
		t.Fatalf("the customer sees the staff member: %+v", d.Messages[1])
	}
	r.aAPI.expect(http.StatusCreated, "POST", rep+"/messages", map[string]string{"body": "Here"}).json(t, &d)
	if d.Report.Status != notice.ReportInProgress {
		t.Fatalf("a customer's reply did not reopen: %s", d.Report.Status)
	}
	r.opAPI.expect(http.StatusOK, "PUT", rep+"/status", map[string]string{"status": "resolved"})
	r.opAPI.expectInvalid(http.StatusBadRequest, "PUT", rep+"/status", map[string]string{"status": "done"})

	got = r.opAPI.expect(http.StatusOK, "GET", att, nil)
	if !bytes.Equal(got.body, img) || got.hdr.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatal("the operator's download differs")
	}
	own, err := audit.Own(tenanttest.Customer(r.a.ID))
	r.must("own", err)
	entries, err := r.audit.List(context.Background(), own)
	r.must("audit", err)
	reads := 0
	for _, en := range entries {
		if en.Action == "report.attachment.read" && en.ActorName == "rpt-op" {
			reads++
		}
	}
	if reads != 1 {
		t.Fatalf("staff reads in the customer's audit log: %d", reads)
	}
}
