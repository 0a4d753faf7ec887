package identity

import (
	"bytes"
	"embed"
	"fmt"
	"strings"
	"text/template"

	"github.com/tsunagi-net/tsunagi/internal/mail"
)

// Mail texts kept as template files, one per message and language
// (mailtext/<name>.<lang>.txt): the first line is "Subject: …", the rest is
// the body. A language without its own file falls back to Japanese.

//go:embed mailtext/*.txt
var mailFiles embed.FS

var mailTemplates = template.Must(template.New("").Option("missingkey=error").Funcs(template.FuncMap{"join": strings.Join}).
	ParseFS(mailFiles, "mailtext/*.txt"))

// templateMail renders message name in lang for to.
func templateMail(name, cause, lang, to string, data any) (mail.Message, error) {
	if lang != "en" {
		lang = "ja"
	}
	var b bytes.Buffer
	if err := mailTemplates.ExecuteTemplate(&b, name+"."+lang+".txt", data); err != nil {
		return mail.Message{}, fmt.Errorf("mail %s.%s: %w", name, lang, err)
	}
	head, body, _ := strings.Cut(b.String(), "\n")
	subject, ok := strings.CutPrefix(head, "Subject: ")
	if !ok {
		return mail.Message{}, fmt.Errorf("mail %s.%s: the first line must be the subject", name, lang)
	}
	return mail.Message{Cause: cause, To: to, Language: lang, Subject: subject, Body: body}, nil
}

// DefaultLinkBases sets the base URLs of the links in mail to customer and
// mgmt where the configuration gave none (serve passes its listeners'
// addresses, known once they are bound). It must be called before the
// service is used.
func (s *Service) DefaultLinkBases(customer, mgmt string) {
	if s.cfg.CustomerURL == "" {
		s.cfg.CustomerURL = customer
	}
	if s.cfg.MgmtURL == "" {
		s.cfg.MgmtURL = mgmt
	}
}
