package network

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// TestAdmit is admission control's arithmetic: committed speeds plus the
// request never exceed speed × oversubscription, pending increases count
// from today, legs past their contract's end do not.
func TestAdmit(t *testing.T) {
	t.Parallel()
	today := "2026-11-26"
	pp := func(speed int64, over float64, legs ...leg) *physPort {
		return &physPort{Node: "n1", Name: "eth1", SpeedMbps: speed, Oversubscription: over, legs: legs}
	}
	l := func(id string, mbps int64, changes ...speedChange) leg {
		return leg{portID: id, baseMbps: mbps, start: "2026-01-01", changes: changes}
	}
	cases := []struct {
		name    string
		p       *physPort
		request int64
		ok      bool
		msg     string
	}{
		{"empty port, exact fit", pp(10_000, 1), 10_000, true, ""},
		{"one over", pp(10_000, 1, l("a", 5_000)), 5_001, false,
			"10000 Mb/s × 1.00 = 10000 Mb/s; 5000 Mb/s committed + 5001 Mb/s requested = 10001 Mb/s"},
		{"oversubscribed fits", pp(10_000, 1.5, l("a", 10_000)), 5_000, true, ""},
		{"oversubscribed over", pp(10_000, 1.5, l("a", 10_000)), 5_001, false, "= 15000 Mb/s"},
		{"pending increase is committed", pp(10_000, 1, l("a", 1_000, speedChange{"2027-01-01", 9_000})), 2_000, false,
			"9000 Mb/s committed"},
		{"decrease counts from its date", pp(10_000, 1, l("a", 9_000, speedChange{"2026-11-26", 1_000})), 9_000, true, ""},
		{"ended contract frees capacity", pp(10_000, 1, leg{portID: "a", baseMbps: 10_000, start: "2025-01-01", end: "2026-11-25"}), 10_000, true, ""},
		{"the port itself is not counted twice", pp(10_000, 1, l("x", 10_000)), 10_000, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := admit(tc.p, today, "x", tc.request)
			if (err == nil) != tc.ok {
				t.Fatalf("admit = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("admit = %v, want %q", err, tc.msg)
			}
		})
	}
}

