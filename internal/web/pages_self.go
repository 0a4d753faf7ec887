package web

import "github.com/tsunagi-net/tsunagi/internal/identity"

var _ = identity.CustomerSide

// selfPages are the panel's pages for one's own account on either listener: password, language, second factors (TOTP, WebAuthn keys), API tokens, sessions.
func (s *Server) selfPages(side identity.Side) []pageRoute {
	return nil
}
