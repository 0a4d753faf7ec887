package network

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Ports end in three ways, with one effect (endPortTx):
//
//   - the customer removes a port through the reviewed-change workflow: the
//     draft marks it (PortRemovals), the review says what stops with it
//     (Review.Removals, risk high), and the apply makes the version without
//     its configuration and ends it, in one transaction;
//   - an operator ends a port on a date (ending_ops.go), and
//   - the port's contract ends (its termination date passed): the "port.end"
//     job ends the port on the day after, making a system version of the
//     customer's configuration without it.
//
// An ended port is cancelled in the catalog with ended_at set; its
// placement legs are deleted (the physical ports' capacity and the VLANs on
// them are free again), its NAPT blocks and the static NAT addresses it
// used go back to the pools, its holds go. The node stops the port because
// the desired state carries active ports only. The ports row stays as the
// contract record and its code in issued_codes, which no purge touches, so
// the code is never issued again. A rollback to a version that still
// configured an ended port is refused: an ended port does not come back.

// PortRemoval is what stops when a port is removed, as the review shows it.
type PortRemoval struct {
	PortCode string `json:"port_code"`
	Kind     string `json:"kind"`
	HubID    string `json:"hub_id"`
	// SpeedMbps is the contracted speed whose traffic stops and whose
	// capacity on the physical ports is released.
	SpeedMbps int64 `json:"speed_mbps"`
	// Configured is false for a port that was never configured: it
	// carries no traffic, and only the contract item ends.
	Configured bool `json:"configured"`
	// BGPSessions are the sessions that stop: "<leg> <peer address> AS<n>".
	BGPSessions []string `json:"bgp_sessions"`
	// Routes says what routing goes: what the hub advertises to the port
	// (its route policy), and that the routes learned from its peer are
	// withdrawn from the customer's other ports and hubs.
	Routes string `json:"routes"`
	// RoutePolicy is the cloud port's route policy type ("" on premises).
	RoutePolicy string `json:"route_policy,omitempty"`
	// FirewallRules counts the rules of the port's policy that go.
	FirewallRules int `json:"firewall_rules"`
	// NAPT lists the public prefixes of its NAPT grades, returned to the pool.
	NAPT []string `json:"napt"`
	// StaticNAT lists "public → inside" for its static NAT, whose public
	// addresses are returned to the pool.
	StaticNAT []string `json:"static_nat"`
	// Legs are the physical ports released: "<node>/<port> (<leg>)".
	Legs []string `json:"legs"`
	// insides are the port's static NAT inside addresses (for the apply).
	insides []string
}

// MarkPortRemoval marks port code for removal in the draft (making the
// draft from the current version when there is none). The port must be an
// active port of the customer; a speed change asked for it in the draft is
// withdrawn, as it would end with the port.
func (s *Workflow) MarkPortRemoval(ctx context.Context, sc tenant.Scope, code string) (shown Draft, err error) {
	defer shown.mask()
	cust, err := sc.Authorize(identity.ActNetworkEdit)
	if err != nil {
		return Draft{}, err
	}
	return s.editRemovals(ctx, cust, "network.draft.port.removal.mark", code, func(tx *store.Tx, d *Draft) error {
		p, err := s.portRow(ctx, tx, cust, code)
		if err != nil {
			return err
		}
		if p.status != "active" {
			return fault.New(fault.Conflict, "port %s has already ended", code)
		}
		if !slices.Contains(d.PortRemovals, code) {
			d.PortRemovals = append(d.PortRemovals, code)
			slices.Sort(d.PortRemovals)
		}
		d.SpeedChanges = slices.DeleteFunc(d.SpeedChanges, func(r SpeedRequest) bool { return r.PortCode == code })
		return nil
	})
}

