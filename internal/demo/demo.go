// Package demo loads a small example deployment so that a newcomer sees
// something at once: two regions, a hub node with physical ports, and two
// customers with contracts, hubs and ports. Every later feature extends it.
package demo

import (
	"context"
	"fmt"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/identity"
)

// Invite is a demo account waiting for its password.
type Invite struct {
	Customer, LoginID, Token string
}

// Load creates the demo deployment unless regions already exist; it returns
// the setup tokens of the demo customers' operations administrators (nil when
// nothing was loaded).
func Load(ctx context.Context, cat *catalog.Catalog, id *identity.Service) ([]Invite, error) {
	ctx = audit.WithActor(ctx, audit.Actor{ID: "system", Kind: "system", Name: "demo loader"})
	existing, _, err := cat.ListRegions(ctx, catalog.Page{Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(existing) > 0 {
		return nil, nil
	}
	for _, r := range []catalog.RegionInput{
		{Code: "tokyo", NameEN: "Tokyo", NameJA: "東京", DataLocation: "Japan"},
		{Code: "osaka", NameEN: "Osaka", NameJA: "大阪", DataLocation: "Japan"},
	} {
		if _, err := cat.CreateRegion(ctx, r); err != nil {
			return nil, err
		}
	}
	for _, n := range []catalog.NodeInput{
		{Region: "tokyo", Name: "tyo-hub-01", Ports: []catalog.PhysicalPort{
			{Name: "eth1", SpeedMbps: 10_000, Kind: "onprem"}, {Name: "eth2", SpeedMbps: 10_000, Kind: "onprem"},
			{Name: "eth3", SpeedMbps: 100_000, Kind: "cloud-aws", Oversubscription: 1.5},
			{Name: "eth4", SpeedMbps: 100_000, Kind: "cloud-azure", Oversubscription: 1.5},
			{Name: "eth5", SpeedMbps: 100_000, Kind: "backbone"}}},
		{Region: "osaka", Name: "osa-hub-01", Ports: []catalog.PhysicalPort{
			{Name: "eth1", SpeedMbps: 10_000, Kind: "onprem"}, {Name: "eth3", SpeedMbps: 100_000, Kind: "cloud-aws"},
			{Name: "eth5", SpeedMbps: 100_000, Kind: "backbone"}}},
	} {
		if _, err := cat.CreateNode(ctx, n); err != nil {
			return nil, err
		}
	}
	type portSpec struct {
		kind      string
		speed     int64
		redundant bool
	}
	customers := []struct {
		name, login, email string
		hubs               map[string]string // region → priority
		ports              []portSpec
		options            map[string]int64
	}{
		{"Example Trading K.K.", "example-ops", "ops@example.co.jp", map[string]string{"tokyo": "main", "osaka": "sub"},
			[]portSpec{{"onprem", 10_000, true}, {"a-private", 1_000, false}, {"m-public", 2_000, false}},
			map[string]int64{"napt-grade": 1, "static-nat-address": 2}},
		{"Sample Logistics Inc.", "sample-ops", "netops@sample-logistics.example", map[string]string{"tokyo": "main"},
			[]portSpec{{"onprem", 10_000, false}, {"m2-public", 300, false}},
			map[string]int64{"napt-grade": 2}},
	}
	var out []Invite
	for _, c := range customers {
		cu, err := cat.CreateCustomer(ctx, catalog.CustomerInput{Name: c.name})
		if err != nil {
			return nil, err
		}
		k, err := cat.CreateContract(ctx, cu.ID, catalog.ContractInput{Plan: "smart-hub"})
		if err != nil {
			return nil, err
		}
		for name, q := range c.options {
			if _, err := cat.SetOption(ctx, cu.ID, k.ServiceCode, catalog.OptionInput{Name: name, Quantity: q}); err != nil {
				return nil, err
			}
		}
		var mainHub catalog.HubID
		for _, region := range []string{"tokyo", "osaka"} {
			prio, ok := c.hubs[region]
			if !ok {
				continue
			}
			h, err := cat.CreateHub(ctx, cu.ID, catalog.HubInput{ServiceCode: k.ServiceCode, Region: region, Priority: prio})
			if err != nil {
				return nil, err
			}
			if prio == "main" {
				mainHub = h.ID
			}
		}
		for _, p := range c.ports {
			if _, err := cat.CreatePort(ctx, cu.ID, catalog.PortInput{ServiceCode: k.ServiceCode, HubID: mainHub, Kind: p.kind,
				SpeedMbps: p.speed, Redundant: p.redundant}); err != nil {
				return nil, fmt.Errorf("demo port: %w", err)
			}
		}
		_, tok, err := id.Invite(ctx, cu.ID, identity.InviteInput{LoginID: c.login, DisplayName: c.name + " operations",
			Email: c.email, Role: identity.RoleOpsAdmin})
		if err != nil {
			return nil, err
		}
		out = append(out, Invite{Customer: c.name, LoginID: c.login, Token: tok})
	}
	return out, nil
}
