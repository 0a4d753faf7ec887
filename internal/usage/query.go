package usage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Bin is one 5-minute bin of a port, its legs summed.
type Bin struct {
	Start      time.Time `json:"start"`
	InBytes    int64     `json:"in_bytes"`
	InPackets  int64     `json:"in_packets"`
	InDrops    int64     `json:"in_drops"`
	OutBytes   int64     `json:"out_bytes"`
	OutPackets int64     `json:"out_packets"`
	OutDrops   int64     `json:"out_drops"`
	// The average rates over the bin: bytes × 8 / 300.
	InAvgBps  int64 `json:"in_avg_bps"`
	OutAvgBps int64 `json:"out_avg_bps"`
	// The peak rates: the highest rate of one report interval inside the
	// bin (a redundant port's legs added).
	InPeakBps  int64 `json:"in_peak_bps"`
	OutPeakBps int64 `json:"out_peak_bps"`
}

// Totals sum a window's bins; the peaks are the window's highest.
type Totals struct {
	InBytes    int64 `json:"in_bytes"`
	InPackets  int64 `json:"in_packets"`
	InDrops    int64 `json:"in_drops"`
	OutBytes   int64 `json:"out_bytes"`
	OutPackets int64 `json:"out_packets"`
	OutDrops   int64 `json:"out_drops"`
	InPeakBps  int64 `json:"in_peak_bps"`
	OutPeakBps int64 `json:"out_peak_bps"`
}

