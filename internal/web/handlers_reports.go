package web

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/notice"
)

// Customers' reports to the operator (notice.Reports): the customer's API
// on its own reports and the operator's queue. A report is filed as JSON
// or as multipart/form-data with an attachment; the request is read with
// its size bounded as it is read, so an oversized file is refused after
// at most the limit's bytes.

// reportFormLimit bounds a multipart report: the attachment and the text
// fields around it (a description of 20,000 characters is at most 80 kB).
const reportFormLimit = notice.MaxAttachment + 256<<10

// reportFieldLimit bounds one text field of a multipart report: more than
// any valid description (20,000 characters of at most 4 bytes).
const reportFieldLimit = 100 << 10

// readReport reads a new report from r: JSON, or multipart/form-data with
// the fields category, subject, description and the file attachment. The
// text fields are also put in r.PostForm, so that a refused form on the
// panel shows what was typed.
func (s *Server) readReport(w http.ResponseWriter, r *http.Request) (notice.ReportInput, error) {
	var in notice.ReportInput
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		err := s.decodeText(w, r, &in)
		return in, err
	}
	r.Body = http.MaxBytesReader(w, r.Body, reportFormLimit)
	mr, err := r.MultipartReader()
	if err != nil {
		return in, fault.New(fault.Invalid, "the form could not be read")
	}
	r.PostForm = url.Values{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return in, formReadError(err)
		}
		name := part.FormName()
		if name == "attachment" {
			if part.FileName() == "" { // the browser's empty file input
				_, _ = io.Copy(io.Discard, io.LimitReader(part, 1))
				continue
			}
			if in.Attachment != nil {
				return in, fault.Field("attachment", "at most one attachment")
			}
			// One byte more than the limit tells an oversized file
			// apart without reading the rest of it.
			b, err := io.ReadAll(io.LimitReader(part, notice.MaxAttachment+1))
			if err != nil {
				return in, formReadError(err)
			}
			if len(b) > notice.MaxAttachment {
				return in, fault.New(fault.TooLarge, "the attachment is larger than 5 MiB")
			}
			in.Attachment = &notice.Upload{Filename: part.FileName(), DeclaredType: part.Header.Get("Content-Type"), Content: b}
			continue
		}
		// A text field over its limit is refused, never cut short.
		b, err := io.ReadAll(io.LimitReader(part, reportFieldLimit+1))
		if err != nil {
			return in, formReadError(err)
		}
		if len(b) > reportFieldLimit {
			return in, formReadError(&http.MaxBytesError{Limit: reportFieldLimit})
		}
		v := string(b)
		switch name {
		case "category":
			in.Category = v
		case "subject":
			in.Subject = v
		case "description":
			in.Description = strings.ReplaceAll(v, "\r\n", "\n")
		default:
			return in, fault.Field(name, "unknown field %s", name)
		}
		r.PostForm.Set(name, v)
	}
	return in, nil
}

func formReadError(err error) error {
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return fault.New(fault.TooLarge, "the form is larger than %d bytes", reportFormLimit)
	}
	return fault.Wrap(fault.Invalid, err, "the form could not be read")
}

func reportQuery(r *http.Request, p catalog.Page) notice.ReportQuery {
	return notice.ReportQuery{Status: r.URL.Query().Get("status"), After: p.After, Limit: p.Limit}
}

func (s *Server) listReports(w http.ResponseWriter, r *http.Request) error {
	return listed(w, r, func(p catalog.Page) ([]notice.Report, string, error) {
		return s.deps.Reports.List(r.Context(), principal(r).Scope(), reportQuery(r, p))
	})
}

func (s *Server) fileReport(w http.ResponseWriter, r *http.Request) error {
	in, err := s.readReport(w, r)
	if err != nil {
		return err
	}
	d, err := s.deps.Reports.File(r.Context(), principal(r).Scope(), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, d)
	return nil
}

func (s *Server) getReport(w http.ResponseWriter, r *http.Request) error {
	d, err := s.deps.Reports.Get(r.Context(), principal(r).Scope(), r.PathValue("report"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) replyReport(w http.ResponseWriter, r *http.Request) error {
	var in notice.ReplyInput
	if err := s.decodeText(w, r, &in); err != nil {
		return err
	}
	d, err := s.deps.Reports.Reply(r.Context(), principal(r).Scope(), r.PathValue("report"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, d)
	return nil
}

func (s *Server) reportAttachment(w http.ResponseWriter, r *http.Request) error {
	a, content, err := s.deps.Reports.Attachment(r.Context(), principal(r).Scope(), r.PathValue("report"), r.PathValue("attachment"))
	if err != nil {
		return err
	}
	serveAttachment(w, a, content)
	return nil
}

// serveAttachment answers a report's file for download only: as the type
// its content was checked to be, never sniffed into another, never shown
// inline in the panel's origin.
func serveAttachment(w http.ResponseWriter, a notice.Attachment, content []byte) {
	h := w.Header()
	h.Set("Content-Type", a.ContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": a.Filename}))
	h.Set("Content-Length", strconv.Itoa(len(content)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(content)
}

func (s *Server) queueReports(w http.ResponseWriter, r *http.Request) error {
	return listed(w, r, func(p catalog.Page) ([]notice.Report, string, error) {
		return s.deps.Reports.Queue(r.Context(), reportQuery(r, p))
	})
}

func (s *Server) staffGetReport(w http.ResponseWriter, r *http.Request) error {
	d, err := s.deps.Reports.StaffGet(r.Context(), r.PathValue("report"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) staffReplyReport(w http.ResponseWriter, r *http.Request) error {
	var in notice.ReplyInput
	if err := s.decodeText(w, r, &in); err != nil {
		return err
	}
	d, err := s.deps.Reports.StaffReply(r.Context(), r.PathValue("report"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, d)
	return nil
}

// reportStatusInput is the operator's new status of a report.
type reportStatusInput struct {
	Status string `json:"status"`
}

func (s *Server) setReportStatus(w http.ResponseWriter, r *http.Request) error {
	var in reportStatusInput
	if err := s.decodeText(w, r, &in); err != nil {
		return err
	}
	d, err := s.deps.Reports.SetStatus(r.Context(), r.PathValue("report"), in.Status)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) staffReportAttachment(w http.ResponseWriter, r *http.Request) error {
	a, content, err := s.deps.Reports.StaffAttachment(r.Context(), r.PathValue("report"), r.PathValue("attachment"))
	if err != nil {
		return err
	}
	serveAttachment(w, a, content)
	return nil
}
