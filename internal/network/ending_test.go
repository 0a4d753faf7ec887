package network

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// applyPorts applies the customer's fixture configuration with only the
// given ports in it (they must be placed).
func (e *env) applyPorts(c customer, codes ...string) Version {
	e.t.Helper()
	if _, err := e.svc.Workflow.StartEditing(c.ctx, c.sc); err != nil {
		e.t.Fatal(err)
	}
	cfg := c.config()
	var ports []PortConfig
	for _, code := range codes {
		ports = append(ports, *port(&cfg, c.codes[code]))
	}
	cfg.Ports = ports
	if _, err := e.svc.Workflow.SaveDraft(c.ctx, c.sc, cfg); err != nil {
		e.t.Fatal(err)
	}
	v, err := e.svc.Workflow.Apply(c.ctx, c.sc)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

// count runs a COUNT(*) query.
func (e *env) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRow(e.ctx, query, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// doc is a node's desired state.
func (e *env) doc(node string) desired.State {
	e.t.Helper()
	raw, _, err := e.svc.Compiler.DesiredStateDoc(e.ctx, node)
	if err != nil {
		e.t.Fatal(err)
	}
	d, err := desired.Decode(raw)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// docPorts lists the port codes of a node's desired state.
func (e *env) docPorts(node string) []string {
	var out []string
	for _, h := range e.doc(node).Hubs {
		for _, p := range h.Ports {
			out = append(out, p.PortCode)
		}
	}
	return out
}

// TestPortRemovalWorkflow: a customer marks a configured public cloud port
// for removal; the review says what stops (both BGP sessions, its routes,
// firewall rules, NAPT and static NAT addresses, the physical legs) at risk
// high; apply makes the version without it and ends it: the catalog port is
// cancelled with ended_at, its legs and NAT addresses are released, the
// node's desired state no longer has it, the other port runs on. A rollback
// to the version that had it is refused; its code stays issued and is
// never given to a new port.
func TestPortRemovalWorkflow(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a, b := e.addCustomer("a"), e.addCustomer("b")
		e.place(a, pOnPrem, pAPublic)
		v1 := e.applyPorts(a, pOnPrem, pAPublic)
		code := a.codes[pAPublic]
		if got := e.docPorts("tyo-1"); !slices.Contains(got, code) {
			t.Fatalf("desired state before = %v", got)
		}
		nat, err := e.svc.Workflow.NAT(a.ctx, a.sc)
		if err != nil || len(nat.NAPT[code]) != 1 || len(nat.Static) != 1 {
			t.Fatalf("NAT before = %+v, %v", nat, err)
		}
		freeStatic := func() int {
			return e.count(`SELECT COUNT(*) FROM nat_allocations WHERE purpose = 'static'`)
		}
		staticBefore := freeStatic()

		// Marking needs the lock; bad codes are not found; another
		// customer's port is not found either.
		_, err = e.svc.Workflow.MarkPortRemoval(a.ctx, a.sc, code)
		wantFault(t, err, fault.Conflict, "start editing first")
		if _, err := e.svc.Workflow.StartEditing(a.ctx, a.sc); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Workflow.MarkPortRemoval(a.ctx, a.sc, "shc99999999")
		wantFault(t, err, fault.NotFound, "port not found")
		_, err = e.svc.Workflow.MarkPortRemoval(a.ctx, a.sc, b.codes[pAPublic])
		wantFault(t, err, fault.NotFound, "port not found")
		_, err = e.svc.Workflow.UnmarkPortRemoval(a.ctx, a.sc, code)
		wantFault(t, err, fault.NotFound, "does not remove")
		d, err := e.svc.Workflow.MarkPortRemoval(a.ctx, a.sc, code)
		if err != nil || !slices.Equal(d.PortRemovals, []string{code}) {
			t.Fatalf("draft = %+v, %v", d.PortRemovals, err)
		}

		r, err := e.svc.Workflow.Review(a.ctx, a.sc)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Valid || r.Risk != "high" || r.Impact != "session-reset" || len(r.Removals) != 1 {
			t.Fatalf("review = %+v", r)
		}
		rm := r.Removals[0]
		if rm.PortCode != code || !rm.Configured || len(rm.BGPSessions) != 2 || rm.FirewallRules != 2 || len(rm.NAPT) != 1 ||
			len(rm.StaticNAT) != 1 || len(rm.Legs) != 2 || !strings.Contains(rm.Routes, "UserDefined") {
			t.Fatalf("removal = %+v", rm)
		}
		if !slices.ContainsFunc(r.Changes, func(c Change) bool { return c.Path == "ports["+code+"].status" && c.After == "ended" }) {
			t.Fatalf("changes = %+v", r.Changes)
		}
		reasons := 0
		for _, rs := range r.Reasons {
			if rs.Object == "port:"+code {
				reasons++
				if !strings.Contains(rs.Text, "BGP sessions stop") || !strings.Contains(rs.Text, "return to the pool") {
					t.Errorf("reason = %q", rs.Text)
				}
			}
		}
		if reasons != 1 {
			t.Fatalf("%d reasons for the removed port: %+v", reasons, r.Reasons)
		}

		v2, err := e.svc.Workflow.ApplyReviewed(a.ctx, a.sc, r.Revision)
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(v2.Config.Ports, func(p PortConfig) bool { return p.PortCode == code }) {
			t.Fatalf("version %d still configures the port", v2.Version)
		}
		p, err := e.cat.GetPort(e.ctx, tenanttest.Customer(a.id), code)
		if err != nil || p.Status != "cancelled" || p.EndedAt == nil {
			t.Fatalf("catalog port = %+v, %v", p, err)
		}
		if n := e.count(`SELECT COUNT(*) FROM port_placements WHERE port_id = ?`, p.ID); n != 0 {
			t.Errorf("%d legs left", n)
		}
		if got := e.docPorts("tyo-1"); slices.Contains(got, code) || !slices.Contains(got, a.codes[pOnPrem]) {
			t.Errorf("desired state after = %v", got)
		}
		nat, _ = e.svc.Workflow.NAT(a.ctx, a.sc)
		if len(nat.NAPT[code]) != 0 || len(nat.Static) != 0 {
			t.Errorf("NAT after = %+v", nat)
		}
		if got := freeStatic(); got != staticBefore-1 {
			t.Errorf("static allocations %d → %d; the address should be back in the pool", staticBefore, got)
		}
		if n := e.count(`SELECT COUNT(*) FROM nat_allocations WHERE port_code = ?`, code); n != 0 {
			t.Errorf("%d NAPT allocations left", n)
		}
		// Capacity: the physical ports carry only the on-premises port.
		rep, err := e.svc.Operations.Capacity(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, pp := range rep.Rows {
			if pp.Node == "tyo-1" && (pp.Port == "eth3" || pp.Port == "eth5") && (pp.AllocatedMbps != 0 || pp.Ports != 0) {
				t.Errorf("%s/%s still allocates %d Mb/s to %d ports", pp.Node, pp.Port, pp.AllocatedMbps, pp.Ports)
			}
		}
		if ds := e.auditDetails(a.id, "port.end"); len(ds) != 1 || ds[0]["via"] != "workflow" || ds[0]["legs_released"] != float64(2) {
			t.Errorf("port.end audit = %+v", ds)
		}

		// The port cannot come back.
		if _, err := e.svc.Workflow.StartEditing(a.ctx, a.sc); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Workflow.Rollback(a.ctx, a.sc, v1.Version)
		wantFault(t, err, fault.Conflict, "an ended port cannot come back")
		_, err = e.svc.Workflow.MarkPortRemoval(a.ctx, a.sc, code)
		wantFault(t, err, fault.Conflict, "already ended")
		// Its code stays issued, and new ports get other codes.
		if n := e.count(`SELECT COUNT(*) FROM issued_codes WHERE code = ?`, code); n != 1 {
			t.Fatalf("issued_codes has %d rows of %s", n, code)
		}
		for range 5 {
			np, err := e.cat.CreatePort(e.ctx, a.op, catalog.PortInput{ServiceCode: a.code, HubID: a.hubs["hub_main"], Kind: "a-public", SpeedMbps: 1_000})
			if err != nil {
				t.Fatal(err)
			}
			if np.PortCode == code {
				t.Fatalf("the ended port's code %s was issued again", code)
			}
		}
	})
}

// TestPortEndOnDate: an operator ends a port on a date. Bad input changes
// nothing; the end can be cancelled; on the date the port still runs; on
// the day after the job ends it once, with a system version without its
// configuration.
func TestPortEndOnDate(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db) // 2026-11-26 12:00 JST
		a, b := e.addCustomer("a"), e.addCustomer("b")
		e.place(a, pOnPrem, pAPrivate)
		e.applyPorts(a, pOnPrem, pAPrivate)
		code := a.codes[pAPrivate]
		ops := e.svc.Operations
		in := PortEndInput{EndDate: "2026-11-28", Reason: "contract item ends"}

		_, err := ops.EndPortOn(e.ctx, a.op, code, PortEndInput{EndDate: "2026-11-25", Reason: "x"})
		wantFault(t, err, fault.Invalid, "today or later")
		_, err = ops.EndPortOn(e.ctx, a.op, code, PortEndInput{EndDate: "9999-12-31", Reason: "x"})
		wantFault(t, err, fault.Invalid, "no later than")
		_, err = ops.EndPortOn(e.ctx, a.op, code, PortEndInput{EndDate: "28/11/2026", Reason: "x"})
		wantFault(t, err, fault.Invalid, "YYYY-MM-DD")
		_, err = ops.EndPortOn(e.ctx, a.op, code, PortEndInput{EndDate: "2026-11-28", Reason: " "})
		wantFault(t, err, fault.Invalid, "reason must be given")
		_, err = ops.EndPortOn(e.ctx, a.op, "shc99999999", in)
		wantFault(t, err, fault.NotFound, "port not found")
		_, err = ops.EndPortOn(e.ctx, a.op, b.codes[pAPrivate], in)
		wantFault(t, err, fault.NotFound, "port not found")
		if n := e.count(`SELECT COUNT(*) FROM port_ends`); n != 0 {
			t.Fatalf("refused input stored %d ends", n)
		}

		pe, err := ops.EndPortOn(e.ctx, a.op, code, in)
		if err != nil || pe.EndsOn != "2026-11-29" {
			t.Fatalf("end = %+v, %v", pe, err)
		}
		_, err = ops.EndPortOn(e.ctx, a.op, code, in)
		wantFault(t, err, fault.Conflict, "already ends after 2026-11-28")
		if _, err := ops.CancelPortEnd(e.ctx, a.op, code); err != nil {
			t.Fatal(err)
		}
		if ends, err := ops.PortEnds(e.ctx, a.op, code); err != nil || len(ends) != 1 || ends[0].State != "cancelled" || ends[0].ClosedAt == nil {
			t.Fatalf("ends = %+v, %v", ends, err)
		}
		_, err = ops.CancelPortEnd(e.ctx, a.op, code)
		wantFault(t, err, fault.NotFound, "pending end not found")
		if _, err := ops.EndPortOn(e.ctx, a.op, code, in); err != nil {
			t.Fatal(err)
		}

		status := func() string {
			t.Helper()
			p, err := e.cat.GetPort(e.ctx, tenanttest.Customer(a.id), code)
			if err != nil {
				t.Fatal(err)
			}
			return p.Status
		}
		// The end date itself (JST 23:59): the service continues.
		e.now = time.Date(2026, 11, 28, 14, 59, 0, 0, time.UTC)
		if n, err := ops.RunEnds(e.ctx); err != nil || n != 0 || status() != "active" {
			t.Fatalf("on the end date: ended %d, %v, status %s", n, err, status())
		}
		// The day after (JST 00:00:05): the job ends it, once.
		e.now = time.Date(2026, 11, 28, 15, 0, 5, 0, time.UTC)
		if n, err := ops.RunEnds(e.ctx); err != nil || n != 1 || status() != "cancelled" {
			t.Fatalf("the day after: ended %d, %v, status %s", n, err, status())
		}
		if n, err := ops.RunEnds(e.ctx); err != nil || n != 0 {
			t.Fatalf("second run ended %d, %v", n, err)
		}
		_, err = ops.CancelPortEnd(e.ctx, a.op, code)
		wantFault(t, err, fault.NotFound, "pending end not found")
		if ends, err := ops.PortEnds(e.ctx, a.op, code); err != nil || len(ends) != 2 ||
			!slices.ContainsFunc(ends, func(pe PortEnd) bool { return pe.State == "done" && pe.ClosedAt != nil }) {
			t.Fatalf("ends after = %+v, %v", ends, err)
		}
		v, err := e.svc.Workflow.Applied(a.ctx, a.sc)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(v.AppliedBy, "system: ") || v.Review == nil || v.Review.Risk != "high" ||
			slices.ContainsFunc(v.Config.Ports, func(p PortConfig) bool { return p.PortCode == code }) {
			t.Fatalf("version after the end = %d by %q, ports %d", v.Version, v.AppliedBy, len(v.Config.Ports))
		}
		// The removal's reason replaces the generic ones for the port's
		// configuration, as in the customer's own removal.
		if n := len(slices.DeleteFunc(slices.Clone(v.Review.Reasons), func(r Reason) bool { return r.Object != "port:"+code })); n != 1 {
			t.Errorf("the system version's review has %d reasons for port %s: %+v", n, code, v.Review.Reasons)
		}
		if got := e.docPorts("tyo-1"); slices.Contains(got, code) || !slices.Contains(got, a.codes[pOnPrem]) {
			t.Errorf("desired state after = %v", got)
		}
		if ds := e.auditDetails(a.id, "port.end"); len(ds) != 1 || ds[0]["via"] != "dated" || ds[0]["end_date"] != "2026-11-28" {
			t.Errorf("port.end audit = %+v", ds)
		}
		_, err = ops.EndPortOn(e.ctx, a.op, code, PortEndInput{EndDate: "2026-12-01", Reason: "again"})
		wantFault(t, err, fault.Conflict, "already ended")
	})
}

