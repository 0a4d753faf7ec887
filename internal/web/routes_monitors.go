package web

import "github.com/tsunagi-net/tsunagi/internal/identity"

// monitorRoutes are the customer listener's reachability monitor routes.
func (s *Server) monitorRoutes() []route {
	return []route{
		{"GET", "/api/v1/monitors", identity.ActMonitorsRead, s.listMonitors},
		{"POST", "/api/v1/monitors", identity.ActMonitorsManage, s.createMonitor},
		{"GET", "/api/v1/monitors/{monitor}", identity.ActMonitorsRead, s.getMonitor},
		{"PATCH", "/api/v1/monitors/{monitor}", identity.ActMonitorsManage, s.updateMonitor},
		{"DELETE", "/api/v1/monitors/{monitor}", identity.ActMonitorsManage, s.deleteMonitor},
		{"POST", "/api/v1/monitors/{monitor}/stop", identity.ActMonitorsManage, s.stopMonitor},
		{"POST", "/api/v1/monitors/{monitor}/resume", identity.ActMonitorsManage, s.resumeMonitor},
		{"GET", "/api/v1/monitors/{monitor}/events", identity.ActMonitorsRead, s.monitorEvents},
		{"GET", "/api/v1/monitors/{monitor}/series", identity.ActMonitorsRead, s.monitorSeries},
	}
}