func TestPlacementAndCapacity(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a := e.addCustomer("a")
		svc, ctx := e.svc, e.ctx
		// The redundant on-prem port takes two onprem ports of tyo-1.
		pl, err := svc.Operations.Place(ctx, a.op, a.codes[pOnPrem], PlaceInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(pl.Legs) != 2 || pl.Legs[0].Port == pl.Legs[1].Port || pl.Legs[0].Node != "tyo-1" || !pl.Legs[0].Proposed {
			t.Fatalf("placement = %+v", pl)
		}
		if _, err := svc.Operations.Place(ctx, a.op, a.codes[pOnPrem], PlaceInput{}); !fault.Is(err, fault.Conflict) {
			t.Fatalf("second placement: %v", err)
		}
		// Another customer's 10G redundant on-prem port no longer fits.
		b := e.addCustomer("b")
		_, err = svc.Operations.Place(ctx, b.op, b.codes[pOnPrem], PlaceInput{})
		wantFault(t, err, fault.Conflict, "capacity exceeded")
		if !strings.Contains(err.Error(), "tyo-1/eth1 has 0 of 10000 Mb/s left") {
			t.Fatalf("refusal lacks the numbers: %v", err)
		}
		// An override onto a full port names the numbers too.
		_, err = svc.Operations.Place(ctx, b.op, b.codes[pAPrivate], PlaceInput{Primary: &PhysRef{"tyo-1", "eth1"}, Reason: "test"})
		wantFault(t, err, fault.Invalid, "onprem port; a a-private port needs cloud-aws")
		for _, code := range []string{pAPrivate, pAPublic, pMPrivate, pMPublic, pM2} {
			if _, err := svc.Operations.Place(ctx, a.op, a.codes[code], PlaceInput{}); err != nil {
				t.Fatalf("%s: %v", code, err)
			}
		}
		// A cloud port has two legs, each admitted on its own physical
		// port: tyo-1 eth3 and eth5 (AWS, 10G each) hold a's 1G + 1G on
		// both; 9G more for b is refused.
		pl, err = svc.Operations.Place(ctx, b.op, b.codes[pAPrivate], PlaceInput{Primary: &PhysRef{"tyo-1", "eth3"},
			Secondary: &PhysRef{"tyo-1", "eth5"}, Reason: "test"})
		if err != nil {
			t.Fatal(err)
		}
		if len(pl.Legs) != 2 || pl.Legs[1].Leg != "secondary" || pl.Legs[1].Port != "eth5" || pl.Legs[1].CommittedMbps != 2_000 {
			t.Fatalf("b's cloud port placed as %+v", pl)
		}
		_, err = svc.Operations.RequestBandwidthChange(ctx, b.op, b.codes[pAPrivate], BandwidthInput{SpeedMbps: 10_000, EffectiveDate: "2027-01-01"})
		wantFault(t, err, fault.Invalid, "capacity exceeded on tyo-1/eth3: 10000 Mb/s × 1.00 = 10000 Mb/s; 2000 Mb/s committed + 10000 Mb/s requested")
		_, err = svc.Operations.RequestBandwidthChange(ctx, b.op, b.codes[pAPrivate], BandwidthInput{SpeedMbps: 3_000, EffectiveDate: "2027-01-01"})
		wantFault(t, err, fault.Invalid, "must be one of")
		bc, err := svc.Operations.RequestBandwidthChange(ctx, b.op, b.codes[pAPrivate], BandwidthInput{SpeedMbps: 5_000, EffectiveDate: "2027-01-01"})
		if err != nil || bc.FromMbps != 1_000 || bc.State != "scheduled" {
			t.Fatalf("change = %+v, %v", bc, err)
		}
		// A change to 10G fits only once the 5G one is cancelled.
		if _, err := svc.Operations.RequestBandwidthChange(ctx, b.op, b.codes[pAPrivate], BandwidthInput{SpeedMbps: 10_000, EffectiveDate: "2027-02-01"}); err == nil {
			t.Fatal("10G admitted on a port with 7G committed")
		}
		c2, err := svc.Operations.RequestBandwidthChange(ctx, b.op, b.codes[pAPrivate], BandwidthInput{SpeedMbps: 2_000, EffectiveDate: "2027-02-01"})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := svc.Operations.CancelBandwidthChange(ctx, b.op, b.codes[pAPrivate], c2.ID); err != nil || got.State != "cancelled" {
			t.Fatalf("cancel = %+v, %v", got, err)
		}
		if _, err := svc.Operations.CancelBandwidthChange(ctx, b.op, b.codes[pAPrivate], c2.ID); !fault.Is(err, fault.Conflict) {
			t.Fatalf("second cancel: %v", err)
		}
		if _, err := svc.Operations.CancelBandwidthChange(ctx, a.op, b.codes[pAPrivate], c2.ID); !fault.Is(err, fault.NotFound) {
			t.Fatalf("a cancels b's change: %v", err)
		}
		h, err := svc.Workflow.BandwidthHistory(ctx, b.sc, b.codes[pAPrivate])
		if err != nil || len(h) != 2 || h[1].State != "cancelled" {
			t.Fatalf("history = %+v, %v", h, err)
		}
		if _, err := svc.Workflow.BandwidthHistory(ctx, a.sc, b.codes[pAPrivate]); !fault.Is(err, fault.NotFound) {
			t.Fatalf("a reads b's history: %v", err)
		}

		rep, err := svc.Operations.Capacity(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// The primary legs' port and the secondary legs' port alike:
		// contracted today 3G (1+1+1); allocated 7G (b's pending 5G); the
		// forecast (2027-02-24) has b at 5G: 7G; 70 % → flagged.
		for _, port := range []string{"eth3", "eth5"} {
			var row CapacityRow
			for _, r := range rep.Rows {
				if r.Node == "tyo-1" && r.Port == port {
					row = r
				}
			}
			if row.ContractedMbps != 3_000 || row.AllocatedMbps != 7_000 || row.ForecastMbps != 7_000 || !row.Flagged || row.Customers != 2 {
				t.Fatalf("%s = %+v", port, row)
			}
		}
		var aws CapacityNode
		for _, n := range rep.Nodes {
			if n.Node == "tyo-1" && n.Kind == "cloud-aws" {
				aws = n
			}
		}
		if aws.CapacityMbps != 20_000 || aws.AllocatedMbps != 14_000 || aws.FlaggedPorts != 2 {
			t.Fatalf("tyo-1 cloud-aws totals = %+v", aws)
		}
		csv := rep.CSV()
		if !strings.HasPrefix(csv, "node,region,physical_port") || !strings.Contains(csv, "tyo-1,tokyo,eth3,cloud-aws,10000,1,10000,3000,7000,3000,0.7,") {
			t.Fatalf("csv = %s", csv)
		}
	})
}

func TestSyncSpeeds(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a := e.addCustomer("a")
		code := a.codes[pAPrivate]
		if _, err := e.svc.Operations.RequestBandwidthChange(e.ctx, a.op, code, BandwidthInput{SpeedMbps: 2_000, EffectiveDate: "2026-11-26"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Operations.RequestBandwidthChange(e.ctx, a.op, code, BandwidthInput{SpeedMbps: 5_000, EffectiveDate: "2026-12-01"}); err != nil {
			t.Fatal(err)
		}
		speed := func() int64 {
			p, err := e.cat.GetPort(e.ctx, tenanttest.Customer(a.id), code)
			if err != nil {
				t.Fatal(err)
			}
			return p.SpeedMbps
		}
		if got := speed(); got != 2_000 {
			t.Fatalf("speed after a same-day change = %d", got)
		}
		if n, err := e.svc.Operations.SyncSpeeds(e.ctx); err != nil || n != 0 {
			t.Fatalf("sync before the date: %d, %v", n, err)
		}
		e.now = e.now.AddDate(0, 0, 5)
		if n, err := e.svc.Operations.SyncSpeeds(e.ctx); err != nil || n != 1 || speed() != 5_000 {
			t.Fatalf("sync on the date: %d, %v, speed %d", n, err, speed())
		}
	})
}

