package web

import "github.com/tsunagi-net/tsunagi/internal/identity"

var _ = identity.CustomerSide

// opCustomerPages are the panel's pages for the operator console's customers, contracts, placements, bandwidth changes, staff and officers, recoveries, break-glass, mail outbox and audit log.
func (s *Server) opCustomerPages() []pageRoute {
	return nil
}
