package web

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/evidence"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// evidenceWorld is two customers with their operations administrators, a
// security officer and an operator, on SQLite.
type evidenceWorld struct {
	e          *idEnv
	cust, othr catalog.CustomerID
	ops, other *client // the customers' operations administrators (API)
	so, op     *client // security officer, operator (management API)
}

func newEvidenceWorld(t *testing.T) *evidenceWorld {
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	w := &evidenceWorld{e: e}
	w.cust, w.ops = flowCustomer(e, "Evidence K.K.", "ev")
	w.othr, w.other = flowCustomer(e, "Other Evidence K.K.", "eo")
	// Each customer's chain gets an entry of its own.
	w.ops.expect(http.StatusCreated, "POST", "/api/v1/accounts", map[string]any{"login_id": "ev-user",
		"display_name": "Evidence user", "email": "ev-user@example.co.jp", "role": "user"})
	w.other.expect(http.StatusCreated, "POST", "/api/v1/accounts", map[string]any{"login_id": "eo-user",
		"display_name": "Other user", "email": "eo-user@example.co.jp", "role": "user"})
	e.account("", "ev-so", identity.RoleSecurityOfficer, flowPW)
	e.account("", "ev-op", identity.RoleOperator, flowPW)
	w.so, w.op = e.client(e.mgmt), e.client(e.mgmt)
	w.so.login("ev-so", flowPW)
	w.op.login("ev-op", flowPW)
	return w
}

// head is the customer's chain head as stored.
func (w *evidenceWorld) head(cust catalog.CustomerID) audit.Head {
	w.e.t.Helper()
	h, err := audit.HeadOf(context.Background(), w.e.db, string(cust))
	w.e.must("head", err)
	return h
}

// TestAuditChainsAPI: the customer's own chain counts from 1 and its
// status verifies; a staff read of a customer's chain needs a purpose and
// is recorded in that chain with it before anything is read (a refused
// read records nothing); the chains and verdicts cover every chain; roles
// without the permission get 403.
func TestAuditChainsAPI(t *testing.T) {
	w := newEvidenceWorld(t)
	var own list[audit.Entry]
	w.ops.expect(http.StatusOK, "GET", "/api/v1/audit?limit=500", nil).json(t, &own)
	if len(own.Items) == 0 || own.Items[0].Seq != 1 || own.Items[0].Chain != string(w.cust) {
		t.Fatalf("the customer's own chain does not start at 1: %+v", own.Items)
	}
	for _, it := range own.Items {
		if it.Chain != string(w.cust) || it.V != audit.V2 {
			t.Errorf("entry %d of the own read: chain %q, v %d", it.Seq, it.Chain, it.V)
		}
	}
	var st evidence.ChainStatus
	w.ops.expect(http.StatusOK, "GET", "/api/v1/audit/status", nil).json(t, &st)
	if st.Chain != string(w.cust) || st.Seq < int64(len(own.Items)) || !st.Verdict.Intact {
		t.Errorf("status = %+v", st)
	}

	before := w.head(w.cust)
	q := "/api/v1/audit?customer=" + string(w.cust)
	w.so.expectCode(http.StatusBadRequest, "invalid", "GET", q, nil)
	w.so.expectCode(http.StatusBadRequest, "invalid", "GET", q+"&purpose=", nil)
	w.so.expectCode(http.StatusBadRequest, "invalid", "GET", q+"&purpose="+strings.Repeat("x", 501), nil)
	w.so.expectInvalid(http.StatusBadRequest, "GET", q+"&purpose=why&limit=0", nil)
	w.so.expect(http.StatusNotFound, "GET", "/api/v1/audit?purpose=why&customer=cus_zzzzzzzzzzzzzzzzzzzzzzzzzz", nil)
	if after := w.head(w.cust); after != before {
		t.Fatalf("a refused read changed the customer's chain: %+v → %+v", before, after)
	}
	// An operator's refused attempt is itself in the customer's chain.
	w.op.expect(http.StatusForbidden, "GET", q+"&purpose=why", nil)
	if after := w.head(w.cust); after.Seq != before.Seq+1 {
		t.Fatalf("an operator's refused read: the customer's chain %+v → %+v; want one access.denied", before, after)
	}

	const purpose = "監査法人からの依頼 #42 に答えるため"
	var read list[audit.Entry]
	w.so.expect(http.StatusOK, "GET", q+"&purpose="+url.QueryEscape(purpose)+"&limit=500", nil).json(t, &read)
	last := read.Items[len(read.Items)-1]
	if last.Action != "audit.read" || last.Reason != purpose || last.ActorKind != "operator" || last.Target != "customer:"+string(w.cust) {
		t.Errorf("the read's own record, first in what it read = %+v", last)
	}
	w.ops.expect(http.StatusOK, "GET", "/api/v1/audit?limit=500", nil).json(t, &own)
	if e := own.Items[len(own.Items)-1]; e.Action != "audit.read" || e.Reason != purpose {
		t.Errorf("the customer does not see the staff read with its purpose: %+v", e)
	}
	var other list[audit.Entry]
	w.other.expect(http.StatusOK, "GET", "/api/v1/audit?limit=500", nil).json(t, &other)
	for _, it := range other.Items {
		if it.Action == "audit.read" || it.Chain != string(w.othr) {
			t.Errorf("the other customer's chain holds %+v", it)
		}
	}

	var platform list[audit.Entry]
	w.so.expect(http.StatusOK, "GET", "/api/v1/audit?limit=500", nil).json(t, &platform)
	for _, it := range platform.Items {
		if it.Chain != audit.Platform || it.CustomerID == string(w.cust) && it.V == audit.V2 {
			t.Errorf("the platform read holds %+v", it)
		}
	}

	var chains list[evidence.ChainHead]
	w.so.expect(http.StatusOK, "GET", "/api/v1/audit/chains", nil).json(t, &chains)
	seen := map[string]int64{}
	for _, c := range chains.Items {
		seen[c.Chain] = c.Seq
	}
	if seen[string(w.cust)] != w.head(w.cust).Seq || seen[string(w.othr)] == 0 || seen[audit.Platform] == 0 {
		t.Errorf("chains = %+v", chains.Items)
	}
	var verdicts list[evidence.Verdict]
	w.so.expect(http.StatusOK, "GET", "/api/v1/audit/verify", nil).json(t, &verdicts)
	if len(verdicts.Items) != len(chains.Items) {
		t.Errorf("%d verdicts for %d chains", len(verdicts.Items), len(chains.Items))
	}
	for _, v := range verdicts.Items {
		if !v.Intact {
			t.Errorf("verdict %+v", v)
		}
	}
	w.op.expect(http.StatusForbidden, "GET", "/api/v1/audit/chains", nil)
	w.op.expect(http.StatusForbidden, "GET", "/api/v1/audit/verify", nil)
	user := w.e.client(w.e.customer)
	w.e.account(w.cust, "ev-admin", identity.RoleAdmin, flowPW)
	user.login("ev-admin", flowPW)
	user.expect(http.StatusForbidden, "GET", "/api/v1/audit/status", nil)
	user.expect(http.StatusForbidden, "POST", "/api/v1/evidence-exports",
		map[string]string{"from": "2026-01-01T00:00:00+09:00", "to": "2026-02-01T00:00:00+09:00"})
}

