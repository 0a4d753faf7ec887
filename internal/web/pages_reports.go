package web

// reportCustomerPages are the customer panel's report pages.
func (s *Server) reportCustomerPages() []pageRoute { return nil }

// reportOpPages are the operator console's report-queue pages.
func (s *Server) reportOpPages() []pageRoute { return nil }
