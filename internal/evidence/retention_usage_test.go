package evidence_test

import (
	"slices"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/evidence"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestExpireUsage: usage bins that started, and link counters last
// reported, more than --retain-usage-days ago go; newer ones stay; a
// second run changes nothing.
func TestExpireUsage(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newRetainEnv(t, db)
		now := clock.Now()
		old := ago(now, 63)
		for _, q := range []string{
			`INSERT INTO regions (id, code, name_en, name_ja, data_location, created_at) VALUES ('reg_1', 'tyo', 'Tokyo', '東京', 'JP', ?)`,
			`INSERT INTO customers (id, name, status, created_at) VALUES ('cus_a', 'A', 'active', ?)`,
			`INSERT INTO issued_codes (code, kind, issued_at) VALUES ('shb00000001', 'shb', ?)`,
			`INSERT INTO issued_codes (code, kind, issued_at) VALUES ('shc00000001', 'shc', ?)`,
			`INSERT INTO contracts (id, customer_id, service_code, plan, status, start_date, created_at) VALUES ('ctr_a', 'cus_a', 'shb00000001', 'smart-hub', 'active', '2026-01-01', ?)`,
			`INSERT INTO hubs (id, customer_id, contract_id, region_id, priority, created_at) VALUES ('hub_a', 'cus_a', 'ctr_a', 'reg_1', 'main', ?)`,
			`INSERT INTO ports (id, customer_id, contract_id, hub_id, port_code, kind, speed_mbps, redundant, status, created_at) VALUES ('prt_a', 'cus_a', 'ctr_a', 'hub_a', 'shc00000001', 'onprem', 100, false, 'active', ?)`,
		} {
			if _, err := db.Exec(e.ctx, q, old); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		for i, at := range []string{old, ago(now, 61)} {
			if _, err := db.Exec(e.ctx, `INSERT INTO usage_bins (customer_id, port_id, leg, bin_start, in_bytes, in_packets, in_drops, out_bytes,
				out_packets, out_drops, peak_in_bps, peak_out_bps) VALUES ('cus_a', 'prt_a', '', ?, 1, 1, 0, 1, 1, 0, 8, 8)`, at); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(e.ctx, `INSERT INTO usage_counters (customer_id, port_id, node, connection, leg, ifindex, observed_at, rx_bytes,
				rx_packets, rx_drops, tx_bytes, tx_packets, tx_drops) VALUES ('cus_a', 'prt_a', ?, 'single', '', 1, ?, 1, 1, 0, 1, 1, 0)`,
				[]string{"node-old", "node-new"}[i], at); err != nil {
				t.Fatal(err)
			}
		}
		if did := e.expire(t, evidence.DefaultRetention, now); !slices.Equal(did, []string{"usage", "usage-counters"}) {
			t.Errorf("expired %v, want usage and usage-counters", did)
		}
		for q, want := range map[string]string{
			`SELECT bin_start FROM usage_bins`: ago(now, 61),
			`SELECT node FROM usage_counters`:  "node-new",
		} {
			if got, err := store.Strings(e.ctx, db, q); err != nil || !slices.Equal(got, []string{want}) {
				t.Errorf("%s: %v, %v; want %s", q, got, err, want)
			}
		}
		if did := e.expire(t, evidence.DefaultRetention, now); len(did) != 0 {
			t.Errorf("second run expired %v", did)
		}
	})
}
