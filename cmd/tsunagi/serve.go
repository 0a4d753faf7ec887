package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/tsunagi-net/tsunagi/internal/atomicfile"
	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/backup"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/demo"
	"github.com/tsunagi-net/tsunagi/internal/evidence"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
	"github.com/tsunagi-net/tsunagi/internal/flows"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/lifecycle"
	"github.com/tsunagi-net/tsunagi/internal/logging"
	"github.com/tsunagi-net/tsunagi/internal/lookingglass"
	"github.com/tsunagi-net/tsunagi/internal/monitor"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/notice"
	"github.com/tsunagi-net/tsunagi/internal/opsmetrics"
	"github.com/tsunagi-net/tsunagi/internal/schedule"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tlsutil"
	"github.com/tsunagi-net/tsunagi/internal/usage"
	"github.com/tsunagi-net/tsunagi/internal/web"
	"github.com/tsunagi-net/tsunagi/internal/webhook"
)

type serveFlags struct {
	dataDir, db, listen, mgmtListen, mgmtAllow string
	agentListen, agentAllow                    string
	tlsCert, tlsKey, logLevel                  string
	tlsNames                                   []string
	demo                                       bool
	purgeAfter                                 string
	nodeSilentAfter                            time.Duration
	noticeMinDays                              int
	flowsPerHour                               int64
	retain                                     retainFlags
	id                                         identityFlags
	backup                                     backupFlags
	webhook                                    webhookFlags
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func storeFlags(cmd *cobra.Command, dataDir, db *string) {
	cmd.Flags().StringVar(dataDir, "data-dir", envOr("TSUNAGI_DATA_DIR", "./data"), "directory for the embedded SQLite database, its lock and the self-signed certificate")
	cmd.Flags().StringVar(db, "db", os.Getenv("TSUNAGI_DB"), "PostgreSQL URL (postgres://…); empty uses the embedded SQLite")
}

func serveCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the controller (customer listener, management listener, schedulers)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return serve(cmd.Context(), f) },
	}
	storeFlags(cmd, &f.dataDir, &f.db)
	cmd.Flags().StringVar(&f.listen, "listen", envOr("TSUNAGI_LISTEN", ":8443"), "customer listener address (TLS)")
	cmd.Flags().StringVar(&f.mgmtListen, "mgmt-listen", envOr("TSUNAGI_MGMT_LISTEN", "127.0.0.1:9443"), "operator management listener address (TLS)")
	cmd.Flags().StringVar(&f.mgmtAllow, "mgmt-allow", envOr("TSUNAGI_MGMT_ALLOW", "127.0.0.0/8,::1/128"), "source prefixes allowed to reach the management listener, comma-separated")
	cmd.Flags().StringVar(&f.agentListen, "agent-listen", envOr("TSUNAGI_AGENT_LISTEN", ":9444"), "hub-node agent listener address (mutual TLS; empty disables it)")
	cmd.Flags().StringVar(&f.agentAllow, "agent-allow", envOr("TSUNAGI_AGENT_ALLOW", defaultAgentAllow),
		"source prefixes allowed to reach the agent listener (the hub nodes), comma-separated")
	cmd.Flags().StringVar(&f.tlsCert, "tls-cert", "", "certificate file (PEM); without it a self-signed certificate is kept in the data directory")
	cmd.Flags().StringVar(&f.tlsKey, "tls-key", "", "private key file (PEM) for --tls-cert")
	cmd.Flags().StringSliceVar(&f.tlsNames, "tls-name", nil,
		"extra DNS names or IP addresses of the self-signed certificate: the names hub nodes use to reach the controller, comma-separated")
	cmd.Flags().StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&f.purgeAfter, "purge-after-days", envOr("TSUNAGI_PURGE_AFTER_DAYS", strconv.Itoa(lifecycle.DefaultAfterDays)),
		"day after the last termination date on which a terminated customer's data is erased (1–90; day 1 is the day after; never later than day 90)")
	cmd.Flags().IntVar(&f.noticeMinDays, "notice-min-days", notice.DefaultMinNoticeDays,
		"minimum notice period in days of a planned change that touches customers' forwarding (1–90); publishing one that starts sooner needs a security officer's approval")
	f.retain.register(cmd)
	cmd.Flags().Int64Var(&f.flowsPerHour, "flow-records-per-hour", flows.DefaultPerHour,
		"flow records stored per customer and clock hour (1000–10000000); beyond it a customer's records are counted as dropped, not stored")
	cmd.Flags().BoolVar(&f.demo, "demo", false, "load an example deployment (two regions, a hub node, two customers) into an empty database")
	cmd.Flags().DurationVar(&f.nodeSilentAfter, "node-silent-after", 5*time.Minute,
		"a hub node with hubs that has not reported for this long, or a hub its node cannot bring to its wanted version for this long, opens an automatic draft incident (1m-1h)")
	f.id.register(cmd)
	f.backup.register(cmd)
	f.webhook.register(cmd)
	return cmd
}

