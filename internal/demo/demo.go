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
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Invite is a demo account waiting for its password. Its setup link went
// by mail to Email, like every customer account's link: it is never printed
// or logged.
type Invite struct {
	Customer, LoginID, Email string
}

// Load creates the demo deployment unless regions already exist; it returns
// the demo customers' operations administrators, invited by mail (nil when
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
			{Name: "eth5", SpeedMbps: 100_000, Kind: "backbone"},
			{Name: "eth6", SpeedMbps: 10_000, Kind: "onprem"}, {Name: "eth7", SpeedMbps: 10_000, Kind: "onprem"},
			// A cloud port's secondary link goes on a second physical port
			// of its kind.
			{Name: "eth8", SpeedMbps: 100_000, Kind: "cloud-aws", Oversubscription: 1.5},
			{Name: "eth9", SpeedMbps: 100_000, Kind: "cloud-azure", Oversubscription: 1.5}}},
		{Region: "osaka", Name: "osa-hub-01", Ports: []catalog.PhysicalPort{
			{Name: "eth1", SpeedMbps: 10_000, Kind: "onprem"}, {Name: "eth3", SpeedMbps: 100_000, Kind: "cloud-aws"},
			{Name: "eth4", SpeedMbps: 100_000, Kind: "cloud-aws"},
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
			map[string]int64{"napt-grade": 1, "static-nat-address": 2, "reachability-monitor": 3}},
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
		op := asOperator(cu.ID)
		k, err := cat.CreateContract(ctx, op, catalog.ContractInput{Plan: "smart-hub"})
		if err != nil {
			return nil, err
		}
		for name, q := range c.options {
			if _, err := cat.SetOption(ctx, op, k.ServiceCode, catalog.OptionInput{Name: name, Quantity: q}); err != nil {
				return nil, err
			}
		}
		var mainHub catalog.HubID
		for _, region := range []string{"tokyo", "osaka"} {
			prio, ok := c.hubs[region]
			if !ok {
				continue
			}
			h, err := cat.CreateHub(ctx, op, catalog.HubInput{ServiceCode: k.ServiceCode, Region: region, Priority: prio})
			if err != nil {
				return nil, err
			}
			if prio == "main" {
				mainHub = h.ID
			}
		}
		for _, p := range c.ports {
			if _, err := cat.CreatePort(ctx, op, catalog.PortInput{ServiceCode: k.ServiceCode, HubID: mainHub, Kind: p.kind,
				SpeedMbps: p.speed, Redundant: p.redundant}); err != nil {
				return nil, fmt.Errorf("demo port: %w", err)
			}
		}
		if _, err := id.Invite(ctx, asOpsAdmin(cu.ID), identity.InviteInput{LoginID: c.login, DisplayName: c.name + " operations",
			Email: c.email, Role: identity.RoleOpsAdmin}); err != nil {
			return nil, err
		}
		out = append(out, Invite{Customer: c.name, LoginID: c.login, Email: c.email})
	}
	return out, nil
}

// LoadNetwork extends a freshly loaded demo with the hub service model: NAT
// pools, every demo port placed on a physical port, and an applied
// configuration for each demo customer (on-premises BGP, AWS and Azure
// ports with route policies, a firewall, NAPT and static NAT), so that the
// panel shows versions and the hub nodes have a desired state at once. It
// does nothing when NAT pools already exist.
func LoadNetwork(ctx context.Context, cat *catalog.Catalog, svc *network.Service) error {
	ctx = audit.WithActor(ctx, audit.Actor{ID: "system", Kind: "system", Name: "demo loader"})
	pools, err := svc.Operations.ListPools(ctx)
	if err != nil || len(pools) > 0 {
		return err
	}
	for _, p := range []network.PoolInput{{Region: "tokyo", Prefix: "203.0.113.0/26", Purpose: "napt"},
		{Region: "tokyo", Prefix: "203.0.113.64/28", Purpose: "static"},
		{Region: "osaka", Prefix: "198.51.100.0/26", Purpose: "napt"},
		{Region: "osaka", Prefix: "198.51.100.64/28", Purpose: "static"}} {
		if _, err := svc.Operations.CreatePool(ctx, p); err != nil {
			return fmt.Errorf("demo pool: %w", err)
		}
	}
	customers, _, err := cat.ListCustomers(ctx, catalog.Page{Limit: catalog.MaxPage})
	if err != nil {
		return err
	}
	for i, cu := range customers {
		// Only Example Trading bought static NAT addresses.
		withStatic := cu.Name == "Example Trading K.K."
		op, sc := asOperator(cu.ID), asOpsAdmin(cu.ID)
		ports, _, err := cat.ListPorts(ctx, op, "", catalog.Page{Limit: catalog.MaxPage})
		if err != nil {
			return err
		}
		cfg := network.Config{Objects: network.Objects{
			Addresses:    []network.AddressObject{{Name: "head-office", Prefixes: []string{"10.10.0.0/16"}}},
			Services:     []network.ServiceObject{{Name: "https", Protocol: "tcp", Ports: "443"}, {Name: "dns", Protocol: "udp", Ports: "53"}},
			Applications: []network.ApplicationObject{{Name: "web", Services: []string{"https", "dns"}}},
		}}
		for _, p := range ports {
			if _, err := svc.Operations.Place(ctx, op, p.PortCode, network.PlaceInput{}); err != nil {
				return fmt.Errorf("demo placement of %s: %w", p.PortCode, err)
			}
			cfg.Ports = append(cfg.Ports, demoPort(p, i, withStatic))
		}
		// The demo customer's first operations administrator has not set a
		// password yet, so the loader edits on its behalf.
		if _, err := svc.Workflow.StartEditing(ctx, sc); err != nil {
			return err
		}
		if _, err := svc.Workflow.SaveDraft(ctx, sc, cfg); err != nil {
			return fmt.Errorf("demo configuration of %s: %w", cu.Name, err)
		}
		if _, err := svc.Workflow.Apply(ctx, sc); err != nil {
			return fmt.Errorf("demo apply for %s: %w", cu.Name, err)
		}
	}
	return nil
}

