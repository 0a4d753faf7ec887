package network

import (
	"slices"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/agent"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// A cloud port placed before cloud ports had two legs has only its primary
// leg: the placement view names the missing secondary, the node reports the
// secondary session as not realised, and placing the port again places only
// the secondary leg — proposed, or the operator's own, checked like any leg
// (another physical port of the hub's node, capacity, the port's VLAN free
// there). A fresh cloud port's override checks its secondary leg too.
func TestCloudPortMissingSecondary(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a, b := e.addCustomer("a"), e.addCustomer("b")
		code := a.codes[pAPrivate]
		pl, err := e.svc.Operations.Place(e.ctx, a.op, code, PlaceInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(pl.Legs) != 2 || pl.Legs[0].Port != "eth3" || pl.Legs[1].Leg != "secondary" || pl.Legs[1].Port != "eth5" {
			t.Fatalf("a cloud port is placed as %+v, want primary on eth3 and secondary on eth5", pl.Legs)
		}
		// As it was placed before: the primary leg only.
		if _, err := db.Exec(e.ctx, `DELETE FROM port_placements WHERE customer_id = ? AND leg = 'secondary'`, a.id); err != nil {
			t.Fatal(err)
		}
		e.applyOnly(a, code)
		vlan := findPort(new(a.config()), code).Cloud.VLAN

		pls, err := e.svc.Operations.Placements(e.ctx, a.op)
		if err != nil || len(pls) != 1 || len(pls[0].Legs) != 1 || !slices.Equal(pls[0].MissingLegs, []string{"secondary"}) {
			t.Fatalf("placements = %+v, %v; want the secondary missing", pls, err)
		}
		secondaryGap := func() []string {
			t.Helper()
			_, st, err := e.svc.Compiler.DesiredState(e.ctx, "tyo-1")
			if err != nil {
				t.Fatal(err)
			}
			_, problems := agent.Translate(st)
			var gaps []string
			for _, ps := range problems {
				for _, p := range ps {
					if p.PortCode == code && p.Item == "secondary session not realised" {
						gaps = append(gaps, p.Item+": "+p.Reason)
					}
				}
			}
			return gaps
		}
		if p := e.desiredPort("tyo-1", code); len(p.Legs) != 1 || len(p.Sessions) != 2 || len(secondaryGap()) != 1 {
			t.Fatalf("the node's port %+v; reported %q", p, secondaryGap())
		}

		// b's cloud port, with a's VLAN: its secondary leg cannot go where
		// a's primary carries it.
		if _, err := e.applyVLANs(b, map[string]int{pAPrivate: vlan}); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Operations.Place(e.ctx, b.op, b.codes[pAPrivate], PlaceInput{Primary: &PhysRef{"tyo-1", "eth5"}, Secondary: &PhysRef{"tyo-1", "eth3"}, Reason: "test"})
		wantFault(t, err, fault.Invalid, "is already in use on tyo-1/eth3")
		if f, _ := fault.As(err); f.Field != "secondary" {
			t.Fatalf("field = %q", f.Field)
		}
		_, err = e.svc.Operations.Place(e.ctx, b.op, b.codes[pAPrivate], PlaceInput{Primary: &PhysRef{"tyo-1", "eth5"}, Reason: "test"})
		wantFault(t, err, fault.Invalid, "a cloud port needs a secondary leg")

		// Completing a's port.
		prop, err := e.svc.Operations.ProposePlacement(e.ctx, a.op, code)
		if err != nil || len(prop.Legs) != 1 || prop.Legs[0].Leg != "secondary" || prop.Legs[0].Port != "eth5" {
			t.Fatalf("proposal = %+v, %v; want the secondary on eth5", prop, err)
		}
		_, err = e.svc.Operations.Place(e.ctx, a.op, code, PlaceInput{Primary: &PhysRef{"tyo-1", "eth5"}, Reason: "test"})
		wantFault(t, err, fault.Invalid, "give only the missing secondary leg")
		_, err = e.svc.Operations.Place(e.ctx, a.op, code, PlaceInput{Secondary: &PhysRef{"tyo-1", "eth3"}, Reason: "test"})
		wantFault(t, err, fault.Invalid, "a different physical port from the primary")
		_, err = e.svc.Operations.Place(e.ctx, a.op, code, PlaceInput{Secondary: &PhysRef{"tyo-1", "eth4"}, Reason: "test"})
		wantFault(t, err, fault.Invalid, "a a-private port needs cloud-aws")
		_, err = e.svc.Operations.Place(e.ctx, a.op, code, PlaceInput{Secondary: &PhysRef{"tyo-1", "eth5"}})
		wantFault(t, err, fault.Invalid, "reason must be given")
		if pls, _ := e.svc.Operations.Placements(e.ctx, a.op); len(pls[0].Legs) != 1 {
			t.Fatalf("refusals placed a leg: %+v", pls)
		}
		done, err := e.svc.Operations.Place(e.ctx, a.op, code, PlaceInput{})
		if err != nil || len(done.Legs) != 1 || done.Legs[0].Leg != "secondary" || done.Legs[0].Port != "eth5" || done.Legs[0].CommittedMbps != 0 {
			t.Fatalf("completion = %+v, %v", done, err)
		}
		pls, err = e.svc.Operations.Placements(e.ctx, a.op)
		if err != nil || len(pls[0].Legs) != 2 || len(pls[0].MissingLegs) != 0 {
			t.Fatalf("placements after completion = %+v, %v", pls, err)
		}
		if p := e.desiredPort("tyo-1", code); len(p.Legs) != 2 || p.Legs[1].Role != "secondary" || p.Legs[1].Interface != "eth5" || p.Legs[1].VLAN != vlan {
			t.Fatalf("the node's port after completion: %+v", p)
		}
		if gap := secondaryGap(); len(gap) != 0 {
			t.Fatalf("still reported after completion: %q", gap)
		}
		_, err = e.svc.Operations.Place(e.ctx, a.op, code, PlaceInput{})
		wantFault(t, err, fault.Conflict, "already placed")
		_, err = e.svc.Operations.ProposePlacement(e.ctx, a.op, code)
		wantFault(t, err, fault.Conflict, "already placed")
	})
}