// TestConcurrentAdmission: two placements that each fit alone but not
// together race for the same physical port; exactly one wins, on both
// engines.
func TestConcurrentAdmission(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		var codes [2]string
		var custs [2]customer
		for i := range 2 {
			custs[i] = e.addCustomer(fmt.Sprintf("c%d", i))
			pt, err := e.cat.CreatePort(e.ctx, tenanttest.Operator(custs[i].id), catalog.PortInput{ServiceCode: custs[i].code, HubID: custs[i].hubs["hub_main"],
				Kind: "a-private", SpeedMbps: 10_000})
			if err != nil {
				t.Fatal(err)
			}
			codes[i] = pt.PortCode
		}
		for round := range 3 {
			errs := make(chan error, 2)
			for i := range 2 {
				go func() {
					_, err := e.svc.Operations.Place(e.ctx, custs[i].op, codes[i], PlaceInput{Primary: &PhysRef{"tyo-1", "eth3"},
						Secondary: &PhysRef{"tyo-1", "eth5"}, Reason: "race"})
					errs <- err
				}()
			}
			var ok int
			for range 2 {
				if err := <-errs; err == nil {
					ok++
				}
			}
			if ok != 1 {
				t.Fatalf("round %d: %d placements succeeded on a port with room for one", round, ok)
			}
			if _, err := db.Exec(e.ctx, `DELETE FROM port_placements WHERE physical_port_id IN
				(SELECT pp.id FROM physical_ports pp JOIN hub_nodes n ON n.id = pp.node_id WHERE n.name = 'tyo-1' AND pp.name IN ('eth3', 'eth5'))`); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestAffected(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a := e.addCustomer("a")
		for _, code := range []string{pOnPrem, pAPrivate, pMPublic} {
			if _, err := e.svc.Operations.Place(e.ctx, a.op, a.codes[code], PlaceInput{}); err != nil {
				t.Fatal(err)
			}
		}
		pl, err := e.svc.Operations.Placements(e.ctx, a.op)
		if err != nil {
			t.Fatal(err)
		}
		primary := "" // the on-prem port's primary leg on tyo-1
		for _, p := range pl {
			if p.PortCode == a.codes[pOnPrem] {
				primary = p.Legs[0].Port
			}
		}
		rep, err := e.svc.Operations.Affected(e.ctx, "tyo-1", primary)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Customers) != 1 || len(rep.Customers[0].Ports) != 1 || rep.Customers[0].Ports[0].Impact != "redundancy-lost" {
			t.Fatalf("one leg of a redundant port: %+v", rep)
		}
		rep, err = e.svc.Operations.Affected(e.ctx, "tyo-1", "")
		if err != nil {
			t.Fatal(err)
		}
		c := rep.Customers[0]
		if len(c.Hubs) != 1 || len(c.Ports) != 2 {
			t.Fatalf("node-wide: %+v", rep)
		}
		for _, p := range c.Ports {
			if p.Impact != "outage" {
				t.Fatalf("node-wide work takes every leg: %+v", p)
			}
		}
		rep, err = e.svc.Operations.Affected(e.ctx, "osa-1", "")
		if err != nil || len(rep.Customers) != 1 || len(rep.Customers[0].Ports) != 1 || rep.Customers[0].Ports[0].PortCode != a.codes[pMPublic] {
			t.Fatalf("osa-1: %+v, %v", rep, err)
		}
		if _, err := e.svc.Operations.Affected(e.ctx, "tyo-1", "eth9"); !fault.Is(err, fault.NotFound) {
			t.Fatalf("unknown port: %v", err)
		}
	})
}

// No empty customer ID means "every customer": the per-customer speed read
// refuses it; the cross-customer readers call allSpeedsAt by name.
func TestSpeedsAtRefusesNoCustomer(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		if got, err := e.svc.speedsAt(e.ctx, db, "", e.svc.today()); !fault.Is(err, fault.Internal) || got != nil {
			t.Errorf("speedsAt(\"\") = %v, %v; want an internal error", got, err)
		}
		if _, err := e.svc.allSpeedsAt(e.ctx, db, e.svc.today()); err != nil {
			t.Errorf("allSpeedsAt: %v", err)
		}
	})
}
