package web

// noticeCustomerRoutes are the customer listener's notice routes: its
// notices, notice contacts, feed tokens, feed and notification log.
func (s *Server) noticeCustomerRoutes() []route { return nil }
