package fleet_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// Reports are stored per hub: a node writes only the hubs its desired
// state places on it, each under its own customer; a customer reads only
// its own hub's rows; a hub the node no longer reports goes; a refused
// report changes nothing.
func TestReportsAreStoredPerHub(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := audit.WithActor(context.Background(), audit.Actor{ID: "acc_op", Kind: "operator", Name: "op"})
		log := audit.New(db)
		cat := catalog.New(db, log)
		if _, err := cat.CreateRegion(ctx, catalog.RegionInput{Code: "tokyo", NameEN: "Tokyo", NameJA: "東京", DataLocation: "Japan"}); err != nil {
			t.Fatal(err)
		}
		var nodes []fleet.Node
		for _, name := range []string{"tyo-1", "tyo-2"} {
			n, err := cat.CreateNode(ctx, catalog.NodeInput{Region: "tokyo", Name: name})
			if err != nil {
				t.Fatal(err)
			}
			nodes = append(nodes, fleet.Node{ID: n.ID, Name: n.Name})
		}
		hub := func(name string) (catalog.CustomerID, catalog.HubID) {
			cu, err := cat.CreateCustomer(ctx, catalog.CustomerInput{Name: name})
			if err != nil {
				t.Fatal(err)
			}
			k, err := cat.CreateContract(ctx, tenanttest.Operator(cu.ID), catalog.ContractInput{Plan: "smart-hub"})
			if err != nil {
				t.Fatal(err)
			}
			h, err := cat.CreateHub(ctx, tenanttest.Operator(cu.ID), catalog.HubInput{ServiceCode: k.ServiceCode, Region: "tokyo", Priority: "main"})
			if err != nil {
				t.Fatal(err)
			}
			return cu.ID, h.ID
		}
		custA, hubA := hub("A K.K.")
		custB, hubB := hub("B K.K.")
		f, err := fleet.New(ctx, db, log)
		if err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
		obs := func(cust catalog.CustomerID, hub catalog.HubID, running, wanted int64, why string) observed.Hub {
			return observed.Hub{HubID: string(hub), CustomerID: string(cust), WantedVersion: wanted, ConfigVersion: running, Error: why,
				Problems: []observed.Problem{{PortCode: "shc00000001", Item: "session secondary", Reason: "not built"}},
				Ports:    []observed.Port{{PortCode: "shc00000001", Rules: []observed.RuleCounter{{Rule: 2, Packets: 7}}}}}
		}
		report := func(hubs ...observed.Hub) observed.Report {
			return observed.Report{Schema: observed.Schema, AppliedGeneration: strings.Repeat("0f", 32), AgentVersion: "t", ObservedAt: at, Hubs: hubs}
		}
		placed := fleet.Placed{hubA: custA, hubB: custB}
		if err := f.Report(ctx, nodes[0], report(obs(custA, hubA, 3, 3, ""), obs(custB, hubB, 2, 4, "interface eth9 does not exist")), placed); err != nil {
			t.Fatal(err)
		}
		st, err := f.NodeStatus(ctx, "tyo-1")
		if err != nil || len(st.Hubs) != 2 {
			t.Fatalf("node status %+v, %v", st, err)
		}
		for _, h := range st.Hubs {
			if h.HubID == hubB && (h.ConfigVersion != 2 || h.WantedVersion != 4 || h.Error == "" || len(h.Problems) != 1) {
				t.Errorf("B's hub in the operator's view: %+v", h)
			}
		}
		got, err := f.HubObservations(ctx, tenanttest.Customer(custA), hubA)
		if err != nil || len(got) != 1 || got[0].Node != "tyo-1" || got[0].Hub.ConfigVersion != 3 || got[0].Hub.Ports[0].Rules[0].Rule != 2 {
			t.Fatalf("A's observations %+v, %v", got, err)
		}
		// B cannot read A's hub: it has no rows under B.
		if got, err := f.HubObservations(ctx, tenanttest.Customer(custB), hubA); err != nil || len(got) != 0 {
			t.Errorf("B reads A's hub: %+v, %v", got, err)
		}
		// Refused whole, nothing changes: a hub not placed on the node, a
		// hub under another customer, a report that fails its checks.
		for name, c := range map[string]struct {
			r      observed.Report
			placed fleet.Placed
		}{
			"not placed":       {report(obs(custA, hubA, 9, 9, "")), fleet.Placed{hubB: custB}},
			"foreign customer": {report(obs(custB, hubA, 9, 9, "")), placed},
			"bad report":       {observed.Report{Schema: "x"}, placed},
		} {
			err := f.Report(ctx, nodes[0], c.r, c.placed)
			if !fault.Is(err, fault.Invalid) {
				t.Errorf("%s: %v, want invalid", name, err)
			}
		}
		if got, _ := f.HubObservations(ctx, tenanttest.Customer(custA), hubA); len(got) != 1 || got[0].Hub.ConfigVersion != 3 {
			t.Errorf("a refused report changed A's hub: %+v", got)
		}
		// A hub on two nodes has a row from each; a hub a node no longer
		// reports loses that node's row.
		if err := f.Report(ctx, nodes[1], report(obs(custA, hubA, 2, 3, "")), fleet.Placed{hubA: custA}); err != nil {
			t.Fatal(err)
		}
		if got, _ := f.HubObservations(ctx, tenanttest.Customer(custA), hubA); len(got) != 2 {
			t.Errorf("A's hub on two nodes: %+v", got)
		}
		if err := f.Report(ctx, nodes[0], report(obs(custB, hubB, 4, 4, "")), placed); err != nil {
			t.Fatal(err)
		}
		if got, _ := f.HubObservations(ctx, tenanttest.Customer(custA), hubA); len(got) != 1 || got[0].Node != "tyo-2" {
			t.Errorf("A's hub after tyo-1 stopped reporting it: %+v", got)
		}
		if _, err := f.HubObservations(ctx, tenanttest.Customer(""), hubA); err == nil {
			t.Error("the zero scope read a hub's observations")
		}
	})
}
