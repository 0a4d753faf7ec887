package web

// reportCustomerRoutes are the customer listener's report routes.
func (s *Server) reportCustomerRoutes() []route { return nil }

// reportMgmtRoutes are the management listener's report-queue routes.
func (s *Server) reportMgmtRoutes() []route { return nil }
