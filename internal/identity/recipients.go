package identity

import (
	"context"
	"fmt"

	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
)

// Recipient is an operations administrator that system mail reaches.
type Recipient struct {
	AccountID, Name, Email, Language string
}

// OpsAdminRecipients returns the customer's active operations
// administrators that system mail (notices, policy changes, port holds,
// the erasure notice) goes to, by account ID: enabled, with a password
// set — an invited account that never finished its setup reads no mail
// from us — and an address. The one definition, so that every such mail
// reaches the same people. Callers dedupe addresses as their mail needs.
func OpsAdminRecipients(ctx context.Context, q store.Querier, cust tenant.CustomerID) ([]Recipient, error) {
	rows, err := q.Query(ctx, `SELECT id, display_name, email, language FROM accounts WHERE customer_id = ? AND role = ?
		AND disabled_at IS NULL AND password_hash IS NOT NULL AND email <> '' ORDER BY id`, cust, string(RoleOpsAdmin))
	if err != nil {
		return nil, fmt.Errorf("ops-admin recipients: %w", err)
	}
	defer rows.Close()
	var out []Recipient
	for rows.Next() {
		var r Recipient
		if err := rows.Scan(&r.AccountID, &r.Name, &r.Email, &r.Language); err != nil {
			return nil, fmt.Errorf("ops-admin recipients: %w", err)
		}
		out = append(out, r)
	}
	return out, store.Wrap(rows.Err())
}
