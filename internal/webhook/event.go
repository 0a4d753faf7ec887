package webhook

import (
	"context"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Event types: the CloudEvents "type" attribute of what tsunagi delivers.
// A webhook subscribes to some of them.
const (
	TypeMonitorUp          = "net.tsunagi.monitor.up"
	TypeMonitorDown        = "net.tsunagi.monitor.down"
	TypeSessionChanged     = "net.tsunagi.bgp.session.changed"
	TypeRouteQuotaWarning  = "net.tsunagi.route_quota.warning"
	TypeRouteQuotaExceeded = "net.tsunagi.route_quota.exceeded"
	TypeConfigApplied      = "net.tsunagi.config.applied"
	TypeNoticePublished    = "net.tsunagi.notice.published"
)

// Types lists every event type, in the order the panel shows them.
var Types = []string{TypeMonitorUp, TypeMonitorDown, TypeSessionChanged, TypeRouteQuotaWarning, TypeRouteQuotaExceeded,
	TypeConfigApplied, TypeNoticePublished}

// Event is one event of one customer.
type Event struct {
	Customer tenant.CustomerID
	Type     string
	// Subject names what the event is about within the customer, e.g.
	// "ports/shc00000001/monitors/mon_ab12" (CloudEvents "subject").
	Subject string
	// Time is when it happened (the probe, the session change), not when
	// it was queued.
	Time time.Time
	// Data is the event's JSON-encodable payload (CloudEvents "data").
	Data any
}

// Emit queues ev for every active webhook of ev.Customer that subscribes to
// its type, inside tx: the event commits with the change that causes it.
// A customer without webhooks costs one indexed read.
func Emit(ctx context.Context, tx *store.Tx, ev Event) error {
	return emit(ctx, tx, ev)
}
