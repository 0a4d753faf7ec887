package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/ids"
	"github.com/tsunagi-net/tsunagi/internal/smtptest"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestMailLeaseBounds: --mail-lease outside 10s-1h stops serve at start.
func TestMailLeaseBounds(t *testing.T) {
	for lease, ok := range map[time.Duration]bool{9 * time.Second: false, 10 * time.Second: true, time.Hour: true, time.Hour + time.Second: false} {
		f := identityFlags{mailLease: lease}
		if _, err := f.sender(nil, nil); (err == nil) != ok {
			t.Errorf("--mail-lease %v: %v", lease, err)
		}
	}
}

// The SIGKILL test's deployment: customers, each with one operations
// administrator and contactsPer notice contacts, so that one notice to all
// of them is a batch of customers·(1+contactsPer) mails.
const (
	killCustomers   = 6
	killContactsPer = 7
	killPassword    = "kill test passphrase long enough"
)

// TestNoticeMailSurvivesSIGKILL: a published notice's mails go out over
// SMTP (STARTTLS + AUTH) one recipient at a time; the controller is
// killed with SIGKILL when some but not all have arrived and restarted on
// the same database. Every recipient then has the mail at least once and
// at most twice, a second copy with the same Message-ID (the mail in
// flight at the kill), none is lost, and the outbox shows every one sent.
func TestNoticeMailSurvivesSIGKILL(t *testing.T) {
	dsn := storetest.PostgresDSN(t) // skips with a message when unset
	// 150 ms in DATA per message: the batch takes seconds, so the kill
	// lands in its middle.
	m := smtptest.Start(t, smtptest.Options{Delay: 150 * time.Millisecond})
	t.Setenv("SSL_CERT_FILE", m.CertFile) // serve trusts the test server's certificate
	dir := t.TempDir()
	pass := filepath.Join(t.TempDir(), "smtp-password")
	if err := os.WriteFile(pass, []byte(smtptest.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := serveOpts{dataDir: dir, db: dsn, args: []string{"--smtp-host", "localhost", "--smtp-port", fmt.Sprint(m.Port),
		"--smtp-username", smtptest.User, "--smtp-password-file", pass, "--smtp-from", "つなぎ 運用 <noreply@tsunagi.example>",
		"--mail-lease", "10s", "--argon2-memory", "19", "--argon2-time", "1"}}
	s := startServe(t, o)
	tok := s.bootstrap()

	// Customers and their operations administrators (invited by mail,
	// set up with the mailed link), then notice contacts.
	var custs []string
	for i := range killCustomers {
		r := s.must("POST", s.mgmtURL("/api/v1/customers"), map[string]any{"name": fmt.Sprintf("Kill %d", i)}, bearer(tok))
		if r.status != http.StatusCreated {
			t.Fatalf("create customer: %d %s", r.status, r.body)
		}
		custs = append(custs, r.str("id"))
		admin := fmt.Sprintf("admin%d@kill.example", i)
		r = s.must("POST", s.mgmtURL("/api/v1/customers/"+r.str("id")+"/accounts"), map[string]any{"login_id": fmt.Sprintf("kill-admin-%d", i),
			"display_name": "Admin", "email": admin, "role": "ops-admin", "language": []string{"ja", "en"}[i%2]}, bearer(tok))
		if r.status != http.StatusCreated {
			t.Fatalf("invite: %d %s", r.status, r.body)
		}
		var link []string
		waitFor(t, time.Minute, "the invitation to "+admin, func() bool {
			for _, msg := range m.To(admin) {
				if b, err := msg.Text(); err == nil {
					link = mailLinkRE.FindStringSubmatch(b)
				}
			}
			return link != nil
		})
		r = s.must("POST", s.customerURL("/api/v1/setup"), map[string]string{"token": link[1], "password": killPassword}, nil)
		if r.status != http.StatusCreated {
			t.Fatalf("setup: %d %s", r.status, r.body)
		}
	}
	recipients := seedContacts(t, dsn, dir, custs)
	for i := range killCustomers {
		recipients = append(recipients, fmt.Sprintf("admin%d@kill.example", i))
	}
	slices.Sort(recipients)
	before := len(m.Received())

	id := publishNotice(t, s, tok, custs)
	waitFor(t, 2*time.Minute, "the first mails of the batch", func() bool { return len(m.Received())-before >= 5 })
	s.signal(9)
	s.wait(exitTimeout)
	atKill := len(m.Received()) - before
	if atKill >= len(recipients) {
		t.Fatalf("the whole batch (%d) arrived before the kill: slow the server down", atKill)
	}
	t.Logf("SIGKILL after %d of %d mails of notice %s", atKill, len(recipients), id)

	s2 := startServe(t, o)
	waitFor(t, 2*time.Minute, "every recipient's mail after the restart", func() bool {
		for _, r := range recipients {
			if len(m.To(r)) == 0 {
				return false
			}
		}
		return true
	})
	// Every mail of the batch is recorded sent: none still claimed by the
	// killed controller, none failed.
	var sent, other int
	waitFor(t, time.Minute, "the outbox to show the batch sent", func() bool {
		sent, other = outboxCounts(t, dsn, dir)
		return sent == len(recipients) && other == 0
	})
	seenIDs := map[string]string{}
	for _, r := range recipients {
		got := m.To(r)
		if len(got) < 1 || len(got) > 2 {
			t.Errorf("%s received %d copies, want 1 or 2", r, len(got))
			continue
		}
		mid := got[0].Header.Get("Message-ID")
		for _, g := range got {
			if g.Header.Get("Message-ID") != mid || len(g.Envelope) != 1 || !g.TLS || g.User != smtptest.User {
				t.Errorf("%s: copies differ or were not sent alone over TLS with AUTH: %q %q %v %q", r, mid, g.Header.Get("Message-ID"), g.Envelope, g.User)
			}
		}
		if other, dup := seenIDs[mid]; dup {
			t.Errorf("%s and %s got the same Message-ID %s", r, other, mid)
		}
		seenIDs[mid] = r
	}
	if n := len(m.Received()) - before; n < len(recipients) || n > len(recipients)+1 {
		// One mail at most can be in flight at the kill: the sender sends
		// one at a time.
		t.Errorf("%d messages for %d recipients, want at most one resent", n, len(recipients))
	}
	s2.stop()
}

// seedContacts adds killContactsPer notice contacts to each customer,
// straight into the database, and returns their addresses.
func seedContacts(t *testing.T, dsn, dir string, custs []string) []string {
	t.Helper()
	db, err := store.Open(context.Background(), store.Options{DSN: dsn, SecretKeyFile: filepath.Join(dir, "secret.key")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []string
	now := clock.Store(clock.Now())
	for i, c := range custs {
		for k := range killContactsPer {
			addr := fmt.Sprintf("contact%d-%d@kill.example", i, k)
			if _, err := db.Exec(context.Background(), `INSERT INTO notice_contacts (id, customer_id, email, name, language, created_at, created_by)
				VALUES (?, ?, ?, ?, ?, ?, 'test')`, ids.New("ncon"), c, addr, "Contact", []string{"ja", "en"}[k%2], now); err != nil {
				t.Fatal(err)
			}
			out = append(out, addr)
		}
	}
	return out
}

// outboxCounts returns how many notice mails the outbox shows sent, and
// how many in any other state.
func outboxCounts(t *testing.T, dsn, dir string) (sent, other int) {
	t.Helper()
	db, err := store.Open(context.Background(), store.Options{DSN: dsn, SecretKeyFile: filepath.Join(dir, "secret.key")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := store.Scan(db.QueryRow(context.Background(), `SELECT
		(SELECT COUNT(*) FROM mail_outbox WHERE cause = 'notice.publish' AND status = 'sent'),
		(SELECT COUNT(*) FROM mail_outbox WHERE cause = 'notice.publish' AND status <> 'sent')`), &sent, &other); err != nil {
		t.Fatal(err)
	}
	return sent, other
}

// publishNotice makes an incident scoped to custs through the operator
// API, previews it and publishes it to the customers the preview showed.
func publishNotice(t *testing.T, s *server, tok string, custs []string) string {
	t.Helper()
	r := s.must("POST", s.mgmtURL("/api/v1/notices"), map[string]any{"kind": "incident", "category": "outage", "severity": "major",
		"title_ja": "通信障害", "title_en": "Outage", "body_ja": "調査しています。", "body_en": "We are investigating.",
		"scope": map[string]any{"customers": custs}}, bearer(tok))
	if r.status != http.StatusCreated {
		t.Fatalf("create notice: %d %s", r.status, r.body)
	}
	id := r.str("id")
	p := s.must("GET", s.mgmtURL("/api/v1/notices/"+id+"/preview"), nil, bearer(tok))
	if p.status != http.StatusOK {
		t.Fatalf("preview: %d %s", p.status, p.body)
	}
	var seen []string
	for _, c := range p.object(t)["customers"].([]any) {
		seen = append(seen, c.(map[string]any)["customer_id"].(string))
	}
	r = s.must("POST", s.mgmtURL("/api/v1/notices/"+id+"/publish"), map[string]any{"customers": seen}, bearer(tok))
	if r.status != http.StatusOK {
		t.Fatalf("publish: %d %s", r.status, r.body)
	}
	return id
}
