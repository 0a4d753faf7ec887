package lifecycle

import (
	"context"
	"fmt"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// The classes of an erasure, in the order they run. Each is one step: one
// transaction, one erasure_steps row with its count.
const (
	ClassVersions    = "configuration_versions" // the applied configurations (saved data)
	ClassDraft       = "configuration_draft"    // the draft and its edit lock (saved data)
	ClassNetwork     = "network_records"        // placements, NAT, speed changes, holds, observations, backbone VNI
	ClassUsage       = "usage_records"          // traffic per port in 5-minute bins, the links' last counters
	ClassMonitors    = "monitors"               // reachability monitors (saved data), their state changes and RTT/loss bins
	ClassPortsHubs   = "ports_hubs"             // the port and hub rows (their codes stay issued, never reused)
	ClassMail        = "mail"                   // the customer's mail outbox entries
	ClassSecurity    = "security_policy"        // allow-list, MFA and device requirements
	ClassDevices     = "device_certificates"    // registered device certificates
	ClassBreakGlass  = "break_glass_grants"     // operators' grants to the customer's saved data
	ClassRecoveries  = "account_recoveries"     // recovery requests for its operations administrator
	ClassNotices     = "notice_records"         // notice contacts, feed tokens, the notification log, which notices reached it
	ClassReports     = "reports"                // its reports to the operator, their messages and attachments
	ClassFlows       = "flow_records"           // the connections through its hubs and their hourly counts
	ClassWebhooks    = "webhooks"               // its event webhooks (secrets sealed), their queue and delivery log, hubs' last versions
	ClassNotice      = "erasure_notice"         // the notice to the operations administrators (no rows erased)
	ClassCredentials = "credentials"            // sessions, API tokens, second factors, setup links, login throttling
	ClassAccounts    = "accounts"               // the accounts themselves
	ClassNotes       = "contract_notes"         // the free text typed at cancellation (the contract record stays)
	ClassCertificate = "certificate"            // the last step: audit entry, audit key, signed certificate
)

// Classes are the steps' classes in the order they run (the last step,
// ClassCertificate, is not among them: it is the erasure's end).
func Classes() []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = s.class
	}
	return out
}

// step is one step of an erasure. run returns how many rows it erased (the
// notice: how many mails it queued).
type step struct {
	class  string
	erases bool // false for the notice, which a sweep of a finished erasure does not repeat
	run    func(ctx context.Context, p *Purger, tx *store.Tx, cust catalog.CustomerID) (int64, error)
}

// steps erase children before the rows they reference, and the accounts
// last of all: the notice needs the operations administrators' addresses
// and languages.
var steps = []step{
	{ClassVersions, true, deleting(`DELETE FROM net_versions WHERE customer_id = ?`)},
	{ClassDraft, true, deleting(`DELETE FROM net_drafts WHERE customer_id = ?`, `DELETE FROM net_locks WHERE customer_id = ?`)},
	{ClassNetwork, true, func(ctx context.Context, _ *Purger, tx *store.Tx, cust catalog.CustomerID) (int64, error) {
		return network.PurgeTx(ctx, tx, cust)
	}},
	{ClassUsage, true, deleting(`DELETE FROM usage_bins WHERE customer_id = ?`, `DELETE FROM usage_counters WHERE customer_id = ?`)},
	{ClassMonitors, true, deleting(`DELETE FROM monitor_bins WHERE customer_id = ?`, `DELETE FROM monitor_events WHERE customer_id = ?`,
		`DELETE FROM monitors WHERE customer_id = ?`)},
	{ClassPortsHubs, true, deleting(`DELETE FROM ports WHERE customer_id = ?`, `DELETE FROM hubs WHERE customer_id = ?`)},
	{ClassMail, true, deleting(`DELETE FROM mail_outbox WHERE customer_id = ? AND cause <> '` + noticeCause + `'`)},
	{ClassSecurity, true, deleting(`DELETE FROM customer_security WHERE customer_id = ?`)},
	{ClassDevices, true, deleting(`DELETE FROM device_certificates WHERE customer_id = ?`)},
	{ClassBreakGlass, true, deleting(`DELETE FROM break_glass_grants WHERE customer_id = ?`)},
	{ClassRecoveries, true, deleting(`DELETE FROM account_recoveries WHERE customer_id = ?`)},
	{ClassNotices, true, deleting(`DELETE FROM notice_deliveries WHERE customer_id = ?`, `DELETE FROM notice_customers WHERE customer_id = ?`,
		`DELETE FROM notice_contacts WHERE customer_id = ?`, `DELETE FROM notice_feed_tokens WHERE customer_id = ?`)},
	{ClassReports, true, deleting(`DELETE FROM report_attachments WHERE customer_id = ?`, `DELETE FROM report_messages WHERE customer_id = ?`,
		`DELETE FROM reports WHERE customer_id = ?`)},
	{ClassFlows, true, deleting(`DELETE FROM flow_records WHERE customer_id = ?`, `DELETE FROM flow_hours WHERE customer_id = ?`)},
	{ClassWebhooks, true, deleting(`DELETE FROM webhook_deliveries WHERE customer_id = ?`, `DELETE FROM webhooks WHERE customer_id = ?`,
		`DELETE FROM webhook_hub_versions WHERE customer_id = ?`)},
	// The contracts stay as the contract record; the reason typed at
	// cancellation is free text that may name people, and goes.
	{ClassNotes, true, deleting(`UPDATE contracts SET cancel_reason = '' WHERE customer_id = ? AND cancel_reason <> ''`)},
	{ClassNotice, false, queueNotice},
	{ClassCredentials, true, credentials},
	{ClassAccounts, true, deleting(`DELETE FROM accounts WHERE customer_id = ?`)},
}

