package usage_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/evidence"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/usage"
)

// Ingestion at scale: 2,000 ports (20 customers with 100 ports each, on 4
// nodes of 5 hubs) reporting one sample a minute. One iteration is one
// minute: every node's report taken, one transaction each, as the agent
// listener takes them.
const (
	benchNodes        = 4
	benchHubsPerNode  = 5
	benchPortsPerHub  = 100
	benchPortsOverall = benchNodes * benchHubsPerNode * benchPortsPerHub
)

// go test -run '^$' -bench Ingest2000Ports -benchtime 20x ./internal/usage/
func BenchmarkIngest2000Ports(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchIngest(b, storetest.SQLite(b)) })
	b.Run("postgres", func(b *testing.B) { benchIngest(b, storetest.Postgres(b)) })
}

func benchIngest(b *testing.B, db *store.DB) {
	ctx := context.Background()
	now := clock.Store(time.Now())
	exec := func(q string, args ...any) {
		b.Helper()
		if _, err := db.Exec(ctx, q, args...); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO regions (id, code, name_en, name_ja, data_location, created_at) VALUES ('reg_1', 'tyo', 'Tokyo', '東京', 'JP', ?)`, now)
	reports := make([]observed.Report, benchNodes)
	err := db.InTx(ctx, func(tx *store.Tx) error {
		for n := range benchNodes {
			reports[n].Schema = observed.Schema
			for h := range benchHubsPerNode {
				c := n*benchHubsPerNode + h
				cust, hub, svc := fmt.Sprintf("cus_%02d", c), fmt.Sprintf("hub_%02d", c), fmt.Sprintf("shb%08d", c)
				for _, q := range []struct {
					q    string
					args []any
				}{
					{`INSERT INTO customers (id, name, status, created_at) VALUES (?, 'n', 'active', ?)`, []any{cust, now}},
					{`INSERT INTO issued_codes (code, kind, issued_at) VALUES (?, 'shb', ?)`, []any{svc, now}},
					{`INSERT INTO contracts (id, customer_id, service_code, plan, status, start_date, created_at) VALUES (?, ?, ?, 'smart-hub', 'active', '2026-01-01', ?)`, []any{"ctr_" + cust, cust, svc, now}},
					{`INSERT INTO hubs (id, customer_id, contract_id, region_id, priority, created_at) VALUES (?, ?, ?, 'reg_1', 'main', ?)`, []any{hub, cust, "ctr_" + cust, now}},
				} {
					if _, err := tx.Exec(ctx, q.q, q.args...); err != nil {
						return err
					}
				}
				oh := observed.Hub{HubID: hub, CustomerID: cust}
				for p := range benchPortsPerHub {
					code := fmt.Sprintf("shc%08d", c*benchPortsPerHub+p)
					if _, err := tx.Exec(ctx, `INSERT INTO issued_codes (code, kind, issued_at) VALUES (?, 'shc', ?)`, code, now); err != nil {
						return err
					}
					if _, err := tx.Exec(ctx, `INSERT INTO ports (id, customer_id, contract_id, hub_id, port_code, kind, speed_mbps, redundant, status, created_at)
						VALUES (?, ?, ?, ?, ?, 'onprem', 1000, false, 'active', ?)`, "prt_"+code, cust, "ctr_"+cust, hub, code, now); err != nil {
						return err
					}
					oh.Ports = append(oh.Ports, observed.Port{PortCode: code, Links: []observed.Link{{Connection: "single", Carrier: true, IfIndex: 10 + p}}})
				}
				reports[n].Hubs = append(reports[n].Hubs, oh)
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	u := usage.New(db, evidence.DefaultRetention.Usage)
	start := time.Now().UTC().Add(-time.Duration(b.N+1) * time.Minute).Truncate(time.Minute)
	minute := func(m int) {
		for n := range reports {
			r := reports[n]
			r.ObservedAt = start.Add(time.Duration(m) * time.Minute)
			for h := range r.Hubs {
				for p := range r.Hubs[h].Ports {
					l := &r.Hubs[h].Ports[p].Links[0]
					l.RxBytes, l.RxPackets, l.TxBytes, l.TxPackets = uint64(m)*7_500_000, uint64(m)*6000, uint64(m)*2_500_000, uint64(m)*2000
				}
			}
			if err := u.Ingest(ctx, fmt.Sprintf("node-%d", n), r); err != nil {
				b.Fatal(err)
			}
		}
	}
	minute(0) // the baselines
	b.ResetTimer()
	for m := 1; m <= b.N; m++ {
		minute(m)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/minute-of-2000-ports")
	var bins int
	if err := store.Scan(db.QueryRow(ctx, `SELECT COUNT(*) FROM usage_bins`), &bins); err != nil || bins < benchPortsOverall {
		b.Fatalf("%d bins, %v", bins, err)
	}
}
