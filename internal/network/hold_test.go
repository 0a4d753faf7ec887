package network

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// While a port is shut the node's desired state says so, so that any node
// running the hub keeps the port down; the re-enable clears it.
func TestShutInTheDesiredState(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a := e.addCustomer("a")
		code := a.codes[pOnPrem]
		if _, err := e.svc.Operations.Place(e.ctx, a.op, code, PlaceInput{}); err != nil {
			t.Fatal(err)
		}
		e.applyOnly(a, code)
		shut := func() string { t.Helper(); return e.desiredPort("tyo-1", code).Shut }
		if got := shut(); got != "" {
			t.Fatalf("shut = %q before any report", got)
		}
		e.reportHold(observed.Hold{Kind: observed.HoldL2Guard, PortCode: code, Reason: ShutFlap})
		if got := shut(); got != ShutFlap {
			t.Fatalf("shut = %q after the node's report, want %q", got, ShutFlap)
		}
		if _, err := e.svc.Workflow.ReenablePort(a.ctx, a.sc, code); err != nil {
			t.Fatal(err)
		}
		if got := shut(); got != "" {
			t.Fatalf("shut = %q after the re-enable", got)
		}
	})
}

// applyOnly applies the customer's fixture configuration with only the
// port code in it (the port must be placed).
func (e *env) applyOnly(c customer, code string) {
	e.t.Helper()
	if _, err := e.svc.Workflow.StartEditing(c.ctx, c.sc); err != nil {
		e.t.Fatal(err)
	}
	cfg := c.config()
	cfg.Ports = []PortConfig{*port(&cfg, code)}
	if _, err := e.svc.Workflow.SaveDraft(c.ctx, c.sc, cfg); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.Workflow.Apply(c.ctx, c.sc); err != nil {
		e.t.Fatal(err)
	}
}

// desiredPort is the port as the node's desired-state document has it.
func (e *env) desiredPort(node, code string) desired.Port {
	e.t.Helper()
	raw, _, err := e.svc.Compiler.DesiredStateDoc(e.ctx, node)
	if err != nil {
		e.t.Fatal(err)
	}
	doc, err := desired.Decode(raw)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, h := range doc.Hubs {
		for _, p := range h.Ports {
			if p.PortCode == code {
				return p
			}
		}
	}
	e.t.Fatalf("port %s not in %s's desired state", code, node)
	return desired.Port{}
}

// reportHold reports h from the node the port is placed on.
func (e *env) reportHold(h observed.Hold) {
	e.t.Helper()
	if err := e.svc.Compiler.NodeReportsHolds(e.ctx, e.nodeOf(h.PortCode), []observed.Hold{h}); err != nil {
		e.t.Fatal(err)
	}
}

// reportCounts stores, as the fleet does from a node's typed report, what
// the port's node observed of its hub: the port's single session holding
// imported routes.
func (e *env) reportCounts(code string, imported int) {
	e.t.Helper()
	var hub, cust, node string
	if err := store.Scan(e.db.QueryRow(e.ctx, `SELECT p.hub_id, p.customer_id, n.id FROM ports p JOIN hub_nodes n ON n.name = ?
		WHERE p.port_code = ?`, e.nodeOf(code), code), &hub, &cust, &node); err != nil {
		e.t.Fatal(err)
	}
	body, err := json.Marshal(observed.Hub{HubID: hub, CustomerID: cust, Ports: []observed.Port{{PortCode: code,
		Sessions: []observed.Session{{Name: "single", State: "up", Imported: imported}}}}})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.db.Exec(e.ctx, `DELETE FROM hub_observations WHERE hub_id = ? AND node_id = ?`, hub, node); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.db.Exec(e.ctx, `INSERT INTO hub_observations (hub_id, node_id, customer_id, reported_at, wanted_version, config_version,
		error, problems, body) VALUES (?, ?, ?, ?, 1, 1, '', 0, ?)`, hub, node, cust, clock.Store(e.now), string(body)); err != nil {
		e.t.Fatal(err)
	}
}

// nodeOf is the node a placed port is on.
func (e *env) nodeOf(code string) string {
	e.t.Helper()
	var node string
	if err := e.db.QueryRow(e.ctx, `SELECT n.name FROM ports p JOIN port_placements pl ON pl.port_id = p.id
		JOIN physical_ports pp ON pp.id = pl.physical_port_id JOIN hub_nodes n ON n.id = pp.node_id WHERE p.port_code = ? LIMIT 1`,
		code).Scan(&node); err != nil {
		e.t.Fatalf("port %s is not placed: %v", code, err)
	}
	return node
}

