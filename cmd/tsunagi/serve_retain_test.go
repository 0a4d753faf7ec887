package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/tsunagi-net/tsunagi/internal/evidence"
)

// TestServeRefusesRetentionOutOfBounds: a retention period outside its
// class's bounds stops serve before it opens anything, naming the flag.
func TestServeRefusesRetentionOutOfBounds(t *testing.T) {
	ok := validRetain()
	for flag, bad := range map[string]func(*retainFlags){
		"--retain-audit-days":              func(f *retainFlags) { f.audit = 89 },
		"--retain-mail-days":               func(f *retainFlags) { f.mail = 29 },
		"--retain-notification-log-days":   func(f *retainFlags) { f.notificationLog = 3651 },
		"--retain-job-runs-days":           func(f *retainFlags) { f.jobRuns = 0 },
		"--retain-usage-days":              func(f *retainFlags) { f.usage = 61 },
		"--retain-flows-days":              func(f *retainFlags) { f.flows = 366 },
		"--retain-monitor-days":            func(f *retainFlags) { f.monitor = 89 },
		"--retain-webhook-deliveries-days": func(f *retainFlags) { f.webhookDeliveries = 29 },
	} {
		f := serveFlags{logLevel: "info", mgmtAllow: "127.0.0.0/8", agentAllow: "10.0.0.0/8", purgeAfter: "30",
			nodeSilentAfter: 5 * time.Minute, noticeMinDays: 14, retain: ok, dataDir: filepath.Join(t.TempDir(), "never-made")}
		bad(&f.retain)
		if err := serve(context.Background(), f); err == nil || !strings.HasPrefix(err.Error(), flag+": ") {
			t.Errorf("%s out of bounds: %v", flag, err)
		}
		if _, err := os.Stat(f.dataDir); err == nil {
			t.Errorf("%s out of bounds: serve made its data directory", flag)
		}
	}
}

// TestServeRefusesBadWebhookFlags: a malformed allowed network or a CA
// file that holds no certificate stops serve before it makes anything.
func TestServeRefusesBadWebhookFlags(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for flag, wf := range map[string]webhookFlags{
		"--webhook-allow-networks": {allowNetworks: "10.0.0.0/8, not-a-network"},
		"--webhook-ca-file":        {caFile: notPEM},
	} {
		f := serveFlags{logLevel: "info", mgmtAllow: "127.0.0.0/8", agentAllow: "10.0.0.0/8", purgeAfter: "30",
			nodeSilentAfter: 5 * time.Minute, noticeMinDays: 14, webhook: wf, dataDir: filepath.Join(t.TempDir(), "never-made"),
			retain: validRetain()}
		if err := serve(context.Background(), f); err == nil || !strings.HasPrefix(err.Error(), flag+": ") {
			t.Errorf("%s: %v", flag, err)
		}
		if _, err := os.Stat(f.dataDir); err == nil {
			t.Errorf("%s: serve made its data directory", flag)
		}
	}
}

// TestRetainFlags: the defaults are evidence.DefaultRetention, the
// environment sets a default the flag overrides, and a malformed
// environment value is refused naming the flag and the variable.
func TestRetainFlags(t *testing.T) {
	parse := func(args ...string) (evidence.Retention, error) {
		t.Helper()
		var f retainFlags
		cmd := &cobra.Command{}
		f.register(cmd)
		if err := cmd.ParseFlags(args); err != nil {
			t.Fatal(err)
		}
		return f.retention()
	}
	if r, err := parse(); err != nil || r != evidence.DefaultRetention {
		t.Errorf("defaults: %+v, %v", r, err)
	}
	t.Setenv("TSUNAGI_RETAIN_MAIL_DAYS", "400")
	r, err := parse("--retain-audit-days", "120")
	if err != nil || r.Mail != 400*evidence.Day || r.Audit != 120*evidence.Day || r.JobRuns != evidence.DefaultRetention.JobRuns {
		t.Errorf("env and flag: %+v, %v", r, err)
	}
	t.Setenv("TSUNAGI_RETAIN_JOB_RUNS_DAYS", "a year")
	if _, err := parse(); err == nil || !strings.Contains(err.Error(), "--retain-job-runs-days") ||
		!strings.Contains(err.Error(), "TSUNAGI_RETAIN_JOB_RUNS_DAYS") {
		t.Errorf("malformed environment value: %v", err)
	}
}

// validRetain is every retention flag at its default: a serve's flags that
// fail only where a test makes them.
func validRetain() retainFlags {
	return retainFlags{audit: 365, mail: 365, notificationLog: 365, jobRuns: 365, usage: 62, flows: 30, monitor: 90, webhookDeliveries: 30}
}
