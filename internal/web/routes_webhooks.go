package web

import "github.com/tsunagi-net/tsunagi/internal/identity"

// webhookCustomerRoutes are the customer listener's event-webhook routes
// (handlers_webhooks.go). Registering and rotating open or renew a
// channel out of tsunagi: session-only (webhooks.manage); removing one
// and reading the log need webhooks.read.
func (s *Server) webhookCustomerRoutes() []route {
	return []route{
		{"GET", "/api/v1/webhooks", identity.ActWebhooksRead, s.listWebhooks},
		{"POST", "/api/v1/webhooks", identity.ActWebhooksManage, s.createWebhook},
		{"DELETE", "/api/v1/webhooks/{webhook}", identity.ActWebhooksRead, s.deleteWebhook},
		{"POST", "/api/v1/webhooks/{webhook}/secret", identity.ActWebhooksManage, s.rotateWebhook},
		{"GET", "/api/v1/webhooks/{webhook}/deliveries", identity.ActWebhooksRead, s.webhookDeliveries},
	}
}
