package web

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/notice"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

var opnLocationRE = regexp.MustCompile(`^/notices/([^/]+)$`)

// opnDraftForm is a valid announcement to the named customers, starting
// in 30 days (outside the minimum notice period).
func opnDraftForm(customers ...string) url.Values {
	start := time.Now().Add(30 * 24 * time.Hour).In(clock.JST)
	return url.Values{"form": {"notice"}, "kind": {"announcement"}, "category": {"maintenance"},
		"title_ja": {"東京ノードの保守"}, "title_en": {"Tokyo node maintenance"},
		"body_ja": {"保守作業を行います。<script>alert(1)</script>"}, "body_en": {"We service the node."},
		"starts_at": {start.Format(opnLocalLayout)}, "ends_at": {start.Add(2 * time.Hour).Format(opnLocalLayout)},
		"customers": {strings.Join(customers, "\n")}}
}

// opnLang sets the signed-in viewer's language, which its pages follow.
func opnLang(t *testing.T, c *pageClient, lang string) {
	t.Helper()
	opcPost(t, c, "/language", url.Values{"lang": {lang}, "next": {"/"}}, http.StatusSeeOther)
}

// opnCreated creates a draft through the form and returns its ID.
func opnCreated(t *testing.T, c *pageClient, form url.Values) string {
	t.Helper()
	p := opcPost(t, c, "/notices", form, http.StatusSeeOther)
	m := opnLocationRE.FindStringSubmatch(p.location())
	if m == nil {
		t.Fatalf("create: redirected to %q", p.location())
	}
	return m[1]
}

