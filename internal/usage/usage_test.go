package usage_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/evidence"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
	"github.com/tsunagi-net/tsunagi/internal/usage"
)

// t0 is a bin edge: 2026-12-06 15:00 UTC, midnight JST.
var t0 = time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)

// fixture makes customers cus_a (hub hub_a, port SHC-A1 placed on
// node-1's pp_1) and cus_b (hub hub_b, port SHC-B1).
func fixture(t *testing.T, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	now := clock.Store(t0.Add(-90 * 24 * time.Hour))
	for _, q := range []string{
		`INSERT INTO regions (id, code, name_en, name_ja, data_location, created_at) VALUES ('reg_1', 'tyo', 'Tokyo', '東京', 'JP', '` + now + `')`,
		`INSERT INTO hub_nodes (id, region_id, name, created_at) VALUES ('nod_1', 'reg_1', 'node-1', '` + now + `')`,
		`INSERT INTO physical_ports (id, node_id, name, speed_mbps, kind, oversubscription, created_at) VALUES ('pp_1', 'nod_1', 'eth1', 1000, 'customer', 2, '` + now + `')`,
	} {
		if _, err := db.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, c := range []struct{ cust, hub, svc, port string }{{"cus_a", "hub_a", "SHB-A", "SHC-A1"}, {"cus_b", "hub_b", "SHB-B", "SHC-B1"}} {
		for _, q := range []string{
			`INSERT INTO customers (id, name, status, created_at) VALUES ('` + c.cust + `', 'n', 'active', '` + now + `')`,
			`INSERT INTO issued_codes (code, kind, issued_at) VALUES ('` + c.svc + `', 'shb', '` + now + `')`,
			`INSERT INTO issued_codes (code, kind, issued_at) VALUES ('` + c.port + `', 'shc', '` + now + `')`,
			`INSERT INTO contracts (id, customer_id, service_code, plan, status, start_date, created_at) VALUES ('ctr_` + c.cust + `', '` + c.cust + `', '` + c.svc + `', 'standard', 'active', '2026-01-01', '` + now + `')`,
			`INSERT INTO hubs (id, customer_id, contract_id, region_id, priority, created_at) VALUES ('` + c.hub + `', '` + c.cust + `', 'ctr_` + c.cust + `', 'reg_1', 'main', '` + now + `')`,
			`INSERT INTO ports (id, customer_id, contract_id, hub_id, port_code, kind, speed_mbps, redundant, status, created_at) VALUES ('prt_` + c.port + `', '` + c.cust + `', 'ctr_` + c.cust + `', '` + c.hub + `', '` + c.port + `', 'onprem', 100, false, 'active', '` + now + `')`,
			`INSERT INTO port_placements (id, customer_id, port_id, leg, physical_port_id, proposed, reason, created_at) VALUES ('pl_` + c.port + `', '` + c.cust + `', 'prt_` + c.port + `', 'primary', 'pp_1', false, '', '` + now + `')`,
		} {
			if _, err := db.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
}

// report is node-1's report of one port link at t0+min.
func report(min float64, cust, hub, code string, ifindex int, rx, tx uint64) observed.Report {
	return observed.Report{Schema: observed.Schema, ObservedAt: t0.Add(time.Duration(min * float64(time.Minute))),
		Hubs: []observed.Hub{{HubID: hub, CustomerID: cust, Ports: []observed.Port{{PortCode: code, Links: []observed.Link{{
			Connection: "single", IfIndex: ifindex, RxBytes: rx, RxPackets: rx / 1000, TxBytes: tx, TxPackets: tx / 1000}}}}}}}
}

func portUsage(t *testing.T, u *usage.Usage, cust, code string) usage.PortUsage {
	t.Helper()
	p, err := u.Port(context.Background(), tenanttest.Customer(cust), code, t0.Add(-time.Hour), t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestIngest: a first report is a baseline; each newer one adds its
// delta to the bins its interval covers; a report sent again, or an older
// one, adds nothing; a new interface counts from zero.
func TestIngest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		fixture(t, db)
		u := usage.New(db, evidence.DefaultRetention.Usage)
		ctx := context.Background()
		steps := []observed.Report{
			report(1, "cus_a", "hub_a", "SHC-A1", 7, 1_000_000, 50),    // baseline
			report(2, "cus_a", "hub_a", "SHC-A1", 7, 1_600_000, 350),   // +600,000 in 15:00
			report(2, "cus_a", "hub_a", "SHC-A1", 7, 1_600_000, 350),   // sent again
			report(1.5, "cus_a", "hub_a", "SHC-A1", 7, 1_300_000, 200), // older
			report(6, "cus_a", "hub_a", "SHC-A1", 7, 2_000_000, 750),   // +400,000 over 15:02–15:06: 300,000 + 100,000
			report(7, "cus_a", "hub_a", "SHC-A1", 9, 50_000, 10),       // interface made again
		}
		for i, r := range steps {
			if err := u.Ingest(ctx, "node-1", r); err != nil {
				t.Fatalf("report %d: %v", i, err)
			}
		}
		p := portUsage(t, u, "cus_a", "SHC-A1")
		if len(p.Bins) != 2 {
			t.Fatalf("bins %+v", p.Bins)
		}
		b0, b1 := p.Bins[0], p.Bins[1]
		if !b0.Start.Equal(t0) || b0.InBytes != 900_000 || b0.OutBytes != 600 ||
			!b1.Start.Equal(t0.Add(5*time.Minute)) || b1.InBytes != 150_000 || b1.OutBytes != 110 {
			t.Errorf("bins %+v", p.Bins)
		}
		// The fastest interval in 15:00 was 15:01–15:02: 600,000 bytes in
		// 60 s; the bin's average is its bytes over 300 s.
		if b0.InPeakBps != 80_000 || b0.InAvgBps != 24_000 {
			t.Errorf("15:00 peak %d, average %d bit/s; want 80000, 24000", b0.InPeakBps, b0.InAvgBps)
		}
		if p.Totals.InBytes != 1_050_000 || p.Totals.InPeakBps != 80_000 {
			t.Errorf("totals %+v", p.Totals)
		}
	})
}

// TestIngestChecksPorts: a port the report names under a hub or customer
// that does not hold it is not counted, and the others still are.
func TestIngestChecksPorts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		fixture(t, db)
		u := usage.New(db, evidence.DefaultRetention.Usage)
		ctx := context.Background()
		for _, m := range []float64{1, 2} {
			r := report(m, "cus_a", "hub_a", "SHC-A1", 1, uint64(m*1000), 0)
			// B's port reported under A's hub: refused.
			r.Hubs[0].Ports = append(r.Hubs[0].Ports, observed.Port{PortCode: "SHC-B1", Links: []observed.Link{{Connection: "single", RxBytes: uint64(m * 5000)}}})
			if err := u.Ingest(ctx, "node-1", r); err == nil || !strings.Contains(err.Error(), "hub_a/SHC-B1") {
				t.Fatalf("foreign port: %v", err)
			}
		}
		if a := portUsage(t, u, "cus_a", "SHC-A1"); a.Totals.InBytes != 1000 {
			t.Errorf("A's own port: %+v", a.Totals)
		}
		if b := portUsage(t, u, "cus_b", "SHC-B1"); len(b.Bins) != 0 {
			t.Errorf("B's port counted from A's hub: %+v", b.Bins)
		}
	})
}

