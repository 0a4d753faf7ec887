package network

import (
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

func TestPortShutdown(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		a := e.addCustomer("a")
		if _, err := db.Exec(e.ctx, `INSERT INTO accounts (id, customer_id, login_id, display_name, email, role, language, created_at)
			VALUES ('acc_x', ?, 'a-ops', 'A ops', 'ops@a.example', 'ops-admin', 'en', '2026-01-01T00:00:00.000000Z')`, a.id); err != nil {
			t.Fatal(err)
		}
		mails := func() (n int) {
			if err := db.QueryRow(e.ctx, `SELECT COUNT(*) FROM mail_outbox WHERE customer_id = ? AND cause = 'port.l2_guard.shut'
				AND recipient = 'ops@a.example' AND subject LIKE '%shut down%'`, a.id).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		code := a.codes[pOnPrem]
		// Only a node that carries the port reports it, and only an
		// on-premises port has layer-2 guards.
		if _, err := e.svc.Compiler.NodeReportsPortShut(e.ctx, "tyo-1", code, ShutBPDU, 0); !fault.Is(err, fault.NotFound) {
			t.Fatalf("report of an unplaced port: %v", err)
		}
		for _, c := range []string{code, a.codes[pMPrivate]} {
			if _, err := e.svc.Operations.Place(e.ctx, a.op, c, PlaceInput{}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.svc.Compiler.NodeReportsPortShut(e.ctx, "osa-1", code, ShutBPDU, 0); !fault.Is(err, fault.NotFound) {
			t.Fatalf("report by another node: %v", err)
		}
		if _, err := e.svc.Compiler.NodeReportsPortShut(e.ctx, "tyo-1", a.codes[pMPrivate], ShutBPDU, 0); !fault.Is(err, fault.NotFound) {
			t.Fatalf("report of a cloud port: %v", err)
		}
		if _, err := e.svc.Compiler.NodeReportsPortShut(e.ctx, "tyo-1", code, "loop", 0); !fault.Is(err, fault.Invalid) {
			t.Fatalf("unknown reason: %v", err)
		}
		if _, err := e.svc.Workflow.ReenablePort(a.ctx, a.sc, code); !fault.Is(err, fault.Conflict) {
			t.Fatalf("re-enable of an active port: %v", err)
		}

		st, err := e.svc.Compiler.NodeReportsPortShut(e.ctx, "tyo-1", code, ShutBPDU, 0)
		if err != nil || st.State != "shut" || st.Reason != ShutBPDU || st.ShutAt == nil || mails() != 1 {
			t.Fatalf("shut = %+v, %v, %d mails", st, err, mails())
		}
		// Reported again on the next pass: recorded once, told once.
		if st, err := e.svc.Compiler.NodeReportsPortShut(e.ctx, "tyo-1", code, ShutFlap, 0); err != nil || st.Reason != ShutBPDU || mails() != 1 {
			t.Fatalf("second report: %+v, %v, %d mails", st, err, mails())
		}
		b := e.addCustomer("b")
		if _, err := e.svc.Workflow.ReenablePort(b.ctx, b.sc, code); !fault.Is(err, fault.NotFound) {
			t.Fatalf("b re-enables a's port: %v", err)
		}
		if _, err := e.svc.Workflow.GetPortGuard(b.ctx, b.sc, code); !fault.Is(err, fault.NotFound) {
			t.Fatalf("b reads a's port: %v", err)
		}
		st, err = e.svc.Workflow.ReenablePort(a.ctx, a.sc, code)
		if err != nil || st.State != "active" || st.ReenableSeq != 1 {
			t.Fatalf("re-enabled = %+v, %v", st, err)
		}
		// The desired state carries the new sequence to the node.
		e.applyOnly(a, code)
		if p := e.desiredPort("tyo-1", code); p.ReenableSeq != 1 {
			t.Errorf("the desired state carries re-enable sequence %d for %s, want 1", p.ReenableSeq, code)
		}
		// A report the node made before it saw the re-enable is stale.
		if st, err := e.svc.Compiler.NodeReportsPortShut(e.ctx, "tyo-1", code, ShutBPDU, 0); err != nil || st.State != "active" {
			t.Fatalf("stale report: %+v, %v", st, err)
		}
		if st, err := e.svc.Compiler.NodeReportsPortShut(e.ctx, "tyo-1", code, ShutFlap, 1); err != nil || st.State != "shut" || st.Reason != ShutFlap {
			t.Fatalf("a new shutdown after the re-enable: %+v, %v", st, err)
		}
		var events int
		if err := db.QueryRow(e.ctx, `SELECT COUNT(*) FROM audit_events WHERE customer_id = ? AND action LIKE 'port.l2_guard.%'`, a.id).Scan(&events); err != nil {
			t.Fatal(err)
		}
		if events != 3 {
			t.Errorf("%d layer-2 guard events in the audit log, want 3 (shut, re-enable, shut)", events)
		}
	})
}

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
		if _, err := e.svc.Compiler.NodeReportsPortShut(e.ctx, "tyo-1", code, ShutFlap, 0); err != nil {
			t.Fatal(err)
		}
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
