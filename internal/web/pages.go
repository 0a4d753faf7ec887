package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/web/panel"
)

// pageRoute is one page (or form target) of the control panel. The panel is
// served by the same router as the API, behind the same authentication and
// permission table, and calls the same domain services with the same
// principal: it is another face of the API, not a path around it.
type pageRoute struct {
	Method string
	Path   string
	Action identity.Action // "" = public (sign-in, password reset, assets)
	// Covers lists the API operations ("GET /api/v1/ports") whose
	// capability this page offers; pages_coverage_test.go checks that
	// every operation of the OpenAPI documents is covered by a page or is
	// named API-only there.
	Covers []string
	// Handle is nil for a page the API's route table serves itself (the
	// setup link, an operation of the OpenAPI documents): the entry only
	// records its Covers.
	Handle func(w http.ResponseWriter, r *http.Request) error
}

// customerPages are the customer listener's pages; each part of the panel
// keeps its table in its own file.
func (s *Server) customerPages() []pageRoute {
	return concatPages(
		s.commonPages(identity.CustomerSide),
		s.authPages(identity.CustomerSide),
		s.selfPages(identity.CustomerSide),
		s.catalogPages(),
		s.workflowPages(),
		s.exportPages(),
		s.endingPages(),
		s.accountPages(),
		s.docPages(),
		s.purgeCustomerPages(),
		s.noticeCustomerPages(),
		s.reportCustomerPages(),
		s.evidenceCustomerPages(),
		s.usagePages(),
		s.lgPages(),
		s.flowPages(),
		s.monitorPages(),
		s.webhookCustomerPages(),
	)
}

// operatorPages are the management listener's pages (the operator console).
func (s *Server) operatorPages() []pageRoute {
	return concatPages(
		s.commonPages(identity.OperatorSide),
		s.authPages(identity.OperatorSide),
		s.selfPages(identity.OperatorSide),
		s.inventoryPages(),
		s.opCustomerPages(),
		s.backupPages(),
		s.nodesPages(),
		s.purgePages(),
		s.opEndingPages(),
		s.noticeOpPages(),
		s.noticeLogOpPages(),
		s.reportOpPages(),
		s.evidenceOpPages(),
	)
}