// TestDatedEndReleasesStaticNAT: a dated end, like the customer's removal,
// returns the port's static NAT address to the pool and audits how many.
func TestDatedEndReleasesStaticNAT(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db) // 2026-11-26 12:00 JST
		a := e.addCustomer("a")
		e.place(a, pOnPrem, pAPublic)
		e.applyPorts(a, pOnPrem, pAPublic)
		static := func() int { return e.count(`SELECT COUNT(*) FROM nat_allocations WHERE purpose = 'static'`) }
		before := static()
		if _, err := e.svc.Operations.EndPortOn(e.ctx, a.op, a.codes[pAPublic], PortEndInput{EndDate: "2026-11-26", Reason: "contract item ends"}); err != nil {
			t.Fatal(err)
		}
		e.now = time.Date(2026, 11, 26, 15, 0, 5, 0, time.UTC)
		if n, err := e.svc.Operations.RunEnds(e.ctx); err != nil || n != 1 {
			t.Fatalf("ended %d, %v", n, err)
		}
		if after := static(); after != before-1 {
			t.Errorf("static NAT addresses %d → %d", before, after)
		}
		if ds := e.auditDetails(a.id, "port.end"); len(ds) != 1 || ds[0]["static_nat_released"] != float64(1) {
			t.Errorf("port.end audit = %+v", ds)
		}
	})
}

