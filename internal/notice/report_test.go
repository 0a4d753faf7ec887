package notice

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/mail"
	"github.com/tsunagi-net/tsunagi/internal/smtptest"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

type reportEnv struct {
	db   *store.DB
	rep  *Reports
	log  *audit.Log
	a, b context.Context // the reporters of customers cust_a and cust_b
	sa   tenant.Scope
	sb   tenant.Scope
	op   context.Context // an operator
}

// newReportEnv makes customers cust_a and cust_b, each with a reporter
// account (en and ja), and the reports service.
func newReportEnv(t *testing.T, db *store.DB) *reportEnv {
	t.Helper()
	ctx := context.Background()
	now := clock.Store(clock.Now())
	for _, c := range []struct{ cust, acc, email, lang string }{
		{"cust_a", "acc_test", "alice@example.jp", "en"},
		{"cust_b", "acc_test_b", "bob@example.jp", "ja"},
	} {
		if _, err := db.Exec(ctx, `INSERT INTO customers (id, name, status, created_at) VALUES (?, ?, 'active', ?)`, c.cust, c.cust, now); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, `INSERT INTO accounts (id, customer_id, login_id, display_name, email, role, language, created_at)
			VALUES (?, ?, ?, ?, ?, 'ops-admin', ?, ?)`, c.acc, c.cust, c.acc, "Name "+c.acc, c.email, c.lang, now); err != nil {
			t.Fatal(err)
		}
	}
	log := audit.New(db)
	return &reportEnv{
		db: db, log: log,
		rep: NewReports(db, log, Config{CustomerLink: func(p string) string { return "https://panel.example" + p }}),
		a:   audit.WithActor(ctx, audit.Actor{ID: "acc_test", Kind: "customer", Name: "acc_test"}),
		b:   audit.WithActor(ctx, audit.Actor{ID: "acc_test_b", Kind: "customer", Name: "acc_test_b"}),
		sa:  tenanttest.Customer("cust_a"),
		sb:  tenanttest.Customer("cust_b"),
		op:  audit.WithActor(ctx, audit.Actor{ID: "acc_op", Kind: "operator", Name: "op-sato"}),
	}
}

