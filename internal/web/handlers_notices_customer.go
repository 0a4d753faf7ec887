package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/notice"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// The customer's side of notices: its notices, notice contacts, feed tokens
// and feed, and its part of the notification log; and the operator's whole
// notification log. The customer is always the principal's own.

// custNotices is the notices service, or 503 on a controller without it.
func (s *Server) custNotices() (*notice.Service, error) {
	if s.deps.Notices == nil {
		return nil, fault.New(fault.Unavailable, "notices are not available on this controller")
	}
	return s.deps.Notices, nil
}

func (s *Server) myNotices(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.custNotices()
	if err != nil {
		return err
	}
	items, err := svc.ForCustomer(r.Context(), principal(r).Scope(), notice.CustomerQuery{Filter: r.URL.Query().Get("filter")})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(items, ""))
	return nil
}

func (s *Server) myNotice(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.custNotices()
	if err != nil {
		return err
	}
	n, err := svc.CustomerNotice(r.Context(), principal(r).Scope(), r.PathValue("notice"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, n)
	return nil
}

func (s *Server) noticeContacts(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.custNotices()
	if err != nil {
		return err
	}
	items, err := svc.Contacts(r.Context(), principal(r).Scope())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(items, ""))
	return nil
}

func (s *Server) addNoticeContact(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.custNotices()
	if err != nil {
		return err
	}
	var in notice.ContactInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	c, err := svc.AddContact(r.Context(), principal(r).Scope(), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, c)
	return nil
}

func (s *Server) removeNoticeContact(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.custNotices()
	if err != nil {
		return err
	}
	if err := svc.RemoveContact(r.Context(), principal(r).Scope(), r.PathValue("contact")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) feedTokens(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.custNotices()
	if err != nil {
		return err
	}
	items, err := svc.FeedTokens(r.Context(), principal(r).Scope())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(items, ""))
	return nil
}

// feedTokenCreated is the answer to a new feed token: the only time its
// secret is shown, with the feed's address to give a feed reader.
type feedTokenCreated struct {
	notice.FeedToken
	Secret  string `json:"secret"`
	FeedURL string `json:"feed_url"`
}

func (s *Server) createFeedToken(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.custNotices()
	if err != nil {
		return err
	}
	var in notice.FeedTokenInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	t, secret, err := svc.CreateFeedToken(r.Context(), principal(r).Scope(), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.feedTokenCreated(t, secret))
	return nil
}

func (s *Server) feedTokenCreated(t notice.FeedToken, secret string) feedTokenCreated {
	return feedTokenCreated{FeedToken: t, Secret: secret,
		FeedURL: s.deps.Identity.Link(identity.CustomerSide, "/feed/notices.atom?token="+secret)}
}

func (s *Server) revokeFeedToken(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.custNotices()
	if err != nil {
		return err
	}
	if err := svc.RevokeFeedToken(r.Context(), principal(r).Scope(), r.PathValue("feed_token")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// noticeFeed serves the Atom feed to the holder of a feed token, sent as
// "Authorization: Bearer tsf_…" or, for feed readers that cannot set a
// header, as ?token=. Every token that does not open a feed gets the same
// 401.
func (s *Server) noticeFeed(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.custNotices()
	if err != nil {
		return err
	}
	secret := r.URL.Query().Get("token")
	if h, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		secret = strings.TrimSpace(h)
	}
	f, err := svc.FeedFor(r.Context(), secret, func(ctx context.Context, cust tenant.CustomerID, tokenID string) error {
		return s.deps.Identity.CheckFeedSource(ctx, cust, tokenID)
	})
	if err != nil {
		if fault.Is(err, fault.Unauthorized) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tsunagi notices feed"`)
		}
		return err
	}
	doc, err := f.Atom(func(path string) string { return s.deps.Identity.Link(identity.CustomerSide, path) })
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/atom+xml; charset=utf-8")
	// The feed is the customer's own and the URL may carry the token.
	w.Header().Set("Cache-Control", "private, no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	_, err = w.Write(doc)
	return err
}

// logQuery reads the notification log's filters and page from the URL.
func logQuery(r *http.Request) (notice.LogQuery, error) {
	v := r.URL.Query()
	q := notice.LogQuery{Notice: v.Get("notice"), Customer: v.Get("customer"), Status: v.Get("status"), After: v.Get("after")}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > notice.MaxLogPage {
			return q, fault.Field("limit", "limit must be a number from 1 to %d", notice.MaxLogPage)
		}
		q.Limit = n
	}
	return q, nil
}

func (s *Server) myNoticeDeliveries(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.custNotices()
	if err != nil {
		return err
	}
	q, err := logQuery(r)
	if err != nil {
		return err
	}
	items, next, err := svc.Deliveries(r.Context(), principal(r).Scope(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(items, next))
	return nil
}

func (s *Server) allNoticeDeliveries(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.custNotices()
	if err != nil {
		return err
	}
	q, err := logQuery(r)
	if err != nil {
		return err
	}
	items, next, err := svc.AllDeliveries(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(items, next))
	return nil
}