// TestRemoveHub: a hub with ports is refused, naming them; once its ports
// have ended it is removed: off its node (the node's desired state has no
// hub of the customer) and out of the backbone (the remaining hub lists no
// peer), and the applied configuration no longer holds it.
func TestRemoveHub(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a, b := e.addCustomer("a"), e.addCustomer("b")
		e.place(a, pOnPrem, pM2)
		e.applyPorts(a, pOnPrem, pM2)
		main, sub := a.hubs["hub_main"], a.hubs["hub_sub"]
		peers := func() []string {
			var out []string
			for _, h := range e.doc("tyo-1").Hubs {
				if h.HubID == string(main) {
					for _, p := range h.Backbone.Peers {
						out = append(out, p.HubID)
					}
				}
			}
			return out
		}
		if got := peers(); !slices.Equal(got, []string{string(sub)}) {
			t.Fatalf("peers before = %v", got)
		}
		ops := e.svc.Operations
		err := ops.RemoveHub(e.ctx, a.op, sub)
		onSub := []string{a.codes[pMPublic], a.codes[pM2]}
		slices.Sort(onSub)
		wantFault(t, err, fault.Conflict, "still has ports "+strings.Join(onSub, ", "))
		err = ops.RemoveHub(e.ctx, a.op, b.hubs["hub_sub"])
		wantFault(t, err, fault.NotFound, "hub not found")

		if _, err := e.svc.Workflow.StartEditing(a.ctx, a.sc); err != nil {
			t.Fatal(err)
		}
		for _, c := range []string{pMPublic, pM2} {
			if _, err := e.svc.Workflow.MarkPortRemoval(a.ctx, a.sc, a.codes[c]); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.svc.Workflow.Apply(a.ctx, a.sc); err != nil {
			t.Fatal(err)
		}
		if err := ops.RemoveHub(e.ctx, a.op, sub); err != nil {
			t.Fatal(err)
		}
		if got := peers(); len(got) != 0 {
			t.Errorf("peers after = %v", got)
		}
		for _, h := range e.doc("osa-1").Hubs {
			if h.CustomerID == string(a.id) {
				t.Errorf("osa-1 still runs hub %s", h.HubID)
			}
		}
		h, err := e.cat.GetHub(e.ctx, tenanttest.Customer(a.id), sub)
		if err != nil || h.EndedAt == nil {
			t.Fatalf("hub = %+v, %v", h, err)
		}
		v, err := e.svc.Workflow.Applied(a.ctx, a.sc)
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(v.Config.Hubs, func(hc HubConfig) bool { return hc.HubID == sub }) || !strings.HasPrefix(v.AppliedBy, "system: ") {
			t.Errorf("version %d by %q still configures hub %s", v.Version, v.AppliedBy, sub)
		}
		err = ops.RemoveHub(e.ctx, a.op, sub)
		wantFault(t, err, fault.Conflict, "already been removed")
		_, err = ops.PreviewHubMove(e.ctx, a.op, sub, HubMoveInput{Node: "osa-1", Reason: "x"})
		wantFault(t, err, fault.Conflict, "hub "+string(sub)+" has been removed")
		_, err = e.cat.CreatePort(e.ctx, a.op, catalog.PortInput{ServiceCode: a.code, HubID: sub, Kind: "onprem", SpeedMbps: 10_000})
		wantFault(t, err, fault.Invalid, "has been removed")
		// The customer can still edit: the draft has no trace of the hub.
		if _, err := e.svc.Workflow.StartEditing(a.ctx, a.sc); err != nil {
			t.Fatal(err)
		}
		d, err := e.svc.Workflow.GetDraft(a.ctx, a.sc)
		if err != nil || slices.ContainsFunc(d.Config.Hubs, func(hc HubConfig) bool { return hc.HubID == sub }) {
			t.Fatalf("draft hubs = %+v, %v", d.Config.Hubs, err)
		}
		if ds := e.auditDetails(a.id, "hub.remove"); len(ds) != 1 || ds[0]["node"] != "osa-1" {
			t.Errorf("hub.remove audit = %+v", ds)
		}
	})
}

