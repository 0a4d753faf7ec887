package mail

import (
	"bytes"
	"fmt"
	"io/fs"
	"strings"
	"text/template"
)

// Templates are mail texts kept as template files, one per message and
// language (<name>.<lang>.txt): the first line is "Subject: …", the rest
// is the body. A language without its own file falls back to Japanese.
// Each package that sends mail keeps its own files and parses them once
// with ParseTemplates.
type Templates struct{ t *template.Template }

// ParseTemplates parses the files matching pattern in fsys; a template
// that does not parse panics (the files are embedded in the binary, so
// this happens in every test run, never first in production).
func ParseTemplates(fsys fs.FS, pattern string) *Templates {
	return &Templates{template.Must(template.New("").Option("missingkey=error").
		Funcs(template.FuncMap{"join": strings.Join}).ParseFS(fsys, pattern))}
}

// Message renders message name in lang (ja unless "en") for to, caused by
// the audit action cause.
func (t *Templates) Message(name, cause, lang, to string, data any) (Message, error) {
	if lang != "en" {
		lang = "ja"
	}
	var b bytes.Buffer
	if err := t.t.ExecuteTemplate(&b, name+"."+lang+".txt", data); err != nil {
		return Message{}, fmt.Errorf("mail %s.%s: %w", name, lang, err)
	}
	head, body, _ := strings.Cut(b.String(), "\n")
	subject, ok := strings.CutPrefix(head, "Subject: ")
	if !ok {
		return Message{}, fmt.Errorf("mail %s.%s: the first line must be the subject", name, lang)
	}
	return Message{Cause: cause, To: to, Language: lang, Subject: subject, Body: body}, nil
}
