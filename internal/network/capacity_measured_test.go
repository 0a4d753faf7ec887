package network

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestCapacityMeasuredPeak: a physical port's measured peak is the highest
// 5-minute peak of the last 30 days of the legs placed on it; the port is
// flagged on it, not on its allocation, and a port without measurements
// keeps the allocation's flag.
func TestCapacityMeasuredPeak(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a := e.addCustomer("a")
		pl, err := e.svc.Operations.Place(e.ctx, a.op, a.codes[pOnPrem], PlaceInput{})
		if err != nil {
			t.Fatal(err)
		}
		var portID string
		if err := store.Scan(db.QueryRow(e.ctx, `SELECT id FROM ports WHERE port_code = ?`, a.codes[pOnPrem]), &portID); err != nil {
			t.Fatal(err)
		}
		bin := func(leg string, ago time.Duration, inBps, outBps int64) {
			t.Helper()
			if _, err := db.Exec(e.ctx, `INSERT INTO usage_bins (customer_id, port_id, leg, bin_start, in_bytes, in_packets, in_drops,
				out_bytes, out_packets, out_drops, peak_in_bps, peak_out_bps) VALUES (?, ?, ?, ?, 0, 0, 0, 0, 0, 0, ?, ?)`,
				a.id, portID, leg, clock.Store(e.now.Add(-ago).Truncate(5*time.Minute)), inBps, outBps); err != nil {
				t.Fatal(err)
			}
		}
		bin("primary", 2*time.Hour, 1_000_000_000, 9_200_000_001) // 9.2 Gbit/s out: 92 %
		bin("primary", 3*time.Hour, 4_000_000_000, 10)
		bin("primary", 40*24*time.Hour, 10_000_000_000, 0) // older than 30 days
		bin("secondary", time.Hour, 2_000_000, 0)
		rep, err := e.svc.Operations.Capacity(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		rows := map[string]CapacityRow{}
		for _, r := range rep.Rows {
			rows[r.Node+"/"+r.Port] = r
		}
		prim, sec := rows[pl.Legs[0].Node+"/"+pl.Legs[0].Port], rows[pl.Legs[1].Node+"/"+pl.Legs[1].Port]
		if prim.MeasuredPeakMbps == nil || *prim.MeasuredPeakMbps != 9_201 || *prim.MeasuredUtil != 0.92 || !prim.Flagged ||
			prim.FlagReasons[0] != "measured peak 92 % ≥ 70 %" || prim.ContractedMbps == 0 {
			t.Errorf("primary leg's port: %+v", prim)
		}
		// Fully allocated, lightly used: not flagged on the allocation (the
		// forecast of its contracts still flags it).
		if sec.MeasuredPeakMbps == nil || *sec.MeasuredPeakMbps != 2 || sec.Utilisation != 1 || slices.ContainsFunc(sec.FlagReasons,
			func(r string) bool { return strings.HasPrefix(r, "allocated") || strings.HasPrefix(r, "measured") }) {
			t.Errorf("secondary leg's port: %+v", sec)
		}
		if r := rows["tyo-1/eth3"]; r.MeasuredPeakMbps != nil || r.MeasuredUtil != nil {
			t.Errorf("a port without measurements: %+v", r)
		}
	})
}
