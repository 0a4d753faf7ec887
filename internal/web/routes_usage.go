package web

import "github.com/tsunagi-net/tsunagi/internal/identity"

// usageCustomerRoutes are the customer's usage records: traffic per port
// in 5-minute bins (JSON or CSV) and the firewall rule counters.
func (s *Server) usageCustomerRoutes() []route {
	return []route{
		{"GET", "/api/v1/usage", identity.ActUsageRead, s.usageAll},
		{"GET", "/api/v1/ports/{code}/usage", identity.ActUsageRead, s.usagePort},
		{"GET", "/api/v1/ports/{code}/firewall-counters", identity.ActUsageRead, s.usageFirewall},
	}
}
