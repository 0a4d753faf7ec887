package web

import "github.com/tsunagi-net/tsunagi/internal/identity"

// noticeMgmtRoutes are the management listener's announcement, incident and
// notification-log routes.
func (s *Server) noticeMgmtRoutes() []route {
	return []route{
		{"GET", "/api/v1/notices", identity.ActNoticesManage, s.listNotices},
		{"POST", "/api/v1/notices", identity.ActNoticesManage, s.createNotice},
		{"GET", "/api/v1/notices/{id}", identity.ActNoticesManage, s.getNotice},
		{"PUT", "/api/v1/notices/{id}", identity.ActNoticesManage, s.editNotice},
		{"GET", "/api/v1/notices/{id}/preview", identity.ActNoticesManage, s.previewNotice},
		{"POST", "/api/v1/notices/{id}/publish", identity.ActNoticesManage, s.publishNotice},
		{"POST", "/api/v1/notices/{id}/updates", identity.ActNoticesManage, s.postNoticeUpdate},
		{"POST", "/api/v1/notices/{id}/cancel", identity.ActNoticesManage, s.cancelNotice},
		{"POST", "/api/v1/notices/{id}/approval", identity.ActNoticesApprove, s.approveNotice},
		{"GET", "/api/v1/notice-approvals", identity.ActNoticesApprove, s.noticeApprovals},
	}
}
