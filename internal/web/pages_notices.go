package web

import (
	"net/http"

	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/mail"
	"github.com/tsunagi-net/tsunagi/internal/notice"
)

// noticeCustomerPages are the customer panel's notice pages: its notices
// and their timelines, its notice settings (contacts, feed tokens) and its
// part of the notification log. Each calls the notices service as the
// matching API operation does, with the viewer's own scope.
func (s *Server) noticeCustomerPages() []pageRoute {
	return []pageRoute{
		{"GET", "/notices", identity.ActNoticesRead, []string{"GET /api/v1/notices"}, s.noticeListPage},
		{"GET", "/notices/{notice}", identity.ActNoticesRead, []string{"GET /api/v1/notices/{notice}"}, s.noticePage},
		{"GET", "/notices/log-own", identity.ActNoticesSettings, []string{"GET /api/v1/notice-deliveries"}, s.noticeOwnLogPage},
		{"GET", "/notice-settings", identity.ActNoticesSettings, []string{"GET /api/v1/notice-contacts", "GET /api/v1/feed-tokens",
			"GET /feed/notices.atom"}, s.noticeSettingsPage},
		{"POST", "/notice-settings/contacts", identity.ActNoticesChannels, []string{"POST /api/v1/notice-contacts"}, s.noticeContactAdd},
		{"POST", "/notice-settings/contacts/{contact}/delete", identity.ActNoticesSettings, []string{"DELETE /api/v1/notice-contacts/{contact}"},
			s.noticeContactRemove},
		{"POST", "/notice-settings/feed-tokens", identity.ActNoticesChannels, []string{"POST /api/v1/feed-tokens"}, s.noticeFeedTokenCreate},
		{"POST", "/notice-settings/feed-tokens/{feed_token}/revoke", identity.ActNoticesSettings, []string{"DELETE /api/v1/feed-tokens/{feed_token}"},
			s.noticeFeedTokenRevoke},
	}
}

// noticeLogOpPages is the operator console's whole notification log.
func (s *Server) noticeLogOpPages() []pageRoute {
	return []pageRoute{
		{"GET", "/notices/log", identity.ActNoticesManage, []string{"GET /api/v1/notice-deliveries"}, s.noticeOpLogPage},
	}
}

type noticeListData struct {
	Current, Past []notice.CustomerNotice
}

// noticeListPage lists the customer's notices: the current ones, then the
// past ones.
func (s *Server) noticeListPage(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.custNotices()
	if err != nil {
		return err
	}
	all, err := svc.ForCustomer(r.Context(), principal(r).Scope(), notice.CustomerQuery{})
	if err != nil {
		return err
	}
	var d noticeListData
	for _, n := range all {
		if n.Current {
			d.Current = append(d.Current, n)
		} else {
			d.Past = append(d.Past, n)
		}
	}
	return s.render(w, r, "notice-list", d)
}

// noticePage is one notice with why the customer is affected and its
// timeline.
func (s *Server) noticePage(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.custNotices()
	if err != nil {
		return err
	}
	n, err := svc.CustomerNotice(r.Context(), principal(r).Scope(), r.PathValue("notice"))
	if err != nil {
		return err
	}
	return s.render(w, r, "notice-detail", n)
}

// homeNotices are the current notices for the start page's banner: none
// when the viewer may not read notices or the controller has none.
func (s *Server) homeNotices(r *http.Request) ([]notice.CustomerNotice, error) {
	p := principal(r)
	if s.deps.Notices == nil || !identity.Allowed(p.Role, identity.ActNoticesRead) {
		return nil, nil
	}
	return s.deps.Notices.ForCustomer(r.Context(), p.Scope(), notice.CustomerQuery{Filter: notice.FilterCurrent})
}

type noticeSettingsData struct {
	Contacts    []notice.Contact
	Tokens      []notice.FeedToken
	MaxContacts int
}

func (s *Server) noticeSettingsData(r *http.Request) (noticeSettingsData, error) {
	d := noticeSettingsData{MaxContacts: notice.MaxContacts}
	svc, err := s.custNotices()
	if err != nil {
		return d, err
	}
	sc := principal(r).Scope()
	if d.Contacts, err = svc.Contacts(r.Context(), sc); err != nil {
		return d, err
	}
	d.Tokens, err = svc.FeedTokens(r.Context(), sc)
	return d, err
}

// noticeSettingsPage is the customer's notice contacts and feed tokens.
func (s *Server) noticeSettingsPage(w http.ResponseWriter, r *http.Request) error {
	d, err := s.noticeSettingsData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "notice-settings", d)
}

