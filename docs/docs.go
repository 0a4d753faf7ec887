// Package docs holds tsunagi's service documents, the Markdown files of
// this directory, embedded so that the controller serves to customers
// exactly the files that are in the repository (the control panel's
// /docs pages, ISO/IEC 27017 8.2.2 and CLD.12.1.5). It only holds them:
// rendering is the panel's.
package docs

import (
	"bufio"
	"embed"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.md panel/*.png
var files embed.FS

// FS is the documents, one file per document, "<name>.md" at its root.
func FS() fs.FS { return files }

// Doc is one document: its name (the file name without ".md") and its
// title (the text of its first "# " heading, or the name).
type Doc struct {
	Name  string
	Title string
}

// List returns every document, sorted by name. The titles are read from
// the files themselves, so that a document's title is written once.
func List() []Doc {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		panic(err) // the embedded directory is always readable
	}
	var out []Doc
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".md")
		if !ok || e.IsDir() {
			continue
		}
		out = append(out, Doc{Name: name, Title: title(e.Name(), name)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Source returns the Markdown of document name, and false when there is
// no such document. A name is a bare file name: anything with a path
// separator or a dot is not one.
func Source(name string) ([]byte, bool) {
	if name == "" || strings.ContainsAny(name, "/\\.") {
		return nil, false
	}
	b, err := fs.ReadFile(files, name+".md")
	return b, err == nil
}

// Image returns a picture a document shows (dir/file, e.g. panel/home-en.png:
// a PNG one directory below the documents), and false when there is none.
func Image(dir, file string) ([]byte, bool) {
	if dir == "" || strings.ContainsAny(dir, "/\\.") || strings.ContainsAny(file, "/\\") ||
		!strings.HasSuffix(file, ".png") || strings.HasPrefix(file, ".") {
		return nil, false
	}
	b, err := fs.ReadFile(files, dir+"/"+file)
	return b, err == nil
}

func title(file, def string) string {
	f, err := files.Open(file)
	if err != nil {
		return def
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if t, ok := strings.CutPrefix(sc.Text(), "# "); ok {
			return strings.TrimSpace(t)
		}
	}
	return def
}