// TestOpNoticePages walks an announcement through the console in both
// languages: a refused draft keeps what was typed and creates nothing; the
// preview lists exactly the customers the scope reaches and the publish
// form carries their IDs; a publish whose customers changed since the
// preview is refused with the new list; then publish, an update, the
// cancellation, each visible in the history.
func TestOpNoticePages(t *testing.T) {
	t.Parallel()
	o := startOpcEnv(t)
	a, _, _ := o.hubWithTwoPorts("Alpha K.K.")
	for _, lang := range []string{"ja", "en"} {
		opnLang(t, o.op, lang)
		words := map[string][2]string{"ja": {"お知らせを作成", "下書き"}, "en": {"New announcement", "Draft"}}[lang]
		opcGet(t, o.op, "/notices", http.StatusOK, words[0])
		opcGet(t, o.op, "/notices/new?kind=announcement", http.StatusOK, `name="title_ja"`, `type="datetime-local"`, "<code>tokyo</code>",
			"<code>tyo-1</code>", string(a.ID))
		opcGet(t, o.op, "/notices/new?kind=incident", http.StatusOK, `name="severity"`, `name="data_affected"`)
		opcGet(t, o.op, "/notices/new?kind=memo", http.StatusBadRequest)
		opcGet(t, o.op, "/notices/new", http.StatusOK, `name="kind" value="announcement"`)

		// Refused: the English title is missing; a bad physical port.
		bad := opnDraftForm(string(a.ID))
		bad.Set("title_en", "")
		p := opcPost(t, o.op, "/notices", bad, http.StatusBadRequest, `id="notice-title_en-error"`,
			html.EscapeString("保守作業を行います。<script>alert(1)</script>"))
		bad = opnDraftForm(string(a.ID))
		bad.Set("physical_ports", "tyo-1-eth3")
		opcPost(t, o.op, "/notices", bad, http.StatusBadRequest, `id="notice-physical_ports-error"`, "tyo-1-eth3")
		bad = opnDraftForm("cus_nobodyatall")
		opcPost(t, o.op, "/notices", bad, http.StatusBadRequest, `id="e-scope"`)
		if strings.Contains(p.body, "<script>alert(1)") {
			t.Fatal("the typed body was not escaped")
		}
	}
	if ns, _ := o.srv.deps.Notices.List(o.seed, notice.Query{}); len(ns) != 0 {
		t.Fatalf("refused drafts created %d notices", len(ns))
	}

	opnLang(t, o.op, "en")
	id := opnCreated(t, o.op, opnDraftForm(string(a.ID)))
	p := opcGet(t, o.op, "/notices/"+id, http.StatusOK, "Tokyo node maintenance", `id="opnotice-publish"`,
		`<input type="hidden" name="customer" value="`+string(a.ID)+`">`, "Alpha K.K.", "named as the customer",
		"&lt;script&gt;alert(1)&lt;/script&gt;")
	if strings.Contains(p.body, "<script>alert(1)") {
		t.Fatal("the body is not shown as text")
	}
	opnLang(t, o.op, "ja")
	opcGet(t, o.op, "/notices/"+id, http.StatusOK, "お客様として指定")
	opnLang(t, o.op, "en")

	// Edit: the scope becomes the region, which reaches Alpha's hub.
	opcGet(t, o.op, "/notices/"+id+"/edit", http.StatusOK, "Tokyo node maintenance")
	f := opnDraftForm()
	f.Set("title_ja", "")
	f.Set("body_en", "Typed & kept.")
	opcPost(t, o.op, "/notices/"+id, f, http.StatusBadRequest, `id="notice-title_ja-error"`, "Typed &amp; kept.")
	f = opnDraftForm()
	f.Set("regions", "tokyo")
	opcPost(t, o.op, "/notices/"+id, f, http.StatusSeeOther)
	opcGet(t, o.op, "/notices/"+id, http.StatusOK, "in region tokyo", "Customers: 1;")

	// Beta's hub lands in the region after the operator's preview.
	b, _, _ := o.hubWithTwoPorts("Beta K.K.")
	p = opcPost(t, o.op, "/notices/"+id+"/publish", url.Values{"form": {"publish"}, "customer": {string(a.ID)}},
		http.StatusConflict, `id="opnotice-changed"`, "Beta K.K.", `value="`+string(b.ID)+`"`)
	if det, _ := o.srv.deps.Notices.Get(o.seed, id); det.Notice.Status != notice.StatusDraft {
		t.Fatalf("a refused publish changed the notice: %s", det.Notice.Status)
	}
	opcPost(t, o.op, "/notices/"+id+"/publish", url.Values{"form": {"publish"}, "customer": {string(a.ID), string(b.ID)}},
		http.StatusSeeOther)
	opnLang(t, o.op, "ja")
	opcGet(t, o.op, "/notices/"+id, http.StatusOK, "公開中", "通知した顧客", "Alpha K.K.", "Beta K.K.", `id="opnotice-update"`)
	opcGet(t, o.op, "/notices?status=published", http.StatusOK, "東京ノードの保守")
	// Published, it is no longer edited: the form's address leads back to
	// its page, and a sent form is refused.
	expectRedirect(t, "edit a published notice", o.op.get("/notices/"+id+"/edit"), "/notices/"+id)
	opcPost(t, o.op, "/notices/"+id, opnDraftForm(string(a.ID)), http.StatusConflict, `class="error"`)

	// An update without its text is refused; with it, it is in the history.
	opcPost(t, o.op, "/notices/"+id+"/updates", url.Values{"form": {"update"}}, http.StatusBadRequest, `class="field-error"`)
	opcPost(t, o.op, "/notices/"+id+"/updates", url.Values{"form": {"update"}, "body_ja": {"開始時刻を変更しました。"},
		"body_en": {"The start moved."}}, http.StatusSeeOther)
	opcPost(t, o.op, "/notices/"+id+"/cancel", url.Values{"form": {"cancel"}, "body_ja": {"中止します。"},
		"body_en": {"Called off."}}, http.StatusSeeOther)
	p = opcGet(t, o.op, "/notices/"+id, http.StatusOK, "取り消し", "開始時刻を変更しました。", "中止します。")
	if strings.Contains(p.body, `id="opnotice-cancel"`) || strings.Contains(p.body, `id="opnotice-update"`) {
		t.Fatal("a cancelled notice still offers its forms")
	}
	opcGet(t, o.op, "/notices/ntc_doesnotexist", http.StatusNotFound)
}

