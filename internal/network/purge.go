package network

import (
	"context"
	"fmt"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// PurgeTx erases, inside the caller's transaction, everything the service
// model keeps of a customer: its saved data (versions, draft, edit lock) and
// the operator's records tied to it (placements, NAT allocations — their
// addresses return to the pools —, bandwidth changes, held ports and their re-enable sequences, what nodes last observed of its hubs,
// the backbone VNI, dated port ends). It is the service model's part of the erasure after
// termination (ISO/IEC 27017 CLD.8.1.5); the caller records the erasure and
// removes the catalog rows afterwards. It returns how many rows went.
func PurgeTx(ctx context.Context, tx *store.Tx, cust catalog.CustomerID) (int64, error) {
	var total int64
	// Children before the rows they reference.
	for _, table := range []string{"net_versions", "net_drafts", "net_locks", "port_placements", "hub_placements",
		"nat_allocations", "bandwidth_changes", "port_holds", "port_reenables", "backbone_vnis", "hub_observations", "port_ends",
		"lg_queries", "route_quota"} {
		res, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE customer_id = ?`, cust)
		if err != nil {
			return total, fmt.Errorf("purge %s: %w", table, err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}
