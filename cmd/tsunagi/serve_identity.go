package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/mail"
	"github.com/tsunagi-net/tsunagi/internal/web"
)

// identityFlags are serve's settings for accounts and mail (issue 3).
type identityFlags struct {
	argonMemMiB, argonTime, argonThreads                uint32
	trustedProxies, customerURL, mgmtURL                string
	smtpHost, smtpTLS, smtpUser, smtpPassFile, smtpFrom string
	smtpPort                                            int
	sessionIdle, sessionAbsolute                        time.Duration
	secretKeyFile                                       string
	mailDir                                             string
	mailLease                                           time.Duration
}

func (f *identityFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	d := identity.DefaultArgon2
	fl.Uint32Var(&f.argonMemMiB, "argon2-memory", d.MemoryKiB/1024, "argon2id memory per password hash, MiB (at least 19)")
	fl.Uint32Var(&f.argonTime, "argon2-time", d.Time, "argon2id passes (at least 1)")
	fl.Uint32Var(&f.argonThreads, "argon2-threads", uint32(d.Threads), "argon2id lanes (1-16)")
	fl.DurationVar(&f.sessionIdle, "session-idle", identity.DefaultConfig.SessionIdle, "a session ends after this long without a request")
	fl.DurationVar(&f.sessionAbsolute, "session-absolute", identity.DefaultConfig.SessionAbsolute, "a session ends this long after login, whatever its use")
	fl.StringVar(&f.trustedProxies, "trusted-proxies", os.Getenv("TSUNAGI_TRUSTED_PROXIES"),
		"comma-separated proxies whose X-Forwarded-For gives the client address; empty trusts none")
	fl.StringVar(&f.customerURL, "customer-url", os.Getenv("TSUNAGI_CUSTOMER_URL"), "public base URL of the customer listener, for links in mail; default https://<its listen address>, with localhost for a wildcard or loopback one")
	fl.StringVar(&f.mgmtURL, "mgmt-url", os.Getenv("TSUNAGI_MGMT_URL"), "base URL of the management listener, for links in mail; default https://<its listen address>, with localhost for a wildcard or loopback one")
	fl.StringVar(&f.smtpHost, "smtp-host", os.Getenv("TSUNAGI_SMTP_HOST"), "SMTP server; empty keeps mail in the outbox")
	fl.IntVar(&f.smtpPort, "smtp-port", 0, "SMTP port (default 587, or 465 with --smtp-tls implicit)")
	fl.StringVar(&f.smtpTLS, "smtp-tls", envOr("TSUNAGI_SMTP_TLS", mail.TLSStartTLS), "starttls (required), implicit, or none (local relay only)")
	fl.StringVar(&f.smtpUser, "smtp-username", os.Getenv("TSUNAGI_SMTP_USERNAME"), "SMTP AUTH user; empty sends without AUTH")
	fl.StringVar(&f.smtpPassFile, "smtp-password-file", os.Getenv("TSUNAGI_SMTP_PASSWORD_FILE"), "file holding the SMTP AUTH password")
	fl.StringVar(&f.smtpFrom, "smtp-from", os.Getenv("TSUNAGI_SMTP_FROM"), "sender address of tsunagi's mail")
	fl.StringVar(&f.mailDir, "mail-dir", os.Getenv("TSUNAGI_MAIL_DIR"),
		"development mail sink: write each mail as an .eml file (0600) in this directory (0700) instead of sending it; default <data-dir>/mail with --demo and no --smtp-host")
	fl.DurationVar(&f.mailLease, "mail-lease", 2*time.Minute,
		"how long a sender holds a mail it took before another sender (or this one after a restart) may send it again; one send may take half of it (10s-1h)")
	fl.StringVar(&f.secretKeyFile, "secret-key-file", os.Getenv("TSUNAGI_SECRET_KEY_FILE"),
		"the controller's secret key (32 bytes) that seals TOTP seeds, BGP passwords, the node CA key and mail at rest; "+
			"made on the first start against an empty database; every controller on one database needs the same file; default <data-dir>/secret.key")
}

// secretKeyPath is where the controller's secret key lives. Every
// controller sharing one database needs the same key file, and the key is
// backed up with the database: without it no sealed value opens. The store
// checks it against the database at start (store/secrets.go).
func (f *identityFlags) secretKeyPath(dataDir string) string {
	if f.secretKeyFile != "" {
		return f.secretKeyFile
	}
	return filepath.Join(dataDir, "secret.key")
}

func (f *identityFlags) config() (identity.Config, error) {
	c := identity.DefaultConfig
	if f.argonMemMiB < 19 || f.argonTime < 1 || f.argonThreads < 1 || f.argonThreads > 16 {
		return c, fmt.Errorf("--argon2-*: memory must be at least 19 MiB, time at least 1, threads 1-16")
	}
	c.Argon2 = identity.Argon2Params{MemoryKiB: f.argonMemMiB * 1024, Time: f.argonTime, Threads: uint8(f.argonThreads)}
	if f.sessionIdle < time.Minute || f.sessionAbsolute < f.sessionIdle || f.sessionAbsolute > 7*24*time.Hour {
		return c, fmt.Errorf("--session-idle must be at least 1m and --session-absolute between it and 168h")
	}
	c.SessionIdle, c.SessionAbsolute = f.sessionIdle, f.sessionAbsolute
	if f.trustedProxies != "" {
		p, err := web.ParseAllowList(f.trustedProxies)
		if err != nil {
			return c, fmt.Errorf("--trusted-proxies: %w", err)
		}
		c.TrustedProxies = p
	}
	c.CustomerURL, c.MgmtURL = strings.TrimRight(f.customerURL, "/"), strings.TrimRight(f.mgmtURL, "/")
	if err := identity.CheckConfig(c); err != nil {
		return c, fmt.Errorf("--customer-url/--mgmt-url: %w", err)
	}
	return c, nil
}

// sender returns the mail sender over SMTP or into the --mail-dir sink, or
// nil when neither is configured.
func (f *identityFlags) sender(ids *identity.Service, log *slog.Logger) (*mail.Sender, error) {
	if f.mailLease < 10*time.Second || f.mailLease > time.Hour {
		return nil, fmt.Errorf("--mail-lease must be between 10s and 1h")
	}
	if f.mailDir != "" {
		if f.smtpHost != "" {
			return nil, fmt.Errorf("--mail-dir and --smtp-host exclude each other: mail goes either to files or to the SMTP server")
		}
		d, err := mail.NewDir(f.mailDir, f.smtpFrom)
		if err != nil {
			return nil, fmt.Errorf("--mail-dir: %w", err)
		}
		return &mail.Sender{Outbox: ids.Outbox(), Transport: d, Log: log.With("component", "mail"), Lease: f.mailLease}, nil
	}
	if f.smtpHost == "" {
		return nil, nil
	}
	pass := ""
	if f.smtpPassFile != "" {
		b, err := os.ReadFile(f.smtpPassFile)
		if err != nil {
			return nil, fmt.Errorf("--smtp-password-file: %w", err)
		}
		pass = strings.TrimSpace(string(b))
	}
	tr, err := mail.NewSMTP(mail.SMTPConfig{Host: f.smtpHost, Port: f.smtpPort, TLS: f.smtpTLS, Username: f.smtpUser,
		Password: pass, From: f.smtpFrom})
	if err != nil {
		return nil, err
	}
	return &mail.Sender{Outbox: ids.Outbox(), Transport: tr, Log: log.With("component", "mail"), Lease: f.mailLease}, nil
}