// credentials deletes the customer's credentials: those its end deletes on
// day 1 (identity.DeleteCredentialsTx, again: a restore or a request racing
// the end may have written some), then its second factors, its used links
// and its login throttling.
func credentials(ctx context.Context, p *Purger, tx *store.Tx, cust catalog.CustomerID) (int64, error) {
	counts, err := identity.DeleteCredentialsTx(ctx, tx, cust)
	if err != nil {
		return 0, err
	}
	n, err := factorsAndLocks(ctx, p, tx, cust)
	for _, c := range counts {
		n += c
	}
	return n, err
}

var factorsAndLocks = deleting(
	`DELETE FROM totp_secrets WHERE account_id IN (SELECT id FROM accounts WHERE customer_id = ?)`,
	`DELETE FROM recovery_codes WHERE account_id IN (SELECT id FROM accounts WHERE customer_id = ?)`,
	`DELETE FROM webauthn_credentials WHERE account_id IN (SELECT id FROM accounts WHERE customer_id = ?)`,
	// The links DeleteCredentialsTx leaves: used ones.
	`DELETE FROM setup_tokens WHERE account_id IN (SELECT id FROM accounts WHERE customer_id = ?)`,
	// Login throttling is keyed by the login ID as typed, on either
	// listener (identity's lockKey: "mgmt:" on the management one).
	`DELETE FROM login_failures WHERE login_key IN (SELECT login_id FROM accounts WHERE customer_id = ?)
			OR login_key IN (SELECT '`+identity.MgmtLockPrefix+`' || login_id FROM accounts WHERE customer_id = ?)`,
	`DELETE FROM login_locks WHERE login_key IN (SELECT login_id FROM accounts WHERE customer_id = ?)
			OR login_key IN (SELECT '`+identity.MgmtLockPrefix+`' || login_id FROM accounts WHERE customer_id = ?)`,
)

// deleting is a step that runs each statement with the customer's ID for
// every placeholder and counts the rows they deleted.
func deleting(stmts ...string) func(context.Context, *Purger, *store.Tx, catalog.CustomerID) (int64, error) {
	return func(ctx context.Context, _ *Purger, tx *store.Tx, cust catalog.CustomerID) (int64, error) {
		var total int64
		for _, q := range stmts {
			args := make([]any, countPlaceholders(q))
			for i := range args {
				args[i] = cust
			}
			res, err := tx.Exec(ctx, q, args...)
			if err != nil {
				return total, fmt.Errorf("%s: %w", firstWords(q), err)
			}
			n, _ := res.RowsAffected()
			total += n
		}
		return total, nil
	}
}

func countPlaceholders(q string) (n int) {
	for _, c := range q {
		if c == '?' {
			n++
		}
	}
	return n
}

// firstWords names a failed statement by its start ("DELETE FROM sessions").
func firstWords(q string) string {
	if len(q) > 40 {
		return q[:40]
	}
	return q
}
