package web

import (
	"net/http"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/notice"
)

// Handlers of the operator's announcements and incidents (notice/announce.go,
// lifecycle.go, approve.go). The wire names are snake_case; notice.Draft
// and notice.UpdateInput are the domain's input and carry no JSON names.

// noticeDraftInput is a draft as the API takes it.
type noticeDraftInput struct {
	Kind              string       `json:"kind"`
	Category          string       `json:"category"`
	Severity          string       `json:"severity"`
	TitleJA           string       `json:"title_ja"`
	TitleEN           string       `json:"title_en"`
	BodyJA            string       `json:"body_ja"`
	BodyEN            string       `json:"body_en"`
	StartsAt          *time.Time   `json:"starts_at"`
	EndsAt            *time.Time   `json:"ends_at"`
	Scope             notice.Scope `json:"scope"`
	AffectsForwarding bool         `json:"affects_forwarding"`
	Security          bool         `json:"security"`
	DataAffected      string       `json:"data_affected"`
}

func (in noticeDraftInput) draft() notice.Draft {
	return notice.Draft{Kind: in.Kind, Category: in.Category, Severity: in.Severity, TitleJA: in.TitleJA, TitleEN: in.TitleEN,
		BodyJA: in.BodyJA, BodyEN: in.BodyEN, StartsAt: in.StartsAt, EndsAt: in.EndsAt, Scope: in.Scope,
		AffectsForwarding: in.AffectsForwarding, Security: in.Security, DataAffected: in.DataAffected}
}

// noticeUpdateInput is an update or a cancellation as the API takes it.
type noticeUpdateInput struct {
	Status  string `json:"status"`
	TitleJA string `json:"title_ja"`
	TitleEN string `json:"title_en"`
	BodyJA  string `json:"body_ja"`
	BodyEN  string `json:"body_en"`
	// An incident found to be a breach: marked from this update on.
	Security     bool   `json:"security"`
	DataAffected string `json:"data_affected"`
}

func (in noticeUpdateInput) update() notice.UpdateInput {
	return notice.UpdateInput{Status: in.Status, TitleJA: in.TitleJA, TitleEN: in.TitleEN, BodyJA: in.BodyJA, BodyEN: in.BodyEN,
		Security: in.Security, DataAffected: in.DataAffected}
}

// noticePublishInput names the customers the operator was shown.
type noticePublishInput struct {
	Customers []string `json:"customers"`
}

// noticeApprovalInput is the security officer's stated reason.
type noticeApprovalInput struct {
	Reason string `json:"reason"`
}

func (s *Server) notices() (*notice.Service, error) { return netPart(s.deps.Notices) }

func (s *Server) listNotices(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.notices()
	if err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	qv := r.URL.Query()
	q := notice.Query{Kind: qv.Get("kind"), Status: qv.Get("status"), After: p.After, Limit: p.Limit}
	switch qv.Get("security") {
	case "":
	case "true":
		q.Security = true
	default:
		return fault.Field("security", "security is true (only security incidents) or absent")
	}
	if q.Limit == 0 {
		q.Limit = 50
	}
	items, err := svc.List(r.Context(), q)
	if err != nil {
		return err
	}
	next := ""
	if len(items) == q.Limit {
		next = items[len(items)-1].ID
	}
	writeJSON(w, http.StatusOK, newList(items, next))
	return nil
}

func (s *Server) createNotice(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.notices()
	if err != nil {
		return err
	}
	return created(w, r, func(in noticeDraftInput) (notice.Notice, error) {
		return svc.Create(r.Context(), in.draft())
	})
}

func (s *Server) getNotice(w http.ResponseWriter, r *http.Request) error {
	return partDo(w, s.deps.Notices, func(svc *notice.Service) (notice.Detail, error) {
		return svc.Get(r.Context(), r.PathValue("id"))
	})
}

func (s *Server) editNotice(w http.ResponseWriter, r *http.Request) error {
	var in noticeDraftInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	return partDo(w, s.deps.Notices, func(svc *notice.Service) (notice.Notice, error) {
		return svc.Edit(r.Context(), r.PathValue("id"), in.draft())
	})
}

func (s *Server) previewNotice(w http.ResponseWriter, r *http.Request) error {
	return partDo(w, s.deps.Notices, func(svc *notice.Service) (notice.Preview, error) {
		return svc.Preview(r.Context(), r.PathValue("id"))
	})
}

func (s *Server) publishNotice(w http.ResponseWriter, r *http.Request) error {
	var in noticePublishInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	return partDo(w, s.deps.Notices, func(svc *notice.Service) (notice.Notice, error) {
		return svc.Publish(r.Context(), r.PathValue("id"), in.Customers)
	})
}

func (s *Server) postNoticeUpdate(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.notices()
	if err != nil {
		return err
	}
	return created(w, r, func(in noticeUpdateInput) (notice.Notice, error) {
		return svc.Post(r.Context(), r.PathValue("id"), in.update())
	})
}

func (s *Server) cancelNotice(w http.ResponseWriter, r *http.Request) error {
	var in noticeUpdateInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.Status != "" {
		return fault.Field("status", "a cancellation sets its own status")
	}
	return partDo(w, s.deps.Notices, func(svc *notice.Service) (notice.Notice, error) {
		return svc.Cancel(r.Context(), r.PathValue("id"), in.update())
	})
}

func (s *Server) approveNotice(w http.ResponseWriter, r *http.Request) error {
	var in noticeApprovalInput
	if err := decode(w, r, &in); err != nil {
		return err
	}
	return partDo(w, s.deps.Notices, func(svc *notice.Service) (notice.Notice, error) {
		return svc.Approve(r.Context(), r.PathValue("id"), in.Reason)
	})
}

func (s *Server) noticeApprovals(w http.ResponseWriter, r *http.Request) error {
	return partDo(w, s.deps.Notices, func(svc *notice.Service) (notice.Approvals, error) {
		return svc.Approvals(r.Context())
	})
}
