package web

import "github.com/tsunagi-net/tsunagi/internal/identity"

var _ = identity.CustomerSide

// inventoryPages are the panel's pages for the operator console's start page, nodes, physical ports, enrolment tokens, node status, regions, capacity, NAT pools and job runs.
func (s *Server) inventoryPages() []pageRoute {
	return nil
}
