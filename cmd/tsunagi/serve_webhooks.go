package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/webhook"
)

// webhookFlags set where event webhooks may be delivered beyond the public
// internet, and which extra CA their receivers' certificates may chain to
// (docs/operations.md).
type webhookFlags struct {
	allowNetworks, caFile string
}

func (f *webhookFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.allowNetworks, "webhook-allow-networks", envOr("TSUNAGI_WEBHOOK_ALLOW_NETWORKS", ""),
		"networks (CIDR, comma-separated) event webhooks may be delivered to although they are not public unicast, e.g. an on-premises receiver; empty: public addresses only")
	cmd.Flags().StringVar(&f.caFile, "webhook-ca-file", envOr("TSUNAGI_WEBHOOK_CA_FILE", ""),
		"PEM file of CA certificates that webhook receivers' certificates may chain to, besides the system's roots (a private CA)")
}

// webhooks is the customers' webhook service and its sender, not yet
// running: its Source is set once the customer listener's address is known.
type webhooks struct {
	svc    *webhook.Service
	sender *webhook.Sender
}

// checked reads the flags, before anything is opened or made: a mistyped
// network or an unreadable CA file stops serve at start, naming the flag.
func (f *webhookFlags) checked() (*webhook.Guard, *x509.CertPool, error) {
	allow, err := webhook.ParseNetworks(f.allowNetworks)
	if err != nil {
		return nil, nil, fmt.Errorf("--webhook-allow-networks: %w", err)
	}
	roots, err := webhook.RootCAs(f.caFile)
	if err != nil {
		return nil, nil, fmt.Errorf("--webhook-ca-file: %w", err)
	}
	return &webhook.Guard{Allow: allow}, roots, nil
}

func setupWebhooks(db *store.DB, auditLog *audit.Log, log *slog.Logger, guard *webhook.Guard, roots *x509.CertPool) webhooks {
	return webhooks{svc: webhook.NewService(db, auditLog, guard),
		sender: &webhook.Sender{DB: db, Client: guard.Client(roots), Log: log}}
}

// run starts the sender; source is the customer listener's base URL, the
// CloudEvents source of every event.
func (w webhooks) run(ctx context.Context, source string) {
	w.sender.Source = strings.TrimSuffix(source, "/")
	go w.sender.Run(ctx)
}