// UnmarkPortRemoval withdraws the draft's removal of port code.
func (s *Workflow) UnmarkPortRemoval(ctx context.Context, sc tenant.Scope, code string) (shown Draft, err error) {
	defer shown.mask()
	cust, err := sc.Authorize(identity.ActNetworkEdit)
	if err != nil {
		return Draft{}, err
	}
	return s.editRemovals(ctx, cust, "network.draft.port.removal.unmark", code, func(_ *store.Tx, d *Draft) error {
		i := slices.Index(d.PortRemovals, code)
		if i < 0 {
			return fault.New(fault.NotFound, "the draft does not remove port %s", code)
		}
		d.PortRemovals = slices.Delete(d.PortRemovals, i, i+1)
		return nil
	})
}

// editRemovals changes the draft's removals under the edit lock and audits it.
func (s *core) editRemovals(ctx context.Context, cust catalog.CustomerID, action, code string, edit func(*store.Tx, *Draft) error) (Draft, error) {
	var d Draft
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if d, err = s.lockedDraft(ctx, tx, cust); err != nil {
			return err
		}
		d.PortRemovals = slices.Clone(d.PortRemovals)
		if err := edit(tx, &d); err != nil {
			return err
		}
		d.UpdatedAt, d.UpdatedBy = s.now(), audit.ActorFrom(ctx).Name
		if err := s.putDraft(ctx, tx, cust, d); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: action, Target: "port:" + code, CustomerID: string(cust),
			Detail: map[string]any{"base_version": d.BaseVersion, "port_removals": len(d.PortRemovals)}})
	})
	if err != nil {
		return Draft{}, fmt.Errorf("save draft: %w", err)
	}
	return d, nil
}

// withoutPorts returns cfg without the configuration of the given ports.
func withoutPorts(cfg Config, codes []string) Config {
	if len(codes) == 0 {
		return cfg
	}
	cfg.Ports = slices.DeleteFunc(slices.Clone(cfg.Ports), func(p PortConfig) bool { return slices.Contains(codes, p.PortCode) })
	return cfg
}

// reviewRemovals adds the draft's port removals to review r (addRemovals).
// A port that has ended meanwhile (an operator's dated end) is a problem.
func (s *core) reviewRemovals(ctx context.Context, q store.Querier, cust catalog.CustomerID, f Facts, applied Config, codes []string, r *Review) error {
	if len(codes) == 0 {
		return nil
	}
	nat, err := s.natAddresses(ctx, q, cust)
	if err != nil {
		return err
	}
	var rms []PortRemoval
	for _, code := range codes {
		p, err := s.portRow(ctx, q, cust, code)
		if err != nil && !fault.Is(err, fault.NotFound) {
			return err
		}
		if err != nil || p.status != "active" {
			r.Problems = append(r.Problems, Problem{Field: fmt.Sprintf("port_removals[%s]", code),
				Message: fmt.Sprintf("port %s has already ended; withdraw its removal", code)})
			r.Valid = false
			continue
		}
		rm, err := s.removal(ctx, q, p, applied, nat)
		if err != nil {
			return err
		}
		rms = append(rms, rm)
	}
	addRemovals(r, rms)
	return nil
}

// addRemovals adds port removals to review r — the customer's in its
// draft, or the system's when a port ends outside the workflow: for each
// a change of the port's status, a high-risk, session-reset reason naming
// what stops, and the PortRemoval itself. The reasons the generic
// comparison gave the removed ports' configuration are replaced by it.
func addRemovals(r *Review, removals []PortRemoval) {
	r.Reasons = slices.DeleteFunc(r.Reasons, func(rs Reason) bool {
		kind, name, _ := strings.Cut(rs.Object, ":")
		return kind == "port" && slices.ContainsFunc(removals, func(rm PortRemoval) bool { return rm.PortCode == name })
	})
	for _, rm := range removals {
		r.Removals = append(r.Removals, rm)
		r.Changes = append(r.Changes, Change{Path: fmt.Sprintf("ports[%s].status", rm.PortCode), Op: "changed", Before: "active", After: "ended"})
		r.Reasons = append(r.Reasons, Reason{Risk: "high", Impact: "session-reset", Object: "port:" + rm.PortCode, Text: rm.text()})
	}
	r.levels()
}

