package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tsunagi-net/tsunagi/internal/agent"
	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/logging"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
)

// version is the agent version reported to the controller; set at build time
// with -ldflags "-X main.version=…".
var version = "dev"

type agentFlags struct {
	controller, token, stateDir, runDir, controllerCA, logLevel string
	resync                                                      time.Duration
}

func agentCmd() *cobra.Command {
	var f agentFlags
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the hub-node agent: enrol once, then pull desired state, apply it, report (Linux, root)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runAgent(cmd.Context(), f) },
	}
	cmd.AddCommand(agentDecommissionCmd())
	cmd.Flags().StringVar(&f.controller, "controller", os.Getenv("TSUNAGI_CONTROLLER"), "the controller's agent listener, https://host:9444")
	cmd.Flags().StringVar(&f.token, "token", "", "one-time enrolment token (first start only)")
	cmd.Flags().StringVar(&f.stateDir, "state-dir", "/var/lib/tsunagi-agent", "node identity and the last desired state")
	cmd.Flags().StringVar(&f.runDir, "run-dir", "/run/tsunagi", "per-hub BIRD files and ownership markers (keep the path short)")
	cmd.Flags().StringVar(&f.controllerCA, "controller-ca", "", "PEM file of the CA (or self-signed certificate) that verifies the controller; default: the system roots")
	cmd.Flags().StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().DurationVar(&f.resync, "resync", time.Minute,
		"how often the data plane is re-applied and observed without a change (drift repair, layer-2 guards, the report); at least 5s")
	return cmd
}

func runAgent(ctx context.Context, f agentFlags) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := logging.New(os.Stderr, level)
	if f.controller == "" {
		return errors.New("--controller is required")
	}
	if f.resync < 5*time.Second {
		return fmt.Errorf("--resync %v: at least 5s", f.resync)
	}
	if os.Geteuid() != 0 {
		return errors.New("the agent manages namespaces, BIRD and nftables: run it as root")
	}
	roots, err := controllerRoots(f.controllerCA)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := agent.PrivateStateDir(f.stateDir); err != nil {
		return err
	}
	if !agent.Enrolled(f.stateDir) {
		if f.token == "" {
			return errors.New("this node is not enrolled: give --token (issued by the operator, valid 1 hour)")
		}
		if err := agent.Enrol(ctx, f.controller, roots, f.token, f.stateDir); err != nil {
			return err
		}
		log.Info("enrolled with the controller", "controller", f.controller)
	}
	client, err := agent.NewClient(f.controller, roots, f.stateDir)
	if err != nil {
		return err
	}
	// Stopping the agent leaves namespaces, BIRD and nftables running: the
	// data plane keeps forwarding, and the next agent adopts it unchanged.
	m := dataplane.NewManager(dataplane.Options{RunDir: f.runDir, Log: log})
	defer m.Close() // the layer-2 guards' watchers; the next agent starts its own
	// The reachability monitors: probes from each hub's monitoring address.
	prober := agent.NewProber(log)
	defer prober.Close()
	// Flow records: a conntrack stream per hub namespace, following the
	// hubs each pass applies, sent every few seconds.
	flowsC := &agent.FlowCollector{Send: client, Log: log}
	defer flowsC.Close()
	go flowsC.Run(ctx)
	applier := agent.WithFlows(&agent.DataplaneApplier{M: m, RunDir: f.runDir, StateDir: f.stateDir}, flowsC)
	loop := &agent.Loop{Client: client, Applier: applier, Dir: f.stateDir,
		Version: version, Log: log, Resync: f.resync, Wait: min(30*time.Second, f.resync), Wake: m.Tripped(), Monitors: prober}
	// The looking glass answers beside the loop, so that a customer's read
	// never waits for an apply pass.
	lg := &agent.LookingGlass{Client: client, Log: log,
		Bird:  func(hub string) agent.LookingGlassBird { return m.BirdClient(hub) },
		State: func() (desired.State, bool, error) { return agent.LoadLastState(f.stateDir) }}
	go lg.Run(ctx)
	log.Info("tsunagi agent started", "controller", f.controller, "version", version)
	return loop.Run(ctx)
}

// controllerRoots is the pool that verifies the controller: the PEM file
// given, else the system roots.
func controllerRoots(file string) (*x509.CertPool, error) {
	if file == "" {
		roots, err := x509.SystemCertPool()
		if err != nil {
			roots = x509.NewCertPool()
		}
		return roots, nil
	}
	pemBytes, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--controller-ca: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		return nil, errors.New("--controller-ca holds no PEM certificate")
	}
	return roots, nil
}
