package catalog_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

type fixture struct {
	db  *store.DB
	log *audit.Log
	cat *catalog.Catalog
	ctx context.Context
}

func setup(t *testing.T, db *store.DB) fixture {
	t.Helper()
	log := audit.New(db)
	f := fixture{db: db, log: log, cat: catalog.New(db, log),
		ctx: audit.WithActor(context.Background(), audit.Actor{ID: "acc_test", Kind: "operator", Name: "tester", SourceIP: "127.0.0.1"})}
	if _, err := f.cat.CreateRegion(f.ctx, catalog.RegionInput{Code: "tokyo", NameEN: "Tokyo", NameJA: "東京", DataLocation: "Japan"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.cat.CreateRegion(f.ctx, catalog.RegionInput{Code: "osaka", NameEN: "Osaka", NameJA: "大阪", DataLocation: "Japan"}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f fixture) customer(t *testing.T, name string) (catalog.Customer, catalog.Contract) {
	t.Helper()
	c, err := f.cat.CreateCustomer(f.ctx, catalog.CustomerInput{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	k, err := f.cat.CreateContract(f.ctx, tenanttest.Operator(c.ID), catalog.ContractInput{Plan: "smart-hub"})
	if err != nil {
		t.Fatal(err)
	}
	return c, k
}

func wantField(t *testing.T, err error, field string) {
	t.Helper()
	fe, ok := fault.As(err)
	if !ok || fe.Kind != fault.Invalid || fe.Field != field {
		t.Fatalf("got %v, want an invalid-input fault on field %q", err, field)
	}
}

func TestCodesAreIssuedUniqueAndWellFormed(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		c, _ := f.customer(t, "Alpha K.K.")
		seen := map[string]bool{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k, err := f.cat.CreateContract(f.ctx, tenanttest.Operator(c.ID), catalog.ContractInput{Plan: "smart-hub"})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if seen[k.ServiceCode] || !catalog.ValidServiceCode(k.ServiceCode) {
					errs <- fmt.Errorf("bad or repeated code %q", k.ServiceCode)
				}
				seen[k.ServiceCode] = true
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		var n int
		if err := db.QueryRow(f.ctx, `SELECT COUNT(*) FROM issued_codes WHERE kind = 'shb'`).Scan(&n); err != nil || n != 41 {
			t.Errorf("issued shb codes = %d (%v), want 41", n, err)
		}
	})
}

func TestTenantScopeOnEveryRead(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		a, ka := f.customer(t, "Alpha K.K.")
		b, _ := f.customer(t, "Beta Inc.")
		h, err := f.cat.CreateHub(f.ctx, tenanttest.Operator(a.ID), catalog.HubInput{ServiceCode: ka.ServiceCode, Region: "tokyo", Priority: "main"})
		if err != nil {
			t.Fatal(err)
		}
		p, err := f.cat.CreatePort(f.ctx, tenanttest.Operator(a.ID), catalog.PortInput{ServiceCode: ka.ServiceCode, HubID: h.ID, Kind: "onprem", SpeedMbps: 10_000})
		if err != nil {
			t.Fatal(err)
		}
		if !catalog.ValidPortCode(p.PortCode) {
			t.Fatalf("port code %q", p.PortCode)
		}
		// B sees none of A's objects, and the answer is "not found".
		checks := map[string]error{}
		_, checks["contract"] = f.cat.GetContract(f.ctx, tenanttest.Customer(b.ID), ka.ServiceCode)
		_, checks["hub"] = f.cat.GetHub(f.ctx, tenanttest.Customer(b.ID), h.ID)
		_, checks["port"] = f.cat.GetPort(f.ctx, tenanttest.Customer(b.ID), p.PortCode)
		_, checks["option"] = f.cat.SetOption(f.ctx, tenanttest.Operator(b.ID), ka.ServiceCode, catalog.OptionInput{Name: "napt-grade", Quantity: 1})
		_, checks["cancel"] = f.cat.CancelContract(f.ctx, tenanttest.Operator(b.ID), ka.ServiceCode, catalog.CancelInput{TerminationDate: clock.Today(), Reason: "x"})
		for what, err := range checks {
			if !fault.Is(err, fault.NotFound) {
				t.Errorf("%s of A read as B: got %v, want not found", what, err)
			}
		}
		// B cannot hang its own objects off A's hub or contract either.
		_, err = f.cat.CreatePort(f.ctx, tenanttest.Operator(b.ID), catalog.PortInput{ServiceCode: ka.ServiceCode, HubID: h.ID, Kind: "onprem", SpeedMbps: 10_000})
		wantField(t, err, "service_code")
		// B's lists hold only B's own contract, and no hub or port.
		if l, _, err := f.cat.ListContracts(f.ctx, tenanttest.Customer(b.ID), catalog.Page{}); err != nil || len(l) != 1 || l[0].CustomerID != b.ID {
			t.Errorf("B's contracts = %+v, %v", l, err)
		}
		if l, _, err := f.cat.ListHubs(f.ctx, tenanttest.Customer(b.ID), catalog.Page{}); err != nil || len(l) != 0 {
			t.Errorf("B's hubs = %+v, %v", l, err)
		}
		if l, _, err := f.cat.ListPorts(f.ctx, tenanttest.Customer(b.ID), "", catalog.Page{}); err != nil || len(l) != 0 {
			t.Errorf("B's ports = %+v, %v", l, err)
		}
	})
}

func TestValidation(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		c, k := f.customer(t, "Alpha K.K.")
		h, err := f.cat.CreateHub(f.ctx, tenanttest.Operator(c.ID), catalog.HubInput{ServiceCode: k.ServiceCode, Region: "tokyo", Priority: "main"})
		if err != nil {
			t.Fatal(err)
		}
		before := auditCount(t, f)
		cases := []struct {
			name  string
			field string
			do    func() error
		}{
			{"region code", "code", func() error {
				_, err := f.cat.CreateRegion(f.ctx, catalog.RegionInput{Code: "Tokyo!", NameEN: "x", NameJA: "x", DataLocation: "Japan"})
				return err
			}},
			{"region location", "data_location", func() error {
				_, err := f.cat.CreateRegion(f.ctx, catalog.RegionInput{Code: "nagoya", NameEN: "x", NameJA: "x"})
				return err
			}},
			{"customer name empty", "name", func() error { _, err := f.cat.CreateCustomer(f.ctx, catalog.CustomerInput{Name: "  "}); return err }},
			{"customer name control char", "name", func() error {
				_, err := f.cat.CreateCustomer(f.ctx, catalog.CustomerInput{Name: "a\x00b"})
				return err
			}},
			{"plan", "plan", func() error {
				_, err := f.cat.CreateContract(f.ctx, tenanttest.Operator(c.ID), catalog.ContractInput{Plan: "gold"})
				return err
			}},
			{"start date", "start_date", func() error {
				_, err := f.cat.CreateContract(f.ctx, tenanttest.Operator(c.ID), catalog.ContractInput{Plan: "smart-hub", StartDate: "2026-13-01"})
				return err
			}},
			{"hub priority", "priority", func() error {
				_, err := f.cat.CreateHub(f.ctx, tenanttest.Operator(c.ID), catalog.HubInput{ServiceCode: k.ServiceCode, Region: "osaka", Priority: "primary"})
				return err
			}},
			{"hub region", "region", func() error {
				_, err := f.cat.CreateHub(f.ctx, tenanttest.Operator(c.ID), catalog.HubInput{ServiceCode: k.ServiceCode, Region: "mars", Priority: "sub"})
				return err
			}},
			{"hub service code", "service_code", func() error {
				_, err := f.cat.CreateHub(f.ctx, tenanttest.Operator(c.ID), catalog.HubInput{ServiceCode: "shb1", Region: "osaka", Priority: "sub"})
				return err
			}},
			{"port kind", "kind", func() error {
				_, err := f.cat.CreatePort(f.ctx, tenanttest.Operator(c.ID), catalog.PortInput{ServiceCode: k.ServiceCode, HubID: h.ID, Kind: "gcp", SpeedMbps: 1000})
				return err
			}},
			{"M2-only speed on type A", "speed_mbps", func() error {
				_, err := f.cat.CreatePort(f.ctx, tenanttest.Operator(c.ID), catalog.PortInput{ServiceCode: k.ServiceCode, HubID: h.ID, Kind: "a-private", SpeedMbps: 300})
				return err
			}},
			{"port hub", "hub_id", func() error {
				_, err := f.cat.CreatePort(f.ctx, tenanttest.Operator(c.ID), catalog.PortInput{ServiceCode: k.ServiceCode, HubID: "hub_nope", Kind: "onprem", SpeedMbps: 10_000})
				return err
			}},
			{"option name", "name", func() error {
				_, err := f.cat.SetOption(f.ctx, tenanttest.Operator(c.ID), k.ServiceCode, catalog.OptionInput{Name: "free-beer", Quantity: 1})
				return err
			}},
			{"option quantity", "quantity", func() error {
				_, err := f.cat.SetOption(f.ctx, tenanttest.Operator(c.ID), k.ServiceCode, catalog.OptionInput{Name: "napt-grade", Quantity: 0})
				return err
			}},
			{"termination in the past", "termination_date", func() error {
				_, err := f.cat.CancelContract(f.ctx, tenanttest.Operator(c.ID), k.ServiceCode, catalog.CancelInput{TerminationDate: "2020-01-01", Reason: "x"})
				return err
			}},
			{"termination years ahead (a typo of the year)", "termination_date", func() error {
				_, err := f.cat.CancelContract(f.ctx, tenanttest.Operator(c.ID), k.ServiceCode, catalog.CancelInput{TerminationDate: "9999-12-31", Reason: "x"})
				return err
			}},
			{"node port speed", "physical_ports[0].speed_mbps", func() error {
				_, err := f.cat.CreateNode(f.ctx, catalog.NodeInput{Region: "tokyo", Name: "n1", Ports: []catalog.PhysicalPort{{Name: "eth0", SpeedMbps: 25_000, Kind: "onprem"}}})
				return err
			}},
			{"node port name longer than the kernel's 15 characters", "physical_ports[0].name", func() error {
				_, err := f.cat.CreateNode(f.ctx, catalog.NodeInput{Region: "tokyo", Name: "n1", Ports: []catalog.PhysicalPort{{Name: "enp129s0f1np1xyz", SpeedMbps: 10_000, Kind: "onprem"}}})
				return err
			}},
			{"cloud port name too long for its VLAN sub-interfaces", "physical_ports[1].name", func() error {
				_, err := f.cat.CreateNode(f.ctx, catalog.NodeInput{Region: "tokyo", Name: "n1", Ports: []catalog.PhysicalPort{{Name: "enp129s0f1np1xy", SpeedMbps: 10_000, Kind: "onprem"},
					{Name: "enp129s0f1n", SpeedMbps: 10_000, Kind: "cloud-aws"}}})
				return err
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) { wantField(t, tc.do(), tc.field) })
		}
		// A second main hub or a second hub in one region is a conflict.
		_, err = f.cat.CreateHub(f.ctx, tenanttest.Operator(c.ID), catalog.HubInput{ServiceCode: k.ServiceCode, Region: "osaka", Priority: "main"})
		if !fault.Is(err, fault.Conflict) {
			t.Errorf("second main hub: %v", err)
		}
		if after := auditCount(t, f); after != before {
			t.Errorf("refused input wrote %d audit entries", after-before)
		}
	})
}

