package web

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/usage"
)

// ingestUsage has tyo-1 report A's on-premises port twice, a minute apart
// in the last complete bin: 3,000,000 bytes in, 600,000 out.
func (e *catalogEnv) ingestUsage() time.Time {
	e.t.Helper()
	bin := time.Now().UTC().Truncate(usage.BinWidth).Add(-usage.BinWidth)
	for i, c := range []uint64{1_000_000, 4_000_000} {
		rep := observed.Report{Schema: observed.Schema, ObservedAt: bin.Add(time.Duration(i+1) * time.Minute),
			Hubs: []observed.Hub{{HubID: string(e.hubA), CustomerID: string(e.a.ID), Ports: []observed.Port{{PortCode: e.onprem.PortCode,
				Links: []observed.Link{{Connection: "single", IfIndex: 3, RxBytes: c, RxPackets: c / 1000, TxBytes: c / 5}}}}}}}
		e.must("usage", e.srv.deps.Usage.Ingest(e.seed, e.node.Name, rep))
	}
	return bin
}

// TestUsagePages: the traffic page shows the port's graph (an accessible
// SVG with the four series), totals by JST day and the CSV links, in
// Japanese and English; the CSV and the API carry the bin; another
// customer's port is not found on either.
func TestUsagePages(t *testing.T) {
	t.Parallel()
	e := newCatalogEnv(t)
	e.report(false)
	bin := e.ingestUsage()
	code := e.onprem.PortCode
	for _, lang := range []struct{ code, series, total string }{
		{"ja", "受信 (平均)", "期間の合計"},
		{"en", "in (average)", "Window total"},
	} {
		e.ops.setLanguage(lang.code)
		p := e.ops.get("/ports/" + code)
		expectPage(t, lang.code+" port", p, http.StatusOK, `href="/ports/`+code+`/traffic"`)
		for _, q := range []string{"", "?window=7d", "?window=60d"} {
			tr := e.ops.get("/ports/" + code + "/traffic" + q)
			expectPage(t, lang.code+" traffic"+q, tr, http.StatusOK, `<svg xmlns="http://www.w3.org/2000/svg" class="graph" role="img"`,
				`<title id="traffic-title">`, lang.series, lang.total, "3 MB", "600 kB", `href="/ports/`+code+`/traffic/csv?`)
		}
	}
	day := bin.In(time.FixedZone("JST", 9*3600)).Format("2006-01-02")
	tr := e.user.get("/ports/" + code + "/traffic?from=" + day + "&to=" + day)
	expectPage(t, "user, one JST day", tr, http.StatusOK, "<th scope=\"row\">"+day+"</th>")
	expectPage(t, "bad window", e.ops.get("/ports/"+code+"/traffic?window=1y"), http.StatusBadRequest)
	expectPage(t, "B's port", e.ops.get("/ports/"+e.bPort.PortCode+"/traffic"), http.StatusNotFound)

	api := e.client(e.customer)
	api.login("cat-user", catalogPW)
	var pu usage.PortUsage
	api.expect(http.StatusOK, "GET", "/api/v1/ports/"+code+"/usage", nil).json(t, &pu)
	if len(pu.Bins) != 1 || !pu.Bins[0].Start.Equal(bin) || pu.Bins[0].InBytes != 3_000_000 || pu.Bins[0].InAvgBps != 80_000 ||
		pu.Bins[0].InPeakBps != 400_000 {
		t.Errorf("port usage %+v", pu)
	}
	csv := string(api.expect(http.StatusOK, "GET", "/api/v1/usage?format=csv", nil).body)
	if !strings.HasPrefix(csv, "port_code,start_jst,start_utc,") || !strings.Contains(csv, code+","+bin.In(time.FixedZone("", 9*3600)).Format(time.RFC3339)+","+bin.Format(time.RFC3339)+",3000000,3000,") {
		t.Errorf("csv:\n%s", csv)
	}
	api.expect(http.StatusNotFound, "GET", "/api/v1/ports/"+e.bPort.PortCode+"/usage", nil)
	api.expect(http.StatusNotFound, "GET", "/api/v1/ports/"+e.bPort.PortCode+"/firewall-counters", nil)
	api.expect(http.StatusBadRequest, "GET", "/api/v1/usage?from=2020-01-01T00:00:00Z&to=2020-06-01T00:00:00Z", nil)
	api.expect(http.StatusBadRequest, "GET", "/api/v1/usage?format=xml", nil)
}