// The loader acts as the system, before any account exists: as an operator
// on each demo customer's commercial records and placement, and in the
// customer's scope with an operations administrator's rights to apply its
// first configuration. These are the only scopes built outside
// authentication (the boundary test names this package).
func asOperator(cust catalog.CustomerID) tenant.Operator {
	return tenant.ForOperator(cust, "system", func(a tenant.Action) bool { return identity.Allowed(identity.RoleOperator, a) })
}

func asOpsAdmin(cust catalog.CustomerID) tenant.Scope {
	return tenant.ForSystem(cust, func(a tenant.Action) bool { return identity.Allowed(identity.RoleOpsAdmin, a) })
}

func demoPort(p catalog.Port, customer int, withStatic bool) network.PortConfig {
	pc := network.PortConfig{PortCode: p.PortCode}
	fw := &network.Firewall{Mode: "stateful", Rules: []network.Rule{
		{Action: "accept", Sources: []string{"head-office"}, Destinations: []string{"any"}, Applications: []string{"web"}, Log: true},
		{Action: "drop", Sources: []string{"any"}, Destinations: []string{"any"}, Log: true},
	}}
	// The cloud ports of both demo customers share the hub node's cloud
	// physical ports, where a VLAN can be used once: each customer has VLANs
	// of its own (101/201 for the first, 102/202 for the second).
	switch p.Kind {
	case "onprem":
		pc.OnPrem = &network.OnPremConnection{HubAddress: "10.0.0.1", CustomerAddress: "10.0.0.2", PrefixLength: 30, PeerASN: network.ASN(65001 + customer)}
	case "a-private":
		pc.Cloud = &network.CloudConnection{VLAN: 101 + customer, PeerASN: 64512, RoutePolicy: network.RoutePolicy{Type: network.PolicyDefaultRoute},
			Primary:   network.Link{HubAddress: "169.254.100.1", PeerAddress: "169.254.100.2", PrefixLength: 30},
			Secondary: network.Link{HubAddress: "169.254.100.5", PeerAddress: "169.254.100.6", PrefixLength: 30}}
	case "m-public", "m2-public":
		asn := network.ASN(12076)
		if p.Kind == "m2-public" {
			asn = 8075
		}
		pc.Cloud = &network.CloudConnection{VLAN: 201 + customer, PeerASN: asn,
			RoutePolicy: network.RoutePolicy{Type: network.PolicyUserDefined, Prefixes: []string{"192.0.2.128/25"}},
			Primary:     network.Link{HubAddress: "192.0.2.1", PeerAddress: "192.0.2.2", PrefixLength: 30},
			Secondary:   network.Link{HubAddress: "192.0.2.5", PeerAddress: "192.0.2.6", PrefixLength: 30}}
		pc.Firewall = fw
		pc.NAPT = []network.NAPTGrade{{Sessions: 30_000}}
		if withStatic {
			pc.StaticNAT = []network.StaticNAT{{Inside: "10.10.0.10"}, {Inside: "10.10.0.11"}}
		}
	}
	return pc
}