// TestOpNoticeIncident: an incident's form, its security flag and the data
// affected, its status updates in the viewer's language, and the automatic
// drafts first in the list.
func TestOpNoticeIncident(t *testing.T) {
	t.Parallel()
	o := startOpcEnv(t)
	a, _, _ := o.hubWithTwoPorts("Alpha K.K.")
	f := url.Values{"form": {"notice"}, "kind": {"incident"}, "category": {"security"}, "severity": {"major"},
		"title_ja": {"不正アクセス"}, "title_en": {"Unauthorised access"}, "body_ja": {"調査しています。"},
		"body_en": {"We are investigating."}, "customers": {string(a.ID)}, "security": {"on"}}
	opcPost(t, o.op, "/notices", f, http.StatusBadRequest, `id="notice-data_affected-error"`, "不正アクセス")
	f.Set("data_affected", "設定のバックアップ")
	id := opnCreated(t, o.op, f)
	opcPost(t, o.op, "/notices/"+id+"/publish", url.Values{"form": {"publish"}, "customer": {string(a.ID)}}, http.StatusSeeOther)
	opcPost(t, o.op, "/notices/"+id+"/updates", url.Values{"form": {"update"}, "status": {"identified"},
		"body_ja": {"原因を特定しました。"}, "body_en": {"Found the cause."}}, http.StatusSeeOther)
	opcGet(t, o.op, "/notices/"+id, http.StatusOK, "原因特定", "設定のバックアップ", "重大")
	// Resolved, it takes nothing more: the page offers no form.
	opcPost(t, o.op, "/notices/"+id+"/updates", url.Values{"form": {"update"}, "status": {"resolved"},
		"body_ja": {"解決しました。"}, "body_en": {"Resolved."}}, http.StatusSeeOther)
	p := opcGet(t, o.op, "/notices/"+id, http.StatusOK, "解決済み")
	if strings.Contains(p.body, `id="opnotice-update"`) || strings.Contains(p.body, `id="opnotice-cancel"`) {
		t.Fatal("a resolved incident still offers its forms")
	}
	opnLang(t, o.op, "en")
	opcGet(t, o.op, "/notices/"+id, http.StatusOK, "Resolved", "Status change")

	// An automatic draft (mailops opens them) comes first, flagged.
	err := o.db.InTx(o.seed, func(tx *store.Tx) error {
		_, _, err := o.srv.deps.Notices.OpenAutoDraft(o.seed, tx, notice.SourceNodeSilent, "node-silent:tyo-1:1", notice.Draft{Kind: notice.Incident,
			Category: "outage", Severity: "critical", TitleJA: "ノード無応答", TitleEN: "Node silent", BodyJA: "応答がありません。",
			BodyEN: "No report.", Scope: notice.Scope{Nodes: []string{"tyo-1"}}})
		return err
	})
	o.must("auto draft", err)
	p = opcGet(t, o.op, "/notices", http.StatusOK, `id="opnotice-automatic"`, "Automatic (node silent)")
	if strings.Index(p.body, "Node silent") > strings.Index(p.body, "Unauthorised access") {
		t.Fatal("the automatic draft is not listed first")
	}

	// The security officer sees the incident with its statement.
	opnLang(t, o.so, "en")
	opcGet(t, o.so, "/notice-approvals", http.StatusOK, "Security incidents", "Unauthorised access", "設定のバックアップ")
}

// TestOpNoticeMarkedSecurity: an incident found to be a breach after
// publishing is marked on the update form (ja and en); without the
// statement the form is refused and nothing changes; once marked the page
// shows the statement, offers the mark no more, and the officer lists it.
func TestOpNoticeMarkedSecurity(t *testing.T) {
	t.Parallel()
	o := startOpcEnv(t)
	a, _, _ := o.hubWithTwoPorts("Alpha K.K.")
	f := url.Values{"form": {"notice"}, "kind": {"incident"}, "category": {"outage"}, "severity": {"major"},
		"title_ja": {"通信断"}, "title_en": {"Outage"}, "body_ja": {"調査しています。"},
		"body_en": {"We are investigating."}, "customers": {string(a.ID)}}
	id := opnCreated(t, o.op, f)
	opcPost(t, o.op, "/notices/"+id+"/publish", url.Values{"form": {"publish"}, "customer": {string(a.ID)}}, http.StatusSeeOther)
	for _, lang := range []string{"ja", "en"} {
		opnLang(t, o.op, lang)
		want := map[string]string{"ja": "セキュリティインシデントと判明した", "en": "This turned out to be a security incident"}[lang]
		opcGet(t, o.op, "/notices/"+id, http.StatusOK, `id="update-security"`, `id="update-data_affected"`, want)
	}
	mark := url.Values{"form": {"update"}, "status": {"identified"}, "body_ja": {"不正アクセスでした。"},
		"body_en": {"It was an intrusion."}, "security": {"on"}}
	opcPost(t, o.op, "/notices/"+id+"/updates", mark, http.StatusBadRequest, `id="update-data_affected-error"`)
	if det, _ := o.srv.deps.Notices.Get(o.seed, id); det.Notice.Security || len(det.Updates) != 2 {
		t.Fatalf("a refused mark changed the notice: %+v", det.Notice)
	}
	mark.Set("data_affected", "連絡先メールアドレス")
	opcPost(t, o.op, "/notices/"+id+"/updates", mark, http.StatusSeeOther)
	p := opcGet(t, o.op, "/notices/"+id, http.StatusOK, `id="opnotice-data-affected"`, "連絡先メールアドレス")
	if strings.Contains(p.body, `id="update-security"`) {
		t.Fatal("a security incident still offers the mark")
	}
	opnLang(t, o.so, "en")
	opcGet(t, o.so, "/notice-approvals", http.StatusOK, "Security incidents", "Outage", "連絡先メールアドレス")
}

