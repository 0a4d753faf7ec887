package notice

import (
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/webhook"
)

// TestNoticeEmitsWebhookEvent: a notice reaching a customer queues one
// notice.published event per step for that customer's subscribed
// webhook, in the transaction that records notice.sent, and none for a
// customer the notice does not reach.
func TestNoticeEmitsWebhookEvent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		e.exec(`INSERT INTO webhooks (id, customer_id, url, events, secret, created_at, created_by)
			VALUES ('wh_a', 'cus_a', 'https://a.example/', ?, 'x', '2026-01-01T00:00:00.000000Z', 'acc_1'),
			('wh_b', 'cus_b', 'https://b.example/', ?, 'x', '2026-01-01T00:00:00.000000Z', 'acc_2')`,
			webhook.TypeNoticePublished, webhook.TypeNoticePublished)
		n, err := e.svc.Create(e.ctx, outage(Scope{Nodes: []string{"tyo-1"}}))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Publish(e.ctx, n.ID, []string{"cus_a"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Post(e.ctx, n.ID, UpdateInput{Status: StatusResolved, BodyJA: "復旧しました。", BodyEN: "Service restored."}); err != nil {
			t.Fatal(err)
		}
		if got := e.count(`SELECT COUNT(*) FROM webhook_deliveries WHERE webhook_id = 'wh_a' AND event_type = ? AND subject = ?`,
			webhook.TypeNoticePublished, "notices/"+n.ID); got != 2 {
			t.Fatalf("customer a's webhook has %d notice events, want 2 (publish, resolve)", got)
		}
		if got := e.count(`SELECT COUNT(*) FROM webhook_deliveries WHERE webhook_id = 'wh_b'`); got != 0 {
			t.Fatalf("customer b, not reached, has %d deliveries", got)
		}
	})
}
