package web

import (
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
	"github.com/tsunagi-net/tsunagi/internal/usage"
)

// BenchmarkUsageTrafficPage60Days measures GET /ports/{code}/traffic?window=60d
// (issue #15: under 100 ms) for a port with 60 days of 5-minute bins
// (17,280) over real SQLite: authentication, the bins' read, the daily
// totals, the firewall counters, the SVG of four series reduced to the
// picture's width and the page's render, through the customer listener's
// handler without TLS. p50-ms, p99-ms, max-ms and cpu-ms/op are reported.
//
//	go test -run '^$' -bench UsageTrafficPage -benchtime 50x ./internal/web/
func BenchmarkUsageTrafficPage60Days(b *testing.B) {
	e := startIDEnv(b, storetest.SQLite(b), identity.Config{})
	ctx := e.seed
	_, err := e.cat.CreateRegion(ctx, catalog.RegionInput{Code: "tokyo", NameEN: "Tokyo", NameJA: "東京", DataLocation: "Japan"})
	e.must("region", err)
	cu, err := e.cat.CreateCustomer(ctx, catalog.CustomerInput{Name: "Bench K.K."})
	e.must("customer", err)
	op := tenanttest.Operator(cu.ID)
	k, err := e.cat.CreateContract(ctx, op, catalog.ContractInput{Plan: "smart-hub"})
	e.must("contract", err)
	hub, err := e.cat.CreateHub(ctx, op, catalog.HubInput{ServiceCode: k.ServiceCode, Region: "tokyo", Priority: "main"})
	e.must("hub", err)
	p, err := e.cat.CreatePort(ctx, op, catalog.PortInput{ServiceCode: k.ServiceCode, HubID: hub.ID, Kind: "onprem", SpeedMbps: 10_000})
	e.must("port", err)
	end := time.Now().UTC().Truncate(usage.BinWidth)
	const bins = 60 * 24 * 12
	e.must("bins", e.db.InTx(ctx, func(tx *store.Tx) error {
		for i := range bins {
			v := int64(3e8 + 2e8*math.Sin(float64(i)/144))
			if _, err := tx.Exec(ctx, `INSERT INTO usage_bins (customer_id, port_id, leg, bin_start, in_bytes, in_packets, in_drops,
				out_bytes, out_packets, out_drops, peak_in_bps, peak_out_bps) VALUES (?, ?, '', ?, ?, ?, 0, ?, ?, 0, ?, ?)`,
				cu.ID, p.ID, clock.Store(end.Add(-time.Duration(bins-i)*usage.BinWidth)), v, v/1200, v/3, v/3600, v*8/200, v*8/600); err != nil {
				return err
			}
		}
		return nil
	}))

	const pw = "usage page bench passphrase 42"
	e.account(cu.ID, "bench-user", identity.RoleUser, pw)
	c := e.pageClient(e.customer)
	c.login("bench-user", pw)
	base, _ := url.Parse(e.customer)
	cookies := c.hc.Jar.Cookies(base)
	h := e.srv.CustomerHandler()
	get := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "https://localhost/ports/"+p.PortCode+"/traffic?window=60d", nil)
		req.RemoteAddr = "127.0.0.1:40000"
		for _, ck := range cookies {
			req.AddCookie(ck)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	if w := get(); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `class="graph" role="img"`) ||
		strings.Count(w.Body.String(), `<th scope="row">20`) < 59 {
		b.Fatalf("GET traffic: %d, %d bytes\n%.800s", w.Code, w.Body.Len(), w.Body.String())
	}
	times := make([]time.Duration, 0, b.N)
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		w := get()
		times = append(times, time.Since(start))
		if w.Code != http.StatusOK {
			b.Fatalf("GET traffic: %d", w.Code)
		}
	}
	b.StopTimer()
	cpu := cpuTime(b) - cpu0
	slices.Sort(times)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(pagePercentile(times, 0.50)), "p50-ms")
	b.ReportMetric(ms(pagePercentile(times, 0.99)), "p99-ms")
	b.ReportMetric(ms(times[len(times)-1]), "max-ms")
	b.ReportMetric(ms(cpu/time.Duration(b.N)), "cpu-ms/op")
}
