package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/atomicfile"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network"
)

// defaultAgentAllow admits hub nodes on private, shared (CGNAT) and
// loopback addresses: nodes reach the controller over the operator's own
// network. A controller whose nodes come over public addresses names them.
const defaultAgentAllow = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,127.0.0.0/8,fc00::/7,::1/128"

// setupLink is a single-use link shown at start.
type setupLink struct{ what, url string }

// linksFile is where the links of the last start that issued any are kept.
func linksFile(dataDir string) string { return filepath.Join(dataDir, "setup-links.txt") }

// showLinks prints the setup links on the terminal and writes them to a
// 0600 file in the data directory. They never go into the structured log:
// log shippers collect it, and a link is a password until it is used.
func showLinks(w io.Writer, dataDir string, links []setupLink) error {
	if len(links) == 0 {
		return nil
	}
	var b strings.Builder
	for _, l := range links {
		fmt.Fprintf(&b, "%s\n  %s\n", l.what, l.url)
	}
	if err := atomicfile.Write(linksFile(dataDir), []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("setup links: %w", err)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// sealStored seals the secrets an earlier version stored in clear: TOTP
// seeds, BGP passwords, mail bodies (the node CA's key is sealed by
// fleet.New).
func sealStored(ctx context.Context, log *slog.Logger, net *network.Service, ids *identity.Service) error {
	n, err := ids.SealStoredSecrets(ctx)
	if err != nil {
		return fmt.Errorf("seal stored TOTP seeds: %w", err)
	}
	if n > 0 {
		log.Info("sealed TOTP seeds stored by an earlier version", "count", n)
	}
	if n, err = net.SealStoredSecrets(ctx); err != nil {
		return fmt.Errorf("seal stored BGP passwords: %w", err)
	}
	if n > 0 {
		log.Info("sealed BGP passwords stored by an earlier version", "configurations", n)
	}
	if n, err = ids.Outbox().SealStored(ctx); err != nil {
		return err
	}
	if n > 0 {
		log.Info("sealed or erased mail bodies stored by an earlier version", "count", n)
	}
	return nil
}
