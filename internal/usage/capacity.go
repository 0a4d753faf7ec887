package usage

import (
	"context"
	"fmt"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// PeakWindow is how far back the capacity report looks for measured peaks.
const PeakWindow = 30 * 24 * time.Hour

// PeaksByPhysicalPort returns, per physical port ID, the highest measured
// rate in bit/s of any 5-minute bin since since, in either direction: per
// bin the peaks of the customer ports' legs placed on the physical port
// added up (a bound from above: peaks inside one bin need not coincide).
// A port leg measured without a physical leg ("", a port that is not a
// redundant pair) counts on each of its placements. Across customers: the
// operator's capacity report, which names no customer's traffic.
func PeaksByPhysicalPort(ctx context.Context, q store.Querier, since time.Time) (map[string]int64, error) {
	rows, err := q.Query(ctx, `SELECT s.phys, MAX(s.pin), MAX(s.pout) FROM (
		SELECT pl.physical_port_id AS phys, b.bin_start, SUM(b.peak_in_bps) AS pin, SUM(b.peak_out_bps) AS pout
		FROM usage_bins b JOIN port_placements pl ON pl.port_id = b.port_id AND (b.leg = pl.leg OR b.leg = '')
		WHERE b.bin_start >= ? GROUP BY pl.physical_port_id, b.bin_start) s GROUP BY s.phys`, clock.Store(since))
	if err != nil {
		return nil, fmt.Errorf("measured peaks: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var in, outb int64
		if err := rows.Scan(&id, &in, &outb); err != nil {
			return nil, fmt.Errorf("measured peaks: %w", store.Wrap(err))
		}
		out[id] = max(in, outb)
	}
	return out, store.Wrap(rows.Err())
}