// TestOpNoticeApproval: a change inside the minimum notice period is not
// published without the officer's approval; the officer's page lists it
// with its start and the period; a short reason is refused; once approved
// the operator publishes.
func TestOpNoticeApproval(t *testing.T) {
	t.Parallel()
	o := startOpcEnv(t)
	a, _, _ := o.hubWithTwoPorts("Alpha K.K.")
	f := opnDraftForm(string(a.ID))
	soon := time.Now().Add(48 * time.Hour).In(clock.JST)
	f.Set("starts_at", soon.Format(opnLocalLayout))
	f.Set("ends_at", soon.Add(time.Hour).Format(opnLocalLayout))
	id := opnCreated(t, o.op, f)
	opcGet(t, o.op, "/notices/"+id, http.StatusOK, `id="opnotice-needs-approval"`)
	opcPost(t, o.op, "/notices/"+id+"/publish", url.Values{"form": {"publish"}, "customer": {string(a.ID)}}, http.StatusConflict,
		`class="error"`)

	for _, lang := range []string{"ja", "en"} {
		opnLang(t, o.so, lang)
		want := map[string]string{"ja": "7 日", "en": "7 days"}[lang]
		opcGet(t, o.so, "/notice-approvals", http.StatusOK, `id="approve-`+id+`"`, want, soon.Format("2006-01-02 15:04"), "Alpha K.K.")
	}
	opcPost(t, o.so, "/notice-approvals/"+id, url.Values{"form": {"approve-" + id}, "reason": {"short"}}, http.StatusBadRequest,
		`id="approve-`+id+`-reason-error"`)
	if det, _ := o.srv.deps.Notices.Get(o.seed, id); det.Notice.ApprovedAt != nil {
		t.Fatal("a refused approval approved")
	}
	opcPost(t, o.so, "/notice-approvals/"+id, url.Values{"form": {"approve-" + id},
		"reason": {"The vendor's fix cannot wait a week."}}, http.StatusSeeOther)
	opcGet(t, o.so, "/notice-approvals", http.StatusOK, "No security incidents")
	opcPost(t, o.op, "/notices/"+id+"/publish", url.Values{"form": {"publish"}, "customer": {string(a.ID)}}, http.StatusSeeOther)
	opcGet(t, o.op, "/notices/"+id, http.StatusOK, "The vendor&#39;s fix cannot wait a week.", "(opc-so)", "(opc-op)")
}

// TestOpNoticePermissions: the officer may not draft or publish, the
// operator may not approve, and a customer's account is no one on the
// console.
func TestOpNoticePermissions(t *testing.T) {
	t.Parallel()
	o := startOpcEnv(t)
	a, _, _ := o.hubWithTwoPorts("Alpha K.K.")
	id := opnCreated(t, o.op, opnDraftForm(string(a.ID)))
	for _, path := range []string{"/notices", "/notices/new?kind=incident", "/notices/" + id, "/notices/" + id + "/edit"} {
		opcGet(t, o.so, path, http.StatusForbidden)
	}
	opcPost(t, o.so, "/notices", opnDraftForm(string(a.ID)), http.StatusForbidden)
	opcPost(t, o.so, "/notices/"+id+"/publish", url.Values{"customer": {string(a.ID)}}, http.StatusForbidden)
	opcGet(t, o.op, "/notice-approvals", http.StatusForbidden)
	opcPost(t, o.op, "/notice-approvals/"+id, url.Values{"reason": {"I approve my own change."}}, http.StatusForbidden)
	if det, _ := o.srv.deps.Notices.Get(o.seed, id); det.Notice.Status != notice.StatusDraft {
		t.Fatalf("a refused role changed the notice: %s", det.Notice.Status)
	}
	// A customer's operations administrator signs in on the customer
	// listener only; its session opens nothing here.
	o.account(a.ID, "alpha-admin", identity.RoleOpsAdmin, opcPW)
	cust := o.pageClient(o.mgmt)
	custSession := o.pageClient(o.customer)
	custSession.login("alpha-admin", opcPW)
	req, _ := http.NewRequest("GET", o.mgmt+"/notices", nil)
	for _, c := range custSession.hc.Jar.Cookies(mustURL(t, o.customer)) {
		req.AddCookie(c)
	}
	if p := cust.send(req); p.code != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/login") {
		t.Fatalf("a customer's session on the console: %d %q", p.code, p.location())
	}
	if identity.Allowed(identity.RoleOpsAdmin, identity.ActNoticesManage) || identity.Allowed(identity.RoleOpsAdmin, identity.ActNoticesApprove) {
		t.Fatal("a customer role holds a console notice action")
	}
}