// PortUsage is one port's bins in a window, oldest first; a bin without
// traffic counted is absent.
type PortUsage struct {
	PortCode string    `json:"port_code"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Bins     []Bin     `json:"bins"`
	Totals   Totals    `json:"totals"`
}

// DefaultWindow is the window of a read that names none: the last day.
const DefaultWindow = 24 * time.Hour

// Window reads a window from its from and to parameters (RFC 3339; either
// may be empty: to is now, from a day before to). from is taken down to
// its bin. The window must be positive and no longer than the retention.
func (u *Usage) Window(from, to string, now time.Time) (time.Time, time.Time, error) {
	t := now.UTC()
	if to != "" {
		var err error
		if t, err = time.Parse(time.RFC3339, to); err != nil {
			return time.Time{}, time.Time{}, fault.Field("to", "must be a time in RFC 3339, such as 2026-12-01T00:00:00+09:00")
		}
	}
	f := t.Add(-DefaultWindow)
	if from != "" {
		var err error
		if f, err = time.Parse(time.RFC3339, from); err != nil {
			return time.Time{}, time.Time{}, fault.Field("from", "must be a time in RFC 3339, such as 2026-12-01T00:00:00+09:00")
		}
	}
	f, t = f.UTC().Truncate(BinWidth), t.UTC()
	if !f.Before(t) {
		return time.Time{}, time.Time{}, fault.Field("from", "must be before to")
	}
	if t.Sub(f) > u.keep {
		return time.Time{}, time.Time{}, fault.Field("from", "the window is at most %d days: usage records are kept that long", int(u.keep/(24*time.Hour)))
	}
	return f, t, nil
}

// Port reads one of the customer's ports' bins in [from, to).
func (u *Usage) Port(ctx context.Context, sc tenant.Scope, code string, from, to time.Time) (PortUsage, error) {
	cust, err := sc.Authorize(identity.ActUsageRead)
	if err != nil {
		return PortUsage{}, err
	}
	var id string
	if err := store.Scan(u.db.QueryRow(ctx, `SELECT id FROM ports WHERE customer_id = ? AND port_code = ?`, cust, code), &id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return PortUsage{}, fault.Wrap(fault.NotFound, err, "port not found")
		}
		return PortUsage{}, err
	}
	all, err := u.read(ctx, cust, id, from, to)
	if err != nil {
		return PortUsage{}, err
	}
	if len(all) == 0 {
		return PortUsage{PortCode: code, From: from, To: to, Bins: []Bin{}}, nil
	}
	return all[0], nil
}

// All reads the bins of every port of the customer in [from, to), by port
// code; a port without bins in the window is absent.
func (u *Usage) All(ctx context.Context, sc tenant.Scope, from, to time.Time) ([]PortUsage, error) {
	cust, err := sc.Authorize(identity.ActUsageRead)
	if err != nil {
		return nil, err
	}
	return u.read(ctx, cust, "", from, to)
}

// read reads the customer's bins in [from, to) (of one port when portID is
// not ""), by port code, each port's legs added per bin. The rows come in
// an index's order and are merged here: a GROUP BY over a 60-day window
// made SQLite sort 17,280 rows per port for every graph.
func (u *Usage) read(ctx context.Context, cust tenant.CustomerID, portID string, from, to time.Time) ([]PortUsage, error) {
	codes := map[string]string{}
	rows, err := u.db.Query(ctx, `SELECT id, port_code FROM ports WHERE customer_id = ?`, cust)
	if err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	for rows.Next() {
		var id, code string
		if err := rows.Scan(&id, &code); err != nil {
			rows.Close()
			return nil, fmt.Errorf("usage: %w", store.Wrap(err))
		}
		codes[id] = code
	}
	rows.Close()
	q := `SELECT port_id, bin_start, in_bytes, in_packets, in_drops, out_bytes, out_packets, out_drops, peak_in_bps, peak_out_bps
		FROM usage_bins WHERE customer_id = ? AND bin_start >= ? AND bin_start < ?`
	args := []any{cust, clock.Store(from), clock.Store(to)}
	if portID != "" {
		q += ` AND port_id = ?`
		args = append(args, portID)
	}
	rows, err = u.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	defer rows.Close()
	byPort := map[string][]Bin{}
	for rows.Next() {
		var id, start string
		var b Bin
		if err := rows.Scan(&id, &start, &b.InBytes, &b.InPackets, &b.InDrops, &b.OutBytes, &b.OutPackets, &b.OutDrops,
			&b.InPeakBps, &b.OutPeakBps); err != nil {
			return nil, fmt.Errorf("usage: %w", store.Wrap(err))
		}
		if b.Start, err = clock.Parse(start); err != nil {
			return nil, fmt.Errorf("usage: %w", err)
		}
		byPort[id] = append(byPort[id], b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("usage: %w", store.Wrap(err))
	}
	out := make([]PortUsage, 0, len(byPort))
	for id, bins := range byPort {
		code, ok := codes[id]
		if !ok {
			continue // not the customer's port: never shown
		}
		p := PortUsage{PortCode: code, From: from, To: to, Bins: mergeLegs(bins)}
		for i := range p.Bins {
			b := &p.Bins[i]
			b.InAvgBps, b.OutAvgBps = avgBps(b.InBytes), avgBps(b.OutBytes)
			p.Totals.add(*b)
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b PortUsage) int { return strings.Compare(a.PortCode, b.PortCode) })
	return out, nil
}

// mergeLegs orders a port's bins by start and adds up the legs' bins of
// the same start (peaks too: the port's peak is its legs' together).
func mergeLegs(bins []Bin) []Bin {
	slices.SortStableFunc(bins, func(a, b Bin) int { return a.Start.Compare(b.Start) })
	out := bins[:0]
	for _, b := range bins {
		if n := len(out); n > 0 && out[n-1].Start.Equal(b.Start) {
			x := &out[n-1]
			x.InBytes += b.InBytes
			x.InPackets += b.InPackets
			x.InDrops += b.InDrops
			x.OutBytes += b.OutBytes
			x.OutPackets += b.OutPackets
			x.OutDrops += b.OutDrops
			x.InPeakBps += b.InPeakBps
			x.OutPeakBps += b.OutPeakBps
			continue
		}
		out = append(out, b)
	}
	return out
}

func avgBps(bytes int64) int64 { return (bytes*8 + 150) / int64(BinWidth/time.Second) }

func (t *Totals) add(b Bin) {
	t.InBytes += b.InBytes
	t.InPackets += b.InPackets
	t.InDrops += b.InDrops
	t.OutBytes += b.OutBytes
	t.OutPackets += b.OutPackets
	t.OutDrops += b.OutDrops
	t.InPeakBps = max(t.InPeakBps, b.InPeakBps)
	t.OutPeakBps = max(t.OutPeakBps, b.OutPeakBps)
}

// Day is one JST calendar day's traffic.
type Day struct {
	Date string `json:"date"` // YYYY-MM-DD in JST
	Totals
}

// Daily sums bins (oldest first) into JST calendar days: a JST day runs
// from 15:00 UTC the day before, so a bin is counted on clock.Date of its
// start (bins never straddle the boundary: 15:00 UTC is a bin edge).
func Daily(bins []Bin) []Day {
	var out []Day
	for _, b := range bins {
		d := clock.Date(b.Start)
		if n := len(out); n == 0 || out[n-1].Date != d {
			out = append(out, Day{Date: d})
		}
		out[len(out)-1].add(b)
	}
	return out
}

// CSV writes ports' bins as CSV (RFC 4180, header first): each bin's start
// in JST and in UTC, its counters and rates.
func CSV(ports []PortUsage) string {
	var b strings.Builder
	b.WriteString("port_code,start_jst,start_utc,in_bytes,in_packets,in_drops,out_bytes,out_packets,out_drops," +
		"in_avg_bps,out_avg_bps,in_peak_bps,out_peak_bps\r\n")
	for _, p := range ports {
		for _, x := range p.Bins {
			// Port codes are issued by tsunagi (letters, digits, -), never
			// quoted or formula-like.
			fmt.Fprintf(&b, "%s,%s,%s,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d\r\n", p.PortCode,
				x.Start.In(clock.JST).Format(time.RFC3339), x.Start.UTC().Format(time.RFC3339),
				x.InBytes, x.InPackets, x.InDrops, x.OutBytes, x.OutPackets, x.OutDrops,
				x.InAvgBps, x.OutAvgBps, x.InPeakBps, x.OutPeakBps)
		}
	}
	return b.String()
}

// HourlyAfter is the window beyond which the traffic page reads hours
// rather than bins: a graph a few hundred pixels wide shows no more, and a
// 60-day window is then 1,440 rows, not 17,280.
const HourlyAfter = 2 * 24 * time.Hour

// Hourly reads one of the customer's ports' traffic in [from, to) added
// up per UTC hour (a Bin per hour, Start on the hour): bytes, packets and
// drops summed; the average rate over the hour's bins that exist (hours
// with missing bins are not diluted); the peak the highest of the hour
// (a redundant port's legs added). The sums are the bins' exactly.
func (u *Usage) Hourly(ctx context.Context, sc tenant.Scope, code string, from, to time.Time) (PortUsage, error) {
	cust, err := sc.Authorize(identity.ActUsageRead)
	if err != nil {
		return PortUsage{}, err
	}
	var id string
	if err := store.Scan(u.db.QueryRow(ctx, `SELECT id FROM ports WHERE customer_id = ? AND port_code = ?`, cust, code), &id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return PortUsage{}, fault.Wrap(fault.NotFound, err, "port not found")
		}
		return PortUsage{}, err
	}
	// substr(bin_start, 1, 13) is the stored instant's UTC hour,
	// "2026-12-06T21" (clock.StoreLayout).
	rows, err := u.db.Query(ctx, `SELECT substr(bin_start, 1, 13), COUNT(*), SUM(in_bytes), SUM(in_packets), SUM(in_drops),
		SUM(out_bytes), SUM(out_packets), SUM(out_drops), MAX(peak_in_bps), MAX(peak_out_bps)
		FROM usage_bins WHERE customer_id = ? AND port_id = ? AND bin_start >= ? AND bin_start < ?
		GROUP BY leg, substr(bin_start, 1, 13)`, cust, id, clock.Store(from), clock.Store(to))
	if err != nil {
		return PortUsage{}, fmt.Errorf("usage: %w", err)
	}
	defer rows.Close()
	var bins []Bin
	counts := map[time.Time]int64{}
	for rows.Next() {
		var hour string
		var n int64
		var b Bin
		if err := rows.Scan(&hour, &n, &b.InBytes, &b.InPackets, &b.InDrops, &b.OutBytes, &b.OutPackets, &b.OutDrops,
			&b.InPeakBps, &b.OutPeakBps); err != nil {
			return PortUsage{}, fmt.Errorf("usage: %w", store.Wrap(err))
		}
		if b.Start, err = time.Parse("2006-01-02T15", hour); err != nil {
			return PortUsage{}, fmt.Errorf("usage: %w", err)
		}
		counts[b.Start] = max(counts[b.Start], n)
		bins = append(bins, b)
	}
	if err := rows.Err(); err != nil {
		return PortUsage{}, fmt.Errorf("usage: %w", store.Wrap(err))
	}
	p := PortUsage{PortCode: code, From: from, To: to, Bins: mergeLegs(bins)}
	if p.Bins == nil {
		p.Bins = []Bin{}
	}
	for i := range p.Bins {
		b := &p.Bins[i]
		secs := counts[b.Start] * int64(BinWidth/time.Second)
		b.InAvgBps, b.OutAvgBps = (b.InBytes*8+secs/2)/secs, (b.OutBytes*8+secs/2)/secs
		p.Totals.add(*b)
	}
	return p, nil
}