// sentMail is one mail in the outbox, its body opened.
type sentMail struct{ lang, subject, body string }

func (e *env) mails(cust catalog.CustomerID, cause string) []sentMail {
	e.t.Helper()
	rows, err := e.db.Query(e.ctx, `SELECT id, language, subject, body FROM mail_outbox WHERE customer_id = ? AND cause = ? ORDER BY recipient`,
		cust, cause)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []sentMail
	for rows.Next() {
		var id, sealed string
		var m sentMail
		if err := rows.Scan(&id, &m.lang, &m.subject, &sealed); err != nil {
			e.t.Fatal(err)
		}
		if m.body, err = e.db.Secrets().Open(sealed, "mail:"+id); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// auditDetails are the details of the customer's audit events of action.
func (e *env) auditDetails(cust catalog.CustomerID, action string) []map[string]any {
	e.t.Helper()
	rows, err := e.db.Query(e.ctx, `SELECT detail FROM audit_events WHERE customer_id = ? AND action = ? ORDER BY seq`, cust, action)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			e.t.Fatal(err)
		}
		d := map[string]any{}
		if err := json.Unmarshal([]byte(raw), &d); err != nil {
			e.t.Fatalf("audit detail %q: %v", raw, err)
		}
		out = append(out, d)
	}
	return out
}

// addOpsAdmins gives c two operations administrators (en, ja) who set
// their passwords, and one invited who never did: hold mail, like every
// system mail, reaches only the first two (identity.OpsAdminRecipients).
func (e *env) addOpsAdmins(c customer) {
	e.t.Helper()
	for _, a := range []struct {
		name, lang string
		hash       any
	}{{"en", "en", "set"}, {"ja", "ja", "set"}, {"invited", "en", nil}} {
		if _, err := e.db.Exec(e.ctx, `INSERT INTO accounts (id, customer_id, login_id, display_name, email, role, language, password_hash, created_at)
			VALUES (?, ?, ?, 'ops', ?, 'ops-admin', ?, ?, '2026-01-01T00:00:00.000000Z')`,
			"acc_"+a.name+c.code, c.id, "ops-"+a.name+c.code, a.name+"@"+c.code+".example", a.lang, a.hash); err != nil {
			e.t.Fatal(err)
		}
	}
}