func pngBytes(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{R: 200, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var outageReport = ReportInput{Category: "outage", Subject: "Port down since 10:00", Description: "The port <b>TSU-1</b> lost its BGP session."}

// TestReportThreadMails: the acknowledgement reaches the reporter over a
// real SMTP server, the operator's reply reaches it threaded under the
// acknowledgement, and the statuses move as documented.
func TestReportThreadMails(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newReportEnv(t, db)
		srv := smtptest.Start(t, smtptest.Options{})
		tr, err := mail.NewSMTP(mail.SMTPConfig{Host: "127.0.0.1", Port: srv.Port, Username: smtptest.User, Password: smtptest.Password,
			From: "noreply@tsunagi.example", TLSConfig: srv.Client, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		sender := &mail.Sender{Outbox: mail.NewOutbox(db), Transport: tr}
		drain := func(want int) []smtptest.Message {
			t.Helper()
			if n, err := sender.Drain(context.Background()); err != nil || n != want {
				t.Fatalf("drain: %d, %v; want %d", n, err, want)
			}
			return srv.To("alice@example.jp")
		}

		d, err := e.rep.File(e.a, e.sa, outageReport)
		if err != nil {
			t.Fatal(err)
		}
		if d.Report.Number == "" || !strings.HasPrefix(d.Report.Number, "R-") || d.Report.Status != ReportOpen || len(d.Messages) != 1 {
			t.Fatalf("filed: %+v", d)
		}
		got := drain(1)
		if len(got) != 1 {
			t.Fatalf("ack: %d mails", len(got))
		}
		ack := got[0]
		body, _ := ack.Text()
		if !strings.Contains(ack.Subject(), d.Report.Number) || !strings.Contains(body, "https://panel.example/reports/"+d.Report.ID) ||
			!strings.Contains(body, "We have received") {
			t.Fatalf("ack: %q\n%s", ack.Subject(), body)
		}
		ackID := ack.Header.Get("Message-Id")

		// The operator replies and waits for the customer.
		d, err = e.rep.StaffReply(e.op, d.Report.ID, ReplyInput{Body: "Which prefix?", Status: ReportWaitingCustomer})
		if err != nil {
			t.Fatal(err)
		}
		if d.Report.Status != ReportWaitingCustomer || len(d.Messages) != 2 || d.Messages[1].AuthorName != "op-sato" {
			t.Fatalf("after reply: %+v", d)
		}
		got = drain(1)
		reply := got[1]
		body, _ = reply.Text()
		if reply.Header.Get("In-Reply-To") != ackID || reply.Header.Get("References") != ackID || !strings.Contains(body, "Which prefix?") ||
			!strings.Contains(body, "Its status is now: waiting for you.") {
			t.Fatalf("reply threading: In-Reply-To %q References %q (ack %q)\n%s", reply.Header.Get("In-Reply-To"), reply.Header.Get("References"), ackID, body)
		}

		// The customer answers: back in progress; no mail to itself; the
		// staff member's name is not shown on the customer's side.
		d, err = e.rep.Reply(e.a, e.sa, d.Report.ID, ReplyInput{Body: "10.0.0.0/8"})
		if err != nil {
			t.Fatal(err)
		}
		if d.Report.Status != ReportInProgress || d.Messages[1].AuthorName != "" {
			t.Fatalf("after the customer's reply: %+v", d)
		}
		// A second reply threads under both earlier mails.
		if _, err := e.rep.StaffReply(e.op, d.Report.ID, ReplyInput{Body: "Fixed.", Status: ReportResolved}); err != nil {
			t.Fatal(err)
		}
		got = drain(1)
		if refs := got[2].Header.Get("References"); refs != ackID+" "+reply.Header.Get("Message-Id") {
			t.Fatalf("second reply References %q", refs)
		}

		// Closed: no more messages from either side.
		if _, err := e.rep.SetStatus(e.op, d.Report.ID, ReportClosed); err != nil {
			t.Fatal(err)
		}
		if _, err := e.rep.Reply(e.a, e.sa, d.Report.ID, ReplyInput{Body: "again"}); !fault.Is(err, fault.Conflict) {
			t.Fatalf("reply to a closed report: %v", err)
		}

		// A Japanese reporter is acknowledged in Japanese.
		if _, err := e.rep.File(e.b, e.sb, outageReport); err != nil {
			t.Fatal(err)
		}
		if n, err := sender.Drain(context.Background()); err != nil || n != 1 {
			t.Fatalf("drain b: %d %v", n, err)
		}
		if got := srv.To("bob@example.jp"); len(got) != 1 {
			t.Fatalf("b's acknowledgement: %d", len(got))
		} else if text, _ := got[0].Text(); !strings.Contains(text, "として受け付けました") || !strings.Contains(text, "（障害）") {
			t.Fatalf("b's acknowledgement is not in Japanese:\n%s", text)
		}

		// The other customer sees nothing of it.
		if _, err := e.rep.Get(e.b, e.sb, d.Report.ID); !fault.Is(err, fault.NotFound) {
			t.Fatalf("other customer's get: %v", err)
		}
		if _, err := e.rep.Reply(e.b, e.sb, d.Report.ID, ReplyInput{Body: "x"}); !fault.Is(err, fault.NotFound) {
			t.Fatalf("other customer's reply: %v", err)
		}
		if l, _, err := e.rep.List(e.b, e.sb, ReportQuery{}); err != nil || len(l) != 1 || l[0].ID == d.Report.ID {
			t.Fatalf("other customer's list: %v %v", l, err)
		}

		// Audit: the actions, without the free text.
		entries, err := e.log.List(context.Background(), audit.AllChains())
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, en := range entries {
			if strings.HasPrefix(en.Action, "report.") {
				actions = append(actions, en.Action)
				for k, v := range en.Detail {
					if s, ok := v.(string); ok && (strings.Contains(s, "Port down") || strings.Contains(s, "prefix")) {
						t.Errorf("%s detail %s holds the report's text", en.Action, k)
					}
				}
			}
		}
		if strings.Join(actions, ",") != "report.file,report.reply,report.reply,report.reply,report.status,report.file" {
			t.Fatalf("audit: %v", actions)
		}
	})
}

// TestReportInput: what a report may hold, and that a refused report
// leaves nothing behind.
func TestReportInput(t *testing.T) {
	e := newReportEnv(t, storetest.SQLite(t))
	long := strings.Repeat("あ", MaxReportSubject+1)
	for name, in := range map[string]ReportInput{
		"category":         {Category: "complaint", Subject: "s", Description: "d"},
		"blank subject":    {Category: "other", Subject: " ", Description: "d"},
		"long subject":     {Category: "other", Subject: long, Description: "d"},
		"two-line subject": {Category: "other", Subject: "a\nb", Description: "d"},
		"no description":   {Category: "other", Subject: "s", Description: ""},
		"long description": {Category: "other", Subject: "s", Description: strings.Repeat("x", MaxReportBody+1)},
		"control":          {Category: "other", Subject: "s", Description: "a\x1b[31m"},
	} {
		if _, err := e.rep.File(e.a, e.sa, in); !fault.Is(err, fault.Invalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := e.rep.File(e.a, tenanttest.As("cust_a", "user", "network.read"), outageReport); !fault.Is(err, fault.Forbidden) {
		t.Errorf("without reports.file: %v", err)
	}
	var n int
	if err := store.Scan(e.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM reports`), &n); err != nil || n != 0 {
		t.Fatalf("refused reports stored: %d %v", n, err)
	}
}

// TestReportAttachments: the type is checked by content against the
// allow-list and the declared name and type; the content is sealed at
// rest and comes back identical; staff reading it is audited in the
// customer's log; another customer gets 404.
func TestReportAttachments(t *testing.T) {
	e := newReportEnv(t, storetest.SQLite(t))
	img := pngBytes(t)
	with := func(u Upload) ReportInput { in := outageReport; in.Attachment = &u; return in }
	for name, c := range map[string]struct {
		u    Upload
		kind fault.Kind
	}{
		"over 5 MiB":        {Upload{"big.txt", "text/plain", bytes.Repeat([]byte("a"), MaxAttachment+1)}, fault.TooLarge},
		"png named pdf":     {Upload{"scan.pdf", "application/pdf", img}, fault.Invalid},
		"png declared pdf":  {Upload{"scan.png", "application/pdf", img}, fault.Invalid},
		"shell script":      {Upload{"fix.sh", "application/x-sh", []byte("#!/bin/sh\nrm -rf /\n")}, fault.Invalid},
		"html":              {Upload{"page.txt", "text/plain", []byte("<script>alert(1)</script>")}, fault.Invalid},
		"executable":        {Upload{"a.png", "image/png", append([]byte("MZ\x90\x00"), make([]byte, 64)...)}, fault.Invalid},
		"empty":             {Upload{"a.txt", "text/plain", nil}, fault.Invalid},
		"name with newline": {Upload{"a\n.png", "image/png", img}, fault.Invalid},
	} {
		if _, err := e.rep.File(e.a, e.sa, with(c.u)); !fault.Is(err, c.kind) {
			t.Errorf("%s: %v, want %s", name, err, c.kind)
		}
	}
	// Exactly 5 MiB of text is taken.
	if _, err := e.rep.File(e.a, e.sa, with(Upload{"big.log", "", bytes.Repeat([]byte("a"), MaxAttachment)})); err != nil {
		t.Fatalf("5 MiB: %v", err)
	}
	d, err := e.rep.File(e.a, e.sa, with(Upload{`C:\shots\link.PNG`, "image/png", img}))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Attachments) != 1 || d.Attachments[0].Filename != "link.PNG" || d.Attachments[0].ContentType != "image/png" || d.Attachments[0].Size != int64(len(img)) {
		t.Fatalf("attachment: %+v", d.Attachments)
	}
	att := d.Attachments[0]
	var stored string
	if err := store.Scan(e.db.QueryRow(context.Background(), `SELECT content FROM report_attachments WHERE id = ?`, att.ID), &stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, "iVBOR") { // base64 of the PNG signature
		t.Fatal("the attachment is stored in clear")
	}
	_, got, err := e.rep.Attachment(e.a, e.sa, d.Report.ID, att.ID)
	if err != nil || !bytes.Equal(got, img) {
		t.Fatalf("customer's download: %v, identical %v", err, bytes.Equal(got, img))
	}
	if _, _, err := e.rep.Attachment(e.b, e.sb, d.Report.ID, att.ID); !fault.Is(err, fault.NotFound) {
		t.Fatalf("other customer's download: %v", err)
	}
	_, got, err = e.rep.StaffAttachment(e.op, d.Report.ID, att.ID)
	if err != nil || !bytes.Equal(got, img) {
		t.Fatalf("staff download: %v", err)
	}
	own, err := audit.Own(tenanttest.Customer("cust_a"))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := e.log.List(context.Background(), own)
	if err != nil {
		t.Fatal(err)
	}
	var read *audit.Entry
	for i := range entries {
		if entries[i].Action == "report.attachment.read" {
			read = &entries[i]
		}
	}
	if read == nil || read.ActorID != "acc_op" || read.Detail["file"] != att.ID || read.Reason == "" {
		t.Fatalf("staff read not in the customer's audit log: %+v", read)
	}
}

// TestReportNumbersTwoControllers: two controllers on one PostgreSQL file
// reports at once; every report gets its own number, with no gap.
func TestReportNumbersTwoControllers(t *testing.T) {
	db1, db2 := storetest.Controllers(t) // two controllers, one database, one secret key
	e := newReportEnv(t, db1)
	r2 := NewReports(db2, audit.New(db2), Config{})
	const each = 8
	var wg sync.WaitGroup
	errs := make(chan error, 2*each)
	for _, r := range []*Reports{e.rep, r2} {
		for range each {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := r.File(e.a, e.sa, outageReport)
				errs <- err
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	nums, err := store.Strings(context.Background(), db1, `SELECT CAST(number AS TEXT) AS n FROM reports ORDER BY reports.number`)
	if err != nil {
		t.Fatal(err)
	}
	if len(nums) != 2*each || nums[0] != "1" || nums[len(nums)-1] != "16" {
		t.Fatalf("numbers: %v", nums)
	}
}

// TestReportReadsNeedTheirCustomer: a customer's read of a report or an
// attachment without its customer is an internal error, never a read of
// every customer's; the staff's reads are their own functions.
func TestReportReadsNeedTheirCustomer(t *testing.T) {
	e := newReportEnv(t, storetest.SQLite(t))
	in := outageReport
	in.Attachment = &Upload{"link.png", "image/png", pngBytes(t)}
	d, err := e.rep.File(e.a, e.sa, in)
	if err != nil {
		t.Fatal(err)
	}
	id, att := d.Report.ID, d.Attachments[0].ID
	ctx := context.Background()
	if _, err := e.rep.detail(ctx, e.db, "", id); !fault.Is(err, fault.Internal) {
		t.Errorf("detail without a customer: %v", err)
	}
	if _, err := e.rep.detail(ctx, e.db, "cust_b", id); !fault.Is(err, fault.NotFound) {
		t.Errorf("detail as another customer: %v", err)
	}
	if _, _, err := readAttachment(ctx, e.db, "", id, att); !fault.Is(err, fault.Internal) {
		t.Errorf("attachment without a customer: %v", err)
	}
	if got, err := e.rep.StaffGet(e.op, id); err != nil || got.Report.CustomerID != "cust_a" || len(got.Attachments) != 1 {
		t.Errorf("staff read: %+v %v", got, err)
	}
}

// TestReportAttachmentContent: the whole content is checked, not its
// start: text is UTF-8 without control characters throughout, an image
// decodes whole with nothing after it (and not too large), a PDF ends
// with %%EOF.
func TestReportAttachmentContent(t *testing.T) {
	img := pngBytes(t)
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, image.NewRGBA(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	jpg := jb.Bytes()
	// huge is img with its header claiming 10,000 × 10,000 pixels.
	huge := bytes.Clone(img)
	binary.BigEndian.PutUint32(huge[16:], 10_000)
	binary.BigEndian.PutUint32(huge[20:], 10_000)
	binary.BigEndian.PutUint32(huge[29:], crc32.ChecksumIEEE(huge[12:29]))
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	text := bytes.Repeat([]byte("log line\t1\r\n"), 60) // 720 bytes
	pdf := []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF")
	for name, u := range map[string]Upload{
		"text, then binary":          {"a.log", "text/plain", cat(text, []byte("\x00\x01\x02MZ\x90"))},
		"text, then an escape":       {"a.txt", "", cat(text, []byte("\x1b[31mred"))},
		"text, then a C1 control":    {"a.txt", "", cat(text, []byte("\u0085"))},
		"text, then invalid UTF-8":   {"a.txt", "", cat(text, []byte("\xff\xfe"))},
		"PNG signature, then script": {"a.png", "image/png", []byte("\x89PNG\r\n\x1a\n<script>alert(1)</script>")},
		"PNG, then script":           {"a.png", "image/png", cat(img, []byte("<script>alert(1)</script>"))},
		"PNG cut short":              {"a.png", "image/png", img[:len(img)-20]},
		"JPEG signature, then text":  {"a.jpg", "image/jpeg", []byte("\xff\xd8\xff<script>alert(1)</script>")},
		"JPEG, then script":          {"a.jpg", "image/jpeg", cat(jpg, []byte("<script>alert(1)</script>"))},
		"PDF without %%EOF":          {"a.pdf", "application/pdf", []byte("%PDF-1.4\n<script>alert(1)</script>")},
		"PDF, then more":             {"a.pdf", "application/pdf", cat(pdf, []byte("\n<html>"))},
	} {
		if _, err := checkUpload(u); !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "not an allowed type") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := checkUpload(Upload{"big.png", "image/png", huge}); !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "pixels") {
		t.Errorf("10,000 × 10,000 pixels: %v", err)
	}
	for name, c := range map[string]struct {
		u    Upload
		want string
	}{
		"PNG":                  {Upload{"a.png", "image/png", img}, "image/png"},
		"JPEG":                 {Upload{"a.JPEG", "image/jpeg", jpg}, "image/jpeg"},
		"PDF":                  {Upload{"a.pdf", "application/pdf", pdf}, "application/pdf"},
		"PDF, then whitespace": {Upload{"a.pdf", "", cat(pdf, []byte("\r\n \x00"))}, "application/pdf"},
		"text":                 {Upload{"a.txt", "text/plain", cat(text, []byte("日本語\n"))}, "text/plain; charset=utf-8"},
	} {
		if got, err := checkUpload(c.u); err != nil || got.contentType != c.want {
			t.Errorf("%s: %q %v", name, got.contentType, err)
		}
	}
}

// TestReportsPerDay: a customer files at most MaxReportsPerDay reports in
// 24 hours; the next is refused (rate limited) and stores nothing, and
// another customer is not held to the first one's count.
func TestReportsPerDay(t *testing.T) {
	e := newReportEnv(t, storetest.SQLite(t))
	ctx := context.Background()
	for i := range MaxReportsPerDay {
		if _, err := e.db.Exec(ctx, `INSERT INTO reports (id, number, customer_id, category, subject, status, created_by, created_at, updated_at)
			VALUES (?, ?, 'cust_a', 'other', 's', 'open', 'acc', ?, ?)`, "rpt_seed"+strconv.Itoa(i), 1000+i,
			clock.Store(clock.Now().Add(-time.Hour)), clock.Store(clock.Now())); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.rep.File(e.a, e.sa, outageReport); !fault.Is(err, fault.RateLimited) {
		t.Fatalf("report %d of the day: %v, want rate limited", MaxReportsPerDay+1, err)
	}
	var n int
	if err := store.Scan(e.db.QueryRow(ctx, `SELECT COUNT(*) FROM reports`), &n); err != nil || n != MaxReportsPerDay {
		t.Fatalf("%d reports stored, %v", n, err)
	}
	// A day later the count starts again.
	if _, err := e.db.Exec(ctx, `UPDATE reports SET created_at = ?`, clock.Store(clock.Now().Add(-25*time.Hour))); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rep.File(e.a, e.sa, outageReport); err != nil {
		t.Fatalf("after a day: %v", err)
	}
}