func concatPages(parts ...[]pageRoute) []pageRoute {
	var out []pageRoute
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// commonPages are the assets and the language switch, on either listener.
func (s *Server) commonPages(side identity.Side) []pageRoute {
	assets := http.FileServerFS(panel.Assets())
	return []pageRoute{
		{"GET", "/assets/{file...}", "", nil, func(w http.ResponseWriter, r *http.Request) error {
			// Embedded in the binary: they change only with it.
			w.Header().Set("Cache-Control", "public, max-age=3600")
			http.StripPrefix("/assets", assets).ServeHTTP(w, r)
			return nil
		}},
		{"POST", "/language", "", []string{"PUT /api/v1/me/language"}, s.switchLanguage(side)},
	}
}

// navigation is each listener's menu: path, catalogue key, and the action a
// viewer needs for the entry to show.
var navigation = map[identity.Side][]struct {
	Href, Key string
	Action    identity.Action
}{
	identity.CustomerSide: {
		{"/", "nav.home", identity.ActCatalogRead},
		{"/contracts", "nav.contracts", identity.ActCatalogRead},
		{"/hubs", "nav.hubs", identity.ActCatalogRead},
		{"/ports", "nav.ports", identity.ActCatalogRead},
		{"/network", "nav.network", identity.ActNetworkRead},
		{"/monitors", "nav.monitors", identity.ActMonitorsRead},
		{"/flows", "nav.flows", identity.ActFlowsRead},
		{"/export", "nav.export", identity.ActNetworkRead},
		{"/accounts", "nav.accounts", identity.ActAccountsRead},
		{"/security", "nav.security", identity.ActSecurityManage},
		{"/notices", "nav.notices", identity.ActNoticesRead},
		{"/reports", "nav.reports", identity.ActReportsFile},
		{"/notice-settings", "nav.notice_settings", identity.ActNoticesSettings},
		{"/webhooks", "nav.webhooks", identity.ActWebhooksRead},
		{"/audit", "nav.audit", identity.ActAuditOwn},
		{"/docs", "nav.docs", identity.ActSelf},
		{"/me", "nav.me", identity.ActSelf},
	},
	identity.OperatorSide: {
		{"/", "nav.op_home", identity.ActSelf},
		{"/nodes", "nav.nodes", identity.ActInventoryManage},
		{"/regions", "nav.regions", identity.ActInventoryManage},
		{"/capacity", "nav.capacity", identity.ActCapacityRead},
		{"/nat-pools", "nav.nat_pools", identity.ActCapacityRead},
		{"/customers", "nav.customers", identity.ActCatalogManage},
		{"/notices", "nav.op_notices", identity.ActNoticesManage},
		{"/notices/log", "nav.notice_log", identity.ActNoticesManage},
		{"/notice-approvals", "nav.notice_approvals", identity.ActNoticesApprove},
		{"/reports", "nav.op_reports", identity.ActReportsManage},
		{"/staff", "nav.staff", identity.ActStaffManage},
		{"/officers", "nav.officers", identity.ActOfficersManage},
		{"/recoveries", "nav.recoveries", identity.ActRecoveryApprove},
		{"/mail", "nav.mail", identity.ActMailRead},
		{"/audit", "nav.op_audit", identity.ActAuditRead},
		{"/evidence", "nav.evidence", identity.ActAuditRead},
		{"/jobs", "nav.jobs", identity.ActJobsRead},
		{"/backups", "nav.backups", identity.ActBackupsManage},
		{"/erasures", "nav.erasures", identity.ActErasuresRead},
		{"/me", "nav.me", identity.ActSelf},
	},
}

func sideName(side identity.Side) string {
	if side == identity.OperatorSide {
		return "operator"
	}
	return "customer"
}

// mountPages adds the panel's pages to m. A page with an Action admits its
// viewer exactly as the API does (admit); a viewer who is not signed in is
// sent to the sign-in page, one who owes a second factor to its step, and
// any other refusal is an HTML error page in the viewer's language.
func (s *Server) mountPages(m *http.ServeMux, pages []pageRoute, side identity.Side) {
	for _, pg := range pages {
		if pg.Handle == nil {
			// A page the route table serves (the setup link), listed
			// only for what it covers.
			continue
		}
		m.HandleFunc(pg.Method+" "+pg.Path, s.guarded(pg.Method+" "+pg.Path, func(w http.ResponseWriter, r *http.Request) {
			// Every answer of a page is under the panel's CSP, a redirect
			// (whose body is HTML too) included.
			w.Header().Set("Content-Security-Policy", pageCSP)
			r = withSide(r, side)
			if pg.Action != "" {
				var err error
				if r, err = s.admit(r, side, pg.Method+" "+pg.Path, pg.Action); err != nil {
					s.pageError(w, r, err)
					return
				}
			}
			if err := pg.Handle(w, r); err != nil {
				s.pageError(w, r, err)
			}
		}))
	}
}

// pageError answers a page request that failed: the sign-in page for a
// caller who is not signed in, the second-factor step for a pending session,
// otherwise an error page with the fault's status.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, err error) {
	refused(r)
	f := classify(err)
	switch {
	case f.Kind == fault.Unauthorized && r.Header.Get("HX-Request") == "true":
		// An htmx refresh of part of a page whose session ended: the
		// whole page goes to the sign-in, not the sign-in into the part.
		next := "/"
		if u, err := url.Parse(r.Header.Get("HX-Current-URL")); err == nil {
			next = localPath(u.RequestURI())
		}
		w.Header().Set("HX-Redirect", "/login?next="+url.QueryEscape(next))
		w.WriteHeader(http.StatusUnauthorized)
		return
	case f.Kind == fault.Unauthorized:
		// A form sent after the session ended returns to the start page
		// after sign-in; its target may not answer GET.
		next := "/"
		if r.Method == http.MethodGet {
			next = r.URL.RequestURI()
		}
		http.Redirect(w, r, "/login?next="+url.QueryEscape(next), http.StatusSeeOther)
		return
	case f.Code == identity.CodeMFAPending && r.Method == http.MethodGet:
		http.Redirect(w, r, "/login/mfa?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	code := statusOf[f.Kind]
	if code == 0 || f.Kind == fault.Internal {
		code = http.StatusInternalServerError
		s.deps.Log.ErrorContext(r.Context(), "page failed", "request_id", requestID(r), "method", r.Method,
			"path", r.URL.Path, "err", err)
	}
	v := s.view(r)
	v.Data = struct{ Message, RequestID string }{s.faultText(v.Lang, f), requestID(r)}
	s.writePage(w, r, code, "error", v)
}

// faultText is a fault's message in lang. The API's messages are written in
// English; the catalogue translates them (panel.Catalogue.Fault).
func (s *Server) faultText(lang string, f *fault.Error) string {
	if f.Kind == fault.Internal {
		return s.pages().Catalogue().MustText(lang, "error.internal")
	}
	return s.pages().Catalogue().Fault(lang, string(f.Kind), f.Message)
}

// render writes page with data, status 200.
func (s *Server) render(w http.ResponseWriter, r *http.Request, page string, data any) error {
	v := s.view(r)
	v.Data = data
	return s.writePage(w, r, http.StatusOK, page, v)
}

// renderRefused shows page again with the form as it was sent and the
// refusal next to the field that caused it (or above the form), with the
// refusal's status. An internal error is not a form problem: it is returned.
func (s *Server) renderRefused(w http.ResponseWriter, r *http.Request, page string, data any, err error) error {
	f := classify(err)
	if f.Kind == fault.Internal || f.Kind == fault.Unavailable {
		return err
	}
	v := s.view(r)
	v.Data, v.Form = data, r.PostForm
	msg := s.faultText(v.Lang, f)
	var above aboveForm
	if f.Field != "" && errors.As(err, &above) {
		v.Error = f.Field + ": " + msg
	} else if f.Field != "" {
		v.Errors = map[string]string{formField(f.Field): msg}
	} else {
		v.Error = msg
	}
	return s.writePage(w, r, statusOf[f.Kind], page, v)
}

// aboveForm marks a refusal whose field names a place in a document rather
// than a form field (the JSON editor's): renderRefused shows it above the
// form with the path, the message translated on its own.
type aboveForm struct{ error }

func (a aboveForm) Unwrap() error { return a.error }

// formField maps an API field path ("ports[0].speed", "routing.prefixes")
// to the form field the page names after it: the last element, without
// indexes.
func formField(apiField string) string {
	if i := strings.LastIndex(apiField, "."); i >= 0 {
		apiField = apiField[i+1:]
	}
	if i := strings.Index(apiField, "["); i >= 0 {
		apiField = apiField[:i]
	}
	return apiField
}

// writePage renders into a buffer (panel.Render), so a failure still gets a
// clean error answer.
func (s *Server) writePage(w http.ResponseWriter, r *http.Request, code int, page string, v *panel.View) error {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", pageCSP)
	var buf strings.Builder
	if err := s.pages().Render(&buf, page, v); err != nil {
		if page == "error" {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return nil
		}
		return err
	}
	if v.Flash != "" {
		clearFlash(w, r)
	}
	w.WriteHeader(code)
	_, err := w.Write([]byte(buf.String()))
	return err
}

// fragment writes one named part of page for an htmx request.
func (s *Server) fragment(w http.ResponseWriter, r *http.Request, page, name string, data any) error {
	v := s.view(r)
	v.Data = data
	var buf strings.Builder
	if err := s.pages().Fragment(&buf, page, name, v); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", pageCSP)
	_, err := w.Write([]byte(buf.String()))
	return err
}

// pageCSP allows the panel only its own scripts, styles and images (and
// data: images, for the TOTP QR code); no inline script or style.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// view is the View every page starts from: the viewer, the language, the
// menu and a flash left by the previous redirect.
func (s *Server) view(r *http.Request) *panel.View {
	side := sideOf(r)
	v := &panel.View{Lang: s.language(r), Side: sideName(side), Path: r.URL.Path}
	p, signedIn := r.Context().Value(keyPrincipal).(identity.Principal)
	if signedIn && p.Role != identity.RoleMFAPending {
		// The header names the account's own role: under a break-glass
		// grant the principal holds "operator+break-glass", which the
		// customer's pages say themselves.
		role, _, _ := strings.Cut(string(p.Role), "+")
		v.User = &panel.User{LoginID: p.LoginID, Role: role, CustomerID: string(p.CustomerID)}
		v.Allow = func(action string) bool { return identity.Allowed(p.Role, identity.Action(action)) }
		// The current entry is the longest one the path is under: on
		// /notices/log that is the log's, not /notices.
		best := -1
		for _, n := range navigation[side] {
			if identity.Allowed(p.Role, n.Action) {
				v.Nav = append(v.Nav, panel.NavItem{Href: n.Href, Key: n.Key})
				under := n.Href == r.URL.Path || (n.Href != "/" && strings.HasPrefix(r.URL.Path, n.Href+"/"))
				if under && (best < 0 || len(n.Href) > len(v.Nav[best].Href)) {
					best = len(v.Nav) - 1
				}
			}
		}
		if best >= 0 {
			v.Nav[best].Current = true
		}
	}
	if c, err := r.Cookie(flashCookie); err == nil && s.pages().Catalogue().Has(c.Value) {
		v.Flash = c.Value
	}
	return v
}

const (
	langCookie  = "tsunagi-lang"
	flashCookie = "tsunagi-flash"
)

// language is the viewer's: the signed-in account's setting, else the
// language cookie the switch set, else the browser's Accept-Language, else
// Japanese.
func (s *Server) language(r *http.Request) string {
	if p, ok := r.Context().Value(keyPrincipal).(identity.Principal); ok && (p.Language == "ja" || p.Language == "en") {
		return p.Language
	}
	if c, err := r.Cookie(langCookie); err == nil && (c.Value == "ja" || c.Value == "en") {
		return c.Value
	}
	return acceptLanguage(r.Header.Get("Accept-Language"))
}

// acceptLanguage picks ja or en from an Accept-Language header by the
// highest weight; Japanese when neither is named.
func acceptLanguage(h string) string {
	best, bestQ := "ja", -1.0
	for _, part := range strings.Split(h, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 && n <= 1 {
				q = n
			}
		}
		base, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if (base == "ja" || base == "en") && q > bestQ {
			best, bestQ = base, q
		}
	}
	return best
}

// switchLanguage sets the panel's language: for a signed-in viewer the
// account's own setting (also the language of its mails), and a cookie for
// the pages before sign-in. It returns to the page the switch was on.
func (s *Server) switchLanguage(side identity.Side) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
		if err := r.ParseForm(); err != nil {
			return fault.New(fault.Invalid, "the form could not be read")
		}
		lang := r.PostForm.Get("lang")
		if lang != "ja" && lang != "en" {
			return fault.Field("lang", "language must be ja or en")
		}
		// Any signed-in session sets its account's language, one still
		// owing its second factor too (mfa is the permission every session
		// holds): the account is known once the password was right.
		if ar, err := s.admit(r, side, "POST /language", identity.ActMFA); err == nil {
			if err := s.deps.Identity.SetLanguage(ar.Context(), principal(ar), lang); err != nil {
				return err
			}
		} else {
			audit.Unchanged(r.Context()) // before sign-in the switch is the browser's cookie only
		}
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: lang, Path: "/", Secure: true, HttpOnly: true,
			SameSite: http.SameSiteStrictMode, MaxAge: 365 * 24 * 3600})
		http.Redirect(w, r, localPath(r.PostForm.Get("next")), http.StatusSeeOther)
		return nil
	}
}