func auditCount(t *testing.T, f fixture) int {
	t.Helper()
	var n int
	if err := f.db.QueryRow(f.ctx, `SELECT COUNT(*) FROM audit_events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCancellationFixesThePurgeWindow(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		c, k1 := f.customer(t, "Alpha K.K.")
		k2, err := f.cat.CreateContract(f.ctx, tenanttest.Operator(c.ID), catalog.ContractInput{Plan: "smart-hub"})
		if err != nil {
			t.Fatal(err)
		}
		d1 := time.Now().In(clock.JST).AddDate(0, 1, 0).Format(clock.DateLayout)
		d2 := time.Now().In(clock.JST).AddDate(0, 2, 0).Format(clock.DateLayout)
		got, err := f.cat.CancelContract(f.ctx, tenanttest.Operator(c.ID), k2.ServiceCode, catalog.CancelInput{TerminationDate: d2, Reason: "moving"})
		if err != nil || got.Status != "cancelled" || got.TerminationDate != d2 {
			t.Fatalf("cancel = %+v, %v", got, err)
		}
		if cu, _ := f.cat.GetCustomer(f.ctx, tenanttest.Operator(c.ID)); cu.Status != "active" || cu.PurgeDueOn != "" {
			t.Fatalf("customer with an active contract left: %+v", cu)
		}
		if _, err := f.cat.CancelContract(f.ctx, tenanttest.Operator(c.ID), k2.ServiceCode, catalog.CancelInput{TerminationDate: d2, Reason: "again"}); !fault.Is(err, fault.Conflict) {
			t.Errorf("second cancel: %v", err)
		}
		if _, err := f.cat.CancelContract(f.ctx, tenanttest.Operator(c.ID), k1.ServiceCode, catalog.CancelInput{TerminationDate: d1, Reason: "moving"}); err != nil {
			t.Fatal(err)
		}
		cu, err := f.cat.GetCustomer(f.ctx, tenanttest.Operator(c.ID))
		if err != nil {
			t.Fatal(err)
		}
		// The latest termination date counts; day 1 is the day after it.
		if cu.Status != "terminated" || cu.TerminatedOn != d2 || cu.PurgeDueOn != catalog.PurgeDueOn(d2) {
			t.Errorf("customer = %+v", cu)
		}
		if _, err := f.cat.CreateContract(f.ctx, tenanttest.Operator(c.ID), catalog.ContractInput{Plan: "smart-hub"}); !fault.Is(err, fault.Conflict) {
			t.Errorf("contract for a terminated customer: %v", err)
		}
	})
}

func TestPurgeDueOn(t *testing.T) {
	for in, want := range map[string]string{
		"2026-03-31": "2026-06-29", // day 1 = 04-01, day 90 = 06-29
		"2026-12-31": "2027-03-31",
		"2028-01-31": "2028-04-30", // leap year
	} {
		if got := catalog.PurgeDueOn(in); got != want {
			t.Errorf("PurgeDueOn(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestChangesAreAuditedInTheirTransaction(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		c, k := f.customer(t, "Alpha K.K.")
		if _, err := f.cat.SetOption(f.ctx, tenanttest.Operator(c.ID), k.ServiceCode, catalog.OptionInput{Name: "napt-grade", Quantity: 2}); err != nil {
			t.Fatal(err)
		}
		entries, err := f.log.List(f.ctx, audit.OfChain(string(c.ID)))
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range entries {
			actions = append(actions, e.Action)
			if e.ActorName != "tester" || e.SourceIP != "127.0.0.1" {
				t.Errorf("entry %d actor = %s from %s", e.Seq, e.ActorName, e.SourceIP)
			}
		}
		want := []string{"customer.create", "contract.create", "contract.option.set"}
		if fmt.Sprint(actions) != fmt.Sprint(want) {
			t.Errorf("actions = %v, want %v", actions, want)
		}
		if n, err := f.log.Verify(f.ctx); err != nil || n < 5 {
			t.Errorf("verify = %d, %v", n, err)
		}
		if _, err := f.cat.GetContract(f.ctx, tenanttest.Customer(c.ID), "shb"); !fault.Is(err, fault.NotFound) {
			t.Errorf("malformed code: %v", err)
		}
	})
}

func TestPagination(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		c, first := f.customer(t, "Alpha K.K.")
		for range 6 {
			if _, err := f.cat.CreateContract(f.ctx, tenanttest.Operator(c.ID), catalog.ContractInput{Plan: "smart-hub"}); err != nil {
				t.Fatal(err)
			}
		}
		for name, q := range map[string]int64{"napt-grade": 3, "static-nat-address": 2} {
			if _, err := f.cat.SetOption(f.ctx, tenanttest.Operator(c.ID), first.ServiceCode, catalog.OptionInput{Name: name, Quantity: q}); err != nil {
				t.Fatal(err)
			}
		}
		withOptions := 0
		var all []string
		p := catalog.Page{Limit: 3}
		for pages := 0; ; pages++ {
			items, next, err := f.cat.ListContracts(f.ctx, tenanttest.Customer(c.ID), p)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range items {
				all = append(all, k.ServiceCode)
				if k.ServiceCode == first.ServiceCode {
					withOptions++
					if fmt.Sprintf("%s %d %s %d", k.Options[0].Name, k.Options[0].Quantity, k.Options[1].Name, k.Options[1].Quantity) != "napt-grade 3 static-nat-address 2" {
						t.Errorf("options = %+v", k.Options)
					}
				} else if len(k.Options) != 0 {
					t.Errorf("contract %s has another contract's options: %+v", k.ServiceCode, k.Options)
				}
			}
			if next == "" {
				break
			}
			if pages > 5 {
				t.Fatal("pagination does not end")
			}
			p.After = next
		}
		if withOptions != 1 {
			t.Errorf("the contract with options was listed %d times", withOptions)
		}
		if len(all) != 7 {
			t.Fatalf("paged %d contracts, want 7", len(all))
		}
		for i := 1; i < len(all); i++ {
			if all[i] <= all[i-1] {
				t.Errorf("not ordered: %v", all)
			}
		}
	})
}

// The catalog checks the action from the scope or handle it is given: the
// customer's own roles read, staff manage, a break-glass scope (saved data
// only) reads no commercial records; zero values are internal errors.
func TestCatalogChecksTheAction(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		c, k := f.customer(t, "Scoped K.K.")
		if _, err := f.cat.GetContract(f.ctx, tenanttest.As(c.ID, "user", tenant.ActCatalogRead), k.ServiceCode); err != nil {
			t.Errorf("a user reads its contract: %v", err)
		}
		if _, err := f.cat.GetContract(f.ctx, tenanttest.OperatorAs(c.ID, tenant.ActCatalogManage), k.ServiceCode); err != nil {
			t.Errorf("an operator reads the contract: %v", err)
		}
		if _, _, err := f.cat.ListContracts(f.ctx, tenanttest.BreakGlass(c.ID), catalog.Page{}); !fault.Is(err, fault.Forbidden) {
			t.Errorf("break-glass lists contracts: %v, want forbidden", err)
		}
		if _, err := f.cat.CreateContract(f.ctx, tenanttest.OperatorAs(c.ID), catalog.ContractInput{Plan: "smart-hub"}); !fault.Is(err, fault.Forbidden) {
			t.Errorf("staff without catalog.manage create a contract: %v, want forbidden", err)
		}
		if _, _, err := f.cat.ListPorts(f.ctx, tenant.Scope{}, "", catalog.Page{}); !fault.Is(err, fault.Internal) {
			t.Errorf("zero scope lists ports: %v, want an internal error", err)
		}
		if _, err := f.cat.GetCustomer(f.ctx, tenant.Operator{}); !fault.Is(err, fault.Internal) {
			t.Errorf("zero handle reads a customer: %v, want an internal error", err)
		}
	})
}