// TestReadsAreTheCustomersOwn: B never reads A's bins (18.1.3): A's port is
// not found for B, and B's whole usage holds none of A's ports.
func TestReadsAreTheCustomersOwn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		fixture(t, db)
		u := usage.New(db, evidence.DefaultRetention.Usage)
		ctx := context.Background()
		for _, m := range []float64{1, 2} {
			if err := u.Ingest(ctx, "node-1", report(m, "cus_a", "hub_a", "SHC-A1", 1, uint64(m*1000), 0)); err != nil {
				t.Fatal(err)
			}
		}
		from, to := t0.Add(-time.Hour), t0.Add(time.Hour)
		if _, err := u.Port(ctx, tenanttest.Customer("cus_b"), "SHC-A1", from, to); !fault.Is(err, fault.NotFound) {
			t.Errorf("B reads A's port: %v", err)
		}
		if _, err := u.Firewall(ctx, tenanttest.Customer("cus_b"), "SHC-A1"); !fault.Is(err, fault.NotFound) {
			t.Errorf("B reads A's firewall counters: %v", err)
		}
		all, err := u.All(ctx, tenanttest.Customer("cus_b"), from, to)
		if err != nil || len(all) != 0 {
			t.Errorf("B's usage: %+v, %v", all, err)
		}
		all, err = u.All(ctx, tenanttest.Customer("cus_a"), from, to)
		if err != nil || len(all) != 1 || all[0].PortCode != "SHC-A1" {
			t.Errorf("A's usage: %+v, %v", all, err)
		}
		if _, err := u.All(ctx, tenanttest.As("cus_a", "nobody"), from, to); !fault.Is(err, fault.Forbidden) {
			t.Errorf("without usage.read: %v", err)
		}
	})
}