func serve(ctx context.Context, f serveFlags) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := logging.New(os.Stderr, level)
	allow, err := web.ParseAllowList(f.mgmtAllow)
	if err != nil {
		return fmt.Errorf("--mgmt-allow: %w", err)
	}
	agentAllow, err := web.ParseAllowList(f.agentAllow)
	if err != nil {
		return fmt.Errorf("--agent-allow: %w", err)
	}
	purgeAfter, err := lifecycle.ParseAfterDays(f.purgeAfter)
	if err != nil {
		return fmt.Errorf("--purge-after-days: %w", err)
	}
	if f.nodeSilentAfter < time.Minute || f.nodeSilentAfter > time.Hour {
		return fmt.Errorf("--node-silent-after must be between 1m and 1h")
	}
	minNotice, err := notice.MinNoticeDays(f.noticeMinDays)
	if err != nil {
		return fmt.Errorf("--notice-min-days: %w", err)
	}
	retention, err := f.retain.retention()
	if err != nil {
		return err
	}
	hookGuard, hookRoots, err := f.webhook.checked()
	if err != nil {
		return err
	}
	if f.flowsPerHour < 1000 || f.flowsPerHour > 10000000 {
		return fmt.Errorf("--flow-records-per-hour: 1000 to 10000000, not %d", f.flowsPerHour)
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together")
	}
	if f.tlsCert != "" && len(f.tlsNames) > 0 {
		return fmt.Errorf("--tls-name names the self-signed certificate; with --tls-cert the names are your certificate's")
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	start := time.Now()
	// Everything under the data directory is the owner's alone: the
	// database, keys, certificates (also tightened when an earlier version
	// left them readable).
	if err := atomicfile.Private(f.dataDir); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	keyFile := f.id.secretKeyPath(f.dataDir)
	db, err := store.Open(ctx, store.Options{DSN: f.db, DataDir: f.dataDir, SecretKeyFile: keyFile})
	if err != nil {
		return err
	}
	defer db.Close()
	if db.SecretKeyCreated() {
		log.Warn("generated the controller's secret key: back it up with the database, and give every other controller on this database a copy",
			"file", keyFile)
	}

	var cert tls.Certificate
	if f.tlsCert != "" {
		cert, err = tlsutil.Load(f.tlsCert, f.tlsKey)
	} else {
		var made bool
		cert, made, err = tlsutil.SelfSigned(f.dataDir, f.tlsNames...)
		if made {
			log.Info("generated a self-signed TLS certificate", "dir", f.dataDir+"/tls")
		}
	}
	if err != nil {
		return err
	}

	auditLog := audit.New(db)
	cat := catalog.New(db, auditLog)
	idCfg, err := f.id.config()
	if err != nil {
		return err
	}
	idCfg.Secrets = db.Secrets()
	ids := identity.New(db, auditLog, idCfg)
	cat.OnTerminated(ids.MailTermination)
	if f.demo && f.id.mailDir == "" && f.id.smtpHost == "" {
		f.id.mailDir = filepath.Join(f.dataDir, "mail")
	}
	sender, err := f.id.sender(ids, log)
	if err != nil {
		return err
	}
	nodes, err := fleet.New(ctx, db, auditLog)
	if err != nil {
		return err
	}
	netSettings, err := network.SettingsFromEnv(nil)
	if err != nil {
		return err
	}
	netSvc := network.New(db, auditLog, netSettings)
	if err := sealStored(ctx, log, netSvc, ids); err != nil {
		return err
	}
	// The dated jobs: every controller on the database runs the scheduler;
	// a job's lease makes one of them run each due time (internal/schedule).
	backups, err := f.backup.service(db, auditLog)
	if err != nil {
		return err
	}
	keys := signing.New(db, auditLog)
	// The published key list is only read by its unauthenticated route:
	// the first key is made here.
	if err := keys.Ensure(audit.WithActor(ctx, audit.System)); err != nil {
		return err
	}
	purger, err := lifecycle.New(db, auditLog, keys, purgeAfter)
	if err != nil {
		return err
	}
	if backups != nil {
		purger.Recorded = func(ctx context.Context) error { return backup.WriteErasureList(ctx, backups.Dir(), db) }
	}
	noticeCfg := notice.Config{
		MinNotice:    minNotice,
		CustomerLink: func(path string) string { return ids.Link(identity.CustomerSide, path) },
		MgmtLink:     func(path string) string { return ids.Link(identity.OperatorSide, path) },
	}
	noticeCfg.NodeSilentAfter = f.nodeSilentAfter
	notices := notice.New(db, auditLog, noticeCfg)
	reports := notice.NewReports(db, auditLog, noticeCfg)
	records := evidence.New(db, auditLog, keys)
	monitors := monitor.New(db, auditLog, netSvc.Workflow, log, noticeCfg.CustomerLink)
	netSvc.Compiler.UseMonitors(monitors.Desired)
	hooks := setupWebhooks(db, auditLog, log, hookGuard, hookRoots)
	scheduled := append([]schedule.Job{netSvc.Operations.SpeedJob(), ids.EndJob(), ids.TokenReminderJob(), purger.Job(),
		netSvc.Operations.EndJob(), notices.WatchJob(), records.SignJob(), records.ExpireJob(retention),
		monitors.WatchJob()},
		backupJobs(backups)...)
	jobs, err := schedule.New(db, auditLog, controllerName(), scheduled...)
	if err != nil {
		return err
	}
	// Usage records: the traffic of each port, from the nodes' reports.
	usageRecords := usage.New(db, retention.Usage)
	tlsCfg := tlsutil.ServerConfig(cert)
	// Ask (never require) every client for a certificate: a customer's
	// registered devices are recognised by theirs (identity/device.go).
	tlsCfg.ClientAuth = tls.RequestClientCert
	srv := web.New(web.Config{CustomerAddr: f.listen, MgmtAddr: f.mgmtListen, MgmtAllow: allow, TLS: tlsCfg,
		AgentAddr: f.agentListen, AgentTLS: web.AgentTLS(tlsCfg, nodes), AgentAllow: agentAllow},
		web.Deps{DB: db, Catalog: cat, Identity: ids, Audit: auditLog, Fleet: nodes, Log: log,
			Workflow: netSvc.Workflow, NetOps: netSvc.Operations, Compiler: netSvc.Compiler, DesiredState: netSvc.Compiler.DesiredStateDoc,
			Jobs: jobs, Changes: db.Changes(), Backups: backups, Purger: purger, Keys: keys,
			Notices: notices, Reports: reports, Evidence: records, Webhooks: hooks.svc, Flows: flows.New(db, f.flowsPerHour),
			Metrics: []prometheus.Collector{opsmetrics.New(db, opsmetrics.Config{DesiredState: netSvc.Compiler.DesiredStateDoc,
				JobRetry: jobs.Retry, Log: log})},
			Usage: usageRecords, LookingGlass: lookingglass.New(db, lookingglass.Options{}),
			Monitors: monitors, Ingesters: []fleet.Ingester{monitors, usageRecords, netSvc.RouteQuota(), webhook.Ingester{DB: db}}})
	ls, err := srv.Listen()
	if err != nil {
		return err
	}
	var links []setupLink
	// Links in mail point at the listeners unless --customer-url and
	// --mgmt-url say otherwise.
	if err := ids.DefaultLinkBases("https://"+displayAddr(ls.Customer.Addr()), "https://"+displayAddr(ls.Mgmt.Addr())); err != nil {
		return err
	}
	hooks.run(ctx, ids.Link(identity.CustomerSide, ""))
	if f.demo {
		invites, err := demo.Load(ctx, cat, ids)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		if invites != nil {
			if err := demo.LoadNetwork(ctx, cat, netSvc); err != nil {
				return fmt.Errorf("demo: %w", err)
			}
		}
		// Their setup links go by mail (with --demo and no SMTP server, to
		// the --mail-dir sink), never to the terminal or the log.
		for _, in := range invites {
			log.Info("demo customer account waiting for its password: its setup link was mailed", "customer", in.Customer,
				"login_id", in.LoginID, "email", in.Email)
		}
	}
	token, err := ids.FirstOperatorLink(ctx)
	if err != nil {
		return err
	}
	if token != "" {
		// This link is how the first operator account is made; it is valid
		// for 24 hours and works once.
		links = append([]setupLink{{what: "First start: create the operator account within 24 hours at",
			url: "https://" + displayAddr(ls.Mgmt.Addr()) + "/setup?first=1&token=" + token}}, links...)
		log.Info("first operator setup link issued", "setup_links_file", linksFile(f.dataDir), "valid_hours", 24)
	}
	if err := showLinks(os.Stdout, f.dataDir, links); err != nil {
		return err
	}
	agentAddr := ""
	if ls.Agent != nil {
		agentAddr = ls.Agent.Addr().String()
	}
	log.Info("tsunagi controller started", "customer", ls.Customer.Addr().String(), "management", ls.Mgmt.Addr().String(), "agent", agentAddr,
		"database", string(db.Dialect()), "startup_ms", time.Since(start).Milliseconds())
	// The database closes only after the scheduler has recorded the end of
	// a run that shutdown interrupted.
	jobsCtx, stopJobs := context.WithCancel(ctx)
	jobsDone := make(chan struct{})
	defer func() { stopJobs(); <-jobsDone }()
	go func() {
		defer close(jobsDone)
		jobs.Loop(jobsCtx, time.Minute, func(err error) {
			log.Error("scheduled job failed; it is retried, and its run is listed at GET /api/v1/job-runs", "err", err)
		})
	}()
	switch {
	case f.id.mailDir != "":
		go sender.Run(ctx)
		log.Warn("mail is not delivered: each message is written as an .eml file in --mail-dir (development mail sink)", "mail_dir", f.id.mailDir)
	case sender != nil:
		go sender.Run(ctx)
	default:
		log.Warn("mail is not delivered: no SMTP server (--smtp-host) and no --mail-dir; it stays in the outbox, listed without bodies at GET /api/v1/mail on the management listener")
	}
	err = srv.Serve(ctx, ls)
	// The listeners are closed and the scheduler stops: nothing more is
	// appended. The chains that grew since the last run of audit.sign_heads
	// get their heads signed now, so a stop leaves no tail unsigned (a short
	// wait: a stop must not hang on a slow database).
	stopJobs()
	<-jobsDone
	signCtx, cancelSign := context.WithTimeout(audit.WithActor(context.WithoutCancel(ctx), audit.System), 10*time.Second)
	if n, serr := records.SignDue(signCtx); serr != nil {
		log.Warn("signing the audit chains' heads at stop failed", "err", serr)
	} else if n > 0 {
		log.Info("audit chains' heads signed at stop", "chains", n)
	}
	cancelSign()
	log.Info("tsunagi controller stopped")
	return err
}

// controllerName names this controller in the scheduler's leases and run
// records: the host name and the process ID, unique among the controllers
// sharing one database.
func controllerName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "controller"
	}
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}

// displayAddr makes a listener address usable in a link: the wildcard becomes
// localhost.
func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() || ip.IsLoopback() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
