package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestMonitorPages: in both languages, the list page shows the quota and
// the add form; a refused form shows its error in place; an added monitor
// has its page with the two SVG graphs and history; stop and resume from
// the list are audited; another customer's monitor page is 404 and its
// stop refused with 404.
func TestMonitorPages(t *testing.T) {
	t.Parallel()
	e := startIDEnv(t, storetest.SQLite(t), identity.Config{})
	_, err := e.cat.CreateRegion(e.seed, catalog.RegionInput{Code: "tokyo", NameEN: "Tokyo", NameJA: "東京", DataLocation: "Japan"})
	e.must("region", err)
	_, port, _ := monitorCustomer(t, e, "Pages Monitor K.K.", 2)
	monitorCustomer(t, e, "Other Monitor K.K.", 0)
	c := e.pageClient(e.customer)
	c.login("pages-ops", sweepPW)
	other := e.pageClient(e.customer)
	other.login("other-ops", sweepPW)

	for _, lang := range []struct{ code, title, quota string }{
		{"ja", "到達性監視", "2 個まで"}, {"en", "Reachability monitors", "allows 2 monitors"},
	} {
		c.setLang(lang.code)
		c.expectPage(http.StatusOK, "/monitors", lang.title, lang.quota, `id="monitor-add-form"`, `href="/monitors"`)
	}
	other.setLang("en")
	other.expectPage(http.StatusOK, "/monitors", "needs the reachability-monitor option")

	p := c.post("/monitors", url.Values{"name": {"web"}, "port_code": {port}, "target": {"127.0.0.1"}, "probe": {"icmp"}})
	expectPage(t, "refused monitor", p, http.StatusBadRequest, `id="e-target"`, `value="web"`)
	p = c.post("/monitors", url.Values{"name": {"<b>web</b>"}, "port_code": {port}, "target": {"192.0.2.80"}, "probe": {"tcp"},
		"tcp_port": {"443"}, "interval_seconds": {"30"}, "fail_after": {""}})
	if p.code != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/monitors/mon_") {
		t.Fatalf("add: %d %s", p.code, p.location())
	}
	page := p.location()
	id := strings.TrimPrefix(page, "/monitors/")
	c.expectPage(http.StatusOK, page, "&lt;b&gt;web&lt;/b&gt;", "<svg", `id="monitor-csv"`, "No state changes yet.", `id="monitor-edit-form"`)
	other.expectPage(http.StatusNotFound, page)
	if p := other.post(page+"/stop", nil); p.code != http.StatusNotFound {
		t.Errorf("B stops A's monitor: %d", p.code)
	}

	expectRedirect(t, "stop", c.post(page+"/stop", url.Values{"reason": {"maintenance window"}}), "/monitors")
	c.expectPage(http.StatusOK, "/monitors", "stopped", `id="monitor-resume-`+id+`"`)
	if !e.auditHas("monitor.stop", "") {
		t.Error("the stop is not audited")
	}
	expectRedirect(t, "resume", c.post(page+"/resume", nil), "/monitors")
	c.expectPage(http.StatusOK, "/monitors", `id="monitor-stop-`+id+`"`)
	expectRedirect(t, "edit", c.post(page, url.Values{"name": {"web2"}, "port_code": {port}, "target": {"192.0.2.80"}, "probe": {"icmp"},
		"interval_seconds": {"60"}, "fail_after": {"3"}}), page)
	c.expectPage(http.StatusOK, page, "web2", "(ICMP)")
	expectRedirect(t, "remove", c.post(page+"/delete", nil), "/monitors")
	c.expectPage(http.StatusOK, "/monitors", "No monitors yet.")
}
