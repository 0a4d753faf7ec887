package web

// noticeMgmtRoutes are the management listener's announcement, incident and
// notification-log routes.
func (s *Server) noticeMgmtRoutes() []route { return nil }
