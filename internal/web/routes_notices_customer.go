package web

import "github.com/tsunagi-net/tsunagi/internal/identity"

// noticeCustomerRoutes are the customer listener's notice routes: its
// notices, notice contacts, feed tokens, feed and notification log.
func (s *Server) noticeCustomerRoutes() []route {
	return []route{
		{"GET", "/api/v1/notices", identity.ActNoticesRead, s.myNotices},
		{"GET", "/api/v1/notices/{notice}", identity.ActNoticesRead, s.myNotice},
		{"GET", "/api/v1/notice-contacts", identity.ActNoticesSettings, s.noticeContacts},
		{"POST", "/api/v1/notice-contacts", identity.ActNoticesChannels, s.addNoticeContact},
		{"DELETE", "/api/v1/notice-contacts/{contact}", identity.ActNoticesSettings, s.removeNoticeContact},
		{"GET", "/api/v1/feed-tokens", identity.ActNoticesSettings, s.feedTokens},
		{"POST", "/api/v1/feed-tokens", identity.ActNoticesChannels, s.createFeedToken},
		{"DELETE", "/api/v1/feed-tokens/{feed_token}", identity.ActNoticesSettings, s.revokeFeedToken},
		{"GET", "/api/v1/notice-deliveries", identity.ActNoticesSettings, s.myNoticeDeliveries},
		// The feed authenticates by its own token (feed readers cannot
		// sign in), so it has no Action: noticeFeed checks the token.
		{"GET", "/feed/notices.atom", "", s.noticeFeed},
	}
}

// noticeLogMgmtRoutes are the management listener's notification-log
// route: every customer's rows.
func (s *Server) noticeLogMgmtRoutes() []route {
	return []route{
		{"GET", "/api/v1/notice-deliveries", identity.ActNoticesManage, s.allNoticeDeliveries},
	}
}
