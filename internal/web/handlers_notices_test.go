package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/notice"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestNoticesAPI: an operator drafts, previews, publishes, updates and
// cancels notices over the API, every answer checked against the OpenAPI
// document; bad input is refused and changes nothing; a short-notice change
// waits for the security officer's approval, which only the officer gives.
func TestNoticesAPI(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	e.tokyoNode([]catalog.PhysicalPort{{Name: "eth1", SpeedMbps: 10_000, Kind: "onprem"}})
	a, _, _ := e.hubWithTwoPorts("Notice A K.K.")
	b, _, _ := e.hubWithTwoPorts("Notice B K.K.")
	const pw = "notices api passphrase 42"
	e.account(a.ID, "na-ops", identity.RoleOpsAdmin, pw)
	e.account(b.ID, "nb-ops", identity.RoleOpsAdmin, pw)
	e.account("", "nt-operator", identity.RoleOperator, pw)
	e.account("", "nt-officer", identity.RoleSecurityOfficer, pw)
	op, so := e.client(e.mgmt), e.client(e.mgmt)
	op.login("nt-operator", pw)
	so.login("nt-officer", pw)

	const script = `<script>alert("x")</script> & <b>bold</b>`
	draft := func(scope map[string]any) map[string]any {
		return map[string]any{"kind": "incident", "category": "outage", "severity": "major",
			"title_ja": "通信断", "title_en": "Outage", "body_ja": "調査中です。", "body_en": script, "scope": scope}
	}
	onA := map[string]any{"customers": []string{string(a.ID)}}

	// Bad input: refused with the field named, nothing stored.
	bad := draft(onA)
	bad["title_en"] = "Outage\r\nBcc: everyone@example.jp"
	r := op.expect(http.StatusBadRequest, "POST", "/api/v1/notices", bad)
	if !strings.Contains(string(r.body), `"field":"title_en"`) {
		t.Errorf("CR/LF title: %s", r.body)
	}
	r = op.expect(http.StatusBadRequest, "POST", "/api/v1/notices", draft(map[string]any{"nodes": []string{"tyo-9"}, "hubs": []string{"hub_nope"}}))
	if !strings.Contains(string(r.body), "node tyo-9") || !strings.Contains(string(r.body), "hub hub_nope") {
		t.Errorf("unknown scope names: %s", r.body)
	}
	op.expectInvalid(http.StatusBadRequest, "POST", "/api/v1/notices", map[string]any{"kind": "incident"})
	if n := e.count(`SELECT COUNT(*) FROM notices`); n != 0 {
		t.Fatalf("refused drafts stored %d notices", n)
	}

	// A scope on a node nobody is placed on reaches nobody.
	var idle notice.Notice
	op.expect(http.StatusCreated, "POST", "/api/v1/notices", draft(map[string]any{"nodes": []string{"tyo-1"}})).json(t, &idle)
	r = op.expect(http.StatusBadRequest, "GET", "/api/v1/notices/"+idle.ID+"/preview", nil)
	if !strings.Contains(string(r.body), "reaches no customer") {
		t.Errorf("preview of nobody: %s", r.body)
	}

	// The incident on A: HTML kept as typed and returned as JSON text.
	var n notice.Notice
	r = op.expect(http.StatusCreated, "POST", "/api/v1/notices", draft(onA))
	r.json(t, &n)
	if n.BodyEN != script || n.Status != notice.StatusDraft || strings.Contains(string(r.body), "<script>") {
		t.Fatalf("created: %s", r.body)
	}
	path := "/api/v1/notices/" + n.ID
	var p notice.Preview
	op.expect(http.StatusOK, "GET", path+"/preview", nil).json(t, &p)
	if len(p.Customers) != 1 || p.Customers[0].CustomerID != string(a.ID) || p.Recipients != 1 || p.NeedsApproval {
		t.Fatalf("preview: %+v", p)
	}
	op.expectCode(http.StatusConflict, "scope_changed", "POST", path+"/publish", map[string]any{"customers": []string{string(b.ID)}})
	if e.count(`SELECT COUNT(*) FROM mail_outbox WHERE cause LIKE 'notice.%'`) != 0 {
		t.Fatal("a refused publish mailed")
	}
	so.expect(http.StatusForbidden, "POST", path+"/publish", map[string]any{"customers": []string{string(a.ID)}})
	op.expect(http.StatusOK, "POST", path+"/publish", map[string]any{"customers": []string{string(a.ID)}}).json(t, &n)
	if n.Status != notice.StatusInvestigating {
		t.Fatalf("published: %+v", n)
	}
	if e.outboxCount("na-ops@example.co.jp", "notice.publish") != 1 || e.outboxCount("nb-ops@example.co.jp", "notice.publish") != 0 {
		t.Fatal("the publish mail did not reach exactly A's operations administrator")
	}
	op.expect(http.StatusConflict, "PUT", path, draft(onA))
	// Found to be a breach: marked by an update, with its statement.
	op.expect(http.StatusBadRequest, "POST", path+"/updates", map[string]any{"body_ja": "x", "body_en": "x", "security": true})
	op.expect(http.StatusCreated, "POST", path+"/updates", map[string]any{"body_ja": "漏えいでした。", "body_en": "A breach.",
		"security": true, "data_affected": "flow records"}).json(t, &n)
	if !n.Security || n.DataAffected != "flow records" {
		t.Fatalf("marked: %+v", n)
	}
	op.expect(http.StatusCreated, "POST", path+"/updates", map[string]any{"status": "resolved", "body_ja": "復旧しました。", "body_en": "Restored."})
	op.expect(http.StatusConflict, "POST", path+"/updates", map[string]any{"body_ja": "x", "body_en": "x"})
	var d notice.Detail
	op.expect(http.StatusOK, "GET", path, nil).json(t, &d)
	if d.Notice.Status != notice.StatusResolved || len(d.Updates) != 4 || len(d.Customers) != 1 {
		t.Fatalf("detail: %+v", d)
	}
	op.expect(http.StatusNotFound, "GET", "/api/v1/notices/ntc_nosuchnotice", nil)

	// A maintenance in two days needs the officer's approval.
	start := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	m := map[string]any{"kind": "announcement", "category": "maintenance", "title_ja": "保守", "title_en": "Maintenance",
		"body_ja": "ルータを交換します。", "body_en": "We replace a router.", "scope": onA,
		"starts_at": start.Format(time.RFC3339), "ends_at": start.Add(time.Hour).Format(time.RFC3339)}
	var mn notice.Notice
	op.expect(http.StatusCreated, "POST", "/api/v1/notices", m).json(t, &mn)
	mpath := "/api/v1/notices/" + mn.ID
	op.expect(http.StatusOK, "GET", mpath+"/preview", nil).json(t, &p)
	if !p.NeedsApproval || p.MinNoticeDays != 7 || !mn.AffectsForwarding {
		t.Fatalf("short-notice preview: %+v %+v", p, mn)
	}
	op.expectCode(http.StatusConflict, "approval_required", "POST", mpath+"/publish", map[string]any{"customers": []string{string(a.ID)}})
	op.expect(http.StatusForbidden, "GET", "/api/v1/notice-approvals", nil)
	var ap notice.Approvals
	so.expect(http.StatusOK, "GET", "/api/v1/notice-approvals", nil).json(t, &ap)
	if len(ap.Pending) != 1 || ap.Pending[0].ID != mn.ID {
		t.Fatalf("approvals: %+v", ap)
	}
	op.expect(http.StatusForbidden, "POST", mpath+"/approval", map[string]any{"reason": "the line card is failing now"})
	so.expectInvalid(http.StatusBadRequest, "POST", mpath+"/approval", map[string]any{"reason": "short"})
	so.expect(http.StatusOK, "POST", mpath+"/approval", map[string]any{"reason": "the line card is failing now"}).json(t, &mn)
	if mn.ApprovedAt == nil || mn.ApprovalReason != "the line card is failing now" {
		t.Fatalf("approved: %+v", mn)
	}
	op.expect(http.StatusOK, "POST", mpath+"/publish", map[string]any{"customers": []string{string(a.ID)}})
	op.expect(http.StatusOK, "POST", mpath+"/cancel", map[string]any{"body_ja": "中止します。", "body_en": "Called off."}).json(t, &mn)
	if mn.Status != notice.StatusCancelled || e.outboxCount("na-ops@example.co.jp", "notice.cancel") != 1 {
		t.Fatalf("cancelled: %+v", mn)
	}

	var l struct {
		Items []notice.Notice `json:"items"`
		Next  *string         `json:"next_after"`
	}
	op.expect(http.StatusOK, "GET", "/api/v1/notices?kind=announcement", nil).json(t, &l)
	if len(l.Items) != 1 || l.Items[0].ID != mn.ID || l.Next != nil {
		t.Fatalf("list: %+v", l)
	}
	op.expect(http.StatusOK, "GET", "/api/v1/notices?limit=1", nil).json(t, &l)
	if len(l.Items) != 1 || l.Next == nil {
		t.Fatalf("first page: %+v", l)
	}
	raw := op.expect(http.StatusOK, "GET", "/api/v1/notices?limit=1&after="+*l.Next, nil)
	var l2 struct {
		Items []json.RawMessage `json:"items"`
	}
	raw.json(t, &l2)
	if len(l2.Items) != 1 {
		t.Fatalf("second page: %s", raw.body)
	}
}
