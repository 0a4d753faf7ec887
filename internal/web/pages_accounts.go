package web

import "github.com/tsunagi-net/tsunagi/internal/identity"

var _ = identity.CustomerSide

// accountPages are the panel's pages for the customer's accounts, roles and invitations, security policy, client-certificate devices and audit log.
func (s *Server) accountPages() []pageRoute {
	return nil
}