// removal describes what stops when port p ends, from its configuration in
// applied, the NAT addresses it holds and its placement legs.
func (s *core) removal(ctx context.Context, q store.Querier, p portRow, applied Config, nat NATAddresses) (PortRemoval, error) {
	rm := PortRemoval{PortCode: p.code, Kind: p.kind, HubID: p.hubID, SpeedMbps: p.speed, BGPSessions: []string{},
		NAPT: []string{}, StaticNAT: []string{}, Legs: []string{}, Routes: "none: the port is not configured"}
	rows, err := q.Query(ctx, `SELECT n.name, pp.name, pl.leg FROM port_placements pl JOIN physical_ports pp ON pp.id = pl.physical_port_id
		JOIN hub_nodes n ON n.id = pp.node_id WHERE pl.port_id = ? ORDER BY pl.leg`, p.id)
	if err != nil {
		return rm, fmt.Errorf("port %s legs: %w", p.code, err)
	}
	for rows.Next() {
		var node, port, leg string
		if err := rows.Scan(&node, &port, &leg); err != nil {
			rows.Close()
			return rm, err
		}
		rm.Legs = append(rm.Legs, fmt.Sprintf("%s/%s (%s)", node, port, leg))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return rm, err
	}
	i := slices.IndexFunc(applied.Ports, func(pc PortConfig) bool { return pc.PortCode == p.code })
	if i < 0 {
		return rm, nil
	}
	pc := applied.Ports[i]
	rm.Configured = true
	switch {
	case pc.OnPrem != nil:
		rm.BGPSessions = append(rm.BGPSessions, fmt.Sprintf("on-premises %s AS%d", pc.OnPrem.CustomerAddress, pc.OnPrem.PeerASN))
		rm.Routes = "the hub networks advertised to the port; the routes learned from its peer are withdrawn from your other ports and hubs"
	case pc.Cloud != nil:
		rm.BGPSessions = append(rm.BGPSessions, fmt.Sprintf("primary %s AS%d", pc.Cloud.Primary.PeerAddress, pc.Cloud.PeerASN),
			fmt.Sprintf("secondary %s AS%d", pc.Cloud.Secondary.PeerAddress, pc.Cloud.PeerASN))
		rm.Routes = fmt.Sprintf("the routes advertised to the port (route policy %s); the routes learned from its peer are withdrawn from your other ports and hubs",
			pc.Cloud.RoutePolicy.Type)
		rm.RoutePolicy = pc.Cloud.RoutePolicy.Type
	}
	if pc.Firewall != nil {
		rm.FirewallRules = len(pc.Firewall.Rules)
	}
	rm.NAPT = append(rm.NAPT, nat.NAPT[p.code]...)
	for _, sn := range pc.StaticNAT {
		rm.insides = append(rm.insides, sn.Inside)
		if pub, ok := nat.Static[sn.Inside]; ok {
			rm.StaticNAT = append(rm.StaticNAT, pub+" → "+sn.Inside)
		}
	}
	return rm, nil
}

// text is the review reason of a removal.
func (rm PortRemoval) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "removes port %s (%s, %d Mb/s) from your contract: ", rm.PortCode, rm.Kind, rm.SpeedMbps)
	if !rm.Configured {
		b.WriteString("it is not configured, so no traffic stops")
	} else {
		fmt.Fprintf(&b, "its traffic stops; BGP sessions stop (%s); routes go: %s", strings.Join(rm.BGPSessions, ", "), rm.Routes)
		if rm.FirewallRules > 0 {
			fmt.Fprintf(&b, "; its %d firewall rules go", rm.FirewallRules)
		}
		if len(rm.NAPT) > 0 {
			fmt.Fprintf(&b, "; NAPT stops and its public addresses %s return to the pool", strings.Join(rm.NAPT, ", "))
		}
		if len(rm.StaticNAT) > 0 {
			fmt.Fprintf(&b, "; static NAT %s stops and its public addresses return to the pool", strings.Join(rm.StaticNAT, ", "))
		}
	}
	b.WriteString(". The port ends for good: its code is not reissued and a rollback cannot bring it back")
	return b.String()
}

