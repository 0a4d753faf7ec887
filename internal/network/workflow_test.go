package network

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// env is a deployment for store tests: regions tokyo and osaka, a node in
// each, NAT pools, and customers made by addCustomer.
type env struct {
	t   testing.TB
	db  *store.DB
	cat *catalog.Catalog
	svc *Service
	log *audit.Log
	ctx context.Context
	now time.Time
	n   int // customers added
}

func newEnv(t testing.TB, db *store.DB) *env {
	t.Helper()
	log := audit.New(db)
	e := &env{t: t, db: db, cat: catalog.New(db, log), log: log, now: time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)}
	e.svc = New(db, log, DefaultSettings)
	e.svc.now = func() time.Time { return e.now }
	e.ctx = audit.WithActor(context.Background(), audit.Actor{ID: "acc_op", Kind: "operator", Name: "op"})
	for _, r := range []catalog.RegionInput{{Code: "tokyo", NameEN: "Tokyo", NameJA: "東京", DataLocation: "Japan"},
		{Code: "osaka", NameEN: "Osaka", NameJA: "大阪", DataLocation: "Japan"}} {
		e.must(e.cat.CreateRegion(e.ctx, r))
	}
	e.must(e.cat.CreateNode(e.ctx, catalog.NodeInput{Region: "tokyo", Name: "tyo-1", Ports: []catalog.PhysicalPort{
		{Name: "eth1", SpeedMbps: 10_000, Kind: "onprem"}, {Name: "eth2", SpeedMbps: 10_000, Kind: "onprem"},
		{Name: "eth3", SpeedMbps: 10_000, Kind: "cloud-aws"}, {Name: "eth4", SpeedMbps: 10_000, Kind: "cloud-azure", Oversubscription: 1.5},
		// The secondary legs of cloud ports.
		{Name: "eth5", SpeedMbps: 10_000, Kind: "cloud-aws"}, {Name: "eth6", SpeedMbps: 10_000, Kind: "cloud-azure", Oversubscription: 1.5}}}))
	e.must(e.cat.CreateNode(e.ctx, catalog.NodeInput{Region: "osaka", Name: "osa-1", Ports: []catalog.PhysicalPort{
		{Name: "eth1", SpeedMbps: 10_000, Kind: "onprem"}, {Name: "eth3", SpeedMbps: 10_000, Kind: "cloud-aws"},
		{Name: "eth4", SpeedMbps: 10_000, Kind: "cloud-azure"},
		{Name: "eth5", SpeedMbps: 10_000, Kind: "cloud-aws"}, {Name: "eth6", SpeedMbps: 10_000, Kind: "cloud-azure"}}}))
	for _, p := range []PoolInput{{"tokyo", "203.0.113.0/26", "napt"}, {"tokyo", "203.0.113.64/28", "static"},
		{"osaka", "198.51.100.0/26", "napt"}, {"osaka", "198.51.100.64/28", "static"}} {
		e.must(e.svc.Operations.CreatePool(e.ctx, p))
	}
	return e
}

