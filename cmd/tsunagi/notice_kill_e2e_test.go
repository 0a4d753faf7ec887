package main

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// TestNodeSilentAfterBounds: --node-silent-after outside 1m-1h stops serve
// before it opens anything.
func TestNodeSilentAfterBounds(t *testing.T) {
	for _, d := range []time.Duration{59 * time.Second, time.Hour + time.Second} {
		f := serveFlags{logLevel: "info", mgmtAllow: "127.0.0.0/8", agentAllow: "10.0.0.0/8", purgeAfter: "30", nodeSilentAfter: d,
			dataDir: filepath.Join(t.TempDir(), "never-made")}
		if err := serve(context.Background(), f); err == nil || !strings.Contains(err.Error(), "--node-silent-after") {
			t.Errorf("--node-silent-after %v: %v", d, err)
		}
		if _, err := os.Stat(f.dataDir); err == nil {
			t.Errorf("--node-silent-after %v: serve made its data directory", d)
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
	t.Parallel()
	dsn := storetest.PostgresDSN(t) // skips with a message when unset
	// 150 ms in DATA per message: the batch takes seconds, so the kill
	// lands in its middle.
	m := smtptest.Start(t, smtptest.Options{Delay: 150 * time.Millisecond})
	dir := storetest.DataDir(t)
	pass := filepath.Join(t.TempDir(), "smtp-password")
	if err := os.WriteFile(pass, []byte(smtptest.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := serveOpts{dataDir: dir, db: dsn, args: []string{"--smtp-host", "localhost", "--smtp-port", fmt.Sprint(m.Port),
		"--smtp-username", smtptest.User, "--smtp-password-file", pass, "--smtp-from", "つなぎ 運用 <noreply@tsunagi.example>",
		"--mail-lease", "10s", "--argon2-memory", "19", "--argon2-time", "1"},
		env: []string{"SSL_CERT_FILE=" + m.CertFile}} // serve trusts the test server's certificate
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
	}
	// The invitations go out together (the sender is idle between polls).
	for i := range killCustomers {
		admin := fmt.Sprintf("admin%d@kill.example", i)
		var link []string
		waitFor(t, time.Minute, "the invitation to "+admin, func() bool {
			for _, msg := range m.To(admin) {
				if b, err := msg.Text(); err == nil {
					link = mailLinkRE.FindStringSubmatch(b)
				}
			}
			return link != nil
		})
		r := s.must("POST", s.customerURL("/api/v1/setup"), map[string]string{"token": link[1], "password": killPassword}, nil)
		if r.status != http.StatusCreated {
			t.Fatalf("setup: %d %s", r.status, r.body)
		}
	}
	// The test's own handle on the controller's database (same key file).
	db, err := store.Open(context.Background(), store.Options{DSN: dsn, SecretKeyFile: filepath.Join(dir, "secret.key")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	recipients := seedContacts(t, db, custs)
	for i := range killCustomers {
		recipients = append(recipients, fmt.Sprintf("admin%d@kill.example", i))
	}
	slices.Sort(recipients)
	before := len(m.Received())

	id := publishNotice(t, s, tok, custs)
	// Kill while a mail is in flight: some have arrived and the sender
	// holds the next one (claimed, not yet recorded sent).
	waitFor(t, 2*time.Minute, "the first mails of the batch, one in flight", func() bool {
		return len(m.Received())-before >= 5 && outboxStatuses(t, db)["sending"] == 1
	})
	s.signal(9)
	s.wait(exitTimeout)
	atKill := len(m.Received()) - before
	if atKill >= len(recipients) {
		t.Fatalf("the whole batch (%d) arrived before the kill: slow the server down", atKill)
	}
	// The killed controller leaves at most the one mail it was sending
	// claimed, and the rest of the batch waiting.
	st := outboxStatuses(t, db)
	if st["sending"] != 1 || st["pending"] == 0 || st["failed"] != 0 {
		t.Errorf("outbox after the kill: %v, want one sending and some pending", st)
	}
	t.Logf("SIGKILL after %d of %d mails of notice %s; outbox %v", atKill, len(recipients), id, st)

	s2 := startServe(t, o)
	// batch is what the server received of the notice (the invitations
	// came before), by recipient.
	batch := func() map[string][]smtptest.Message {
		out := map[string][]smtptest.Message{}
		for _, r := range m.Received()[before:] {
			out[r.To] = append(out[r.To], r)
		}
		return out
	}
	waitFor(t, 2*time.Minute, "every recipient's mail after the restart", func() bool {
		b := batch()
		for _, r := range recipients {
			if len(b[r]) == 0 {
				return false
			}
		}
		return true
	})
	// Every mail of the batch is recorded sent: none still claimed by the
	// killed controller, none failed.
	waitFor(t, time.Minute, "the outbox to show the batch sent", func() bool {
		st = outboxStatuses(t, db)
		return st["sent"] == len(recipients) && len(st) == 1
	})
	seenIDs := map[string]string{}
	got := batch()
	for _, r := range recipients {
		got := got[r]
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
	// --smtp-from's display name travels encoded (RFC 2047).
	from := got[recipients[0]][0].Header.Get("From")
	if a, err := (&mail.AddressParser{WordDecoder: new(mime.WordDecoder)}).Parse(from); err != nil || a.Name != "つなぎ 運用" ||
		strings.ContainsFunc(from, func(r rune) bool { return r > 0x7e }) {
		t.Errorf("From: %q (%+v, %v), want the display name encoded", from, a, err)
	}
	if len(got) != len(recipients) {
		t.Errorf("the notice went to %d addresses, want the %d recipients", len(got), len(recipients))
	}
	n := len(m.Received()) - before
	t.Logf("%d messages for %d recipients", n, len(recipients))
	if n < len(recipients) || n > len(recipients)+1 {
		// One mail at most can be in flight at the kill: the sender sends
		// one at a time.
		t.Errorf("%d messages for %d recipients, want at most one resent", n, len(recipients))
	}
	s2.stop()
}

// seedContacts adds killContactsPer notice contacts to each customer,
// straight into the database, and returns their addresses.
func seedContacts(t *testing.T, db *store.DB, custs []string) []string {
	t.Helper()
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

// outboxStatuses counts the notice's mails in the outbox by status.
func outboxStatuses(t *testing.T, db *store.DB) map[string]int {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT status, COUNT(*) FROM mail_outbox WHERE cause = 'notice.publish' GROUP BY status`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			t.Fatal(err)
		}
		out[st] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
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
