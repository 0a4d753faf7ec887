package monitor

import (
	"context"
	"fmt"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Desired lists the running monitors of hubs for the node's desired state
// (network.MonitorSource): not stopped, within their customer's quota,
// sorted by ID. It reads inside the document's transaction q, so that
// the document and the change counter it is cached under agree.
func (s *Service) Desired(ctx context.Context, q store.Querier, hubs []catalog.HubID) (map[catalog.HubID][]desired.Monitor, error) {
	if len(hubs) == 0 {
		return nil, nil
	}
	args := make([]any, len(hubs))
	for i, h := range hubs {
		args[i] = string(h)
	}
	rows, err := q.Query(ctx, `SELECT m.id, m.customer_id, m.hub_id, p.port_code, m.target, m.probe, m.tcp_port, m.interval_seconds, m.fail_after
		FROM monitors m JOIN ports p ON p.id = m.port_id
		WHERE m.state <> 'stopped' AND m.hub_id IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(hubs)), ", ")+`) ORDER BY m.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("monitors: %w", err)
	}
	type row struct {
		m    desired.Monitor
		cust string
		hub  catalog.HubID
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.m.ID, &r.cust, &r.hub, &r.m.PortCode, &r.m.Target, &r.m.Probe, &r.m.TCPPort,
			&r.m.IntervalSeconds, &r.m.FailAfter); err != nil {
			rows.Close()
			return nil, fmt.Errorf("monitors: %w", err)
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, store.Wrap(err)
	}
	over := map[string]map[string]bool{}
	out := map[catalog.HubID][]desired.Monitor{}
	for _, r := range all {
		if over[r.cust] == nil {
			if over[r.cust], err = overQuota(ctx, q, tenant.CustomerID(r.cust)); err != nil {
				return nil, err
			}
		}
		if !over[r.cust][r.m.ID] {
			out[r.hub] = append(out[r.hub], r.m)
		}
	}
	return out, nil
}
