package opsmetrics

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tsunagi-net/tsunagi/internal/clock"
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	nodeInfo = desc("tsunagi_node_info", "Every hub node not retired (value 1), with its region and state (active, draining).",
		"node", "region", "state")
	nodeHubs      = desc("tsunagi_node_hubs", "Customer hubs placed on the node.", "node")
	nodeReportAge = desc("tsunagi_node_report_age_seconds",
		"Seconds since the node's last accepted report; since its enrolment when it never reported (absent before enrolment).", "node")
	nodeReached = desc("tsunagi_node_desired_state_reached",
		"1 when the node's last report applied the current desired-state generation, else 0 (absent before enrolment).", "node")
	nodeUnrealised = desc("tsunagi_node_hubs_unrealised",
		"Hubs whose last report from the node runs another version than the one wanted, or names an error.", "node")
	nodeSessions = desc("tsunagi_node_bgp_sessions",
		"BGP sessions in the node's last report by BIRD protocol state; peer is port (a customer's peer) or backbone.", "node", "peer", "state")
	nodeHeld     = desc("tsunagi_node_ports_held", "Ports the node holds down until the customer re-enables them, by kind.", "node", "kind")
	nodeMonitors = desc("tsunagi_node_monitors", "Reachability monitors of the hubs placed on the node, by state.", "node", "state")

	jobNext    = desc("tsunagi_job_next_run_timestamp_seconds", "When the job is next due (Unix time); long past means no controller runs jobs.", "job")
	jobSuccess = desc("tsunagi_job_last_success_timestamp_seconds",
		"End of the job's last recorded successful run (Unix time); a watcher's runs that found nothing leave no record.", "job")
	jobFailed = desc("tsunagi_job_last_run_failed", "1 when the job's last run failed, else 0.", "job")

	mailMessages = desc("tsunagi_mail_outbox_messages", "Mails in the outbox by status.", "status")
	mailOldest   = desc("tsunagi_mail_outbox_oldest_pending_age_seconds", "Age of the oldest mail not yet delivered (pending or sending); 0 when none.")
	hookMessages = desc("tsunagi_webhook_deliveries", "Webhook deliveries by status.", "status")
	hookOldest   = desc("tsunagi_webhook_oldest_pending_age_seconds", "Age of the oldest webhook delivery still pending; 0 when none.")
	readDuration = desc("tsunagi_metrics_read_duration_seconds", "How long the last reading of the operator metrics from the database took.")
	allDescs     = []*prometheus.Desc{nodeInfo, nodeHubs, nodeReportAge, nodeReached, nodeUnrealised, nodeSessions, nodeHeld, nodeMonitors,
		jobNext, jobSuccess, jobFailed, mailMessages, mailOldest, hookMessages, hookOldest, readDuration}
)

// The states each labelled family always exports, zero when none, so that
// a series does not vanish when its count falls to zero.
var (
	sessionStates = []string{"up", "start", "down"}
	holdKinds     = []string{"l2_guard", "route_limit"}
	monitorStates = []string{"unknown", "up", "down", "stopped"}
	mailStatuses  = []string{"pending", "sending", "sent", "failed"}
	hookStatuses  = []string{"pending", "delivered", "failed"}
)

// reading collects one reading's metrics.
type reading struct {
	now time.Time
	out []prometheus.Metric
}

func (r *reading) gauge(d *prometheus.Desc, v float64, labels ...string) {
	r.out = append(r.out, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...))
}

// age is the seconds from a stored instant to the reading.
func (r *reading) age(stored string) (float64, error) {
	t, err := clock.Parse(stored)
	if err != nil {
		return 0, err
	}
	return max(r.now.Sub(t).Seconds(), 0), nil
}

// node is one hub node not retired.
type node struct {
	id, name, region, state string
	reported, applied       string // node_status; "" before the first report
	enrolled                string // the first certificate issued; "" before enrolment
	hubs                    int
}

// read reads every part.
func (c *Collector) read(ctx context.Context, now time.Time) []prometheus.Metric {
	start := time.Now()
	r := &reading{now: now}
	if nodes, err := c.nodes(ctx); err != nil {
		c.failed(partNodes, err)
	} else {
		c.readNodes(ctx, r, nodes)
	}
	if err := c.jobs(ctx, r); err != nil {
		c.failed(partJobs, err)
	}
	if err := c.queue(ctx, r, `SELECT status, COUNT(*) FROM mail_outbox GROUP BY status`,
		`SELECT COALESCE(MIN(created_at), '') FROM mail_outbox WHERE status IN ('pending', 'sending')`,
		mailStatuses, mailMessages, mailOldest); err != nil {
		c.failed(partMail, err)
	}
	if err := c.queue(ctx, r, `SELECT status, COUNT(*) FROM webhook_deliveries GROUP BY status`,
		`SELECT COALESCE(MIN(created_at), '') FROM webhook_deliveries WHERE status = 'pending'`,
		hookStatuses, hookMessages, hookOldest); err != nil {
		c.failed(partWebhooks, err)
	}
	r.gauge(readDuration, time.Since(start).Seconds())
	return r.out
}

