package web

// networkCustomerRoutes are the customer listener's hub configuration routes:
// ports, routing, firewall, NAT, the edit lock, drafts, review and apply.
func (s *Server) networkCustomerRoutes() []route { return nil }

// networkMgmtRoutes are the management listener's inventory, capacity and
// desired-state routes.
func (s *Server) networkMgmtRoutes() []route { return nil }
