package network

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

var vlanField = regexp.MustCompile(`^ports\[\d+\]\.cloud\.vlan$`)

// applyVLANs applies c's configuration with the given VLANs on its cloud
// ports (by fixture code), leaving the lock and draft in place on failure.
func (e *env) applyVLANs(c customer, vlans map[string]int) (Review, error) {
	e.t.Helper()
	if _, err := e.svc.Workflow.StartEditing(c.ctx, c.sc); err != nil {
		e.t.Fatal(err)
	}
	cfg := c.config()
	for code, v := range vlans {
		findPort(&cfg, c.codes[code]).Cloud.VLAN = v
	}
	if _, err := e.svc.Workflow.SaveDraft(c.ctx, c.sc, cfg); err != nil {
		e.t.Fatal(err)
	}
	r, err := e.svc.Workflow.Review(c.ctx, c.sc)
	if err != nil {
		e.t.Fatal(err)
	}
	_, err = e.svc.Workflow.Apply(c.ctx, c.sc)
	return r, err
}

func (e *env) place(c customer, codes ...string) {
	e.t.Helper()
	for _, code := range codes {
		if _, err := e.svc.Operations.Place(e.ctx, c.op, c.codes[code], PlaceInput{}); err != nil {
			e.t.Fatalf("place %s: %v", code, err)
		}
	}
}

// wantVLANClash checks that err refuses VLAN v at a port's VLAN field, the
// review reported the same, and neither names who holds it.
func wantVLANClash(t *testing.T, r Review, err error, v int, secrets ...string) {
	t.Helper()
	f, ok := fault.As(err)
	want := "VLAN " + strconv.Itoa(v) + " is already in use on the physical connection this port is placed on"
	if !ok || f.Kind != fault.Invalid || !vlanField.MatchString(f.Field) || !strings.Contains(f.Message, want) {
		t.Fatalf("apply: %v, want invalid at ports[i].cloud.vlan: %q", err, want)
	}
	if r.Valid || !strings.Contains(problemsText(r), f.Field+": "+want) {
		t.Fatalf("review did not report the clash: valid=%v %s", r.Valid, problemsText(r))
	}
	for _, s := range secrets {
		if strings.Contains(f.Message, s) || strings.Contains(problemsText(r), s) {
			t.Fatalf("the refusal reveals %q: %s", s, f.Message)
		}
	}
}

func problemsText(r Review) string {
	var b strings.Builder
	for _, p := range r.Problems {
		b.WriteString(p.Field + ": " + p.Message + "\n")
	}
	return b.String()
}

func TestVLANClashRefusedAtApply(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a, b := e.addCustomer("a"), e.addCustomer("b")
		// a's a-private port and both of b's AWS ports share tyo-1/eth3;
		// a's m-public port is on osa-1/eth4.
		e.place(a, pAPrivate, pMPublic)
		e.place(b, pAPrivate, pAPublic)
		if _, err := e.applyVLANs(a, map[string]int{pAPrivate: 101, pMPublic: 104}); err != nil {
			t.Fatal(err)
		}
		versions := func() (n int) {
			if err := db.QueryRow(e.ctx, `SELECT COUNT(*) FROM net_versions WHERE customer_id = ?`, b.id).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		secrets := []string{string(a.id), "a-ops", a.codes[pAPrivate], "tyo-1", "eth3"}

		// Another customer's VLAN on the same physical port.
		r, err := e.applyVLANs(b, map[string]int{pAPrivate: 101})
		wantVLANClash(t, r, err, 101, secrets...)
		if n := versions(); n != 0 {
			t.Fatalf("refused apply stored %d versions", n)
		}
		if d, err := e.svc.Workflow.GetDraft(b.ctx, b.sc); err != nil || findPort(&d.Config, b.codes[pAPrivate]).Cloud.VLAN != 101 {
			t.Fatalf("refused apply lost the draft: %v", err)
		}

		// Two ports of the same customer on the same physical port.
		r, err = e.applyVLANs(b, map[string]int{pAPrivate: 104, pAPublic: 104})
		wantVLANClash(t, r, err, 104)
		if n := versions(); n != 0 {
			t.Fatalf("refused apply stored %d versions", n)
		}

		// The same VLAN on another physical port is no clash.
		if _, err := e.applyVLANs(b, map[string]int{pAPrivate: 104, pAPublic: 202}); err != nil {
			t.Fatal(err)
		}

		// Now b holds 202 on tyo-1/eth3, and a cannot move there.
		r, err = e.applyVLANs(a, map[string]int{pAPrivate: 202})
		wantVLANClash(t, r, err, 202, string(b.id), "b-ops")
	})
}

