package web

import (
	"errors"
	"io"
	"net/http"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network/custexport"
)

// The customer's own copy of its saved data in the panel (docs/service-spec.md
// "Your own copy of your configuration"): /export downloads the export
// document and imports one of its configurations into the draft, then shows
// the review. The pages call the network.Workflow methods the API's
// handlers call (handlers_export.go), with the viewer's own scope.

// exportPages are the panel's pages for the customer's export and import.
func (s *Server) exportPages() []pageRoute {
	return []pageRoute{
		{"GET", "/export", identity.ActNetworkRead, nil, s.expPage},
		{"GET", "/export/download", identity.ActNetworkRead, []string{"GET /api/v1/network/export"}, s.netExport},
		{"POST", "/export/import", identity.ActNetworkEdit, []string{"POST /api/v1/network/import"}, s.expImportPage},
	}
}

// expData is /export: the customer's ports, by which a file from another
// deployment is mapped.
type expData struct {
	Ports []catalog.Port
}

func (s *Server) expData(r *http.Request) (expData, error) {
	ports, err := everything(func(p catalog.Page) ([]catalog.Port, string, error) {
		return s.deps.Catalog.ListPorts(r.Context(), principal(r).Scope(), "", p)
	})
	return expData{Ports: ports}, err
}

func (s *Server) expPage(w http.ResponseWriter, r *http.Request) error {
	d, err := s.expData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, "exp-export", d)
}

// expImportPage imports the uploaded file into the draft, taking the edit
// lock (someone else's refuses); the review follows. A refusal shows the
// form again, with neither lock nor draft changed.
func (s *Server) expImportPage(w http.ResponseWriter, r *http.Request) error {
	err := s.expImport(w, r)
	if err == nil {
		return redirect(w, r, "/network/review", "exp.flash_imported")
	}
	d, derr := s.expData(r)
	if derr != nil {
		return derr
	}
	// A problem inside the file is named by its place in the file, above
	// the form; the form's own fields take theirs.
	if f, ok := fault.As(err); ok && f.Field != "" && f.Field != "map" && f.Field != "version" && f.Field != "file" {
		err = aboveForm{err}
	}
	return s.renderRefused(w, r, "exp-export", d, err)
}

func (s *Server) expImport(w http.ResponseWriter, r *http.Request) error {
	n, err := s.network()
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, custexport.MaxDocument+MaxBody)
	if err := r.ParseMultipartForm(MaxBody); err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return fault.New(fault.TooLarge, "the form is larger than %d bytes", custexport.MaxDocument+MaxBody)
		}
		return fault.New(fault.Invalid, "the form could not be read")
	}
	defer r.MultipartForm.RemoveAll()
	choice, mapping, err := importParams(r.PostForm.Get("version"), r.PostForm["map"])
	if err != nil {
		return err
	}
	f, _, err := r.FormFile("file")
	if err != nil {
		return fault.Field("file", "choose the export file to import")
	}
	defer f.Close()
	body, err := io.ReadAll(f)
	if err != nil {
		return fault.New(fault.Invalid, "the form could not be read")
	}
	if _, err := scanJSON(body, false); err != nil {
		if fault.Is(err, fault.Invalid) {
			return err
		}
		return fault.Wrap(fault.Invalid, err, "the file is not valid JSON")
	}
	_, err = n.Import(r.Context(), principal(r).Scope(), body, choice, mapping)
	return err
}
