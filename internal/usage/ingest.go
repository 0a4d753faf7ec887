package usage

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// Usage keeps and reads usage records.
type Usage struct {
	db *store.DB
	// keep is the usage retention: the longest window a read may ask for.
	keep time.Duration
}

// New returns the usage records kept in db for keep (the usage retention).
func New(db *store.DB, keep time.Duration) *Usage { return &Usage{db: db, keep: keep} }

// linkKey names one link of a port as one node sees it.
type linkKey struct{ portID, node, connection, leg string }

// binKey names one bin of a port leg.
type binKey struct {
	portID, leg string
	start       time.Time
}

type binAdd struct {
	customer string
	Counters
	// rate is the sum over the report's links of the port leg of their
	// rate over their interval, in bit/s, for each bin the interval covers.
	rateIn, rateOut float64
}

// Ingest implements fleet.Ingester: it turns the links' counters of a
// node's accepted report into usage, in one transaction. Each port the
// report names must be the customer's port on that hub; a port that is not
// is skipped (and named in the returned error, which the caller logs),
// the others are still counted.
func (u *Usage) Ingest(ctx context.Context, node string, r observed.Report) error {
	at := r.ObservedAt.UTC().Truncate(time.Microsecond)
	links := 0
	for _, h := range r.Hubs {
		for _, p := range h.Ports {
			links += len(p.Links)
		}
	}
	if links == 0 || at.IsZero() {
		return nil
	}
	var unknown []string
	err := u.db.InTx(ctx, func(tx *store.Tx) error {
		unknown = nil
		ports, err := portsOf(ctx, tx, r)
		if err != nil {
			return err
		}
		prev, err := lastCounters(ctx, tx, node)
		if err != nil {
			return err
		}
		bins := map[binKey]*binAdd{}
		for _, h := range r.Hubs {
			for _, p := range h.Ports {
				id, ok := ports[portRef{h.CustomerID, h.HubID, p.PortCode}]
				if !ok {
					unknown = append(unknown, h.HubID+"/"+p.PortCode)
					continue
				}
				legged := map[string]bool{}
				for _, l := range p.Links {
					legged[l.Connection] = legged[l.Connection] || l.Leg != ""
				}
				for _, l := range p.Links {
					if l.Leg == "" && legged[l.Connection] {
						// A redundant port's bridge carries what its legs
						// carry: the legs are counted, each on the
						// physical port it is placed on.
						continue
					}
					k := linkKey{id, node, l.Connection, l.Leg}
					cur := sampleOf(at, l)
					last, seen := prev[k]
					if err := saveCounters(ctx, tx, h.CustomerID, k, cur, seen); err != nil {
						return err
					}
					if !seen {
						// The first sight of a link is its baseline: what it
						// counted before belongs to no known interval.
						continue
					}
					d, newer := delta(last, cur)
					if !newer {
						continue
					}
					secs := cur.At.Sub(last.At).Seconds()
					rateIn, rateOut := float64(d.InBytes)*8/secs, float64(d.OutBytes)*8/secs
					for _, s := range spread(last.At, cur.At, d) {
						bk := binKey{id, placedLeg(l), s.Start}
						b := bins[bk]
						if b == nil {
							b = &binAdd{customer: h.CustomerID}
							bins[bk] = b
						}
						b.add(s.Counters)
						b.rateIn += rateIn
						b.rateOut += rateOut
					}
				}
			}
		}
		return addBins(ctx, tx, bins)
	})
	if err != nil {
		return fmt.Errorf("usage: node %s: %w", node, err)
	}
	if len(unknown) > 0 {
		return fmt.Errorf("usage: node %s reported ports its hubs do not hold, not counted: %s", node, strings.Join(unknown, ", "))
	}
	return nil
}

type portRef struct{ customer, hub, code string }

// placedLeg names the placement leg (port_placements.leg) whose physical
// port carries a link: a redundant port's physical leg, or the connection
// of a port with a primary and a secondary connection (each leg of such a
// port is placed on its own physical port); "" for a single connection.
func placedLeg(l observed.Link) string {
	switch {
	case l.Leg != "":
		return l.Leg
	case l.Connection == "primary" || l.Connection == "secondary":
		return l.Connection
	}
	return ""
}

// portsOf resolves the report's ports to port IDs, each under the hub and
// customer the report names it in.
func portsOf(ctx context.Context, tx *store.Tx, r observed.Report) (map[portRef]string, error) {
	out := map[portRef]string{}
	for _, h := range r.Hubs {
		if len(h.Ports) == 0 {
			continue
		}
		rows, err := tx.Query(ctx, `SELECT id, port_code FROM ports WHERE customer_id = ? AND hub_id = ?`, h.CustomerID, h.HubID)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, code string
			if err := rows.Scan(&id, &code); err != nil {
				rows.Close()
				return nil, store.Wrap(err)
			}
			out[portRef{h.CustomerID, h.HubID, code}] = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, store.Wrap(err)
		}
	}
	return out, nil
}