func TestVLANRollbackRefused(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a, b := e.addCustomer("a"), e.addCustomer("b")
		e.place(a, pAPrivate)
		e.place(b, pAPrivate)
		// b applies 150 (version 1), then moves to 151 (version 2); a takes
		// 150. Rolling b back to version 1 would take 150 again.
		if _, err := e.applyVLANs(b, map[string]int{pAPrivate: 150}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.applyVLANs(b, map[string]int{pAPrivate: 151}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.applyVLANs(a, map[string]int{pAPrivate: 150}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Workflow.StartEditing(b.ctx, b.sc); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Workflow.Rollback(b.ctx, b.sc, 1); err != nil {
			t.Fatal(err)
		}
		r, err := e.svc.Workflow.Review(b.ctx, b.sc)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Workflow.Apply(b.ctx, b.sc)
		wantVLANClash(t, r, err, 150, string(a.id))
	})
}

func TestPlacementAvoidsVLANClash(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a, b := e.addCustomer("a"), e.addCustomer("b")
		e.place(a, pAPrivate)
		if _, err := e.applyVLANs(a, map[string]int{pAPrivate: 101}); err != nil {
			t.Fatal(err)
		}
		// b's port is not placed yet: its VLAN is checked when it is.
		if _, err := e.applyVLANs(b, map[string]int{pAPrivate: 101}); err != nil {
			t.Fatal(err)
		}
		code := b.codes[pAPrivate]
		// tyo-1/eth3 and eth5 are tokyo's AWS ports; a's cloud port has its
		// legs on both, with VLAN 101.
		_, err := e.svc.Operations.ProposePlacement(e.ctx, b.op, code)
		wantFault(t, err, fault.Conflict, "VLAN 101 free")
		_, err = e.svc.Operations.Place(e.ctx, b.op, code, PlaceInput{})
		wantFault(t, err, fault.Conflict, "tyo-1/eth3 already carries VLAN 101; tyo-1/eth5 already carries VLAN 101")
		_, err = e.svc.Operations.Place(e.ctx, b.op, code, PlaceInput{Primary: &PhysRef{"tyo-1", "eth3"}, Secondary: &PhysRef{"tyo-1", "eth5"}, Reason: "override"})
		wantFault(t, err, fault.Invalid, "VLAN 101 of port "+code+" is already in use on tyo-1/eth3")
		if f, _ := fault.As(err); f.Field != "primary" {
			t.Fatalf("field = %q", f.Field)
		}
		if pl, err := e.svc.Operations.Placements(e.ctx, b.op); err != nil || len(pl) != 0 {
			t.Fatalf("placements after refusals: %+v, %v", pl, err)
		}
		// More AWS ports in tokyo: tyo-2 has one with the most headroom,
		// tyo-3 two with less. The proposal avoids the clash and takes
		// tyo-3, the node with a free port for each of the two legs.
		e.must(e.cat.CreateNode(e.ctx, catalog.NodeInput{Region: "tokyo", Name: "tyo-2", Ports: []catalog.PhysicalPort{
			{Name: "eth3", SpeedMbps: 10_000, Kind: "cloud-aws"}}}))
		e.must(e.cat.CreateNode(e.ctx, catalog.NodeInput{Region: "tokyo", Name: "tyo-3", Ports: []catalog.PhysicalPort{
			{Name: "eth3", SpeedMbps: 1_000, Kind: "cloud-aws"}, {Name: "eth5", SpeedMbps: 1_000, Kind: "cloud-aws"}}}))
		p, err := e.svc.Operations.Place(e.ctx, b.op, code, PlaceInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Legs) != 2 || p.Legs[0].Node != "tyo-3" || p.Legs[0].Port != "eth3" || p.Legs[1].Node != "tyo-3" || p.Legs[1].Port != "eth5" {
			t.Fatalf("placed as %+v, want tyo-3/eth3 and tyo-3/eth5", p.Legs)
		}
	})
}

// Two customers applying the same VLAN on the same physical port at once:
// at most one succeeds (PostgreSQL runs them truly concurrently).
func TestConcurrentVLANApply(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		custs := []customer{e.addCustomer("a"), e.addCustomer("b")}
		for _, c := range custs {
			e.place(c, pAPrivate)
		}
		for round := range 4 {
			vlan := 300 + round
			for _, c := range custs {
				if _, err := e.svc.Workflow.StartEditing(c.ctx, c.sc); err != nil {
					t.Fatal(err)
				}
				cfg := c.config()
				findPort(&cfg, c.codes[pAPrivate]).Cloud.VLAN = vlan
				if _, err := e.svc.Workflow.SaveDraft(c.ctx, c.sc, cfg); err != nil {
					t.Fatal(err)
				}
			}
			errs := make(chan error, len(custs))
			for _, c := range custs {
				go func() {
					_, err := e.svc.Workflow.Apply(c.ctx, c.sc)
					errs <- err
				}()
			}
			ok := 0
			for range custs {
				err := <-errs
				switch {
				case err == nil:
					ok++
				case !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "already in use"):
					t.Fatalf("round %d: unexpected refusal: %v", round, err)
				}
			}
			if ok != 1 {
				t.Fatalf("round %d: %d applies of VLAN %d on one physical port succeeded", round, ok, vlan)
			}
		}
	})
}
