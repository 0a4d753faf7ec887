package main

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/evidence"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/usage"
)

// TestBrowserUsage: the demo customer's port, with six hours of reports
// taken by the usage package on the running controller's own database (as
// the agent listener's ingester takes them), shows on /ports/{code}/traffic
// a graph with its four series, the day's totals and the CSV links, in
// Japanese and English; axe-core checks the page.
func TestBrowserUsage(t *testing.T) {
	defer timed(t, "TestBrowserUsage")()
	s := startDemo(t)
	s.bootstrap()
	ctx := context.Background()
	db, err := store.Open(ctx, store.Options{DataDir: s.dataDir, SkipLock: true, SecretKeyFile: filepath.Join(s.dataDir, "secret.key")})
	if err != nil {
		t.Fatalf("open the controller's database: %v", err)
	}
	defer db.Close()
	var code, hub, cust string
	if err := store.Scan(db.QueryRow(ctx, `SELECT p.port_code, p.hub_id, p.customer_id FROM ports p JOIN customers c ON c.id = p.customer_id
		WHERE c.name = 'Example Trading K.K.' ORDER BY p.port_code LIMIT 1`), &code, &hub, &cust); err != nil {
		t.Fatalf("the demo customer's port: %v", err)
	}
	u := usage.New(db, evidence.DefaultRetention.Usage)
	start := time.Now().UTC().Add(-6 * time.Hour).Truncate(time.Minute)
	var rx, tx uint64
	for m := 0; m <= 6*60; m++ {
		// A day-like curve, about 20 to 60 Mbit/s in and a third of it out.
		rate := 40e6 + 20e6*math.Sin(float64(m)/40)
		rx += uint64(rate / 8 * 60)
		tx += uint64(rate / 24 * 60)
		rep := observed.Report{Schema: observed.Schema, ObservedAt: start.Add(time.Duration(m) * time.Minute),
			Hubs: []observed.Hub{{HubID: hub, CustomerID: cust, Ports: []observed.Port{{PortCode: code,
				Links: []observed.Link{{Connection: "single", IfIndex: 9, Carrier: true, RxBytes: rx, RxPackets: rx / 1200, TxBytes: tx, TxPackets: tx / 1200}}}}}}}
		if err := u.Ingest(ctx, "demo-node", rep); err != nil {
			t.Fatalf("ingest: %v", err)
		}
	}

	b := newBrowser(t, s)
	base := s.customerOrigin()
	ops := b.person("example-ops", "ja")
	ops.setPassword(mailedLink(t, s, "ops@example.co.jp"), opsPassword)
	ops.signIn(base, "example-ops", opsPassword)
	ops.open(base + "/ports/" + code)
	ops.mustHave("#port-traffic", "the link to the port's traffic")
	if st := ops.submit("#port-traffic"); st != 200 {
		t.Fatalf("the traffic page: %d\n%s", st, ops.text())
	}
	ops.mustHave(`svg.graph[role="img"]`, "the graph")
	if n := eval[int](ops, `document.querySelectorAll('svg.graph path[stroke-dasharray]').length`); n < 2 {
		t.Errorf("%d dashed peak lines, want the in and out peaks", n)
	}
	if n := eval[int](ops, `document.querySelectorAll('svg.graph path[fill-opacity]').length`); n < 2 {
		t.Errorf("%d filled average areas, want in and out", n)
	}
	desc := eval[string](ops, `document.querySelector('svg.graph desc').textContent`)
	if len(desc) < 40 {
		t.Errorf("the graph's description %q says little", desc)
	}
	ops.contains("the legend and the totals", "受信 (平均)", "送信 (ピーク)", "期間の合計")
	ops.mustHave("#usage-csv", "the CSV link")
	ops.checkLanguages("/ports/"+code+"/traffic", code)
	ops.open(base + "/ports/" + code + "/traffic?window=60d")
	ops.mustHave(`svg.graph[role="img"] path`, "the 60-day graph's series")
	ops.shoot("customer-port-traffic")
}
