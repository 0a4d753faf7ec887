package demo

import (
	"context"
	"fmt"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/mailtest"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// TestDemoNetwork loads the demo with its hub configurations: every demo
// customer has an applied version 1 and the Tokyo node's desired state
// holds both customers' main hubs.
func TestDemoNetwork(t *testing.T) {
	db := storetest.SQLite(t)
	log := audit.New(db)
	cat := catalog.New(db, log)
	cfg := identity.DefaultConfig
	cfg.Argon2 = identity.Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1}
	ids := identity.New(db, log, cfg)
	svc := network.New(db, log, network.DefaultSettings)
	ctx := context.Background()
	invites, err := Load(ctx, cat, ids)
	if err != nil {
		t.Fatal(err)
	}
	// The demo administrators' links go by mail, like every customer's.
	for _, in := range invites {
		mailtest.LinkToken(t, ids.Outbox(), in.Email, "account.invite")
	}
	if err := LoadNetwork(ctx, cat, svc); err != nil {
		t.Fatal(err)
	}
	if err := LoadNetwork(ctx, cat, svc); err != nil {
		t.Fatalf("second load: %v", err)
	}
	customers, _, err := cat.ListCustomers(ctx, catalog.Page{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cu := range customers {
		v, err := svc.Workflow.Applied(ctx, tenanttest.Customer(cu.ID))
		if err != nil || v.Version != 1 {
			t.Fatalf("%s: version %d, %v", cu.Name, v.Version, err)
		}
	}
	doc, st, err := svc.Compiler.DesiredState(ctx, "tyo-hub-01")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Hubs) != 2 {
		t.Fatalf("tyo-hub-01 has %d hubs", len(st.Hubs))
	}
	if _, err := desired.Decode(doc); err != nil {
		t.Fatal(err)
	}
	// On the node each leg with a VLAN is the sub-interface <port>.<vlan>:
	// no two legs of the demo's customers may ask for the same one.
	subs := map[string]string{}
	for _, h := range st.Hubs {
		for _, p := range h.Ports {
			for _, l := range p.Legs {
				if l.VLAN == 0 {
					continue
				}
				sub := fmt.Sprintf("%s.%d", l.Interface, l.VLAN)
				if other, ok := subs[sub]; ok {
					t.Fatalf("%s is used by %s and %s", sub, other, p.PortCode)
				}
				subs[sub] = p.PortCode
			}
			// Every cloud port runs both links of its pair, each on a
			// physical port of its own.
			if p.Kind != "onprem" && (len(p.Legs) != 2 || p.Legs[0].Interface == p.Legs[1].Interface || len(p.Sessions) != 2) {
				t.Errorf("cloud port %s: legs %+v, sessions %+v", p.PortCode, p.Legs, p.Sessions)
			}
		}
	}
}