// A node with one physical port of a cloud kind cannot take a cloud port:
// the refusal says that the two legs need two ports, not that capacity is
// short; once the operator adds a second port, the port is placed on both.
func TestCloudPortNeedsTwoPhysicalPorts(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a := e.addCustomer("a")
		e.must(e.cat.CreateRegion(e.ctx, catalog.RegionInput{Code: "nagoya", NameEN: "Nagoya", NameJA: "名古屋", DataLocation: "Japan"}))
		e.must(e.cat.CreateNode(e.ctx, catalog.NodeInput{Region: "nagoya", Name: "ngo-1", Ports: []catalog.PhysicalPort{
			{Name: "eth3", SpeedMbps: 10_000, Kind: "cloud-aws"}}}))
		hub, err := e.cat.CreateHub(e.ctx, a.op, catalog.HubInput{ServiceCode: a.code, Region: "nagoya", Priority: "backup"})
		if err != nil {
			t.Fatal(err)
		}
		pt, err := e.cat.CreatePort(e.ctx, a.op, catalog.PortInput{ServiceCode: a.code, HubID: hub.ID, Kind: "a-private", SpeedMbps: 1_000})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Operations.Place(e.ctx, a.op, pt.PortCode, PlaceInput{})
		wantFault(t, err, fault.Conflict, "no 2 physical cloud-aws port(s) in region nagoya: 1 found; a a-private port's 2 legs are on different physical ports of one node")
		e.must(e.cat.AddPhysicalPort(e.ctx, "ngo-1", catalog.PhysicalPort{Name: "eth5", SpeedMbps: 10_000, Kind: "cloud-aws"}))
		pl, err := e.svc.Operations.Place(e.ctx, a.op, pt.PortCode, PlaceInput{})
		if err != nil || len(pl.Legs) != 2 || pl.Legs[0].Port != "eth3" || pl.Legs[1].Port != "eth5" {
			t.Fatalf("placement = %+v, %v", pl, err)
		}
	})
}
