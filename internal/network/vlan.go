package network

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// A cloud port's VLAN is the customer's to set (the cloud provider assigns
// it), but on the node every leg of a cloud port becomes the sub-interface
// <physical port>.<VLAN>: two cloud ports placed on the same physical port
// cannot use the same VLAN, whichever customers they belong to. Applying a
// configuration refuses such a VLAN, and placement avoids (or refuses) a
// physical port where the port's applied VLAN is taken. The customer is
// told nothing about who holds it.

// vlanInUse is the problem a customer sees for a VLAN taken on the physical
// connection its port is placed on.
const vlanInUse = "VLAN %d is already in use on the physical connection this port is placed on; " +
	"use the VLAN your cloud provider assigned to this connection, or contact us"

// lockVLANs serialises VLAN decisions that concern the customer's cloud
// ports: it locks every cloud physical port of the regions the customer has
// hubs in, a superset of the physical ports any of its cloud ports is or
// could be placed on (placement locks the physical ports of the port's
// region and kind), so an apply and a placement, or two applies, cannot both
// pass the check against the same free VLAN.
func lockVLANs(ctx context.Context, tx *store.Tx, cust catalog.CustomerID) error {
	ids, err := store.Strings(ctx, tx, `SELECT pp.id FROM physical_ports pp JOIN hub_nodes n ON n.id = pp.node_id
		WHERE pp.kind <> 'onprem' AND n.region_id IN (SELECT region_id FROM hubs WHERE customer_id = ?)`, cust)
	if err != nil {
		return err
	}
	return lockPhysical(ctx, tx, ids...)
}

// appliedVLANs returns the VLAN of every cloud port in the customer's
// applied configuration, by port code (empty before the first apply).
func appliedVLANs(ctx context.Context, q store.Querier, cust catalog.CustomerID) (map[string]int, error) {
	var raw string
	err := store.Scan(q.QueryRow(ctx, `SELECT config FROM net_versions WHERE customer_id = ? ORDER BY version DESC LIMIT 1`, cust), &raw)
	out := map[string]int{}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return out, nil
	case err != nil:
		return nil, err
	}
	c, err := DecodeConfig([]byte(raw))
	if err != nil {
		return nil, err
	}
	for _, pc := range c.Ports {
		if pc.Cloud != nil && pc.Cloud.VLAN > 0 {
			out[pc.PortCode] = pc.Cloud.VLAN
		}
	}
	return out, nil
}

// vlansOn returns, for each of the physical ports phys, the VLANs that the
// applied configurations of the active ports placed on it use, leaving out
// the ports skip names (by customer and port code).
func vlansOn(ctx context.Context, q store.Querier, phys []string, skip func(cust catalog.CustomerID, code string) bool) (map[string]map[int]bool, error) {
	out := map[string]map[int]bool{}
	if len(phys) == 0 {
		return out, nil
	}
	args := make([]any, len(phys))
	for i, id := range phys {
		args[i] = id
	}
	rows, err := q.Query(ctx, `SELECT pl.physical_port_id, pl.customer_id, p.port_code FROM port_placements pl JOIN ports p ON p.id = pl.port_id
		WHERE p.status = 'active' AND pl.physical_port_id IN (?`+strings.Repeat(", ?", len(phys)-1)+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("VLANs in use: %w", err)
	}
	type use struct {
		phys, code string
		cust       catalog.CustomerID
	}
	var uses []use
	for rows.Next() {
		var u use
		if err := rows.Scan(&u.phys, &u.cust, &u.code); err != nil {
			rows.Close()
			return nil, fmt.Errorf("VLANs in use: %w", err)
		}
		if skip == nil || !skip(u.cust, u.code) {
			uses = append(uses, u)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("VLANs in use: %w", err)
	}
	applied := map[catalog.CustomerID]map[string]int{}
	for _, u := range uses {
		vlans, ok := applied[u.cust]
		if !ok {
			if vlans, err = appliedVLANs(ctx, q, u.cust); err != nil {
				return nil, fmt.Errorf("VLANs in use: %w", err)
			}
			applied[u.cust] = vlans
		}
		if v := vlans[u.code]; v > 0 {
			if out[u.phys] == nil {
				out[u.phys] = map[int]bool{}
			}
			out[u.phys][v] = true
		}
	}
	return out, nil
}

// vlanProblems reports each cloud port of cfg (the customer's configuration
// about to be applied, normalized) whose VLAN is already used on a physical
// port it is placed on: by another customer's applied configuration, or by
// an earlier port of cfg itself. A port not placed yet is checked when it is
// placed.
func vlanProblems(ctx context.Context, q store.Querier, cust catalog.CustomerID, cfg Config) (Problems, error) {
	rows, err := q.Query(ctx, `SELECT p.port_code, pl.physical_port_id FROM port_placements pl JOIN ports p ON p.id = pl.port_id
		WHERE pl.customer_id = ? AND p.status = 'active'`, cust)
	if err != nil {
		return nil, fmt.Errorf("VLAN check: %w", err)
	}
	legs := map[string][]string{}
	for rows.Next() {
		var code, phys string
		if err := rows.Scan(&code, &phys); err != nil {
			rows.Close()
			return nil, fmt.Errorf("VLAN check: %w", err)
		}
		legs[code] = append(legs[code], phys)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("VLAN check: %w", err)
	}
	var phys []string
	for _, pc := range cfg.Ports {
		if pc.Cloud != nil {
			phys = append(phys, legs[pc.PortCode]...)
		}
	}
	if len(phys) == 0 {
		return nil, nil
	}
	used, err := vlansOn(ctx, q, phys, func(c catalog.CustomerID, _ string) bool { return c == cust })
	if err != nil {
		return nil, err
	}
	var ps Problems
	for i, pc := range cfg.Ports {
		if pc.Cloud == nil || pc.Cloud.VLAN <= 0 {
			continue
		}
		v, clash := pc.Cloud.VLAN, false
		for _, ph := range legs[pc.PortCode] {
			if used[ph][v] {
				clash = true
			}
		}
		for _, ph := range legs[pc.PortCode] {
			if used[ph] == nil {
				used[ph] = map[int]bool{}
			}
			used[ph][v] = true
		}
		if clash {
			ps = append(ps, Problem{Field: fmt.Sprintf("ports[%d].cloud.vlan", i), Message: fmt.Sprintf(vlanInUse, v)})
		}
	}
	return ps, nil
}

// busyVLAN returns the applied VLAN of port p (0 for a port without one)
// and the physical ports among phys where another port already uses it.
func busyVLAN(ctx context.Context, q store.Querier, cust catalog.CustomerID, p portRow, phys []string) (int, map[string]bool, error) {
	if p.kind == "onprem" {
		return 0, nil, nil
	}
	vlans, err := appliedVLANs(ctx, q, cust)
	if err != nil {
		return 0, nil, fmt.Errorf("VLAN check: %w", err)
	}
	v := vlans[p.code]
	if v == 0 {
		return 0, nil, nil
	}
	used, err := vlansOn(ctx, q, phys, func(c catalog.CustomerID, code string) bool { return c == cust && code == p.code })
	if err != nil {
		return 0, nil, err
	}
	busy := map[string]bool{}
	for ph, vs := range used {
		if vs[v] {
			busy[ph] = true
		}
	}
	return v, busy, nil
}
