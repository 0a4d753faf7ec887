package usage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// RuleCounter is what one of the customer's firewall rules matched on a
// port since the rule set was last loaded on the node.
type RuleCounter struct {
	// Rule is the customer's rule number; -1 is the final default action.
	Rule    int   `json:"rule"`
	Packets int64 `json:"packets"`
	Bytes   int64 `json:"bytes"`
}

// FirewallCounters are a port's rule counters as its nodes last reported
// them (summed over the nodes; ObservedAt the latest report, absent when
// no node has reported the port).
type FirewallCounters struct {
	PortCode   string        `json:"port_code"`
	ObservedAt *time.Time    `json:"observed_at,omitempty"`
	Rules      []RuleCounter `json:"rules"`
}

// Firewall reads one of the customer's ports' firewall rule counters from
// what the nodes last reported of its hub (hub_observations). The counters
// are the kernel's: they start again from zero when the rule set is
// loaded anew.
func (u *Usage) Firewall(ctx context.Context, sc tenant.Scope, code string) (FirewallCounters, error) {
	cust, err := sc.Authorize(identity.ActUsageRead)
	if err != nil {
		return FirewallCounters{}, err
	}
	var hub string
	if err := store.Scan(u.db.QueryRow(ctx, `SELECT hub_id FROM ports WHERE customer_id = ? AND port_code = ?`, cust, code), &hub); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return FirewallCounters{}, fault.Wrap(fault.NotFound, err, "port not found")
		}
		return FirewallCounters{}, err
	}
	rows, err := u.db.Query(ctx, `SELECT body, reported_at FROM hub_observations WHERE customer_id = ? AND hub_id = ? ORDER BY node_id`, cust, hub)
	if err != nil {
		return FirewallCounters{}, fmt.Errorf("firewall counters: %w", err)
	}
	defer rows.Close()
	out := FirewallCounters{PortCode: code, Rules: []RuleCounter{}}
	byRule := map[int]*RuleCounter{}
	for rows.Next() {
		var body, at string
		if err := rows.Scan(&body, &at); err != nil {
			return out, fmt.Errorf("firewall counters: %w", store.Wrap(err))
		}
		var h observed.Hub
		if err := json.Unmarshal([]byte(body), &h); err != nil {
			return out, fmt.Errorf("firewall counters of port %s: %w", code, err)
		}
		for _, p := range h.Ports {
			if p.PortCode != code {
				continue
			}
			t, err := clock.Parse(at)
			if err != nil {
				return out, fmt.Errorf("firewall counters: %w", err)
			}
			if out.ObservedAt == nil || t.After(*out.ObservedAt) {
				out.ObservedAt = &t
			}
			for _, r := range p.Rules {
				c := byRule[r.Rule]
				if c == nil {
					c = &RuleCounter{Rule: r.Rule}
					byRule[r.Rule] = c
				}
				c.Packets += int64(r.Packets)
				c.Bytes += int64(r.Bytes)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("firewall counters: %w", store.Wrap(err))
	}
	for _, c := range byRule {
		out.Rules = append(out.Rules, *c)
	}
	// The customer's rules in their order, the default action last.
	slices.SortFunc(out.Rules, func(a, b RuleCounter) int {
		if (a.Rule == observed.DefaultRule) != (b.Rule == observed.DefaultRule) {
			if a.Rule == observed.DefaultRule {
				return 1
			}
			return -1
		}
		return a.Rule - b.Rule
	})
	return out, nil
}
