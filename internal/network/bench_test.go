package network

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// The benchmark: the desired state of a node with 500 customer hubs
// and 2,000 ports (4 per hub: on-premises, AWS private, Azure private, Azure
// public with a firewall, NAPT and static NAT). Target: under 200 ms and
// under 200 MB. BenchmarkDesiredStateNode measures the whole path from the
// database (SQLite); BenchmarkBuildDesiredState the pure computation.

const benchHubs = 500

// benchConfig is customer i's configuration with the port codes given.
func benchConfig(hub catalog.HubID, codes [4]string) Config {
	c := fixtureConfig()
	c.Hubs = []HubConfig{{HubID: hub, InternalNetwork: "100.64.0.0/24", MonitoringNetwork: "100.64.1.0/28"}}
	ports := []PortConfig{c.Ports[0], c.Ports[1], c.Ports[3], c.Ports[4]}
	for i := range ports {
		ports[i].PortCode = codes[i]
	}
	ports[3].StaticNAT = []StaticNAT{{Inside: "10.10.0.5"}}
	c.Ports = ports
	return c
}

func BenchmarkBuildDesiredState(b *testing.B) {
	in := NodeInput{Node: "tyo-1", Region: "tokyo", RouteLimit: 2000}
	for i := range benchHubs {
		hub := catalog.HubID(fmt.Sprintf("hub_%026d", i))
		var codes [4]string
		ports := map[string]PortFact{}
		legs := map[string][]LegInput{}
		kinds := []string{"onprem", "a-private", "m-private", "m-public"}
		for j := range 4 {
			codes[j] = fmt.Sprintf("shc%08d", i*4+j)
			ports[codes[j]] = PortFact{Code: codes[j], HubID: hub, Kind: kinds[j], SpeedMbps: 1000, Active: true}
			legs[codes[j]] = []LegInput{{"primary", fmt.Sprintf("eth%d", j)}}
		}
		in.Hubs = append(in.Hubs, HubInput{Hub: HubFact{ID: hub, Region: "tokyo", Priority: "main"}, CustomerID: catalog.CustomerID(fmt.Sprintf("cus_%d", i)),
			Version: 1, Config: benchConfig(hub, codes), VNI: uint32(10_000 + i), AllHubs: []HubFact{{ID: hub, Region: "tokyo", Priority: "main"}},
			Ports: ports, Legs: legs, NAT: NATAddresses{NAPT: map[string][]string{codes[3]: {"203.0.113.0/31", "203.0.113.16/28"}},
				Static: map[string]string{"10.10.0.5": "203.0.113.64"}}})
	}
	b.ReportAllocs()
	for b.Loop() {
		st := BuildDesiredState(in)
		if _, err := desired.Encode(&st); err != nil {
			b.Fatal(err)
		}
	}
}

