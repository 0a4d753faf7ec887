package network

import (
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

func TestPurge(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a, b := e.addCustomer("a"), e.addCustomer("b")
		for _, c := range []customer{a, b} {
			for _, code := range []string{pAPrivate, pAPublic, pMPublic} {
				if _, err := e.svc.Operations.Place(e.ctx, c.op, c.codes[code], PlaceInput{}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := e.svc.Workflow.StartEditing(c.ctx, c.sc); err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.Workflow.SaveDraft(c.ctx, c.sc, c.config()); err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.Workflow.Apply(c.ctx, c.sc); err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.Workflow.StartEditing(c.ctx, c.sc); err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.Operations.RequestBandwidthChange(e.ctx, c.op, c.codes[pAPrivate], BandwidthInput{SpeedMbps: 2000, EffectiveDate: "2027-01-01"}); err != nil {
				t.Fatal(err)
			}
			e.reportHold(observed.Hold{Kind: observed.HoldRouteLimit, PortCode: c.codes[pAPrivate], Reason: "limit", Prefixes: 2000, Limit: 2000})
			if _, err := e.svc.Workflow.Reenable(c.ctx, c.sc, c.codes[pAPrivate]); err != nil {
				t.Fatal(err)
			}
			e.reportHold(observed.Hold{Kind: observed.HoldRouteLimit, PortCode: c.codes[pAPrivate], Reason: "limit", Prefixes: 2000, Limit: 2000,
				ReenableSeq: 1})
			e.reportCounts(c.codes[pAPrivate], 1)
		}
		count := func(c customer) (n int) {
			for _, table := range []string{"net_versions", "net_drafts", "net_locks", "port_placements", "hub_placements",
				"nat_allocations", "bandwidth_changes", "port_holds", "port_reenables", "backbone_vnis", "hub_observations"} {
				var k int
				if err := db.QueryRow(e.ctx, `SELECT COUNT(*) FROM `+table+` WHERE customer_id = ?`, c.id).Scan(&k); err != nil {
					t.Fatal(err)
				}
				if k == 0 && c.id == b.id {
					t.Errorf("%s has no rows of %s: the purge test would prove nothing there", table, c.id)
				}
				n += k
			}
			return n
		}
		before := count(a)
		var purged int64
		if err := db.InTx(e.ctx, func(tx *store.Tx) error {
			var err error
			purged, err = PurgeTx(e.ctx, tx, a.id)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if purged != int64(before) || count(a) != 0 {
			t.Fatalf("purged %d of %d rows; %d left", purged, before, count(a))
		}
		if count(b) != before {
			t.Fatalf("b lost rows: %d, want %d", count(b), before)
		}
		// a's public addresses went back to the pools: the pool use halved.
		pools, err := e.svc.Operations.ListPools(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		var used int64
		for _, p := range pools {
			used += p.Used
		}
		nat, _ := e.svc.Workflow.NAT(b.ctx, b.sc)
		var bUsed int64
		for _, ps := range nat.NAPT {
			for _, p := range ps {
				bUsed += 1 << (32 - mustPrefix(p).Bits())
			}
		}
		bUsed += int64(len(nat.Static))
		if used != bUsed {
			t.Fatalf("pools use %d addresses, b holds %d", used, bUsed)
		}
	})
}
