package web

import "github.com/tsunagi-net/tsunagi/internal/identity"

// lgCustomerRoutes are the customer's looking glass and route quota: reads
// of its own sessions (network.read), not audited (reads of one's own data
// are not).
func (s *Server) lgCustomerRoutes() []route {
	return []route{
		{"GET", "/api/v1/ports/{code}/looking-glass", identity.ActNetworkRead, s.lgRead},
		{"GET", "/api/v1/ports/{code}/route-quota", identity.ActNetworkRead, s.lgRouteQuota},
	}
}
