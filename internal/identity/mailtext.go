package identity

import (
	"fmt"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/mail"
)

// The mails of the account flows, in the recipient's language. Links carry a
// single-use secret and are never logged or audited.

func (s *Service) link(side Side, path string) string {
	base := s.cfg.CustomerURL
	if side == OperatorSide {
		base = s.cfg.MgmtURL
	}
	return base + path
}

func inviteMail(lang, to, name, loginID, link string, exp time.Time) mail.Message {
	m := mail.Message{Cause: "account.invite", To: to, Language: lang}
	if lang == "en" {
		m.Subject = "[tsunagi] Your account " + loginID + " is waiting for a password"
		m.Body = fmt.Sprintf("Dear %s,\n\nAn account with the login ID %s has been created for you.\n"+
			"Set your password within 72 hours at:\n\n  %s\n\nThe link works once and expires at %s (JST).\n"+
			"If you did not expect this mail, ignore it.\n", name, loginID, link, clock.Show(exp))
		return m
	}
	m.Subject = "[tsunagi] アカウント " + loginID + " のパスワード設定のお願い"
	m.Body = fmt.Sprintf("%s 様\n\nログインID %s のアカウントが作成されました。\n"+
		"72時間以内に次のリンクからパスワードを設定してください。\n\n  %s\n\n"+
		"このリンクは一度だけ有効で、%s (JST) に失効します。\nお心当たりのない場合は、このメールを破棄してください。\n",
		name, loginID, link, clock.Show(exp))
	return m
}

func resetMail(lang, to, name, loginID, link string, exp time.Time) mail.Message {
	m := mail.Message{Cause: "password.reset.request", To: to, Language: lang}
	if lang == "en" {
		m.Subject = "[tsunagi] Password reset for " + loginID
		m.Body = fmt.Sprintf("Dear %s,\n\nA password reset was requested for the login ID %s.\n"+
			"Set a new password within 30 minutes at:\n\n  %s\n\nThe link works once and expires at %s (JST).\n"+
			"If you did not ask for this, ignore this mail: your password stays as it is.\n", name, loginID, link, clock.Show(exp))
		return m
	}
	m.Subject = "[tsunagi] パスワード再設定 (" + loginID + ")"
	m.Body = fmt.Sprintf("%s 様\n\nログインID %s のパスワード再設定が要求されました。\n"+
		"30分以内に次のリンクから新しいパスワードを設定してください。\n\n  %s\n\n"+
		"このリンクは一度だけ有効で、%s (JST) に失効します。\n"+
		"お心当たりのない場合は、このメールを破棄してください。パスワードは変更されません。\n",
		name, loginID, link, clock.Show(exp))
	return m
}

func tokenReminderMail(lang, to, loginID, name string, exp time.Time) mail.Message {
	m := mail.Message{Cause: "token.remind", To: to, Language: lang}
	if lang == "en" {
		m.Subject = "[tsunagi] API token \"" + name + "\" expires on " + exp.In(clock.JST).Format("2006-01-02")
		m.Body = fmt.Sprintf("The API token %q of the login ID %s expires at %s (JST).\n"+
			"Create a new token before then and switch your automation to it; the old one stops working at expiry.\n",
			name, loginID, clock.Show(exp))
		return m
	}
	m.Subject = "[tsunagi] APIトークン「" + name + "」の有効期限が近づいています"
	m.Body = fmt.Sprintf("ログインID %s のAPIトークン「%s」は %s (JST) に失効します。\n"+
		"それまでに新しいトークンを作成し、自動化の設定を切り替えてください。失効後は古いトークンは使えません。\n",
		loginID, name, clock.Show(exp))
	return m
}
