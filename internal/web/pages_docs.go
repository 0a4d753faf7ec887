package web

import "github.com/tsunagi-net/tsunagi/internal/identity"

var _ = identity.CustomerSide

// docPages are the panel's pages for the service documents (docs/) rendered for customers.
func (s *Server) docPages() []pageRoute {
	return nil
}
