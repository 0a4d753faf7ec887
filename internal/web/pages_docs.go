package web

import (
	"bytes"
	"html/template"
	"net/http"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"

	"github.com/tsunagi-net/tsunagi/docs"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
)

// docPages are the service documents (the repository's docs/, embedded in
// the binary), for every signed-in customer.
func (s *Server) docPages() []pageRoute {
	return []pageRoute{
		{"GET", "/docs", identity.ActSelf, nil, s.docListPage},
		{"GET", "/docs/{name}", identity.ActSelf, nil, s.docPage},
		{"GET", "/docs/{dir}/{file}", identity.ActSelf, nil, s.docImage},
	}
}

func (s *Server) docListPage(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, "doc-list", docs.List())
}

type docData struct {
	docs.Doc
	HTML template.HTML
}

func (s *Server) docPage(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	src, ok := docs.Source(name)
	if !ok {
		return fault.New(fault.NotFound, "document not found")
	}
	html, err := renderDoc(src)
	if err != nil {
		return err
	}
	d := docData{Doc: docs.Doc{Name: name, Title: name}, HTML: html}
	for _, x := range docs.List() {
		if x.Name == name {
			d.Doc = x
		}
	}
	return s.render(w, r, "doc-page", d)
}

// docMarkdown renders the documents: GitHub's tables and autolinks, and
// headings with IDs so that a section can be linked. It is goldmark's safe
// mode (no html.WithUnsafe): raw HTML in a document is left out and links
// to dangerous schemes (javascript:, …) are emptied, so that a document can
// never put script into the panel, whose CSP would refuse it anyway.
var docMarkdown = goldmark.New(
	goldmark.WithExtensions(extension.GFM),
	goldmark.WithParserOptions(parser.WithAutoHeadingID(),
		parser.WithASTTransformers(util.Prioritized(docLinks{}, 100))),
)

// renderDoc is a document's Markdown as HTML for the doc page.
func renderDoc(src []byte) (template.HTML, error) {
	var buf bytes.Buffer
	if err := docMarkdown.Convert(src, &buf); err != nil {
		return "", err
	}
	// Safe: goldmark escapes text and omits raw HTML (see docMarkdown).
	return template.HTML(buf.String()), nil
}

// docLinks points links between the documents ("roles.md",
// "roles.md#section") at their pages, /docs/roles: the files link to each
// other as they sit in the repository.
type docLinks struct{}

func (docLinks) Transform(doc *ast.Document, _ text.Reader, _ parser.Context) {
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if l, ok := n.(*ast.Link); ok && entering {
			l.Destination = []byte(docLink(string(l.Destination)))
		}
		return ast.WalkContinue, nil
	})
}

// docLink is dest rewritten to a document's page when it names one of the
// documents, else dest.
func docLink(dest string) string {
	file, frag, hasFrag := strings.Cut(dest, "#")
	name, ok := strings.CutSuffix(strings.TrimPrefix(file, "./"), ".md")
	if !ok {
		return dest
	}
	if _, ok := docs.Source(name); !ok {
		return dest
	}
	out := "/docs/" + name
	if hasFrag {
		out += "#" + frag
	}
	return out
}

// docImage serves a picture a document shows (docs.Image), under the
// document's own path so that the Markdown's relative links work.
func (s *Server) docImage(w http.ResponseWriter, r *http.Request) error {
	b, ok := docs.Image(r.PathValue("dir"), r.PathValue("file"))
	if !ok {
		return fault.New(fault.NotFound, "document not found")
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	_, err := w.Write(b)
	return err
}
