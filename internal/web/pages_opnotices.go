package web

// noticeOpPages are the operator console's notice pages.
func (s *Server) noticeOpPages() []pageRoute { return nil }
