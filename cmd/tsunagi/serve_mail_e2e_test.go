package main

import (
	"io"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var mailLinkRE = regexp.MustCompile(`https://\S+/setup\?token=(tsu_[a-z2-7]+)`)

// TestDemoMailsSetupLinks: with --demo and no SMTP server, the demo
// customers' administrators get their setup links as .eml files in
// <data-dir>/mail (0700, files 0600), never on the terminal or in the log,
// and a link from a file works on the customer listener. Without SMTP and
// without --mail-dir, serve says at start that mail is not delivered.
func TestDemoMailsSetupLinks(t *testing.T) {
	t.Parallel()
	s := startServe(t, serveOpts{args: []string{"--demo"}})
	dir := filepath.Join(s.dataDir, "mail")
	var files []string
	waitFor(t, startTimeout, "two demo mails in "+dir, func() bool {
		files, _ = filepath.Glob(filepath.Join(dir, "*.eml"))
		return len(files) >= 2
	})
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("%s: %v %v, want mode 0700", dir, fi.Mode().Perm(), err)
	}
	var tokens []string
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", f, fi.Mode().Perm(), err)
		}
		h, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(h)
		if err != nil {
			t.Fatalf("%s is not an RFC 5322 message: %v", f, err)
		}
		b, _ := io.ReadAll(m.Body)
		h.Close()
		if got := mailLinkRE.FindStringSubmatch(string(b)); got != nil {
			tokens = append(tokens, got[1])
		}
	}
	if len(tokens) != 2 {
		t.Fatalf("setup links in the demo mails: %d, want 2", len(tokens))
	}
	out := s.stdout.String() + s.stderr.String()
	for _, tok := range tokens {
		if strings.Contains(out, tok) {
			t.Errorf("a demo customer's setup link is on the terminal or in the log")
		}
	}
	if !strings.Contains(s.stderr.String(), "mail is not delivered: each message is written as an .eml file") {
		t.Errorf("serve does not say where mail goes:\n%s", tail(s.stderr.String(), 4000))
	}
	r := s.must("POST", s.customerURL("/api/v1/setup"), map[string]string{"token": tokens[0], "password": "demo passphrase long enough"}, nil)
	if r.status != http.StatusCreated {
		t.Errorf("setup with the mailed link: %d %s", r.status, r.body)
	}
	s.stop()

	plain := startServe(t, serveOpts{})
	waitFor(t, startTimeout, "the no-delivery warning", func() bool {
		return strings.Contains(plain.stderr.String(), "mail is not delivered: no SMTP server (--smtp-host) and no --mail-dir")
	})
}
