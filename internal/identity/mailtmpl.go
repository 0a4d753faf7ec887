package identity

import (
	"embed"

	"github.com/tsunagi-net/tsunagi/internal/mail"
)

// Mail texts kept as template files, one per message and language
// (mailtext/<name>.<lang>.txt; see mail.Templates).

//go:embed mailtext/*.txt
var mailFiles embed.FS

var mailTemplates = mail.ParseTemplates(mailFiles, "mailtext/*.txt")

// templateMail renders message name in lang for to.
func templateMail(name, cause, lang, to string, data any) (mail.Message, error) {
	return mailTemplates.Message(name, cause, lang, to, data)
}

// DefaultLinkBases sets the base URLs of the links in mail to customer and
// mgmt where the configuration gave none (serve passes its listeners'
// addresses, known once they are bound). It must be called before the
// service is used. The WebAuthn relying party is made again from them: a
// browser signs its origin, port included, into every ceremony, so the
// origins must be the listeners' actual ones (https://localhost:8443), not
// the bare https://localhost that New assumed without them.
func (s *Service) DefaultLinkBases(customer, mgmt string) error {
	if s.cfg.CustomerURL == "" {
		s.cfg.CustomerURL = customer
	}
	if s.cfg.MgmtURL == "" {
		s.cfg.MgmtURL = mgmt
	}
	rp, err := newRelyingParty(s.cfg)
	if err != nil {
		return err
	}
	s.rp = rp
	return nil
}
