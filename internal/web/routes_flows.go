package web

import "github.com/tsunagi-net/tsunagi/internal/identity"

// flowRoutes are the customer listener's flow-record routes.
func (s *Server) flowRoutes() []route {
	return []route{
		{"GET", "/api/v1/flows", identity.ActFlowsRead, s.myFlows},
	}
}