func (e *env) must(_ any, err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// customer is a customer of the fixture's shape: hub_main in tokyo, hub_sub
// in osaka and the fixture's ports; codes maps fixture codes to real ones.
type customer struct {
	id    catalog.CustomerID
	sc    tenant.Scope    // an operations administrator's scope of the customer
	op    tenant.Operator // an operator's handle on it
	code  string
	hubs  map[catalog.HubID]catalog.HubID
	codes map[string]string
	ctx   context.Context
	nth   int // 0 for the first customer added, 1 for the next, …
}

func (e *env) addCustomer(name string) customer {
	e.t.Helper()
	cu, err := e.cat.CreateCustomer(e.ctx, catalog.CustomerInput{Name: name})
	if err != nil {
		e.t.Fatal(err)
	}
	k, err := e.cat.CreateContract(e.ctx, tenanttest.Operator(cu.ID), catalog.ContractInput{Plan: "smart-hub", StartDate: "2026-01-01"})
	if err != nil {
		e.t.Fatal(err)
	}
	for n, q := range map[string]int64{"napt-grade": 8, "static-nat-address": 4} {
		e.must(e.cat.SetOption(e.ctx, tenanttest.Operator(cu.ID), k.ServiceCode, catalog.OptionInput{Name: n, Quantity: q}))
	}
	c := customer{id: cu.ID, sc: tenanttest.Customer(cu.ID), op: tenanttest.Operator(cu.ID), code: k.ServiceCode, hubs: map[catalog.HubID]catalog.HubID{}, codes: map[string]string{},
		ctx: audit.WithActor(context.Background(), audit.Actor{ID: "acc_" + name, Kind: "customer", Name: name + "-ops"}), nth: e.n}
	e.n++
	for _, h := range fixtureFacts().Hubs {
		hub, err := e.cat.CreateHub(e.ctx, tenanttest.Operator(cu.ID), catalog.HubInput{ServiceCode: k.ServiceCode, Region: h.Region, Priority: h.Priority})
		if err != nil {
			e.t.Fatal(err)
		}
		c.hubs[h.ID] = hub.ID
	}
	for _, p := range fixtureFacts().Ports {
		if !p.Active {
			continue
		}
		pt, err := e.cat.CreatePort(e.ctx, tenanttest.Operator(cu.ID), catalog.PortInput{ServiceCode: k.ServiceCode, HubID: c.hubs[p.HubID], Kind: p.Kind,
			SpeedMbps: p.SpeedMbps, Redundant: p.Redundant})
		if err != nil {
			e.t.Fatal(err)
		}
		c.codes[p.Code] = pt.PortCode
	}
	return c
}

// config is the fixture configuration with the customer's real IDs. Each
// customer's cloud ports get VLANs of their own (101… for the first
// customer, 201… for the second), as two cloud ports placed on one physical
// port cannot share a VLAN.
func (c customer) config() Config {
	cfg := fixtureConfig()
	for i := range cfg.Hubs {
		cfg.Hubs[i].HubID = c.hubs[cfg.Hubs[i].HubID]
	}
	for i := range cfg.Ports {
		cfg.Ports[i].PortCode = c.codes[cfg.Ports[i].PortCode]
		if cfg.Ports[i].Cloud != nil {
			cfg.Ports[i].Cloud.VLAN += 100 * c.nth
		}
	}
	return cfg
}

func wantFault(t testing.TB, err error, k fault.Kind, msg string) {
	t.Helper()
	f, ok := fault.As(err)
	if !ok || f.Kind != k || !strings.Contains(f.Message, msg) {
		t.Fatalf("err = %v, want %s containing %q", err, k, msg)
	}
}

func TestEditWorkflow(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a := e.addCustomer("a")
		svc := e.svc
		// Without the lock nothing can be saved.
		_, err := svc.Workflow.SaveDraft(a.ctx, a.sc, a.config())
		wantFault(t, err, fault.Conflict, "start editing first")

		ed, err := svc.Workflow.StartEditing(a.ctx, a.sc)
		if err != nil {
			t.Fatal(err)
		}
		if ed.Draft.BaseVersion != 0 || !ed.Lock.Mine || ed.Lock.Holder != "a-ops" {
			t.Fatalf("editing = %+v", ed)
		}
		// A second account of the same customer is refused, with who and since.
		bob := audit.WithActor(context.Background(), audit.Actor{ID: "acc_bob", Name: "bob"})
		_, err = svc.Workflow.StartEditing(bob, a.sc)
		wantFault(t, err, fault.Conflict, "a-ops has been editing since 2026-11-26T12:00:00+09:00")

		// An invalid configuration stores nothing.
		bad := a.config()
		bad.Ports[0].OnPrem.PeerASN = 64600
		_, err = svc.Workflow.SaveDraft(a.ctx, a.sc, bad)
		wantFault(t, err, fault.Invalid, "differ from your hub ASN")
		if d, _ := svc.Workflow.GetDraft(a.ctx, a.sc); len(d.Config.Ports) != 0 {
			t.Fatalf("invalid draft was stored: %+v", d.Config.Ports)
		}

		if _, err := svc.Workflow.SaveDraft(a.ctx, a.sc, a.config()); err != nil {
			t.Fatal(err)
		}
		r, err := svc.Workflow.Review(a.ctx, a.sc)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Valid || r.Risk != "low" || len(r.AffectedPorts) != 6 || len(r.Changes) == 0 {
			t.Fatalf("review = %+v", r)
		}
		// A save after the review (another session of the same account),
		// even of the same content, is a new revision: an apply of the
		// draft reviewed refuses it and applies nothing.
		if r.Revision == "" {
			t.Fatal("review without a revision")
		}
		if _, err := svc.Workflow.SaveDraft(a.ctx, a.sc, a.config()); err != nil {
			t.Fatal(err)
		}
		_, err = svc.Workflow.ApplyReviewed(a.ctx, a.sc, r.Revision)
		wantFault(t, err, fault.Conflict, "changed since it was reviewed")
		if _, err := svc.Workflow.GetVersion(a.ctx, a.sc, 1); !fault.Is(err, fault.NotFound) {
			t.Fatalf("a refused apply made version 1: %v", err)
		}
		r2, err := svc.Workflow.Review(a.ctx, a.sc)
		if err != nil {
			t.Fatal(err)
		}
		if r2.Revision == r.Revision {
			t.Fatal("a save kept the draft's revision")
		}
		if r3, _ := svc.Workflow.Review(a.ctx, a.sc); r3.Revision != r2.Revision {
			t.Fatal("two reviews of one draft differ in revision")
		}
		v1, err := svc.Workflow.ApplyReviewed(a.ctx, a.sc, r2.Revision)
		if err != nil {
			t.Fatal(err)
		}
		if v1.Version != 1 {
			t.Fatalf("version = %d", v1.Version)
		}
		// Apply released the lock and the draft.
		if _, err := svc.Workflow.GetLock(a.ctx, a.sc); !fault.Is(err, fault.NotFound) {
			t.Fatalf("lock after apply: %v", err)
		}
		nat, err := svc.Workflow.NAT(a.ctx, a.sc)
		if err != nil {
			t.Fatal(err)
		}
		pub := a.codes[pAPublic]
		if len(nat.NAPT[pub]) != 1 || !strings.HasSuffix(nat.NAPT[pub][0], "/32") || nat.Static["10.10.0.5"] == "" {
			t.Fatalf("nat = %+v", nat)
		}
		if got := nat.NAPT[a.codes[pMPublic]]; len(got) != 2 || !strings.HasSuffix(got[1], "/28") {
			t.Fatalf("m-public napt = %v", got)
		}
		firstStatic := nat.Static["10.10.0.5"]

		// Version 2: move the static NAT to another inside address, then
		// version 3 moves it back: the previous public address returns.
		for i, inside := range []string{"10.10.0.6", "10.10.0.5"} {
			if _, err := svc.Workflow.StartEditing(a.ctx, a.sc); err != nil {
				t.Fatal(err)
			}
			cfg := a.config()
			port(&cfg, a.codes[pAPublic]).StaticNAT = []StaticNAT{{Inside: inside}, {Inside: "10.10.0.7"}}
			if _, err := svc.Workflow.SaveDraft(a.ctx, a.sc, cfg); err != nil {
				t.Fatal(err)
			}
			v, err := svc.Workflow.Apply(a.ctx, a.sc)
			if err != nil {
				t.Fatal(err)
			}
			if v.Version != int64(i+2) {
				t.Fatalf("version = %d", v.Version)
			}
		}
		nat, _ = svc.Workflow.NAT(a.ctx, a.sc)
		if nat.Static["10.10.0.5"] != firstStatic || nat.Static["10.10.0.7"] == "" || nat.Static["10.10.0.7"] == firstStatic {
			t.Fatalf("static NAT after re-assignment = %v, want 10.10.0.5 → %s", nat.Static, firstStatic)
		}

		// Rollback to version 1 is a new draft on top of version 3.
		if _, err := svc.Workflow.StartEditing(a.ctx, a.sc); err != nil {
			t.Fatal(err)
		}
		d, err := svc.Workflow.Rollback(a.ctx, a.sc, 1)
		if err != nil {
			t.Fatal(err)
		}
		if d.BaseVersion != 3 || *d.RollbackOf != 1 {
			t.Fatalf("rollback draft = %+v", d)
		}
		r, _ = svc.Workflow.Review(a.ctx, a.sc)
		if r.Risk != "medium" || !strings.Contains(reasonsText(r), "removes static NAT for 10.10.0.7") {
			t.Fatalf("rollback review = %+v", r.Reasons)
		}

		// A stale draft cannot be applied: bob breaks the lock (as an
		// operations administrator), applies a change; a's draft is stale.
		if _, err := svc.Workflow.BreakLock(bob, a.sc); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Workflow.Apply(a.ctx, a.sc); err == nil {
			t.Fatal("apply after the lock was broken succeeded")
		}
		// bob starts editing and gets a's (stale-to-be) draft; he discards it
		// and applies his own.
		if _, err := svc.Workflow.StartEditing(bob, a.sc); err != nil {
			t.Fatal(err)
		}
		if err := svc.Workflow.DiscardDraft(bob, a.sc); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Workflow.StartEditing(bob, a.sc); err != nil {
			t.Fatal(err)
		}
		cfg := a.config()
		port(&cfg, a.codes[pOnPrem]).OnPrem.L2Guard.MACLimit = 3
		if _, err := svc.Workflow.SaveDraft(bob, a.sc, cfg); err != nil {
			t.Fatal(err)
		}
		// Meanwhile a stale draft: write one based on version 3 directly and
		// apply version 4 first.
		if _, err := svc.Workflow.Apply(bob, a.sc); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Workflow.StartEditing(a.ctx, a.sc); err != nil {
			t.Fatal(err)
		}
		if err := db.InTx(a.ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(a.ctx, `UPDATE net_drafts SET base_version = 3 WHERE customer_id = ?`, a.id)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		_, err = svc.Workflow.Apply(a.ctx, a.sc)
		wantFault(t, err, fault.Conflict, "version 4 is now applied")

		// Versions are immutable in the database.
		err = db.InTx(a.ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(a.ctx, `UPDATE net_versions SET applied_by = 'x' WHERE customer_id = ?`, a.id)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "immutable") {
			t.Fatalf("update of a version: %v", err)
		}
		vs, err := svc.Workflow.ListVersions(a.ctx, a.sc, 0, 10)
		if err != nil || len(vs) != 4 || vs[0].Version != 4 {
			t.Fatalf("versions = %+v, %v", vs, err)
		}

		// The idle lock expires after 30 minutes and may be taken over.
		e.now = e.now.Add(31 * time.Minute)
		if _, err := svc.Workflow.StartEditing(bob, a.sc); err != nil {
			t.Fatalf("expired lock not taken over: %v", err)
		}

		// Another customer sees none of it.
		b := e.addCustomer("b")
		if _, err := svc.Workflow.GetVersion(b.ctx, b.sc, 1); !fault.Is(err, fault.NotFound) {
			t.Fatalf("b reads a's version: %v", err)
		}
		if _, err := svc.Workflow.StartEditing(b.ctx, b.sc); err != nil {
			t.Fatal(err)
		}
		// b may use exactly a's addresses.
		if _, err := svc.Workflow.SaveDraft(b.ctx, b.sc, b.config()); err != nil {
			t.Fatalf("b with a's address plan: %v", err)
		}
		if _, err := svc.Workflow.Apply(b.ctx, b.sc); err != nil {
			t.Fatal(err)
		}
	})
}

