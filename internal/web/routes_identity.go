package web

// identityCustomerRoutes are the customer listener's account, MFA, session
// and allow-list routes.
func (s *Server) identityCustomerRoutes() []route { return nil }

// identityMgmtRoutes are the management listener's staff and identity routes.
func (s *Server) identityMgmtRoutes() []route { return nil }
