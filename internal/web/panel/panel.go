// Package panel holds the control panel's presentation: the message
// catalogue in Japanese and English, the html/template pages, the static
// assets (htmx, the style sheet, the panel's own small script) and the
// helpers pages share (times in JST, sizes, the topology picture). It knows
// nothing of routing, authentication or the domain services: web's page
// handlers call the services and hand this package a View to render.
//
// Every string a person reads comes from the catalogue (messages/*.json),
// where each key carries both languages side by side; a template asks for a
// key with {{t "key"}} and rendering fails on a key the catalogue lacks, so
// a test that renders a page in both languages catches a missing text.
package panel

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
)

//go:embed templates assets messages
var files embed.FS

// Languages are the panel's languages, the default first.
var Languages = []string{"ja", "en"}

// Assets are the static files served under /assets/ (htmx with its
// licence, the style sheet, panel.js).
func Assets() fs.FS {
	sub, err := fs.Sub(files, "assets")
	if err != nil {
		panic(err)
	}
	return sub
}

// Renderer renders pages: one template set per language, each page a clone
// of the layout with the page's file parsed into it.
type Renderer struct {
	cat   *Catalogue
	pages map[string]map[string]*template.Template // language → page → template
}

// New parses every template in both languages. A template that does not
// parse is a programming error and fails here, at start-up.
func New() (*Renderer, error) {
	cat, err := LoadCatalogue()
	if err != nil {
		return nil, err
	}
	r := &Renderer{cat: cat, pages: map[string]map[string]*template.Template{}}
	pageFiles, err := fs.Glob(files, "templates/pages/*.html")
	if err != nil {
		return nil, err
	}
	for _, lang := range Languages {
		base := template.New("layout").Funcs(r.funcs(lang))
		if _, err := base.ParseFS(files, "templates/layout.html", "templates/partials/*.html"); err != nil {
			return nil, fmt.Errorf("panel templates: %w", err)
		}
		r.pages[lang] = map[string]*template.Template{}
		for _, f := range pageFiles {
			t, err := template.Must(base.Clone()).ParseFS(files, f)
			if err != nil {
				return nil, fmt.Errorf("panel page %s: %w", f, err)
			}
			r.pages[lang][strings.TrimSuffix(path.Base(f), ".html")] = t
		}
	}
	return r, nil
}

// Catalogue is the renderer's message catalogue.
func (r *Renderer) Catalogue() *Catalogue { return r.cat }

// Pages lists the page names, sorted.
func (r *Renderer) Pages() []string {
	var out []string
	for name := range r.pages[Languages[0]] {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Render writes page in v.Lang inside the layout. The page is rendered into
// a buffer first, so that a failure (a missing key, a bad value) sends no
// half page and the caller can still answer with an error.
func (r *Renderer) Render(w io.Writer, page string, v *View) error {
	return r.render(w, page, "layout", v)
}

// Fragment writes one named template of page without the layout: the part
// an htmx request replaces.
func (r *Renderer) Fragment(w io.Writer, page, name string, v *View) error {
	return r.render(w, page, name, v)
}

func (r *Renderer) render(w io.Writer, page, name string, v *View) error {
	set, ok := r.pages[v.Lang]
	if !ok {
		return fmt.Errorf("panel: no language %q", v.Lang)
	}
	t, ok := set[page]
	if !ok {
		return fmt.Errorf("panel: no page %q", page)
	}
	v.Page = page
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, v); err != nil {
		return fmt.Errorf("panel: render %s/%s: %w", page, name, err)
	}
	_, err := buf.WriteTo(w)
	return err
}
