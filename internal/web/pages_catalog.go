package web

import "github.com/tsunagi-net/tsunagi/internal/identity"

var _ = identity.CustomerSide

// catalogPages are the panel's pages for the customer's start page, contracts with their service codes and options, hubs with their topology, the port list and a port's page.
func (s *Server) catalogPages() []pageRoute {
	return nil
}