// seedBench writes the 500 customers straight into the tables in one
// transaction (the catalog's one-at-a-time API would dominate the setup).
func seedBench(b *testing.B, db *store.DB) {
	ctx := context.Background()
	now := clock.Store(clock.Now())
	err := db.InTx(ctx, func(tx *store.Tx) error {
		exec := func(q string, args ...any) {
			if _, err := tx.Exec(ctx, q, args...); err != nil {
				b.Fatalf("%s: %v", q, err)
			}
		}
		exec(`INSERT INTO regions (id, code, name_en, name_ja, data_location, created_at) VALUES ('reg_1', 'tokyo', 'Tokyo', '東京', 'Japan', ?)`, now)
		exec(`INSERT INTO hub_nodes (id, region_id, name, created_at) VALUES ('nod_1', 'reg_1', 'tyo-1', ?)`, now)
		exec(`INSERT INTO nat_pools (id, region_id, prefix, purpose, created_at) VALUES ('pool_1', 'reg_1', '198.18.0.0/16', 'napt', ?)`, now)
		for j := range 40 {
			exec(`INSERT INTO physical_ports (id, node_id, name, speed_mbps, kind, oversubscription, created_at) VALUES (?, 'nod_1', ?, 100000, 'onprem', 1, ?)`,
				fmt.Sprintf("php_%d", j), fmt.Sprintf("eth%d", j), now)
		}
		kinds := []string{"onprem", "a-private", "m-private", "m-public"}
		for i := range benchHubs {
			cust, ctr, hub := fmt.Sprintf("cus_%d", i), fmt.Sprintf("ctr_%d", i), fmt.Sprintf("hub_%d", i)
			sc := fmt.Sprintf("shb%08d", i)
			exec(`INSERT INTO customers (id, name, status, created_at) VALUES (?, ?, 'active', ?)`, cust, cust, now)
			exec(`INSERT INTO issued_codes (code, kind, issued_at) VALUES (?, 'shb', ?)`, sc, now)
			exec(`INSERT INTO contracts (id, customer_id, service_code, plan, status, start_date, created_at) VALUES (?, ?, ?, 'smart-hub', 'active', '2026-01-01', ?)`,
				ctr, cust, sc, now)
			exec(`INSERT INTO hubs (id, customer_id, contract_id, region_id, priority, created_at) VALUES (?, ?, ?, 'reg_1', 'main', ?)`, hub, cust, ctr, now)
			exec(`INSERT INTO hub_placements (hub_id, customer_id, node_id, created_at) VALUES (?, ?, 'nod_1', ?)`, hub, cust, now)
			exec(`INSERT INTO backbone_vnis (customer_id, vni) VALUES (?, ?)`, cust, 10_000+i)
			var codes [4]string
			for j := range 4 {
				codes[j] = fmt.Sprintf("shc%08d", i*4+j)
				pid := fmt.Sprintf("prt_%d_%d", i, j)
				exec(`INSERT INTO issued_codes (code, kind, issued_at) VALUES (?, 'shc', ?)`, codes[j], now)
				exec(`INSERT INTO ports (id, customer_id, contract_id, hub_id, port_code, kind, speed_mbps, redundant, status, created_at)
					VALUES (?, ?, ?, ?, ?, ?, 1000, ?, 'active', ?)`, pid, cust, ctr, hub, codes[j], kinds[j], false, now)
				exec(`INSERT INTO port_placements (id, customer_id, port_id, leg, physical_port_id, proposed, reason, created_at)
					VALUES (?, ?, ?, 'primary', ?, ?, '', ?)`, "plc_"+pid, cust, pid, fmt.Sprintf("php_%d", (i*4+j)%40), true, now)
			}
			for k, p := range []string{fmt.Sprintf("198.18.%d.%d/31", i/64, (i%64)*4), fmt.Sprintf("198.18.%d.%d/32", 100+i/64, (i%64)*4)} {
				exec(`INSERT INTO nat_allocations (id, pool_id, customer_id, purpose, prefix, port_code, slot, created_at) VALUES (?, 'pool_1', ?, 'napt', ?, ?, ?, ?)`,
					fmt.Sprintf("nat_%d_%d", i, k), cust, p, codes[3], k, now)
			}
			cfg, _ := json.Marshal(benchConfig(catalog.HubID(hub), codes))
			exec(`INSERT INTO net_versions (customer_id, version, base_version, config, review, applied_at, applied_by) VALUES (?, 1, 0, ?, '{}', ?, 'bench')`,
				cust, string(cfg), now)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

func BenchmarkDesiredStateNode(b *testing.B) {
	db := storetest.SQLite(b)
	seedBench(b, db)
	svc := New(db, nil, DefaultSettings)
	ctx := context.Background()
	_, st, err := svc.Compiler.DesiredState(ctx, "tyo-1")
	if err != nil {
		b.Fatal(err)
	}
	ports := 0
	for _, h := range st.Hubs {
		ports += len(h.Ports)
	}
	if len(st.Hubs) != benchHubs || ports != 4*benchHubs {
		b.Fatalf("document has %d hubs and %d ports", len(st.Hubs), ports)
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := svc.Compiler.DesiredState(ctx, "tyo-1"); err != nil {
			b.Fatal(err)
		}
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapSys)/(1<<20), "heap-sys-MB")
}