// endRemovedPorts ends the ports an applied draft removed, inside the
// apply's transaction (after the new version and its NAT allocation).
func (s *core) endRemovedPorts(ctx context.Context, tx *store.Tx, cust catalog.CustomerID, removals []PortRemoval) error {
	for _, rm := range removals {
		p, err := s.portRow(ctx, tx, cust, rm.PortCode)
		if err != nil {
			return err
		}
		ok, err := s.endPortTx(ctx, tx, p, rm.insides, map[string]any{"via": "workflow"}, nil)
		if err != nil {
			return err
		}
		if !ok {
			return fault.New(fault.Conflict, "port %s has already ended; withdraw its removal", rm.PortCode)
		}
	}
	return nil
}

// endPortTx ends port p inside tx: the catalog port becomes cancelled with
// ended_at — a conditional UPDATE that is also the done marker of every
// path that ends a port, so it reports false when the port had already
// ended — its placement legs are deleted, its NAPT blocks go back to the
// pool, its holds, pending dated end and speed changes not yet in effect
// go; then the static NAT addresses of insides go back to the pool and the
// end is audited with what was released. The version without the port's
// configuration, whose NAT allocation unassigns those addresses, is made
// before by the customer's apply, or by version (not nil) once the port
// has ended: a system version normalises against the catalog, so it
// follows the end.
func (s *core) endPortTx(ctx context.Context, tx *store.Tx, p portRow, insides []string, detail map[string]any, version func() error) (bool, error) {
	now := clock.Store(s.now())
	res, err := tx.Exec(ctx, `UPDATE ports SET status = 'cancelled', ended_at = ? WHERE id = ? AND status = 'active'`, now, p.id)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	legs, err := tx.Exec(ctx, `DELETE FROM port_placements WHERE port_id = ?`, p.id)
	if err != nil {
		return false, err
	}
	napt, err := tx.Exec(ctx, `DELETE FROM nat_allocations WHERE customer_id = ? AND purpose = 'napt' AND port_code = ?`, p.cust, p.code)
	if err != nil {
		return false, err
	}
	for _, q := range []string{`DELETE FROM port_holds WHERE port_id = ?`, `DELETE FROM port_reenables WHERE port_id = ?`} {
		if _, err := tx.Exec(ctx, q, p.id); err != nil {
			return false, err
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE bandwidth_changes SET status = 'cancelled' WHERE port_id = ? AND status = 'pending' AND applied_at IS NULL
		AND effective_date > ?`, p.id, s.today()); err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, `UPDATE port_ends SET done_at = ? WHERE port_id = ? AND done_at IS NULL AND cancelled_at IS NULL`, now, p.id); err != nil {
		return false, err
	}
	if version != nil {
		if err := version(); err != nil {
			return false, err
		}
	}
	static, err := releaseStatic(ctx, tx, p.cust, insides)
	if err != nil {
		return false, err
	}
	d := map[string]any{"hub_id": p.hubID, "kind": p.kind, "speed_mbps": p.speed}
	d["legs_released"], _ = legs.RowsAffected()
	d["napt_released"], _ = napt.RowsAffected()
	d["static_nat_released"] = static
	for k, v := range detail {
		d[k] = v
	}
	return true, s.audit.RecordTx(ctx, tx, audit.Event{Action: "port.end", Target: "port:" + p.code, CustomerID: string(p.cust), Detail: d})
}

// refuseEndedPorts refuses a rollback to version n when it configures a
// port that has ended since: the port cannot come back, and silently
// dropping it would make the rollback something else than asked for.
func (s *core) refuseEndedPorts(ctx context.Context, tx *store.Tx, cust catalog.CustomerID, n int64) error {
	v, err := s.getVersion(ctx, tx, cust, n)
	if err != nil {
		return err
	}
	for _, pc := range v.Config.Ports {
		var status string
		err := store.Scan(tx.QueryRow(ctx, `SELECT status FROM ports WHERE customer_id = ? AND port_code = ?`, cust, pc.PortCode), &status)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if status != "active" {
			return fault.Coded(fault.Conflict, "port_ended", "version %d configures port %s, which has ended: an ended port cannot come back; roll back to a later version or edit the current one", n, pc.PortCode)
		}
	}
	return nil
}