// localPath is next if it is a path on this listener, else "/": a redirect
// target taken from a form or query never leaves the site. Browsers drop
// tabs and newlines from a URL and read "\" as "/", so "/<tab>/evil" would
// leave: any control character, space or backslash is refused outright,
// and what remains must parse as a path with neither scheme nor host.
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return "/"
	}
	for _, c := range next {
		if c <= ' ' || c == 0x7f || c == '\\' || (c >= 0x80 && c <= 0x9f) || c == 0xa0 || c == 0x2028 || c == 0x2029 {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	return next
}

// redirect ends a successful form: 303 to path, with a one-time flash (a
// catalogue key) for the page it lands on.
func redirect(w http.ResponseWriter, r *http.Request, path, flashKey string) error {
	if flashKey != "" {
		http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: flashKey, Path: "/", Secure: true, HttpOnly: true,
			SameSite: http.SameSiteStrictMode, MaxAge: 30})
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
	return nil
}

// clearFlash removes the flash once a page showed it.
func clearFlash(w http.ResponseWriter, r *http.Request) {
	if _, err := r.Cookie(flashCookie); err == nil {
		http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", Secure: true, HttpOnly: true,
			SameSite: http.SameSiteStrictMode, MaxAge: -1})
	}
}

// parseForm reads a posted form of at most 1 MiB.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	if err := r.ParseForm(); err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return fault.New(fault.TooLarge, "the form is larger than %d bytes", MaxBody)
		}
		return fault.New(fault.Invalid, "the form could not be read")
	}
	return nil
}

const keySide ctxKey = 100

func withSide(r *http.Request, side identity.Side) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), keySide, side))
}

func sideOf(r *http.Request) identity.Side {
	side, _ := r.Context().Value(keySide).(identity.Side)
	return side
}