// settingsRefused shows the settings page again with the refused form. The
// two forms' fields have names of their own (the page holds both), so the
// service's field names move to them.
func (s *Server) settingsRefused(w http.ResponseWriter, r *http.Request, err error, fields map[string]string) error {
	for from, to := range fields {
		err = asField(err, from, to)
	}
	d, derr := s.noticeSettingsData(r)
	if derr != nil {
		return derr
	}
	return s.renderRefused(w, r, "notice-settings", d, err)
}

func (s *Server) noticeContactAdd(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.custNotices()
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	in := notice.ContactInput{Email: r.PostForm.Get("contact_email"), Name: r.PostForm.Get("contact_name"),
		Language: r.PostForm.Get("contact_language")}
	if _, err := svc.AddContact(r.Context(), principal(r).Scope(), in); err != nil {
		return s.settingsRefused(w, r, err, map[string]string{"email": "contact_email", "name": "contact_name",
			"language": "contact_language"})
	}
	return redirect(w, r, "/notice-settings", "notice.flash.contact_added")
}

func (s *Server) noticeContactRemove(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.custNotices()
	if err != nil {
		return err
	}
	if err := svc.RemoveContact(r.Context(), principal(r).Scope(), r.PathValue("contact")); err != nil {
		return err
	}
	return redirect(w, r, "/notice-settings", "notice.flash.contact_removed")
}

type feedCreatedData struct {
	Token   notice.FeedToken
	Secret  string
	FeedURL string
}

// noticeFeedTokenCreate issues a feed token and shows its secret and the
// feed's address on the answer to the POST, the one time they are shown.
func (s *Server) noticeFeedTokenCreate(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.custNotices()
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	in := notice.FeedTokenInput{Label: r.PostForm.Get("feed_label"), Language: r.PostForm.Get("feed_language")}
	t, secret, err := svc.CreateFeedToken(r.Context(), principal(r).Scope(), in)
	if err != nil {
		return s.settingsRefused(w, r, err, map[string]string{"label": "feed_label", "language": "feed_language"})
	}
	c := s.feedTokenCreated(t, secret)
	return s.render(w, r, "notice-feed-created", feedCreatedData{Token: t, Secret: secret, FeedURL: c.FeedURL})
}

func (s *Server) noticeFeedTokenRevoke(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.custNotices()
	if err != nil {
		return err
	}
	if err := svc.RevokeFeedToken(r.Context(), principal(r).Scope(), r.PathValue("feed_token")); err != nil {
		return err
	}
	return redirect(w, r, "/notice-settings", "notice.flash.token_revoked")
}

// noticeLogData is a page of the notification log with its filters.
type noticeLogData struct {
	Own                      bool // the customer's own part: no customer column or filter
	Notice, Customer, Status string
	Statuses                 []string
	Items                    []notice.Delivery
	Next                     string
}

const noticeLogPage = 100

func (s *Server) noticeLogData(r *http.Request, own bool, read func(notice.LogQuery) ([]notice.Delivery, string, error)) (noticeLogData, error) {
	v := r.URL.Query()
	d := noticeLogData{Own: own, Notice: v.Get("notice"), Status: v.Get("status"),
		Statuses: []string{mail.Pending, mail.Sending, mail.Sent, mail.Failed}}
	if !own {
		d.Customer = v.Get("customer")
	}
	var err error
	d.Items, d.Next, err = read(notice.LogQuery{Notice: d.Notice, Customer: d.Customer, Status: d.Status,
		After: v.Get("after"), Limit: noticeLogPage})
	return d, err
}

// noticeOwnLogPage is the customer's part of the notification log.
func (s *Server) noticeOwnLogPage(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.custNotices()
	if err != nil {
		return err
	}
	d, err := s.noticeLogData(r, true, func(q notice.LogQuery) ([]notice.Delivery, string, error) {
		return svc.Deliveries(r.Context(), principal(r).Scope(), q)
	})
	if err != nil {
		return s.renderRefused(w, r, "notice-log", d, opcSentField(r, err))
	}
	return s.render(w, r, "notice-log", d)
}

// noticeOpLogPage is the operator's whole notification log.
func (s *Server) noticeOpLogPage(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.custNotices()
	if err != nil {
		return err
	}
	d, err := s.noticeLogData(r, false, func(q notice.LogQuery) ([]notice.Delivery, string, error) {
		return svc.AllDeliveries(r.Context(), q)
	})
	if err != nil {
		return s.renderRefused(w, r, "notice-log", d, opcSentField(r, err))
	}
	return s.render(w, r, "notice-log", d)
}
