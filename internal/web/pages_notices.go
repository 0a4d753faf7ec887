package web

// noticeCustomerPages are the customer panel's notice pages.
func (s *Server) noticeCustomerPages() []pageRoute { return nil }