func (c *Collector) nodes(ctx context.Context) ([]node, error) {
	rows, err := c.db.Query(ctx, `SELECT n.id, n.name, r.code, n.state, COALESCE(st.reported_at, ''), COALESCE(st.applied_generation, ''),
			COALESCE((SELECT MIN(c.issued_at) FROM node_certs c WHERE c.node_id = n.id), ''),
			(SELECT COUNT(*) FROM hub_placements p WHERE p.node_id = n.id)
		FROM hub_nodes n JOIN regions r ON r.id = n.region_id LEFT JOIN node_status st ON st.node_id = n.id
		WHERE n.state <> 'retired' ORDER BY n.name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []node
	for rows.Next() {
		var n node
		if err := rows.Scan(&n.id, &n.name, &n.region, &n.state, &n.reported, &n.applied, &n.enrolled, &n.hubs); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// readNodes exports the per-node metrics; a part that fails leaves only
// its own family out.
func (c *Collector) readNodes(ctx context.Context, r *reading, nodes []node) {
	for _, n := range nodes {
		r.gauge(nodeInfo, 1, n.name, n.region, n.state)
		r.gauge(nodeHubs, float64(n.hubs), n.name)
		since := n.reported
		if since == "" {
			since = n.enrolled
		}
		if since == "" {
			continue // not enrolled: nothing is expected of it yet
		}
		if a, err := r.age(since); err != nil {
			c.failed(partNodes, fmt.Errorf("node %s: %w", n.name, err))
		} else {
			r.gauge(nodeReportAge, a, n.name)
		}
		if c.cfg.DesiredState == nil {
			continue
		}
		_, gen, err := c.cfg.DesiredState(ctx, n.name)
		if err != nil {
			c.failed(partGeneration, fmt.Errorf("node %s: %w", n.name, err))
			continue
		}
		reached := 0.0
		if n.applied != "" && n.applied == gen {
			reached = 1
		}
		r.gauge(nodeReached, reached, n.name)
	}
	if counts, err := c.countByNode(ctx, `SELECT node_id, '', COUNT(*) FROM hub_observations
		WHERE error <> '' OR config_version <> wanted_version GROUP BY node_id`); err != nil {
		c.failed(partHubs, err)
	} else {
		for _, n := range nodes {
			r.gauge(nodeUnrealised, float64(counts[n.id][""]), n.name)
		}
	}
	if sessions, err := c.sessions(ctx); err != nil {
		c.failed(partSessions, err)
	} else {
		for _, n := range nodes {
			for _, peer := range []string{"port", "backbone"} {
				byState := sessions[n.id][peer]
				for _, st := range withKnown(sessionStates, byState) {
					r.gauge(nodeSessions, float64(byState[st]), n.name, peer, st)
				}
			}
		}
	}
	// A hold names the node that reported it; one carried over from before
	// holds named their node is counted on the node its hub is placed on.
	if counts, err := c.countByNode(ctx, `SELECT CASE WHEN h.node <> '' THEN h.node ELSE COALESCE(n.name, '') END, h.kind, COUNT(*)
		FROM port_holds h JOIN ports p ON p.id = h.port_id
			LEFT JOIN hub_placements hp ON hp.hub_id = p.hub_id LEFT JOIN hub_nodes n ON n.id = hp.node_id
		GROUP BY 1, 2`); err != nil {
		c.failed(partHolds, err)
	} else {
		for _, n := range nodes {
			for _, k := range holdKinds {
				r.gauge(nodeHeld, float64(counts[n.name][k]), n.name, k)
			}
		}
	}
	if counts, err := c.countByNode(ctx, `SELECT p.node_id, m.state, COUNT(*) FROM monitors m JOIN hub_placements p ON p.hub_id = m.hub_id
		GROUP BY p.node_id, m.state`); err != nil {
		c.failed(partMonitors, err)
	} else {
		for _, n := range nodes {
			for _, st := range monitorStates {
				r.gauge(nodeMonitors, float64(counts[n.id][st]), n.name, st)
			}
		}
	}
}

// countByNode reads rows of (node, label, count).
func (c *Collector) countByNode(ctx context.Context, q string) (map[string]map[string]int64, error) {
	rows, err := c.db.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]map[string]int64{}
	for rows.Next() {
		var node, label string
		var n int64
		if err := rows.Scan(&node, &label, &n); err != nil {
			return nil, err
		}
		if out[node] == nil {
			out[node] = map[string]int64{}
		}
		out[node][label] += n
	}
	return out, rows.Err()
}

// countBy reads rows of (label, count).
func (c *Collector) countBy(ctx context.Context, q string) (map[string]int64, error) {
	rows, err := c.db.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var label string
		var n int64
		if err := rows.Scan(&label, &n); err != nil {
			return nil, err
		}
		out[label] += n
	}
	return out, rows.Err()
}

// observedSessions is the part of a stored hub observation (observed.Hub)
// these metrics read.
type observedSessions struct {
	Ports []struct {
		Sessions []struct {
			State string `json:"state"`
		} `json:"bgp_sessions"`
	} `json:"ports"`
	Backbone []struct {
		State string `json:"state"`
	} `json:"backbone"`
}

// sessions counts the BGP sessions of each node's last report: node ID →
// peer → state → count.
func (c *Collector) sessions(ctx context.Context) (map[string]map[string]map[string]int64, error) {
	rows, err := c.db.Query(ctx, `SELECT node_id, hub_id, body FROM hub_observations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]map[string]map[string]int64{}
	for rows.Next() {
		var node, hub, body string
		if err := rows.Scan(&node, &hub, &body); err != nil {
			return nil, err
		}
		var o observedSessions
		if err := json.Unmarshal([]byte(body), &o); err != nil {
			// One unreadable row costs its own sessions, not the node's.
			c.failed(partSessions, fmt.Errorf("hub %s on node %s: %w", hub, node, err))
			continue
		}
		if out[node] == nil {
			out[node] = map[string]map[string]int64{"port": {}, "backbone": {}}
		}
		for _, p := range o.Ports {
			for _, s := range p.Sessions {
				out[node]["port"][s.State]++
			}
		}
		for _, s := range o.Backbone {
			out[node]["backbone"][s.State]++
		}
	}
	return out, rows.Err()
}

