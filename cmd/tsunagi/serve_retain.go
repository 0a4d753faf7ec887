package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tsunagi-net/tsunagi/internal/evidence"
)

// retainFlags set how long the job records.expire keeps each class of
// record, in days (internal/evidence/retention.go holds the defaults and
// bounds). A malformed environment value is kept as an error and refused
// at start with the flag's name, like a malformed flag.
type retainFlags struct {
	audit, mail, notificationLog, jobRuns, usage, flows, monitor, webhookDeliveries int
	envErrs                                                                         []error
}

func (f *retainFlags) register(cmd *cobra.Command) {
	for _, d := range []struct {
		p     *int
		flag  string
		def   time.Duration
		usage string
	}{
		{&f.audit, "retain-audit-days", evidence.DefaultRetention.Audit,
			"days an audit entry is kept before its chain is cut behind a signed checkpoint (90–3650)"},
		{&f.mail, "retain-mail-days", evidence.DefaultRetention.Mail,
			"days a sent or failed mail is kept in the outbox (30–3650; a notice mail stays while the notification log names it)"},
		{&f.notificationLog, "retain-notification-log-days", evidence.DefaultRetention.NotificationLog,
			"days a row of the notification log (which notice mail went to whom) is kept (30–3650)"},
		{&f.jobRuns, "retain-job-runs-days", evidence.DefaultRetention.JobRuns,
			"days a scheduled job's run record is kept (30–3650)"},
		{&f.usage, "retain-usage-days", evidence.DefaultRetention.Usage,
			"days a port's usage records (5-minute traffic bins) are kept (62–3650)"},
		{&f.flows, "retain-flows-days", evidence.DefaultRetention.Flows,
			"days a flow record (a connection through a customer's hub) is kept (7–365)"},
		{&f.monitor, "retain-monitor-days", evidence.DefaultRetention.Monitor,
			"days a reachability monitor's state changes and 5-minute RTT/loss bins are kept (90–3650)"},
		{&f.webhookDeliveries, "retain-webhook-deliveries-days", evidence.DefaultRetention.WebhookDeliveries,
			"days a delivered or failed event webhook delivery is kept in the delivery log (30–3650)"},
	} {
		def := int(d.def / evidence.Day)
		env := "TSUNAGI_" + strings.ToUpper(strings.ReplaceAll(d.flag, "-", "_"))
		if v := os.Getenv(env); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				f.envErrs = append(f.envErrs, fmt.Errorf("--%s: %s=%q is not a whole number of days", d.flag, env, v))
			}
			def = n
		}
		cmd.Flags().IntVar(d.p, d.flag, def, d.usage+"; env "+env)
	}
}

// retention is the flags' periods, checked against their bounds.
func (f *retainFlags) retention() (evidence.Retention, error) {
	if err := errors.Join(f.envErrs...); err != nil {
		return evidence.Retention{}, err
	}
	r := evidence.Retention{Audit: retainDays(f.audit), Mail: retainDays(f.mail), NotificationLog: retainDays(f.notificationLog),
		JobRuns: retainDays(f.jobRuns), Usage: retainDays(f.usage), Flows: retainDays(f.flows),
		Monitor: retainDays(f.monitor), WebhookDeliveries: retainDays(f.webhookDeliveries)}
	return r, r.Check()
}

func retainDays(n int) time.Duration { return time.Duration(n) * evidence.Day }
