package web

import (
	"html/template"
	"net/http"

	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
)

// The setup page completes a single-use setup or invitation link in a browser
// with a plain HTML form (no script), before the control panel exists. It
// calls the same identity service as POST /api/v1/setup.
var setupTmpl = template.Must(template.New("setup").Parse(`<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><title>tsunagi — setup / 初期設定</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family:sans-serif;max-width:36em;margin:2em auto">
<h1>tsunagi</h1>
{{if .Done}}<p>アカウント {{.LoginID}} を設定しました。ログインできます。<br>Account {{.LoginID}} is set up. You can now log in.</p>
{{else}}
{{if .Error}}<p style="color:#b00" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/setup">
<input type="hidden" name="token" value="{{.Token}}">
{{if .First}}
<p>最初のオペレーターアカウントを作成します。<br>Create the first operator account.</p>
<p><label>ログインID / Login ID<br><input name="login_id" required autocomplete="username"></label></p>
<p><label>氏名 / Name<br><input name="display_name" required></label></p>
<p><label>メール / E-mail<br><input name="email" type="email" required></label></p>
{{else}}<p>招待されたアカウントのパスワードを設定します。<br>Set the password of your invited account.</p>{{end}}
<p><label>パスワード（12文字以上） / Password (12 characters or more)<br>
<input name="password" type="password" minlength="12" required autocomplete="new-password"></label></p>
<p><button type="submit">設定 / Set up</button></p>
</form>{{end}}
</body></html>`))

type setupView struct {
	Token, LoginID, Error string
	First, Done           bool
}

func (s *Server) setupPage(side identity.Side) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		v := setupView{Token: r.URL.Query().Get("token"), First: side == identity.OperatorSide && r.URL.Query().Get("first") == "1"}
		code := http.StatusOK
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if err := r.ParseForm(); err != nil {
				return fault.New(fault.Invalid, "the form could not be read")
			}
			in := identity.SetupInput{Token: r.PostForm.Get("token"), LoginID: r.PostForm.Get("login_id"),
				DisplayName: r.PostForm.Get("display_name"), Email: r.PostForm.Get("email"), Password: r.PostForm.Get("password")}
			v.Token, v.First = in.Token, in.LoginID != ""
			a, err := s.deps.Identity.CompleteSetup(r.Context(), side, in)
			if err != nil {
				f := classify(err)
				if f.Kind == fault.Internal || f.Kind == fault.Unavailable {
					return err
				}
				v.Error, code = f.Message, statusOf[f.Kind]
			} else {
				v.Done, v.LoginID = true, a.LoginID
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
		w.WriteHeader(code)
		return setupTmpl.Execute(w, v)
	}
}
