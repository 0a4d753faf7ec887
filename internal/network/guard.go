package network

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Layer-2 guards. A hub node shuts an on-premises port that receives a
// BPDU (a switch loop or a misconfigured customer switch) or whose link
// flaps more often than the guard allows, and reports it. The controller
// records the shutdown once, tells the customer (an event in its audit log
// and a mail to its operations administrators), and the port stays down —
// there is no automatic recovery — until the customer re-enables it after
// fixing the cause (ReenablePort). The re-enable reaches the node as an
// incremented reenable_seq in the desired state, the same sequence that
// re-enables a session stopped by the route limit.

// Shutdown reasons.
const (
	ShutBPDU = "bpdu"
	ShutFlap = "flap"
)

// PortGuardState is whether a port is shut by a layer-2 guard.
type PortGuardState struct {
	PortCode    string     `json:"port_code"`
	State       string     `json:"state"`            // active | shut
	Reason      string     `json:"reason,omitempty"` // bpdu | flap
	ShutAt      *time.Time `json:"shut_at,omitempty"`
	ReenableSeq int64      `json:"reenable_seq"`
}

// GetPortGuard returns the port's layer-2 guard state.
func (s *Workflow) GetPortGuard(ctx context.Context, sc tenant.Scope, code string) (PortGuardState, error) {
	cust, err := sc.Authorize(identity.ActNetworkRead)
	if err != nil {
		return PortGuardState{}, err
	}
	p, err := s.portRow(ctx, s.db, cust, code)
	if err != nil {
		return PortGuardState{}, err
	}
	return s.portGuard(ctx, s.db, cust, p)
}

func (s *core) portGuard(ctx context.Context, q store.Querier, cust catalog.CustomerID, p portRow) (PortGuardState, error) {
	st := PortGuardState{PortCode: p.code, State: "active"}
	bgp, err := s.bgpState(ctx, q, cust, p)
	if err != nil {
		return st, err
	}
	st.ReenableSeq = bgp.ReenableSeq
	var at string
	err = store.Scan(q.QueryRow(ctx, `SELECT reason, shut_at FROM port_shutdowns WHERE customer_id = ? AND port_id = ?`, cust, p.id),
		&st.Reason, &at)
	if errors.Is(err, store.ErrNotFound) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	t, _ := clock.Parse(at)
	st.State, st.ShutAt = "shut", &t
	return st, nil
}

// NodeReportsPortShut records that a node shut an on-premises port for
// reason. A node may report only ports placed on it. Agents report a shut
// port on every pass (level-triggered), with the re-enable sequence they
// last acted on: a shutdown already recorded changes nothing, and a report
// older than the customer's latest re-enable is stale and ignored.
func (s *Compiler) NodeReportsPortShut(ctx context.Context, node, portCode, reason string, seq int64) (PortGuardState, error) {
	if reason != ShutBPDU && reason != ShutFlap {
		return PortGuardState{}, fault.Field("reason", "want %s or %s", ShutBPDU, ShutFlap)
	}
	cust, err := s.nodePortCustomer(ctx, node, portCode, "onprem")
	if err != nil {
		return PortGuardState{}, err
	}
	var st PortGuardState
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		p, err := s.portRow(ctx, tx, cust, portCode)
		if err != nil {
			return err
		}
		if st, err = s.portGuard(ctx, tx, cust, p); err != nil || st.State == "shut" || seq < st.ReenableSeq {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO port_shutdowns (port_id, customer_id, reason, shut_at) VALUES (?, ?, ?, ?)`,
			p.id, cust, reason, clock.Store(s.now())); err != nil {
			return err
		}
		if st, err = s.portGuard(ctx, tx, cust, p); err != nil {
			return err
		}
		if err := s.audit.RecordTx(ctx, tx, audit.Event{Action: "port.l2_guard.shut", Target: "port:" + portCode, CustomerID: string(cust),
			Result: audit.Failed, Detail: map[string]any{"reason": reason, "node": node}}); err != nil {
			return err
		}
		return s.mailOpsAdmins(ctx, tx, cust, "port.l2_guard.shut", func(lang string) (string, string) {
			return shutMail(lang, portCode, reason)
		})
	})
	if err != nil {
		return PortGuardState{}, fmt.Errorf("port shutdown: %w", err)
	}
	return st, nil
}

func shutMail(lang, code, reason string) (subject, body string) {
	if lang == "en" {
		why := "received a BPDU (a spanning-tree frame): a switch on your side is bridging into the hub, which can loop"
		if reason == ShutFlap {
			why = "went down and up more often than the flap limit allows"
		}
		return "[tsunagi] On-premises port " + code + " shut down",
			fmt.Sprintf("On-premises port %s %s.\n"+
				"The hub has shut the port to protect the service; it stays down and does not recover by itself.\n\n"+
				"Fix the cause on your side, then re-enable the port in the control panel\n"+
				"(port %s → Layer-2 guard → Re-enable).\n", code, why, code)
	}
	why := "で BPDU（スパニングツリーのフレーム）を受信しました。お客さま側のスイッチがハブとブリッジしており、ループのおそれがあります"
	if reason == ShutFlap {
		why = "のリンクが許容回数を超えて断続しました"
	}
	return "[tsunagi] オンプレミスポート " + code + " を停止しました",
		fmt.Sprintf("オンプレミスポート %s %s。\n"+
			"サービス保護のため、ハブはポートを停止しました。ポートは自動では再開しません。\n\n"+
			"お客さま側で原因を取り除いたうえで、コントロールパネルから再有効化してください\n"+
			"（ポート %s → レイヤー2 ガード → 再有効化）。\n", code, why, code)
}

// ReenablePort brings back a port a layer-2 guard shut (the customer,
// after fixing the cause). It increments the port's re-enable sequence,
// which also re-enables a BGP session the route limit stopped: the port
// comes back whole.
func (s *Workflow) ReenablePort(ctx context.Context, sc tenant.Scope, code string) (PortGuardState, error) {
	cust, err := sc.Authorize(identity.ActNetworkEdit)
	if err != nil {
		return PortGuardState{}, err
	}
	var st PortGuardState
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		p, err := s.portRow(ctx, tx, cust, code)
		if err != nil {
			return err
		}
		prev, err := s.portGuard(ctx, tx, cust, p)
		if err != nil {
			return err
		}
		if prev.State != "shut" {
			return fault.New(fault.Conflict, "port %s is not shut by a layer-2 guard", code)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM port_shutdowns WHERE port_id = ?`, p.id); err != nil {
			return err
		}
		now := clock.Store(s.now())
		res, err := tx.Exec(ctx, `UPDATE bgp_sessions SET state = 'enabled', received = 0, reenable_seq = reenable_seq + 1, updated_at = ?
			WHERE port_id = ?`, now, p.id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO bgp_sessions (port_id, customer_id, state, received, reenable_seq, updated_at)
				VALUES (?, ?, 'enabled', 0, 1, ?)`, p.id, cust, now); err != nil {
				return err
			}
		}
		if st, err = s.portGuard(ctx, tx, cust, p); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "port.l2_guard.reenable", Target: "port:" + code, CustomerID: string(cust),
			Detail: map[string]any{"reason": prev.Reason, "reenable_seq": st.ReenableSeq}})
	})
	if err != nil {
		return PortGuardState{}, fmt.Errorf("re-enable port: %w", err)
	}
	return st, nil
}