// TestTwoControllersCountOnce: two controllers taking the same reports at
// the same time count each once.
func TestTwoControllersCountOnce(t *testing.T) {
	db1, db2 := storetest.Controllers(t)
	fixture(t, db1)
	u1, u2 := usage.New(db1, evidence.DefaultRetention.Usage), usage.New(db2, evidence.DefaultRetention.Usage)
	ctx := context.Background()
	if err := u1.Ingest(ctx, "node-1", report(0, "cus_a", "hub_a", "SHC-A1", 1, 0, 0)); err != nil {
		t.Fatal(err)
	}
	for m := 1; m <= 20; m++ {
		r := report(float64(m), "cus_a", "hub_a", "SHC-A1", 1, uint64(m)*1000, uint64(m)*10)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, u := range []*usage.Usage{u1, u2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = u.Ingest(ctx, "node-1", r)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	}
	if p := portUsage(t, u1, "cus_a", "SHC-A1"); p.Totals.InBytes != 20_000 || p.Totals.OutBytes != 200 {
		t.Errorf("totals %+v, want 20000 in and 200 out", p.Totals)
	}
}

func TestWindow(t *testing.T) {
	u := usage.New(nil, 62*24*time.Hour)
	now := t0.Add(7 * time.Minute)
	from, to, err := u.Window("", "", now)
	if err != nil || !to.Equal(now) || !from.Equal(t0.Add(-24*time.Hour+5*time.Minute)) {
		t.Errorf("default window %v – %v, %v", from, to, err)
	}
	from, to, err = u.Window("2026-12-01T00:00:00+09:00", "2026-12-02T00:00:00+09:00", now)
	if err != nil || !from.Equal(time.Date(2026, 11, 30, 15, 0, 0, 0, time.UTC)) || to.Sub(from) != 24*time.Hour {
		t.Errorf("JST window %v – %v, %v", from, to, err)
	}
	for _, c := range []struct{ from, to, field string }{
		{"yesterday", "", "from"},
		{"", "2026-13-01T00:00:00Z", "to"},
		{"2026-12-02T00:00:00Z", "2026-12-01T00:00:00Z", "from"},
		{"2026-09-01T00:00:00Z", "2026-12-01T00:00:00Z", "from"},
	} {
		_, _, err := u.Window(c.from, c.to, now)
		var f *fault.Error
		if !errors.As(err, &f) || f.Kind != fault.Invalid || f.Field != c.field {
			t.Errorf("window %q – %q: %v, want a fault on %s", c.from, c.to, err, c.field)
		}
	}
}

// TestRedundantPortCountsItsLegs: a redundant port reports its bridge and
// its two legs; the legs are counted, each as its placement leg, and the
// bridge (which carries the same traffic) is not.
func TestRedundantPortCountsItsLegs(t *testing.T) {
	db := storetest.SQLite(t)
	fixture(t, db)
	u := usage.New(db, evidence.DefaultRetention.Usage)
	ctx := context.Background()
	for m, n := range []uint64{0, 1000} {
		r := report(float64(m+1), "cus_a", "hub_a", "SHC-A1", 5, n*10, 0)
		r.Hubs[0].Ports[0].Links = append(r.Hubs[0].Ports[0].Links,
			observed.Link{Connection: "single", Leg: "primary", IfIndex: 6, RxBytes: n * 7},
			observed.Link{Connection: "single", Leg: "secondary", IfIndex: 8, RxBytes: n * 3})
		if err := u.Ingest(ctx, "node-1", r); err != nil {
			t.Fatal(err)
		}
	}
	if p := portUsage(t, u, "cus_a", "SHC-A1"); p.Totals.InBytes != 10_000 {
		t.Errorf("in %d bytes, want the legs' 7000 + 3000", p.Totals.InBytes)
	}
	peaks, err := usage.PeaksByPhysicalPort(ctx, db, t0.Add(-time.Hour))
	// 7000 bytes over 60 s on the primary leg, placed on pp_1.
	if err != nil || peaks["pp_1"] != 933 {
		t.Errorf("peaks %v, %v; want pp_1 933 bit/s", peaks, err)
	}
}

// TestFirewallCounters: the rule counters come from the hub's last
// observation, by rule number with the default action last.
func TestFirewallCounters(t *testing.T) {
	db := storetest.SQLite(t)
	fixture(t, db)
	u := usage.New(db, evidence.DefaultRetention.Usage)
	ctx := context.Background()
	body, err := json.Marshal(observed.Hub{HubID: "hub_a", CustomerID: "cus_a", Ports: []observed.Port{{PortCode: "SHC-A1",
		Rules: []observed.RuleCounter{{Rule: observed.DefaultRule, Packets: 9, Bytes: 900}, {Rule: 2, Packets: 2, Bytes: 200}, {Rule: 0, Packets: 1, Bytes: 100}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO hub_observations (hub_id, node_id, customer_id, reported_at, wanted_version, config_version, error, problems, body)
		VALUES ('hub_a', 'nod_1', 'cus_a', ?, 1, 1, '', 0, ?)`, clock.Store(t0), string(body)); err != nil {
		t.Fatal(err)
	}
	fc, err := u.Firewall(ctx, tenanttest.Customer("cus_a"), "SHC-A1")
	want := []usage.RuleCounter{{Rule: 0, Packets: 1, Bytes: 100}, {Rule: 2, Packets: 2, Bytes: 200}, {Rule: -1, Packets: 9, Bytes: 900}}
	if err != nil || !slices.Equal(fc.Rules, want) || fc.ObservedAt == nil || !fc.ObservedAt.Equal(t0) {
		t.Errorf("counters %+v, %v; want %+v", fc, err, want)
	}
	if fc, err := u.Firewall(ctx, tenanttest.Customer("cus_b"), "SHC-B1"); err != nil || len(fc.Rules) != 0 || fc.ObservedAt != nil {
		t.Errorf("B's port, never observed: %+v, %v", fc, err)
	}
}

// TestHourly: hours add up their bins exactly; the average is over the
// hour's bins that exist, the peak the hour's highest.
func TestHourly(t *testing.T) {
	db := storetest.SQLite(t)
	fixture(t, db)
	u := usage.New(db, evidence.DefaultRetention.Usage)
	ctx := context.Background()
	// Reports every 10 minutes over two hours, at a growing rate.
	var rx uint64
	for m := 0; m <= 120; m += 10 {
		rx += uint64(m) * 1000
		if err := u.Ingest(ctx, "node-1", report(float64(m), "cus_a", "hub_a", "SHC-A1", 1, rx, 0)); err != nil {
			t.Fatal(err)
		}
	}
	sc := tenanttest.Customer("cus_a")
	bins, err := u.Port(ctx, sc, "SHC-A1", t0, t0.Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	hours, err := u.Hourly(ctx, sc, "SHC-A1", t0, t0.Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(hours.Bins) != 2 || hours.Totals != bins.Totals || !hours.Bins[1].Start.Equal(t0.Add(time.Hour)) {
		t.Fatalf("hours %+v, bins' totals %+v", hours, bins.Totals)
	}
	var first, peak int64
	for _, b := range bins.Bins {
		if b.Start.Before(t0.Add(time.Hour)) {
			first += b.InBytes
			peak = max(peak, b.InPeakBps)
		}
	}
	if h := hours.Bins[0]; h.InBytes != first || h.InPeakBps != peak || h.InAvgBps != (first*8+1800)/3600 {
		t.Errorf("first hour %+v; want %d bytes, peak %d", h, first, peak)
	}
	if _, err := u.Hourly(ctx, tenanttest.Customer("cus_b"), "SHC-A1", t0, t0.Add(time.Hour)); !fault.Is(err, fault.NotFound) {
		t.Errorf("B reads A's hours: %v", err)
	}
}
