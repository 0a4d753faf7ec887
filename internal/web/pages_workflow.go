package web

import "github.com/tsunagi-net/tsunagi/internal/identity"

var _ = identity.CustomerSide

// workflowPages are the panel's pages for the customer's reviewed-change workflow: lock, draft, review, apply, versions, rollback, NAT.
func (s *Server) workflowPages() []pageRoute {
	return nil
}
