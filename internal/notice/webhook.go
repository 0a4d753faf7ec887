package notice

import (
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/webhook"
)

// webhookData is a notice.published event's data: what the customer's
// mail says in brief, both languages, so that a receiver can route it
// without reading the panel.
type webhookData struct {
	NoticeID string `json:"notice_id"`
	Step     string `json:"step"` // publish | update | status | cancel
	Kind     string `json:"kind"`
	Category string `json:"category"`
	Severity string `json:"severity,omitempty"`
	Status   string `json:"status,omitempty"`
	TitleJA  string `json:"title_ja"`
	TitleEN  string `json:"title_en"`
}

// webhookEvent is the event of step of n reaching cust: emitted where
// notice.sent is recorded, in the same transaction.
func webhookEvent(n Notice, st step, cust string) webhook.Event {
	return webhook.Event{Customer: tenant.CustomerID(cust), Type: webhook.TypeNoticePublished, Subject: "notices/" + n.ID,
		Time: clock.Now(), Data: webhookData{NoticeID: n.ID, Step: st.kind, Kind: n.Kind, Category: n.Category,
			Severity: n.Severity, Status: n.Status, TitleJA: n.TitleJA, TitleEN: n.TitleEN}}
}