// A route-limit hold: recorded once across the node's repeated reports,
// with the count BIRD reported in the audit entry and in the mail (both
// languages, from the templates); a report from before the re-enable is
// stale; the re-enable clears it, bumps the sequence, and the desired
// state follows.
func TestRouteLimitHold(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a, b := e.addCustomer("a"), e.addCustomer("b")
		e.addOpsAdmins(a)
		code := a.codes[pAPrivate]
		hold := observed.Hold{Kind: observed.HoldRouteLimit, PortCode: code, Session: "single", Reason: "limit",
			Since: e.now.Add(-time.Minute), Prefixes: 1873, Limit: 1500}
		// A node reports only ports placed on it.
		if err := e.svc.Compiler.NodeReportsHolds(e.ctx, "tyo-1", []observed.Hold{hold}); !fault.Is(err, fault.NotFound) {
			t.Fatalf("report of an unplaced port: %v", err)
		}
		e.place(a, pAPrivate)
		e.applyOnly(a, code)
		if err := e.svc.Compiler.NodeReportsHolds(e.ctx, "osa-1", []observed.Hold{hold}); !fault.Is(err, fault.NotFound) {
			t.Fatalf("report by another node: %v", err)
		}
		for _, bad := range []observed.Hold{{Kind: "monitoring", PortCode: code, Reason: "limit"}, {Kind: observed.HoldRouteLimit, PortCode: code, Reason: "bpdu"},
			{Kind: observed.HoldRouteLimit, PortCode: code, Reason: "limit", Prefixes: -1}} {
			if err := e.svc.Compiler.NodeReportsHolds(e.ctx, "tyo-1", []observed.Hold{bad}); !fault.Is(err, fault.Invalid) {
				t.Fatalf("hold %+v: %v", bad, err)
			}
		}
		if _, err := e.svc.Workflow.Reenable(a.ctx, a.sc, code); !fault.Is(err, fault.Conflict) {
			t.Fatalf("re-enable of a running session: %v", err)
		}
		if n := len(e.auditDetails(a.id, "bgp.route_limit.exceeded")) + len(e.mails(a.id, "bgp.route_limit.exceeded")); n != 0 {
			t.Fatalf("refused reports left %d events and mails", n)
		}
		// Reported on every pass: recorded once, told once.
		for range 3 {
			e.reportHold(hold)
		}
		st, err := e.svc.Workflow.GetBGPState(a.ctx, a.sc, code)
		if err != nil || st.State != "stopped-limit" || st.StoppedPrefixes == nil || *st.StoppedPrefixes != 1873 || st.RouteLimit != 1500 ||
			st.TrippedAt == nil || !st.TrippedAt.Equal(hold.Since) {
			t.Fatalf("state = %+v, %v", st, err)
		}
		details := e.auditDetails(a.id, "bgp.route_limit.exceeded")
		if len(details) != 1 || details[0]["prefixes"] != float64(1873) || details[0]["limit"] != float64(1500) || details[0]["node"] != "tyo-1" {
			t.Fatalf("audit entries %v, want one with BIRD's 1873 prefixes and limit 1500", details)
		}
		mails := e.mails(a.id, "bgp.route_limit.exceeded")
		if len(mails) != 2 {
			t.Fatalf("%d mails, want one per operations administrator", len(mails))
		}
		for _, m := range mails {
			want := map[string][]string{"en": {"BGP session stopped on port " + code, "accepted 1873 prefixes", "limit of 1500"},
				"ja": {"BGP セッションを停止しました", "上限 1500", "経路は 1873 です"}}[m.lang]
			for _, w := range want {
				if !strings.Contains(m.subject+"\n"+m.body, w) {
					t.Errorf("%s mail lacks %q:\n%s\n%s", m.lang, w, m.subject, m.body)
				}
			}
		}
		if p := e.desiredPort("tyo-1", code); p.BGPEnabled || p.ReenableSeq != 0 {
			t.Errorf("desired port while stopped: bgp_enabled %v, seq %d", p.BGPEnabled, p.ReenableSeq)
		}
		if _, err := e.svc.Workflow.Reenable(b.ctx, b.sc, code); !fault.Is(err, fault.NotFound) {
			t.Fatalf("b re-enables a's port: %v", err)
		}
		st, err = e.svc.Workflow.Reenable(a.ctx, a.sc, code)
		if err != nil || st.State != "enabled" || st.ReenableSeq != 1 || st.StoppedPrefixes != nil {
			t.Fatalf("re-enabled = %+v, %v", st, err)
		}
		if p := e.desiredPort("tyo-1", code); !p.BGPEnabled || p.ReenableSeq != 1 {
			t.Errorf("desired port after the re-enable: bgp_enabled %v, seq %d", p.BGPEnabled, p.ReenableSeq)
		}
		// The node's report from before it saw the re-enable is stale.
		e.reportHold(hold)
		if st, _ := e.svc.Workflow.GetBGPState(a.ctx, a.sc, code); st.State != "enabled" {
			t.Fatalf("a stale report stopped the session again: %+v", st)
		}
		// A new stop after the re-enable is recorded and told again.
		hold.ReenableSeq, hold.Prefixes = 1, 1501
		e.reportHold(hold)
		if st, _ := e.svc.Workflow.GetBGPState(a.ctx, a.sc, code); st.State != "stopped-limit" || *st.StoppedPrefixes != 1501 {
			t.Fatalf("a new stop: %+v", st)
		}
		if n, m := len(e.auditDetails(a.id, "bgp.route_limit.exceeded")), len(e.mails(a.id, "bgp.route_limit.exceeded")); n != 2 || m != 4 {
			t.Errorf("%d events, %d mails after the second stop; want 2, 4", n, m)
		}
		if n := len(e.auditDetails(a.id, "bgp.reenable")); n != 1 {
			t.Errorf("%d re-enable events, want 1", n)
		}
	})
}

