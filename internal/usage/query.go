package usage

import (
	"context"
	"errors"
	"fmt"
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
	all, err := u.read(ctx, cust, `AND b.port_id = ?`, from, to, id)
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

func (u *Usage) read(ctx context.Context, cust tenant.CustomerID, cond string, from, to time.Time, args ...any) ([]PortUsage, error) {
	rows, err := u.db.Query(ctx, `SELECT p.port_code, b.bin_start, SUM(b.in_bytes), SUM(b.in_packets), SUM(b.in_drops),
		SUM(b.out_bytes), SUM(b.out_packets), SUM(b.out_drops), SUM(b.peak_in_bps), SUM(b.peak_out_bps)
		FROM usage_bins b JOIN ports p ON p.id = b.port_id AND p.customer_id = b.customer_id
		WHERE b.customer_id = ? AND b.bin_start >= ? AND b.bin_start < ? `+cond+`
		GROUP BY p.port_code, b.bin_start ORDER BY p.port_code, b.bin_start`,
		append([]any{cust, clock.Store(from), clock.Store(to)}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	defer rows.Close()
	var out []PortUsage
	for rows.Next() {
		var code, start string
		var b Bin
		if err := rows.Scan(&code, &start, &b.InBytes, &b.InPackets, &b.InDrops, &b.OutBytes, &b.OutPackets, &b.OutDrops,
			&b.InPeakBps, &b.OutPeakBps); err != nil {
			return nil, fmt.Errorf("usage: %w", store.Wrap(err))
		}
		if b.Start, err = clock.Parse(start); err != nil {
			return nil, fmt.Errorf("usage: %w", err)
		}
		b.InAvgBps, b.OutAvgBps = avgBps(b.InBytes), avgBps(b.OutBytes)
		if n := len(out); n == 0 || out[n-1].PortCode != code {
			out = append(out, PortUsage{PortCode: code, From: from, To: to})
		}
		p := &out[len(out)-1]
		p.Bins = append(p.Bins, b)
		p.Totals.add(b)
	}
	return out, store.Wrap(rows.Err())
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
