package web

import "github.com/tsunagi-net/tsunagi/internal/identity"

// reportCustomerRoutes are the customer listener's report routes: the
// customer's own reports (handlers_reports.go).
func (s *Server) reportCustomerRoutes() []route {
	return []route{
		{"GET", "/api/v1/reports", identity.ActReportsFile, s.listReports},
		{"POST", "/api/v1/reports", identity.ActReportsFile, s.fileReport},
		{"GET", "/api/v1/reports/{report}", identity.ActReportsFile, s.getReport},
		{"POST", "/api/v1/reports/{report}/messages", identity.ActReportsFile, s.replyReport},
		{"GET", "/api/v1/reports/{report}/attachments/{attachment}", identity.ActReportsFile, s.reportAttachment},
	}
}

// reportMgmtRoutes are the management listener's report-queue routes:
// every customer's reports, for staff holding reports.manage.
func (s *Server) reportMgmtRoutes() []route {
	return []route{
		{"GET", "/api/v1/reports", identity.ActReportsManage, s.queueReports},
		{"GET", "/api/v1/reports/{report}", identity.ActReportsManage, s.staffGetReport},
		{"POST", "/api/v1/reports/{report}/messages", identity.ActReportsManage, s.staffReplyReport},
		{"PUT", "/api/v1/reports/{report}/status", identity.ActReportsManage, s.setReportStatus},
		{"GET", "/api/v1/reports/{report}/attachments/{attachment}", identity.ActReportsManage, s.staffReportAttachment},
	}
}
