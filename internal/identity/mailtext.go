package identity

import (
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/mail"
)

// The mails of the account flows, in the recipient's language, from the
// template files in mailtext/ (mailtmpl.go). Links carry a single-use secret
// and are never logged or audited.

func (s *Service) link(side Side, path string) string {
	base := s.cfg.CustomerURL
	if side == OperatorSide {
		base = s.cfg.MgmtURL
	}
	return base + path
}

// linkMail is the data of the single-use link mails (mailtext/account-invite
// and mailtext/password-reset).
type linkMail struct {
	Name, LoginID, Link, Expires string
}

func inviteMail(lang, to, name, loginID, link string, exp time.Time) (mail.Message, error) {
	return templateMail("account-invite", "account.invite", lang, to,
		linkMail{Name: name, LoginID: loginID, Link: link, Expires: clock.Show(exp)})
}

func resetMail(lang, to, name, loginID, link string, exp time.Time) (mail.Message, error) {
	return templateMail("password-reset", "password.reset.request", lang, to,
		linkMail{Name: name, LoginID: loginID, Link: link, Expires: clock.Show(exp)})
}

func tokenReminderMail(lang, to, loginID, name string, exp time.Time) (mail.Message, error) {
	return templateMail("token-remind", "token.remind", lang, to, struct{ Name, LoginID, Expires, Date string }{
		Name: name, LoginID: loginID, Expires: clock.Show(exp), Date: exp.In(clock.JST).Format(clock.DateLayout)})
}

// Link is the address of path on side's listener, as mails write it
// (--customer-url and --mgmt-url, else the listeners' own addresses).
func (s *Service) Link(side Side, path string) string { return s.link(side, path) }
