package catalog_test

import (
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// A physical port added to a registered node (e.g. the second AWS port the
// secondary links of cloud ports need) is checked like one given with the
// node; bad input, a name the node has and an unknown node change nothing.
func TestAddPhysicalPort(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		if _, err := f.cat.CreateNode(f.ctx, catalog.NodeInput{Region: "tokyo", Name: "tyo-1", Ports: []catalog.PhysicalPort{
			{Name: "eth3", SpeedMbps: 10_000, Kind: "cloud-aws"}}}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, field string
			p           catalog.PhysicalPort
		}{
			{"speed", "speed_mbps", catalog.PhysicalPort{Name: "eth5", SpeedMbps: 25_000, Kind: "cloud-aws"}},
			{"kind", "kind", catalog.PhysicalPort{Name: "eth5", SpeedMbps: 10_000, Kind: "cloud-gcp"}},
			{"cloud name too long for its VLAN sub-interfaces", "name", catalog.PhysicalPort{Name: "enp129s0f1n", SpeedMbps: 10_000, Kind: "cloud-aws"}},
			{"oversubscription", "oversubscription", catalog.PhysicalPort{Name: "eth5", SpeedMbps: 10_000, Kind: "cloud-aws", Oversubscription: 0.5}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := f.cat.AddPhysicalPort(f.ctx, "tyo-1", tc.p)
				wantField(t, err, tc.field)
			})
		}
		if _, err := f.cat.AddPhysicalPort(f.ctx, "tyo-1", catalog.PhysicalPort{Name: "eth3", SpeedMbps: 10_000, Kind: "cloud-aws"}); !fault.Is(err, fault.Conflict) {
			t.Errorf("a name the node has: %v", err)
		}
		if _, err := f.cat.AddPhysicalPort(f.ctx, "tyo-9", catalog.PhysicalPort{Name: "eth5", SpeedMbps: 10_000, Kind: "cloud-aws"}); !fault.Is(err, fault.NotFound) {
			t.Errorf("an unknown node: %v", err)
		}
		p, err := f.cat.AddPhysicalPort(f.ctx, "tyo-1", catalog.PhysicalPort{Name: "eth5", SpeedMbps: 10_000, Kind: "cloud-aws"})
		if err != nil || p.Oversubscription != 1 {
			t.Fatalf("add = %+v, %v", p, err)
		}
		nodes, _, err := f.cat.ListNodes(f.ctx, catalog.Page{})
		if err != nil || len(nodes) != 1 || len(nodes[0].Ports) != 2 || nodes[0].Ports[1].Name != "eth5" || nodes[0].Ports[1].Kind != "cloud-aws" {
			t.Fatalf("nodes = %+v, %v", nodes, err)
		}
		// A retired node and a decommissioned one (fleet's transitions,
		// written here as they leave the row) take no new physical port.
		for _, set := range []string{`state = 'retired'`, `state = 'draining', decommissioned_at = '2026-11-26T03:00:00Z'`} {
			if _, err := db.Exec(f.ctx, `UPDATE hub_nodes SET `+set+` WHERE name = 'tyo-1'`); err != nil {
				t.Fatal(err)
			}
			if _, err := f.cat.AddPhysicalPort(f.ctx, "tyo-1", catalog.PhysicalPort{Name: "eth6", SpeedMbps: 10_000, Kind: "cloud-aws"}); !fault.Is(err, fault.Conflict) {
				t.Errorf("a node with %s takes a physical port: %v", set, err)
			}
		}
	})
}
