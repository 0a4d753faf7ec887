package web

import "github.com/tsunagi-net/tsunagi/internal/identity"

var _ = identity.CustomerSide

// authPages are the panel's pages for sign-in, the second factor, sign-out, password reset and the setup link, on either listener.
func (s *Server) authPages(side identity.Side) []pageRoute {
	return nil
}