func reasonsText(r Review) string {
	var b strings.Builder
	for _, x := range r.Reasons {
		b.WriteString(x.Text + "\n")
	}
	return b.String()
}

// The service checks the action itself, from the scope's role, so that a
// caller other than the HTTP router (a scheduler, a panel handler) meets the
// same refusals; the zero scope and the zero handle are internal errors,
// never "every customer".
func TestServiceChecksTheAction(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a := e.addCustomer("a")
		user := tenanttest.As(a.id, "user", identity.ActNetworkRead)
		admin := tenanttest.As(a.id, "admin", identity.ActNetworkRead, identity.ActNetworkEdit)
		if _, err := e.svc.Workflow.Applied(a.ctx, user); err != nil {
			t.Errorf("a user reads the configuration: %v", err)
		}
		if _, err := e.svc.Workflow.StartEditing(a.ctx, user); !fault.Is(err, fault.Forbidden) {
			t.Errorf("a user starts editing: %v, want forbidden", err)
		}
		if _, err := e.svc.Workflow.StartEditing(a.ctx, admin); err != nil {
			t.Fatalf("an admin starts editing: %v", err)
		}
		if _, err := e.svc.Workflow.BreakLock(a.ctx, admin); !fault.Is(err, fault.Forbidden) {
			t.Errorf("an admin breaks the lock: %v, want forbidden", err)
		}
		bg := tenanttest.BreakGlass(a.id)
		if _, err := e.svc.Workflow.Applied(e.ctx, bg); err != nil {
			t.Errorf("break-glass reads the configuration: %v", err)
		}
		if _, err := e.svc.Workflow.Apply(e.ctx, bg); !fault.Is(err, fault.Forbidden) {
			t.Errorf("break-glass applies: %v, want forbidden", err)
		}
		if _, err := e.svc.Operations.Placements(e.ctx, tenanttest.OperatorAs(a.id, identity.ActCatalogManage)); !fault.Is(err, fault.Forbidden) {
			t.Errorf("placements without capacity.read: %v, want forbidden", err)
		}
		if _, err := e.svc.Workflow.Applied(e.ctx, tenant.Scope{}); !fault.Is(err, fault.Internal) {
			t.Errorf("zero scope: %v, want an internal error", err)
		}
		if _, err := e.svc.Operations.Placements(e.ctx, tenant.Operator{}); !fault.Is(err, fault.Internal) {
			t.Errorf("zero operator handle: %v, want an internal error", err)
		}
	})
}

