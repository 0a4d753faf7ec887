package notice

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/mail"
	"github.com/tsunagi-net/tsunagi/internal/smtptest"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestIncidentMailOverSMTP publishes an incident on node tyo-1 and follows
// it to its resolution, delivering through a real SMTP server: exactly the
// affected customer's recipients get it, one message each, in their
// language, threaded; a busy server is retried, a refused address fails.
func TestIncidentMailOverSMTP(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		e.contact("cus_a", "busy@a.example", "ja")
		e.contact("cus_a", "nobody@a.example", "en")
		srv := smtptest.Start(t, smtptest.Options{})
		tr, err := mail.NewSMTP(mail.SMTPConfig{Host: "127.0.0.1", Port: srv.Port, Username: smtptest.User, Password: smtptest.Password,
			From: "noreply@tsunagi.example", TLSConfig: srv.Client, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		outbox := mail.NewOutbox(db)
		sender := &mail.Sender{Outbox: outbox, Transport: tr, Backoff: time.Millisecond, MaxBackoff: time.Millisecond}
		drain := func() {
			t.Helper()
			// The busy address answers 451 once: drain again once its
			// (millisecond) back-off has passed.
			for range 2 {
				if _, err := sender.Drain(context.Background()); err != nil {
					t.Fatal(err)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		n, err := e.svc.Create(e.ctx, outage(Scope{Nodes: []string{"tyo-1"}}))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Publish(e.ctx, n.ID, []string{"cus_a"}); err != nil {
			t.Fatal(err)
		}
		drain()
		if _, err := e.svc.Post(e.ctx, n.ID, UpdateInput{Status: StatusIdentified, BodyJA: "原因を特定しました。", BodyEN: "Cause identified."}); err != nil {
			t.Fatal(err)
		}
		drain()
		if _, err := e.svc.Post(e.ctx, n.ID, UpdateInput{Status: StatusResolved, BodyJA: "復旧しました。", BodyEN: "Service restored."}); err != nil {
			t.Fatal(err)
		}
		drain()

		for _, m := range srv.Received() {
			if len(m.Envelope) != 1 || len(strings.Split(m.Header.Get("To"), ",")) != 1 {
				t.Errorf("a message to several recipients: envelope %v, To %q", m.Envelope, m.Header.Get("To"))
			}
			if !strings.HasSuffix(m.To, "@a.example") {
				t.Errorf("a mail reached %s, not of the affected customer", m.To)
			}
		}
		if got := srv.To("bob@b.example"); len(got) != 0 {
			t.Fatalf("the unaffected customer got %d mails", len(got))
		}
		for _, r := range []struct{ addr, lang string }{
			{"alice@a.example", "ja"}, {"aline@a.example", "en"}, {"carol@a.example", "en"}, {"busy@a.example", "ja"},
		} {
			got := srv.To(r.addr)
			if len(got) != 3 {
				t.Fatalf("%s got %d mails, want 3", r.addr, len(got))
			}
			first, last := got[0].Subject(), got[2].Subject()
			wantFirst, wantLast := "[tsunagi] 障害 通信断", "[tsunagi] 障害（解決） 通信断"
			if r.lang == "en" {
				wantFirst, wantLast = "[tsunagi] Incident Outage", "[tsunagi] Incident (resolved) Outage"
			}
			if first != wantFirst || last != wantLast {
				t.Errorf("%s subjects %q, %q; want %q, %q", r.addr, first, last, wantFirst, wantLast)
			}
			body, err := got[0].Text()
			if err != nil {
				t.Fatal(err)
			}
			// The reasons in the recipient's language.
			why := map[string]string{"ja": "ポート PORT-A（ノード tyo-1 上、物理ポート xe-0）",
				"en": "port PORT-A on node tyo-1 (physical port xe-0)"}[r.lang]
			if !strings.Contains(body, why) || !strings.Contains(body, "https://panel.example/notices/"+n.ID) {
				t.Errorf("%s: the body lacks the reasons or the link:\n%s", r.addr, body)
			}
			ids := []string{got[0].Header.Get("Message-Id"), got[1].Header.Get("Message-Id")}
			if got[0].Header.Get("In-Reply-To") != "" || got[1].Header.Get("In-Reply-To") != ids[0] ||
				got[2].Header.Get("In-Reply-To") != ids[1] || got[2].Header.Get("References") != ids[0]+" "+ids[1] {
				t.Errorf("%s: not threaded: %q / %q, %q / %q", r.addr, ids, got[1].Header.Get("In-Reply-To"),
					got[2].Header.Get("In-Reply-To"), got[2].Header.Get("References"))
			}
		}
		// The refused address: each of its three mails failed, logged.
		ids, err := store.Strings(context.Background(), db, `SELECT mail_id FROM notice_deliveries WHERE recipient = 'nobody@a.example' ORDER BY seq`)
		if err != nil || len(ids) != 3 {
			t.Fatalf("deliveries to nobody: %v %v", ids, err)
		}
		for _, id := range ids {
			ent, _, err := outbox.Get(context.Background(), id)
			if err != nil || ent.Status != mail.Failed {
				t.Fatalf("mail to nobody: %+v %v", ent, err)
			}
		}
		busy, err := store.Strings(context.Background(), db, `SELECT mail_id FROM notice_deliveries WHERE recipient = 'busy@a.example' ORDER BY seq`)
		if err != nil {
			t.Fatal(err)
		}
		if ent, _, err := outbox.Get(context.Background(), busy[0]); err != nil || ent.Status != mail.Sent || ent.Attempts != 2 {
			t.Fatalf("the busy address's first mail: %+v %v", ent, err)
		}
	})
}