// TestContractEndEndsNetwork: the customer's only contract is cancelled
// with termination date D; on D nothing ends; on D+1 the job ends every
// port and hub of it, and the customer's hubs leave their nodes.
func TestContractEndEndsNetwork(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a, b := e.addCustomer("a"), e.addCustomer("b")
		e.place(a, pOnPrem, pM2)
		e.applyPorts(a, pOnPrem, pM2)
		e.place(b, pAPrivate)
		e.applyPorts(b, pAPrivate)
		// The catalog checks the termination date against the real clock.
		d := clock.Today()
		if _, err := e.cat.CancelContract(e.ctx, a.op, a.code, catalog.CancelInput{TerminationDate: d, Reason: "moving"}); err != nil {
			t.Fatal(err)
		}
		day, _ := clock.ParseDate(d)
		ops := e.svc.Operations
		e.now = day.Add(23 * time.Hour) // D, 23:00 JST
		if n, err := ops.RunEnds(e.ctx); err != nil || n != 0 {
			t.Fatalf("on D: ended %d, %v", n, err)
		}
		e.now = day.AddDate(0, 0, 1).Add(time.Second) // D+1
		n, err := ops.RunEnds(e.ctx)
		if err != nil || n != 6+2 {
			t.Fatalf("on D+1: ended %d, %v; want 6 ports and 2 hubs", n, err)
		}
		if k := e.count(`SELECT COUNT(*) FROM ports WHERE customer_id = ? AND status = 'active'`, a.id); k != 0 {
			t.Errorf("%d ports of a still active", k)
		}
		if k := e.count(`SELECT COUNT(*) FROM hubs WHERE customer_id = ? AND ended_at IS NULL`, a.id); k != 0 {
			t.Errorf("%d hubs of a left", k)
		}
		for _, node := range []string{"tyo-1", "osa-1"} {
			for _, h := range e.doc(node).Hubs {
				if h.CustomerID == string(a.id) {
					t.Errorf("%s still runs a's hub %s", node, h.HubID)
				}
			}
		}
		if got := e.docPorts("tyo-1"); !slices.Contains(got, b.codes[pAPrivate]) {
			t.Errorf("b's port left tyo-1: %v", got)
		}
		if n, err := ops.RunEnds(e.ctx); err != nil || n != 0 {
			t.Fatalf("again: ended %d, %v", n, err)
		}
	})
}
