package web

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/network/custexport"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// postFile sends the import form with file as the upload, as a browser
// does (same origin, multipart).
func (c *pageClient) postFile(path string, file []byte, fields url.Values) htmlPage {
	c.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, vs := range fields {
		for _, v := range vs {
			_ = mw.WriteField(k, v)
		}
	}
	if file != nil {
		fw, _ := mw.CreateFormFile("file", "export.json")
		_, _ = fw.Write(file)
	}
	_ = mw.Close()
	req, _ := http.NewRequest("POST", c.base+path, &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", c.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return c.do(req)
}

// TestExportPages: /export in both languages, the download, an import that
// lands on the review, refusals shown on the form with the draft kept, and
// the import refused to a role without network.edit.
func TestExportPages(t *testing.T) {
	t.Parallel()
	w := startWorkflowEnv(t)
	// One applied version, through the service, to export.
	ctx := audit.WithActor(w.seed, audit.Actor{ID: "acc_seed", Kind: "customer", Name: "wf-ops"})
	wf, sc := w.srv.deps.Workflow, tenanttest.Customer(w.cust.ID)
	if _, err := wf.StartEditing(ctx, sc); err != nil {
		t.Fatal(err)
	}
	if _, err := wf.SavePort(ctx, sc, w.onprem.PortCode, network.PortConfig{OnPrem: &network.OnPremConnection{HubAddress: "192.168.255.1",
		CustomerAddress: "192.168.255.2", PrefixLength: 30, PeerASN: 65001, MD5: "page-secret"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := wf.Apply(ctx, sc); err != nil {
		t.Fatal(err)
	}

	expectPage(t, "export en", w.ops.get("/export"), http.StatusOK, "Export and import your configuration", `href="/export/download"`,
		`id="exp-import"`, w.onprem.PortCode, "keeping your own copy is for you to do")
	w.admin.Lang = "ja"
	expectPage(t, "export ja", w.admin.get("/export"), http.StatusOK, "設定のエクスポートとインポート", "下書きに読み込む")
	p := w.user.get("/export")
	expectPage(t, "export for a user", p, http.StatusOK, `href="/export/download"`)
	absent(t, "export for a user", p, `id="exp-import"`)

	dl := w.ops.get("/export/download")
	if dl.code != http.StatusOK || !strings.HasPrefix(dl.hdr.Get("Content-Disposition"), "attachment;") {
		t.Fatalf("download: %d %v", dl.code, dl.hdr)
	}
	file := []byte(dl.body)
	if d, err := custexport.Decode(file); err != nil || len(d.Versions) != 1 || strings.Contains(dl.body, "page-secret") {
		t.Fatalf("downloaded export: %v\n%s", err, dl.body)
	}

	// A role without network.edit is refused; nothing is imported.
	if p := w.user.postFile("/export/import", file, nil); p.code != http.StatusForbidden {
		t.Fatalf("user import: %d", p.code)
	}
	// Refusals: the form again with the error, the draft as it was.
	p = w.ops.postFile("/export/import", file, url.Values{"map": {"nonsense"}})
	expectPage(t, "bad mapping", p, http.StatusBadRequest, `id="exp-map-error"`, "is not old=new")
	p = w.admin.postFile("/export/import", bytes.Replace(file, []byte(custexport.Schema), []byte("tsunagi.customer-export/v7"), 1), nil)
	expectPage(t, "another version, ja", p, http.StatusBadRequest, "はこのコントローラーが読めない版です")
	p = w.ops.postFile("/export/import", nil, nil)
	expectPage(t, "no file", p, http.StatusBadRequest, `id="exp-file-error"`)
	if _, err := wf.GetDraft(ctx, sc); err == nil {
		t.Fatal("a refused import left a draft")
	}

	// The import takes the lock and shows the review of the draft.
	expectRedirect(t, "import", w.ops.postFile("/export/import", file, url.Values{"version": {"1"}}), "/network/review")
	d, err := wf.GetDraft(ctx, sc)
	if err != nil || len(d.Config.Ports) != 1 || d.Config.Ports[0].PortCode != w.onprem.PortCode {
		t.Fatalf("draft after import: %+v, %v", d, err)
	}
	expectPage(t, "review", w.ops.get("/network/review"), http.StatusOK, "The file&#39;s configuration is now the draft")
}
