package web

import (
	"net/http"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/network/custexport"
)

// The customer's own copy of its saved data (network/export.go): the export
// document as a file, and its import into the draft.

// exportFilename names the downloaded file after the customer's day (JST).
func exportFilename() string {
	return "tsunagi-export-" + clock.Today() + ".json"
}

func (s *Server) netExport(w http.ResponseWriter, r *http.Request) error {
	n, err := s.network()
	if err != nil {
		return err
	}
	doc, err := n.Export(r.Context(), principal(r).Scope())
	if err != nil {
		return err
	}
	// The monitors are saved data too; a scope without monitors.read (a
	// narrowed grant) gets the rest of the document.
	if s.deps.Monitors != nil {
		if doc.Monitors, err = s.deps.Monitors.Export(r.Context(), principal(r).Scope()); err != nil && !fault.Is(err, fault.Forbidden) {
			return err
		}
	}
	b, err := custexport.Encode(&doc)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="`+exportFilename()+`"`)
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(b)
	return err
}

// importParams reads ?version= (a number or "draft"; left out, the newest
// applied version) and the mapping ?map=old=new (repeated, or
// comma-separated).
func importParams(version string, maps []string) (custexport.Choice, map[string]string, error) {
	choice, err := custexport.ParseChoice(version)
	if err != nil {
		return choice, nil, fault.Field("version", "version must be a version number of the file or \"draft\"")
	}
	mapping := map[string]string{}
	for _, m := range maps {
		for _, pair := range strings.FieldsFunc(m, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
			pair = strings.TrimSpace(pair)
			if pair == "" {
				continue
			}
			old, to, ok := strings.Cut(pair, "=")
			old, to = strings.TrimSpace(old), strings.TrimSpace(to)
			if !ok || old == "" || to == "" || len(pair) > 100 {
				return choice, nil, fault.Field("map", "%q is not old=new (a port code or hub ID of the file = one of yours)", pair)
			}
			if _, dup := mapping[old]; dup {
				return choice, nil, fault.Field("map", "%s is mapped twice", old)
			}
			mapping[old] = to
		}
	}
	return choice, mapping, nil
}

func (s *Server) netImport(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	choice, mapping, err := importParams(q.Get("version"), q["map"])
	if err != nil {
		return err
	}
	body, err := readJSONBody(w, r, custexport.MaxDocument)
	if err != nil {
		return err
	}
	// Duplicate keys and invalid UTF-8, which encoding/json would let
	// through, are refused before the document is read.
	if _, err := scanJSON(body, false); err != nil {
		if fault.Is(err, fault.Invalid) {
			return err
		}
		return fault.Wrap(fault.Invalid, err, "the file is not valid JSON")
	}
	return netDo(s, w, func(n *network.Workflow) (network.Draft, error) {
		return n.Import(r.Context(), principal(r).Scope(), body, choice, mapping)
	})
}
