package main

import (
	"bytes"
	"image"
	"image/png"
	"mime"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserReports: the demo customer's operations administrator files a
// report with a PNG attached on the panel; the operator finds it in the
// console's queue, downloads nothing, replies and asks the customer; the
// customer sees the reply and the status. The acknowledgement and the
// reply reach the reporter's mailbox, the reply threaded under the
// acknowledgement. axe-core checks every page opened.
func TestBrowserReports(t *testing.T) {
	t.Parallel()
	defer timed(t, "TestBrowserReports")()
	s := startDemo(t)
	s.createOperator()
	b := newBrowser(t, s)
	panel, console := s.customerOrigin(), s.mgmtOrigin()
	cust := b.person("example-ops", "ja")
	cust.setPassword(mailedLink(t, s, "ops@example.co.jp"), opsPassword)
	cust.signIn(panel, "example-ops", opsPassword)

	var img bytes.Buffer
	if err := png.Encode(&img, image.NewGray(image.Rect(0, 0, 8, 8))); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(t.TempDir(), "bgp-down.png")
	if err := os.WriteFile(shot, img.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if st := cust.open(panel + "/reports"); st != http.StatusOK {
		t.Fatalf("/reports: %d", st)
	}
	if st := cust.submit("#rpt-new-link"); st != http.StatusOK {
		t.Fatalf("/reports/new: %d", st)
	}
	cust.choose("#rpt-category", "outage")
	cust.fill("#rpt-subject", "BGP session down on the Tokyo hub")
	cust.fill("#rpt-description", "Since 10:00 JST the session to AWS is idle. <script>alert(1)</script>")
	cust.do("choose the file", chromedp.SetUploadFiles(chromedp.CSS("#rpt-attachment"), []string{shot}))
	if st := cust.submit("#rpt-file"); st != http.StatusOK {
		t.Fatalf("file the report: %d:\n%s", st, cust.text())
	}
	cust.mustHave("#rpt-number", "the report's number")
	number := eval[string](cust, `document.querySelector("#rpt-number").textContent`)
	detail := strings.TrimPrefix(cust.location(), panel)
	cust.contains("the filed report", "bgp-down.png", "<script>alert(1)</script>", "受付済み")

	op := b.person("operator", "ja")
	op.signIn(console, opLogin, opPassword)
	if st := op.open(console + "/reports?status=open"); st != http.StatusOK {
		t.Fatalf("console /reports: %d", st)
	}
	op.contains("the queue", number, "BGP session down on the Tokyo hub")
	if st := op.submit(`#oprpt-queue a[href="` + detail + `"]`); st != http.StatusOK {
		t.Fatalf("the report on the console: %d", st)
	}
	op.contains("the report on the console", "bgp-down.png", "Since 10:00 JST")
	op.fill("#oprpt-body", "Thank you. Which prefixes do you advertise?")
	op.choose("#oprpt-reply-status", "waiting-customer")
	if st := op.submit("#oprpt-reply-submit"); st != http.StatusOK {
		t.Fatalf("reply: %d:\n%s", st, op.text())
	}
	op.contains("the reply on the console", "Which prefixes do you advertise?", "お客様の回答待ち")

	if st := cust.open(panel + detail); st != http.StatusOK {
		t.Fatalf("the report on the panel: %d", st)
	}
	cust.contains("the reply on the panel", "Which prefixes do you advertise?", "お客様の回答待ち")
	cust.fill("#rpt-body", "10.1.0.0/16")
	if st := cust.submit("#rpt-reply-submit"); st != http.StatusOK {
		t.Fatalf("the customer's answer: %d", st)
	}
	cust.contains("back in progress", "対応中", "10.1.0.0/16")
	cust.checkLanguages(detail, number, "bgp-down.png", "BGP session down on the Tokyo hub",
		"Since 10:00 JST the session to AWS is idle. <script>alert(1)</script>", "Thank you. Which prefixes do you advertise?", "10.1.0.0/16")

	// The mails: the acknowledgement and the reply, threaded.
	var ack, reply *mail.Message
	waitFor(t, startTimeout, "the acknowledgement and the reply of "+number, func() bool {
		ack, reply = nil, nil
		files, _ := filepath.Glob(filepath.Join(s.dataDir, "mail", "*.eml"))
		for _, f := range files {
			h, err := os.Open(f)
			if err != nil {
				continue
			}
			m, err := mail.ReadMessage(h)
			h.Close()
			if err != nil || !strings.Contains(m.Header.Get("To"), "ops@example.co.jp") {
				continue
			}
			if subj, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); strings.Contains(subj, number) {
				if m.Header.Get("In-Reply-To") == "" {
					ack = m
				} else {
					reply = m
				}
			}
		}
		return ack != nil && reply != nil
	})
	if got, want := reply.Header.Get("In-Reply-To"), ack.Header.Get("Message-Id"); got != want || want == "" {
		t.Fatalf("the reply answers %q, the acknowledgement is %q", got, want)
	}
}