// withKnown is known followed by the other keys of counts.
func withKnown(known []string, counts map[string]int64) []string {
	out := append([]string(nil), known...)
	for k := range counts {
		if !slices.Contains(known, k) {
			out = append(out, k)
		}
	}
	return out
}

// jobs exports, per job the scheduler knows (job_leases), when it is next
// due, its last successful run and whether its last run failed.
func (c *Collector) jobs(ctx context.Context, r *reading) error {
	rows, err := c.db.Query(ctx, `SELECT l.job, l.next_run_at, COALESCE((SELECT MAX(s.finished_at) FROM job_runs s WHERE s.job = l.job AND s.outcome = 'ok'), '')
		FROM job_leases l ORDER BY l.job`)
	if err != nil {
		return err
	}
	type job struct{ name, next, success string }
	var jobs []job
	for rows.Next() {
		var j job
		if err := rows.Scan(&j.name, &j.next, &j.success); err != nil {
			rows.Close()
			return err
		}
		jobs = append(jobs, j)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, j := range jobs {
		next, err := clock.Parse(j.next)
		if err != nil {
			return fmt.Errorf("job %s: %w", j.name, err)
		}
		r.gauge(jobNext, unix(next), j.name)
		if j.success != "" {
			t, err := clock.Parse(j.success)
			if err != nil {
				return fmt.Errorf("job %s: %w", j.name, err)
			}
			r.gauge(jobSuccess, unix(t), j.name)
		}
		var outcome, started string
		err = c.db.QueryRow(ctx, `SELECT outcome, started_at FROM job_runs WHERE job = ? AND outcome <> 'running'
			ORDER BY started_at DESC, id DESC LIMIT 1`, j.name).Scan(&outcome, &started)
		failed := 0.0
		switch {
		case err == nil && outcome == "failed":
			// A watcher's later run that found nothing and ended well
			// leaves no record, but it moved the job's next due time past
			// the retry the failure set.
			s, perr := clock.Parse(started)
			if perr != nil {
				return fmt.Errorf("job %s: %w", j.name, perr)
			}
			if !next.After(s.Add(c.cfg.JobRetry)) {
				failed = 1
			}
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("job %s: %w", j.name, err)
		}
		r.gauge(jobFailed, failed, j.name)
	}
	return nil
}

func unix(t time.Time) float64 { return float64(t.UnixMicro()) / 1e6 }

// queue exports a queue's rows by status (every status in statuses, zero
// when none) and the age of its oldest waiting row.
func (c *Collector) queue(ctx context.Context, r *reading, byStatus, oldest string, statuses []string, count, age *prometheus.Desc) error {
	counts, err := c.countBy(ctx, byStatus)
	if err != nil {
		return err
	}
	var first string
	if err := c.db.QueryRow(ctx, oldest).Scan(&first); err != nil {
		return err
	}
	a := 0.0
	if first != "" {
		if a, err = r.age(first); err != nil {
			return err
		}
	}
	for _, st := range withKnown(statuses, counts) {
		r.gauge(count, float64(counts[st]), st)
	}
	r.gauge(age, a)
	return nil
}