// A layer-2 guard hold, and one re-enable for every hold of a port: the
// re-enable of the guard also brings back the session the route limit
// stopped, with one audit event for each.
func TestL2GuardHold(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a, b := e.addCustomer("a"), e.addCustomer("b")
		e.addOpsAdmins(a)
		code := a.codes[pOnPrem]
		e.place(a, pOnPrem, pMPrivate)
		e.applyOnly(a, code)
		guard := observed.Hold{Kind: observed.HoldL2Guard, PortCode: code, Reason: ShutBPDU, Detail: "1 BPDU(s) received on eth1"}
		if err := e.svc.Compiler.NodeReportsHolds(e.ctx, "tyo-1", []observed.Hold{{Kind: observed.HoldL2Guard, PortCode: a.codes[pMPrivate],
			Reason: ShutBPDU}}); !fault.Is(err, fault.NotFound) {
			t.Fatalf("a guard hold of a cloud port: %v", err)
		}
		if _, err := e.svc.Workflow.ReenablePort(a.ctx, a.sc, code); !fault.Is(err, fault.Conflict) {
			t.Fatalf("re-enable of an active port: %v", err)
		}
		// Both holds in one report, the guard's twice.
		if err := e.svc.Compiler.NodeReportsHolds(e.ctx, "tyo-1", []observed.Hold{guard, guard,
			{Kind: observed.HoldRouteLimit, PortCode: code, Session: "single", Reason: "limit", Prefixes: 2000, Limit: 2000}}); err != nil {
			t.Fatal(err)
		}
		e.reportHold(observed.Hold{Kind: observed.HoldL2Guard, PortCode: code, Reason: ShutFlap})
		st, err := e.svc.Workflow.GetPortGuard(a.ctx, a.sc, code)
		if err != nil || st.State != "shut" || st.Reason != ShutBPDU || st.ShutAt == nil {
			t.Fatalf("guard = %+v, %v", st, err)
		}
		mails := e.mails(a.id, "port.l2_guard.shut")
		if len(mails) != 2 {
			t.Fatalf("%d guard mails, want 2", len(mails))
		}
		for _, m := range mails {
			want := map[string][]string{"en": {"On-premises port " + code + " shut down", "received a BPDU", "1 BPDU(s) received on eth1"},
				"ja": {"オンプレミスポート " + code + " を停止しました", "BPDU", "1 BPDU(s) received on eth1"}}[m.lang]
			for _, w := range want {
				if !strings.Contains(m.subject+"\n"+m.body, w) {
					t.Errorf("%s mail lacks %q:\n%s\n%s", m.lang, w, m.subject, m.body)
				}
			}
		}
		if p := e.desiredPort("tyo-1", code); p.Shut != ShutBPDU || p.BGPEnabled {
			t.Errorf("desired port while held: shut %q, bgp_enabled %v", p.Shut, p.BGPEnabled)
		}
		if _, err := e.svc.Workflow.GetPortGuard(b.ctx, b.sc, code); !fault.Is(err, fault.NotFound) {
			t.Fatalf("b reads a's port: %v", err)
		}
		st, err = e.svc.Workflow.ReenablePort(a.ctx, a.sc, code)
		if err != nil || st.State != "active" || st.ReenableSeq != 1 {
			t.Fatalf("re-enabled = %+v, %v", st, err)
		}
		if p := e.desiredPort("tyo-1", code); p.Shut != "" || !p.BGPEnabled || p.ReenableSeq != 1 {
			t.Errorf("desired port after the re-enable: %+v", p)
		}
		if g, l := len(e.auditDetails(a.id, "port.l2_guard.reenable")), len(e.auditDetails(a.id, "bgp.reenable")); g != 1 || l != 1 {
			t.Errorf("re-enable events: guard %d, route limit %d; want 1 each", g, l)
		}
		if _, err := e.svc.Workflow.Reenable(a.ctx, a.sc, code); !fault.Is(err, fault.Conflict) {
			t.Errorf("the route-limit stop outlived the port's re-enable: %v", err)
		}
	})
}