// keysOf reads the published signing keys as a customer would.
func keysOf(t *testing.T, c *client) []signing.PublicKey {
	t.Helper()
	var keys list[signing.PublicKey]
	c.expect(http.StatusOK, "GET", "/api/v1/signing-keys", nil).json(t, &keys)
	return keys.Items
}

// jstWindow is [today − 1 day, tomorrow) in JST, as RFC 3339 instants.
func jstWindow() (string, string) {
	day := time.Now().In(time.FixedZone("JST", 9*3600))
	start := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, day.Location())
	return start.AddDate(0, 0, -1).Format(time.RFC3339), start.AddDate(0, 0, 1).Format(time.RFC3339)
}

// TestEvidenceExportAPI: the customer's export and the security officer's
// evidence request answer an archive that verifies offline against the
// published keys and holds only that customer; a bad window or purpose is
// a JSON fault that changes nothing; an unknown customer is 404; the
// officer's request shows in the customer's chain with its purpose.
func TestEvidenceExportAPI(t *testing.T) {
	w := newEvidenceWorld(t)
	from, to := jstWindow()
	r := w.ops.expect(http.StatusOK, "POST", "/api/v1/evidence-exports", map[string]string{"from": from, "to": to})
	if ct := r.hdr.Get("Content-Type"); ct != evidence.ArchiveType {
		t.Errorf("Content-Type %q", ct)
	}
	want := `attachment; filename="tsunagi-evidence-` + string(w.cust) + "-" + from[:10] + "-" + time.Now().In(time.FixedZone("JST", 9*3600)).Format("2006-01-02") + `.tar.gz"`
	if cd := r.hdr.Get("Content-Disposition"); cd != want {
		t.Errorf("Content-Disposition %q, want %q", cd, want)
	}
	keys := keysOf(t, w.ops)
	rep, err := evidence.VerifyArchive(bytes.NewReader(r.body), keys)
	if err != nil || rep.Customer != string(w.cust) || rep.Entries == 0 {
		t.Fatalf("the customer's archive: %+v, %v", rep, err)
	}
	for _, leak := range archiveFiles(t, r.body) {
		if strings.Contains(leak.text, string(w.othr)) || strings.Contains(leak.text, "eo-user") {
			t.Errorf("%s holds the other customer", leak.name)
		}
	}

	before := w.head(w.cust)
	for _, bad := range []map[string]string{{}, {"from": from}, {"from": "yesterday", "to": to}, {"from": to, "to": from}} {
		w.ops.expectInvalid(http.StatusBadRequest, "POST", "/api/v1/evidence-exports", bad)
	}
	path := "/api/v1/customers/" + string(w.cust) + "/evidence-exports"
	w.so.expectInvalid(http.StatusBadRequest, "POST", path, map[string]string{"from": from, "to": to})
	w.so.expectInvalid(http.StatusBadRequest, "POST", path, map[string]string{"from": from, "to": to, "purpose": strings.Repeat("目", 501)})
	w.so.expect(http.StatusNotFound, "POST", "/api/v1/customers/cus_zzzzzzzzzzzzzzzzzzzzzzzzzz/evidence-exports",
		map[string]string{"from": from, "to": to, "purpose": "why"})
	if after := w.head(w.cust); after != before {
		t.Fatalf("a refused export changed the customer's chain: %+v → %+v", before, after)
	}
	w.op.expect(http.StatusForbidden, "POST", path, map[string]string{"from": from, "to": to, "purpose": "why"})
	if after := w.head(w.cust); after.Seq != before.Seq+1 {
		t.Fatalf("an operator's refused export: the customer's chain %+v → %+v; want one access.denied", before, after)
	}

	const purpose = "Court order 2026-17: the customer's incident of December"
	r = w.so.expect(http.StatusOK, "POST", path, map[string]string{"from": from, "to": to, "purpose": purpose})
	if rep, err := evidence.VerifyArchive(bytes.NewReader(r.body), keys); err != nil || rep.Customer != string(w.cust) {
		t.Fatalf("the officer's archive: %+v, %v", rep, err)
	}
	var own list[audit.Entry]
	w.ops.expect(http.StatusOK, "GET", "/api/v1/audit?limit=500", nil).json(t, &own)
	found := false
	for _, it := range own.Items {
		found = found || it.Action == "evidence.export" && it.Reason == purpose && it.ActorKind == "operator"
	}
	if !found {
		t.Errorf("the customer's chain lacks the officer's evidence.export with its purpose: %+v", own.Items)
	}
}

