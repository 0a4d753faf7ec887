package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/tsunagi-net/tsunagi/internal/agent"
	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/disposal"
)

// Exit codes of `tsunagi agent decommission` besides 0 (wiped and
// reported) and 1 (refused before anything was removed, or the wipe is not
// complete): the node was wiped but the controller was not told.
const exitNotReported = 3

// exitError makes main exit with code instead of 1.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

func agentDecommissionCmd() *cobra.Command {
	var f agentFlags
	var yes bool
	cmd := &cobra.Command{
		Use:   "decommission",
		Short: "Wipe this node for reuse or disposal: remove every customer hub, the agent's state and keys, and report it to the controller (ISO/IEC 27017 11.2.7)",
		Long: "Removes every customer hub this agent runs (namespaces, interfaces, nftables tables, BIRD, shaping), " +
			"every file of the run and state directories (cached desired state, running versions, holds), reports the wipe " +
			"to the controller, which revokes the node's certificate, and then removes the node's key. Stop the agent first. " +
			"Exit code 0: wiped and reported; 3: wiped, but the controller could not be told (retire the node by hand); " +
			"1: refused, or something could not be removed.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !yes {
				return errors.New("this removes every customer hub on this node and its identity: give --yes to go ahead")
			}
			if os.Geteuid() != 0 {
				return errors.New("decommission removes namespaces, BIRD and nftables: run it as root")
			}
			return runDecommission(cmd.Context(), f, dataplane.Options{RunDir: f.runDir}, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&f.controller, "controller", os.Getenv("TSUNAGI_CONTROLLER"), "the controller's agent listener, https://host:9444")
	cmd.Flags().StringVar(&f.stateDir, "state-dir", "/var/lib/tsunagi-agent", "node identity and the last desired state")
	cmd.Flags().StringVar(&f.runDir, "run-dir", "/run/tsunagi", "per-hub BIRD files and ownership markers")
	cmd.Flags().StringVar(&f.controllerCA, "controller-ca", "", "PEM file of the CA (or self-signed certificate) that verifies the controller; default: the system roots")
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm: the node's hubs and identity are removed for good")
	return cmd
}

// runDecommission wipes the node and tells the controller, printing what
// was removed. The wipe happens even when the controller cannot be reached.
func runDecommission(ctx context.Context, f agentFlags, o dataplane.Options, out io.Writer) error {
	var client *agent.Client
	var why error
	if f.controller == "" {
		why = errors.New("--controller is not given")
	} else if roots, err := controllerRoots(f.controllerCA); err != nil {
		return err
	} else if !agent.Enrolled(f.stateDir) {
		why = errors.New("this node holds no identity (never enrolled, or wiped before)")
	} else if client, err = agent.NewClient(f.controller, roots, f.stateDir); err != nil {
		why = err
	}
	m := dataplane.NewManager(o)
	defer m.Close()
	d := &agent.Decommissioner{M: m, RunDir: f.runDir, StateDir: f.stateDir, Client: client, Version: version}
	r, err := d.Run(ctx)
	printDisposal(out, r)
	switch {
	case err == nil:
		fmt.Fprintln(out, "The controller recorded the wipe and revoked this node's certificate.")
		return nil
	case r.Complete() && errors.Is(err, agent.ErrNotReported):
		if why != nil {
			err = fmt.Errorf("%w (%w)", err, why)
		}
		return exitError{exitNotReported, fmt.Errorf("%w; retire the node on the controller by hand", err)}
	}
	return err
}

func printDisposal(out io.Writer, r disposal.Report) {
	fmt.Fprintf(out, "Hubs removed: %d\n", len(r.HubsRemoved))
	for _, h := range r.HubsRemoved {
		fmt.Fprintf(out, "  %s%s\n", dataplane.NamespacePrefix, h)
	}
	fmt.Fprintf(out, "Files removed: %d\n", len(r.FilesRemoved))
	for _, f := range r.Failures {
		fmt.Fprintf(out, "Not removed: %s\n", f)
	}
}
