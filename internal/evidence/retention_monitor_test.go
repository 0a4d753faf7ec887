package evidence_test

import (
	"slices"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/evidence"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestExpireMonitorHistory: a reachability monitor's state changes and
// RTT/loss bins are kept 90 days by default, then removed by the job.
func TestExpireMonitorHistory(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		e := newRetainEnv(t, db)
		now := clock.Now()
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := db.Exec(e.ctx, q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		exec(`INSERT INTO customers (id, name, status, created_at) VALUES ('cus_a', 'A', 'active', ?)`, ago(now, 500))
		for _, c := range []struct {
			id   string
			days int
		}{{"old", 91}, {"new", 89}} {
			exec(`INSERT INTO monitor_events (id, monitor_id, customer_id, from_state, to_state, at, reason, mailed)
				VALUES (?, 'mon_1', 'cus_a', 'up', 'down', ?, 'timeout', ?)`, "mev_"+c.id, ago(now, c.days), true)
			exec(`INSERT INTO monitor_bins (monitor_id, customer_id, bin_start, sent, answered, rtt_min_us, rtt_sum_us, rtt_max_us)
				VALUES ('mon_1', 'cus_a', ?, 1, 1, 1, 1, 1)`, ago(now, c.days))
		}
		if did := e.expire(t, evidence.DefaultRetention, now); !slices.Equal(did, []string{"monitor-events", "monitor-bins"}) {
			t.Errorf("expired %v", did)
		}
		for q, want := range map[string]int{`SELECT COUNT(*) FROM monitor_events WHERE id = 'mev_new'`: 1,
			`SELECT COUNT(*) FROM monitor_events`: 1, `SELECT COUNT(*) FROM monitor_bins`: 1} {
			var n int
			if err := store.Scan(db.QueryRow(e.ctx, q), &n); err != nil || n != want {
				t.Errorf("%s: %d %v, want %d", q, n, err, want)
			}
		}
	})
}