// TestEvidencePages: the customer's /audit shows its chain's status, the
// export form and how to verify, in ja and en; the form answers the
// archive, or the page with the error and nothing changed; the console
// asks for a purpose before a customer's chain is read, lists the chains
// with verdicts, and the officer's evidence form answers the archive or
// its error; roles without the permission get 403; the other customer's
// data never shows.
func TestEvidencePages(t *testing.T) {
	w := newEvidenceWorld(t)
	c := w.e.pageClient(w.e.customer)
	c.login("ev-ops", flowPW)
	for _, tc := range []struct{ lang, status, export, howto string }{
		{"ja", "監査ログの検証状況", "証跡の書き出し", "アーカイブの検証方法"},
		{"en", "Your audit log&#39;s verification", "Export as evidence", "How to verify an archive"},
	} {
		c.setLang(tc.lang)
		p := c.expectPage(http.StatusOK, "/audit", tc.status, tc.export, tc.howto, `id="evidence-verdict"`, "state-ok",
			"tsunagi evidence verify FILE --key keys.json", `href="/signing-keys"`, `id="evidence-export"`, string(w.cust))
		if strings.Contains(p.body, string(w.othr)) || strings.Contains(p.body, "eo-user") {
			t.Errorf("%s: the other customer shows on /audit", tc.lang)
		}
	}
	before := w.head(w.cust)
	p := c.post("/audit/export", url.Values{"from": {"2026-05-02"}, "to": {"2026-05-01"}})
	expectPage(t, "refused export", p, http.StatusBadRequest, `id="e-from"`, `id="evidence-export"`, `value="2026-05-01"`)
	p = c.post("/audit/export", url.Values{"from": {"2026-05-01"}, "to": {"May 1"}})
	expectPage(t, "refused export", p, http.StatusBadRequest, `id="e-to"`)
	if after := w.head(w.cust); after != before {
		t.Fatalf("a refused export changed the chain: %+v → %+v", before, after)
	}
	today := time.Now().In(time.FixedZone("JST", 9*3600)).Format("2006-01-02")
	p = c.post("/audit/export", url.Values{"from": {today}, "to": {today}})
	if p.code != http.StatusOK || p.hdr.Get("Content-Type") != evidence.ArchiveType {
		t.Fatalf("export: %d %s\n%s", p.code, p.hdr.Get("Content-Type"), p.body)
	}
	if _, err := evidence.VerifyArchive(strings.NewReader(p.body), keysOf(t, w.ops)); err != nil {
		t.Errorf("the page's archive: %v", err)
	}
	w.e.account(w.cust, "ev-admin", identity.RoleAdmin, flowPW)
	admin := w.e.pageClient(w.e.customer)
	admin.login("ev-admin", flowPW)
	admin.expectPage(http.StatusForbidden, "/audit")
	expectPage(t, "admin export", admin.post("/audit/export", url.Values{"from": {today}, "to": {today}}), http.StatusForbidden)

	so := w.e.pageClient(w.e.mgmt)
	so.login("ev-so", flowPW)
	for _, tc := range []struct{ lang, purpose, chains, request string }{
		{"ja", "目的", "チェーンの一覧", "証跡の提出"},
		{"en", "Purpose", "Chains", "Evidence request"},
	} {
		so.setLang(tc.lang)
		before := w.head(w.cust)
		opcGet(t, so, "/audit?customer="+string(w.cust), http.StatusOK, `id="opc-audit-ask"`, `id="f-purpose"`, tc.purpose)
		opcGet(t, so, "/audit?purpose=&customer="+string(w.cust), http.StatusBadRequest, `id="e-purpose"`)
		if after := w.head(w.cust); after != before {
			t.Fatalf("a console read without a purpose changed the chain: %+v → %+v", before, after)
		}
		p := opcGet(t, so, "/audit?purpose=page+test&limit=1&customer="+string(w.cust), http.StatusOK, `id="opc-audit-list"`, `id="opc-audit-next"`)
		if !strings.Contains(p.body, "purpose=page%20test") {
			t.Errorf("the next page's link drops the purpose: %s", p.body[strings.Index(p.body, `id="opc-audit-next"`):])
		}
		opcGet(t, so, "/audit/chains", http.StatusOK, tc.chains, `id="evidence-chains"`, string(w.cust), string(w.othr), audit.Platform, "state-ok")
		opcGet(t, so, "/evidence", http.StatusOK, tc.request, `id="evidence-request"`, `href="/evidence"`)
		opcGet(t, so, "/audit/verify", http.StatusOK, `id="opc-verdict"`, "state-ok")
	}
	before = w.head(w.cust)
	p = so.post("/evidence", url.Values{"customer": {string(w.cust)}, "from": {today}, "to": {today}, "purpose": {""}})
	expectPage(t, "refused request", p, http.StatusBadRequest, `id="e-purpose"`, `id="evidence-request"`)
	p = so.post("/evidence", url.Values{"customer": {"cus_zzzzzzzzzzzzzzzzzzzzzzzzzz"}, "from": {today}, "to": {today}, "purpose": {"why"}})
	expectPage(t, "unknown customer", p, http.StatusNotFound, `id="evidence-request"`)
	if after := w.head(w.cust); after != before {
		t.Fatalf("a refused request changed the chain: %+v → %+v", before, after)
	}
	p = so.post("/evidence", url.Values{"customer": {string(w.cust)}, "from": {today}, "to": {today}, "purpose": {"page request"}})
	if p.code != http.StatusOK || p.hdr.Get("Content-Type") != evidence.ArchiveType {
		t.Fatalf("request: %d %s\n%s", p.code, p.hdr.Get("Content-Type"), p.body)
	}
	if rep, err := evidence.VerifyArchive(strings.NewReader(p.body), keysOf(t, w.ops)); err != nil || rep.Customer != string(w.cust) {
		t.Errorf("the officer's page archive: %+v, %v", rep, err)
	}
	c.expectPage(http.StatusOK, "/audit?limit=500", "evidence.export", "page request")

	op := w.e.pageClient(w.e.mgmt)
	op.login("ev-op", flowPW)
	for _, path := range []string{"/evidence", "/audit/chains"} {
		opcGet(t, op, path, http.StatusForbidden)
	}
	expectPage(t, "operator request", op.post("/evidence", url.Values{"customer": {string(w.cust)}}), http.StatusForbidden)
}

// archiveFile is one file of an evidence archive, decompressed.
type archiveFile struct{ name, text string }

// archiveFiles reads every file of a gzip-compressed tar archive.
func archiveFiles(t *testing.T, b []byte) []archiveFile {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("archive: %v", err)
	}
	tr := tar.NewReader(zr)
	var out []archiveFile
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("archive: %v", err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("archive %s: %v", h.Name, err)
		}
		out = append(out, archiveFile{h.Name, string(body)})
	}
	if len(out) == 0 {
		t.Fatal("archive: no files")
	}
	return out
}
