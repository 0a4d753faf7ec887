package identity

import (
	"bytes"
	"embed"
	"fmt"
	"strings"
	"text/template"

	"github.com/tsunagi-net/tsunagi/internal/mail"
)

// Mail texts kept as templates, one file per kind and language
// (mailtext/<kind>.<lang>.txt): the first line is "Subject: …", the rest is
// the body. Both languages of a kind take the same data.

//go:embed mailtext/*.txt
var mailTextFS embed.FS

var mailTexts = template.Must(template.New("").Option("missingkey=error").ParseFS(mailTextFS, "mailtext/*.txt"))

// renderMail builds the mail of kind in lang ("ja" unless "en") to to, with
// cause as its outbox cause.
func renderMail(kind, lang, to, cause string, data any) (mail.Message, error) {
	if lang != "en" {
		lang = "ja"
	}
	var b bytes.Buffer
	if err := mailTexts.ExecuteTemplate(&b, kind+"."+lang+".txt", data); err != nil {
		return mail.Message{}, fmt.Errorf("mail text %s.%s: %w", kind, lang, err)
	}
	subject, body, _ := strings.Cut(b.String(), "\n")
	subject, ok := strings.CutPrefix(subject, "Subject: ")
	if !ok {
		return mail.Message{}, fmt.Errorf("mail text %s.%s: the first line must be the subject", kind, lang)
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