// BGP passwords never leave the service in a view handed to a scope — the
// customer's own and a break-glass read alike — while the desired state for
// the agent keeps them; the handlers do no masking of their own.
func TestViewsMaskSecrets(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a := e.addCustomer("a")
		for _, p := range fixtureFacts().Ports {
			if p.Active {
				e.must(e.svc.Operations.Place(e.ctx, a.op, a.codes[p.Code], PlaceInput{}))
			}
		}
		masked := func(what string, c Config) {
			t.Helper()
			b, _ := json.Marshal(c)
			if s := string(b); strings.Contains(s, "s3cret") || !strings.Contains(s, SecretMask) {
				t.Errorf("%s shows the BGP password (or no mask): %s", what, s)
			}
		}
		if _, err := e.svc.Workflow.StartEditing(a.ctx, a.sc); err != nil {
			t.Fatal(err)
		}
		d, err := e.svc.Workflow.SaveDraft(a.ctx, a.sc, a.config())
		if err != nil {
			t.Fatal(err)
		}
		masked("SaveDraft", d.Config)
		d, _ = e.svc.Workflow.GetDraft(a.ctx, a.sc)
		masked("GetDraft", d.Config)
		ed, _ := e.svc.Workflow.StartEditing(a.ctx, a.sc)
		masked("StartEditing", ed.Draft.Config)
		v, err := e.svc.Workflow.Apply(a.ctx, a.sc)
		if err != nil {
			t.Fatal(err)
		}
		masked("Apply", v.Config)
		v, _ = e.svc.Workflow.Applied(a.ctx, a.sc)
		masked("Applied", v.Config)
		v, _ = e.svc.Workflow.GetVersion(e.ctx, tenanttest.BreakGlass(a.id), 1)
		masked("a break-glass GetVersion", v.Config)
		doc, _, err := e.svc.Compiler.DesiredState(e.ctx, "tyo-1")
		if err != nil || !strings.Contains(string(doc), "s3cret") {
			t.Errorf("the agent's desired state lost the password: %v", err)
		}
	})
}