// lastCounters reads the node's last counters. On PostgreSQL the rows are
// locked: a second controller taking the same report waits here, then
// reads the counters the first one stored and finds its report not newer.
// (SQLite transactions begin IMMEDIATE and are serial already.)
func lastCounters(ctx context.Context, tx *store.Tx, node string) (map[linkKey]sample, error) {
	q := `SELECT port_id, connection, leg, ifindex, observed_at, rx_bytes, rx_packets, rx_drops, tx_bytes, tx_packets, tx_drops
		FROM usage_counters WHERE node = ?`
	if tx.Dialect() == store.Postgres {
		q += ` FOR UPDATE`
	}
	rows, err := tx.Query(ctx, q, node)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[linkKey]sample{}
	for rows.Next() {
		k := linkKey{node: node}
		var s sample
		var at string
		var c [6]int64
		if err := rows.Scan(&k.portID, &k.connection, &k.leg, &s.IfIndex, &at, &c[0], &c[1], &c[2], &c[3], &c[4], &c[5]); err != nil {
			return nil, store.Wrap(err)
		}
		if s.At, err = clock.Parse(at); err != nil {
			return nil, fmt.Errorf("usage counters: %w", err)
		}
		// Counters are unsigned; the column keeps their bits.
		s.Counters = Counters{uint64(c[0]), uint64(c[1]), uint64(c[2]), uint64(c[3]), uint64(c[4]), uint64(c[5])}
		out[k] = s
	}
	return out, store.Wrap(rows.Err())
}

// saveCounters keeps cur as the link's last counters, unless the stored
// ones are newer.
func saveCounters(ctx context.Context, tx *store.Tx, customer string, k linkKey, cur sample, seen bool) error {
	c := cur.Counters
	args := []any{cur.IfIndex, clock.Store(cur.At), int64(c.InBytes), int64(c.InPackets), int64(c.InDrops),
		int64(c.OutBytes), int64(c.OutPackets), int64(c.OutDrops)}
	if seen {
		_, err := tx.Exec(ctx, `UPDATE usage_counters SET ifindex = ?, observed_at = ?, rx_bytes = ?, rx_packets = ?, rx_drops = ?,
			tx_bytes = ?, tx_packets = ?, tx_drops = ?
			WHERE port_id = ? AND node = ? AND connection = ? AND leg = ? AND observed_at < ?`,
			append(args, k.portID, k.node, k.connection, k.leg, clock.Store(cur.At))...)
		return err
	}
	// Two controllers may both see no row; the first baseline stays.
	_, err := tx.Exec(ctx, `INSERT INTO usage_counters (ifindex, observed_at, rx_bytes, rx_packets, rx_drops, tx_bytes, tx_packets, tx_drops,
		customer_id, port_id, node, connection, leg) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (port_id, node, connection, leg) DO NOTHING`,
		append(args, customer, k.portID, k.node, k.connection, k.leg)...)
	return err
}

// addBins adds the report's shares to the bins, and raises their peaks.
func addBins(ctx context.Context, tx *store.Tx, bins map[binKey]*binAdd) error {
	greatest := "MAX"
	if tx.Dialect() == store.Postgres {
		greatest = "GREATEST"
	}
	q := `INSERT INTO usage_bins (customer_id, port_id, leg, bin_start, in_bytes, in_packets, in_drops, out_bytes, out_packets, out_drops,
		peak_in_bps, peak_out_bps) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (port_id, leg, bin_start) DO UPDATE SET
		in_bytes = usage_bins.in_bytes + excluded.in_bytes, in_packets = usage_bins.in_packets + excluded.in_packets,
		in_drops = usage_bins.in_drops + excluded.in_drops, out_bytes = usage_bins.out_bytes + excluded.out_bytes,
		out_packets = usage_bins.out_packets + excluded.out_packets, out_drops = usage_bins.out_drops + excluded.out_drops,
		peak_in_bps = ` + greatest + `(usage_bins.peak_in_bps, excluded.peak_in_bps),
		peak_out_bps = ` + greatest + `(usage_bins.peak_out_bps, excluded.peak_out_bps)`
	// In key order: two nodes reporting legs of one port take the rows'
	// locks in the same order and never deadlock.
	keys := slices.SortedFunc(maps.Keys(bins), func(a, b binKey) int {
		return cmp.Or(strings.Compare(a.portID, b.portID), strings.Compare(a.leg, b.leg), a.start.Compare(b.start))
	})
	for _, k := range keys {
		b := bins[k]
		if _, err := tx.Exec(ctx, q, b.customer, k.portID, k.leg, clock.Store(k.start),
			int64(b.InBytes), int64(b.InPackets), int64(b.InDrops), int64(b.OutBytes), int64(b.OutPackets), int64(b.OutDrops),
			int64(b.rateIn+0.5), int64(b.rateOut+0.5)); err != nil {
			return err
		}
	}
	return nil
}
