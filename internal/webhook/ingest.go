package webhook

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Ingester turns what a node's accepted report says into events (a
// fleet.Ingester): each BGP session change the hub saw
// (TypeSessionChanged), and each configuration version a hub's data plane
// reached (TypeConfigApplied, once per hub and version, whichever
// controller takes the report and however often it is reported).
type Ingester struct{ DB *store.DB }

// SessionData is a session.changed event's data.
type SessionData struct {
	HubID    string `json:"hub_id"`
	PortCode string `json:"port_code,omitempty"` // "" for a backbone session between the customer's hubs
	Session  string `json:"session"`
	From     string `json:"from"`
	To       string `json:"to"`
}

// ConfigData is a config.applied event's data.
type ConfigData struct {
	HubID   string `json:"hub_id"`
	Version int64  `json:"version"`
}

// Ingest emits r's events, one transaction per hub. The fleet has checked
// that each hub is placed on node under its customer; a session event's
// port is checked here against that hub and customer, and one that is not
// theirs is dropped.
func (in Ingester) Ingest(ctx context.Context, node string, r observed.Report) error {
	var errs []error
	for _, h := range r.Hubs {
		if h.CustomerID == "" || h.HubID == "" {
			continue
		}
		// Most reports carry no session event and a version already
		// seen: they cost one read, no write transaction.
		if fresh, err := in.unchanged(ctx, h, r); err != nil {
			errs = append(errs, fmt.Errorf("node %s hub %s: %w", node, h.HubID, err))
			continue
		} else if fresh {
			continue
		}
		err := in.DB.InTx(ctx, func(tx *store.Tx) error {
			if err := in.sessions(ctx, tx, h); err != nil {
				return err
			}
			return in.version(ctx, tx, h, r)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("node %s hub %s: %w", node, h.HubID, err))
		}
	}
	return errors.Join(errs...)
}

// unchanged reports whether h brings nothing to emit: no session event,
// and no version newer than the one recorded.
func (in Ingester) unchanged(ctx context.Context, h observed.Hub, r observed.Report) (bool, error) {
	if slices.ContainsFunc(h.Events, func(e observed.Event) bool { return e.Kind == observed.EventSession }) {
		return false, nil
	}
	if h.ConfigVersion <= 0 || r.ObservedAt.IsZero() {
		return true, nil
	}
	var v int64
	err := store.Scan(in.DB.QueryRow(ctx, `SELECT version FROM webhook_hub_versions WHERE hub_id = ?`, h.HubID), &v)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil && v >= h.ConfigVersion, err
}

func (in Ingester) sessions(ctx context.Context, tx *store.Tx, h observed.Hub) error {
	cust := tenant.CustomerID(h.CustomerID)
	for _, ev := range h.Events {
		if ev.Kind != observed.EventSession || ev.At.IsZero() || ev.Session == "" {
			continue
		}
		subject := "hubs/" + h.HubID + "/backbone/" + ev.Session
		if ev.PortCode != "" {
			var n int
			if err := store.Scan(tx.QueryRow(ctx, `SELECT COUNT(*) FROM ports WHERE port_code = ? AND hub_id = ? AND customer_id = ?`,
				ev.PortCode, h.HubID, h.CustomerID), &n); err != nil {
				return err
			}
			if n == 0 {
				continue
			}
			subject = "ports/" + ev.PortCode + "/sessions/" + ev.Session
		}
		if err := Emit(ctx, tx, Event{Customer: cust, Type: TypeSessionChanged, Subject: subject, Time: ev.At,
			Data: SessionData{HubID: h.HubID, PortCode: ev.PortCode, Session: ev.Session, From: ev.From, To: ev.To}}); err != nil {
			return err
		}
	}
	return nil
}

// version records the hub's version and emits when it is new. The
// conditional upsert is the once-only: of two controllers taking reports
// of the same version, one changes the row.
func (in Ingester) version(ctx context.Context, tx *store.Tx, h observed.Hub, r observed.Report) error {
	if h.ConfigVersion <= 0 || r.ObservedAt.IsZero() {
		return nil
	}
	res, err := tx.Exec(ctx, `INSERT INTO webhook_hub_versions (hub_id, customer_id, version) VALUES (?, ?, ?)
		ON CONFLICT (hub_id) DO UPDATE SET version = excluded.version, customer_id = excluded.customer_id
		WHERE webhook_hub_versions.version < excluded.version`, h.HubID, h.CustomerID, h.ConfigVersion)
	if err != nil {
		return fmt.Errorf("hub version: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	return Emit(ctx, tx, Event{Customer: tenant.CustomerID(h.CustomerID), Type: TypeConfigApplied, Subject: "hubs/" + h.HubID,
		Time: r.ObservedAt, Data: ConfigData{HubID: h.HubID, Version: h.ConfigVersion}})
}
