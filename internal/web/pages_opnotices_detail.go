package web

import (
	"net/http"
	"net/url"

	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/notice"
)

// opnNoticeData is one notice's page: the notice, its history, and for a
// draft the preview of the customers one publish would reach; for a
// published one the customers it reached.
type opnNoticeData struct {
	Detail notice.Detail
	// Preview is nil when the notice is not a draft or the preview was
	// refused (PreviewError says why: its scope reaches nobody, say).
	Preview      *notice.Preview
	PreviewError string
	// Changed is set when a publish was refused because the scope now
	// resolves to other customers than the preview showed: the page shows
	// the new list to check before publishing again.
	Changed bool
	// States are the statuses an incident's update may set.
	States []string
	// Staff names the accounts in the notice's history by login ID.
	Staff map[string]string
}

// Draft, Open and Incident say which forms the page offers: a published
// notice takes updates and its cancellation until it is resolved or
// cancelled.
func (d opnNoticeData) Draft() bool    { return d.Detail.Notice.Status == notice.StatusDraft }
func (d opnNoticeData) Incident() bool { return d.Detail.Notice.Kind == notice.Incident }
func (d opnNoticeData) Open() bool {
	st := d.Detail.Notice.Status
	return st != notice.StatusDraft && st != notice.StatusCancelled && st != notice.StatusResolved
}

func (s *Server) opnNoticeData(r *http.Request) (opnNoticeData, error) {
	var d opnNoticeData
	svc, err := s.notices()
	if err != nil {
		return d, err
	}
	id := r.PathValue("id")
	if d.Detail, err = svc.Get(r.Context(), id); err != nil {
		return d, err
	}
	d.States = opnIncidentStates
	if d.Staff, err = s.opnStaff(r); err != nil {
		return d, err
	}
	if d.Draft() {
		p, err := svc.Preview(r.Context(), id)
		switch f := classify(err); {
		case err == nil:
			d.Preview = &p
		case f.Kind == fault.Internal || f.Kind == fault.Unavailable:
			return d, err
		default:
			d.PreviewError = s.faultText(s.language(r), f)
		}
	}
	return d, nil
}

func (s *Server) opnNotice(w http.ResponseWriter, r *http.Request) error {
	d, err := s.opnNoticeData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "opnotice-notice", d)
}

// opnNoticeForm runs one form of the notice page: the notice is loaded
// first (an unknown one is 404 before the form is read); a refusal shows
// the page again, loaded afresh, with the message at the form.
func (s *Server) opnNoticeForm(w http.ResponseWriter, r *http.Request, flash string,
	do func(svc *notice.Service, id string) error) error {
	svc, err := s.notices()
	if err != nil {
		return err
	}
	if _, err := svc.Get(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	if err := do(svc, r.PathValue("id")); err != nil {
		d, derr := s.opnNoticeData(r)
		if derr != nil {
			return derr
		}
		d.Changed = classify(err).Code == "scope_changed"
		return s.renderRefused(w, r, "opnotice-notice", d, err)
	}
	return redirect(w, r, "/notices/"+url.PathEscape(r.PathValue("id")), flash)
}

// opnPublish publishes with the customer IDs the preview showed (the
// form's hidden inputs): the service refuses when the scope resolves to
// others by now, so nobody is told who the operator did not see.
func (s *Server) opnPublish(w http.ResponseWriter, r *http.Request) error {
	return s.opnNoticeForm(w, r, "opnotice.flash.published", func(svc *notice.Service, id string) error {
		_, err := svc.Publish(r.Context(), id, r.PostForm["customer"])
		return err
	})
}

func (s *Server) opnPost(w http.ResponseWriter, r *http.Request) error {
	return s.opnNoticeForm(w, r, "opnotice.flash.updated", func(svc *notice.Service, id string) error {
		_, err := svc.Post(r.Context(), id, opnUpdateInput(r.PostForm))
		return err
	})
}

func (s *Server) opnCancel(w http.ResponseWriter, r *http.Request) error {
	return s.opnNoticeForm(w, r, "opnotice.flash.cancelled", func(svc *notice.Service, id string) error {
		_, err := svc.Cancel(r.Context(), id, opnUpdateInput(r.PostForm))
		return err
	})
}

func opnUpdateInput(f url.Values) notice.UpdateInput {
	return notice.UpdateInput{Status: f.Get("status"), TitleJA: f.Get("title_ja"), TitleEN: f.Get("title_en"),
		BodyJA: f.Get("body_ja"), BodyEN: f.Get("body_en"), Security: f.Get("security") == "on", DataAffected: f.Get("data_affected")}
}

// opnApprovalsData is the security officer's page: the drafts that need
// an approval to be published inside the minimum notice period, and the
// security incidents with what data each touched.
type opnApprovalsData struct {
	Waiting  []opnWaiting
	Security []notice.Notice
	Staff    map[string]string
}

type opnWaiting struct {
	Notice  notice.Notice
	Preview notice.Preview
}

func (s *Server) opnApprovalsData(r *http.Request) (opnApprovalsData, error) {
	var d opnApprovalsData
	svc, err := s.notices()
	if err != nil {
		return d, err
	}
	ctx := r.Context()
	if d.Staff, err = s.opnStaff(r); err != nil {
		return d, err
	}
	a, err := svc.Approvals(ctx)
	if err != nil {
		return d, err
	}
	d.Security = a.Security
	for _, n := range a.Pending {
		// The preview names the customers the officer approves telling
		// at short notice.
		p, err := svc.Preview(ctx, n.ID)
		if f := classify(err); err != nil && (f.Kind == fault.Internal || f.Kind == fault.Unavailable) {
			return d, err
		}
		if err == nil {
			d.Waiting = append(d.Waiting, opnWaiting{n, p})
		}
	}
	return d, nil
}

func (s *Server) opnApprovals(w http.ResponseWriter, r *http.Request) error {
	d, err := s.opnApprovalsData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "opnotice-approvals", d)
}

func (s *Server) opnApprove(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.notices()
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	if _, err := svc.Approve(r.Context(), r.PathValue("id"), r.PostForm.Get("reason")); err != nil {
		d, derr := s.opnApprovalsData(r)
		if derr != nil {
			return derr
		}
		return s.renderRefused(w, r, "opnotice-approvals", d, err)
	}
	return redirect(w, r, "/notice-approvals", "opnotice.flash.approved")
}

// opnStaff maps the staff's account IDs, which notices record, to the login
// IDs people know each other by. Both roles that see these pages may list
// the staff (identity.ListStaff); a name it lacks shows as the ID.
func (s *Server) opnStaff(r *http.Request) (map[string]string, error) {
	staff, _, err := s.deps.Identity.ListStaff(r.Context(), principal(r), opcAll)
	if err != nil {
		return nil, err
	}
	names := make(map[string]string, len(staff))
	for _, a := range staff {
		names[a.ID] = a.LoginID
	}
	return names, nil
}