// received_prefixes is the node's latest observation of the port's
// sessions, not a figure the controller resets: it does not read 0 after
// a re-enable while the session holds routes.
func TestReceivedPrefixesFromTheNode(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a := e.addCustomer("a")
		code := a.codes[pAPrivate]
		e.place(a, pAPrivate)
		e.applyOnly(a, code)
		report := func(imported int) {
			t.Helper()
			e.reportCounts(code, imported)
		}
		if st, _ := e.svc.Workflow.GetBGPState(a.ctx, a.sc, code); st.Received != 0 || st.CountedAt != nil {
			t.Fatalf("before any report: %+v", st)
		}
		report(120)
		e.reportHold(observed.Hold{Kind: observed.HoldRouteLimit, PortCode: code, Session: "single", Reason: "limit", Prefixes: 2000, Limit: 2000})
		report(0) // stopped: BIRD holds none of its routes
		if _, err := e.svc.Workflow.Reenable(a.ctx, a.sc, code); err != nil {
			t.Fatal(err)
		}
		report(340)
		st, err := e.svc.Workflow.GetBGPState(a.ctx, a.sc, code)
		if err != nil || st.Received != 340 || st.CountedAt == nil || !st.CountedAt.Equal(e.now) {
			t.Fatalf("after the re-enable, with the session holding 340 routes: %+v, %v", st, err)
		}
		// The re-enable itself does not reset the figure.
		e.reportHold(observed.Hold{Kind: observed.HoldRouteLimit, PortCode: code, Session: "single", Reason: "limit", Prefixes: 2000, Limit: 2000,
			ReenableSeq: 1})
		if st, err := e.svc.Workflow.Reenable(a.ctx, a.sc, code); err != nil || st.Received != 340 {
			t.Fatalf("the re-enable's answer: %+v, %v", st, err)
		}
	})
}

// The same hold reported to two controllers at once (one database) is
// recorded once and told once.
func TestHoldRecordedOnceConcurrently(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a := e.addCustomer("a")
		e.addOpsAdmins(a)
		code := a.codes[pAPrivate]
		e.place(a, pAPrivate)
		other := New(db, e.log, DefaultSettings)
		hold := observed.Hold{Kind: observed.HoldRouteLimit, PortCode: code, Session: "single", Reason: "limit", Prefixes: 2000, Limit: 2000}
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := e.svc.Compiler
				if i%2 == 1 {
					c = other.Compiler
				}
				errs[i] = c.NodeReportsHolds(e.ctx, "tyo-1", []observed.Hold{hold})
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if n, m := len(e.auditDetails(a.id, "bgp.route_limit.exceeded")), len(e.mails(a.id, "bgp.route_limit.exceeded")); n != 1 || m != 2 {
			t.Errorf("%d events and %d mails, want 1 and 2 (one per operations administrator)", n, m)
		}
	})
}

// TestL2GuardHoldOfUnknownReason: a node that cannot read its record of why
// it shut a port reports the hold with reason "unknown". The port is shut
// all the same, so the controller records the hold, mails the customer,
// keeps it shut in the desired state and lets the customer re-enable it —
// refusing it would leave the port down with no way back.
func TestL2GuardHoldOfUnknownReason(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a := e.addCustomer("a")
		e.addOpsAdmins(a)
		code := a.codes[pOnPrem]
		e.place(a, pOnPrem, pMPrivate)
		e.applyOnly(a, code)
		if err := e.svc.Compiler.NodeReportsHolds(e.ctx, "tyo-1", []observed.Hold{{Kind: observed.HoldL2Guard, PortCode: code,
			Reason: ShutUnknown, Detail: "unreadable shut record"}}); err != nil {
			t.Fatal(err)
		}
		st, err := e.svc.Workflow.GetPortGuard(a.ctx, a.sc, code)
		if err != nil || st.State != "shut" || st.Reason != ShutUnknown {
			t.Fatalf("guard = %+v, %v", st, err)
		}
		mails := e.mails(a.id, "port.l2_guard.shut")
		if len(mails) != 2 {
			t.Fatalf("%d guard mails, want 2", len(mails))
		}
		for _, m := range mails {
			w := map[string]string{"en": "could not be read", "ja": "読み取れませんでした"}[m.lang]
			if !strings.Contains(m.body, w) || strings.Contains(m.body, "BPDU") {
				t.Errorf("%s mail does not say the cause is unknown:\n%s", m.lang, m.body)
			}
		}
		if p := e.desiredPort("tyo-1", code); p.Shut != ShutUnknown {
			t.Errorf("desired port while held: shut %q", p.Shut)
		}
		if st, err := e.svc.Workflow.ReenablePort(a.ctx, a.sc, code); err != nil || st.State != "active" {
			t.Fatalf("re-enabled = %+v, %v", st, err)
		}
	})
}
