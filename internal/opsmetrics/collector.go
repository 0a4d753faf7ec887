// Package opsmetrics holds what an operator pages on, exported on the
// management listener's /metrics: per hub node (the age of its last report,
// whether it reached its current desired state, hubs not realised, BGP
// sessions by state, ports held, monitors by state) and per controller (the
// scheduled jobs, the mail outbox, the webhook queue).
//
// The figures are read from the database when Prometheus scrapes, not kept
// up to date by the code that changes them: the database is the one truth
// shared by every controller on it, so any controller answers for all. A
// reading serves every scrape for CacheFor, so that scrapes (several
// Prometheus servers, several controllers) cannot load the database. Each
// part is its own query: one that fails (a table being migrated, a lock
// timeout) leaves its metrics out of that reading and counts the failure in
// tsunagi_metrics_read_failures_total; the scrape itself never fails.
package opsmetrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/store"
)

// Config says how a Collector reads.
type Config struct {
	// DesiredState returns a node's current desired-state document and its
	// generation (network.Compiler.DesiredStateDoc, which caches them per
	// change); nil leaves tsunagi_node_desired_state_reached out.
	DesiredState func(ctx context.Context, node string) (doc []byte, generation string, err error)
	// JobRetry is the scheduler's retry interval (schedule.Scheduler.Retry):
	// a failed run sets its job due again exactly that long after the run
	// began, so a job due later than that has run again since, quietly
	// and well. 0 means 5 minutes, the scheduler's default.
	JobRetry time.Duration
	// CacheFor is how long one reading serves scrapes; 0 means 5 seconds.
	CacheFor time.Duration
	// Timeout bounds one reading; 0 means 10 seconds.
	Timeout time.Duration
	// Now is the clock; nil means clock.Now. Tests move it.
	Now func() time.Time
	// Log receives each failed part (warn level); nil discards.
	Log *slog.Logger
}

// Collector is a prometheus.Collector over the database.
type Collector struct {
	db       store.Querier
	cfg      Config
	failures *prometheus.CounterVec

	// mu serialises readings (a scrape that arrives during one waits for
	// it and takes its result) and guards readAt and snap.
	mu     sync.Mutex
	readAt time.Time
	snap   []prometheus.Metric
}

// Parts of a reading, the values of the failures counter's part label.
const (
	partNodes      = "nodes"
	partGeneration = "generation"
	partHubs       = "hubs"
	partSessions   = "bgp_sessions"
	partHolds      = "port_holds"
	partMonitors   = "monitors"
	partJobs       = "jobs"
	partMail       = "mail"
	partWebhooks   = "webhooks"
)

var parts = []string{partNodes, partGeneration, partHubs, partSessions, partHolds, partMonitors, partJobs, partMail, partWebhooks}

// New returns a collector reading db.
func New(db store.Querier, cfg Config) *Collector {
	if cfg.JobRetry == 0 {
		cfg.JobRetry = 5 * time.Minute
	}
	if cfg.CacheFor == 0 {
		cfg.CacheFor = 5 * time.Second
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = clock.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	c := &Collector{db: db, cfg: cfg, failures: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tsunagi_metrics_read_failures_total",
		Help: "Parts of the operator metrics that could not be read from the database (the scrape exports the others).",
	}, []string{"part"})}
	for _, p := range parts {
		c.failures.WithLabelValues(p)
	}
	return c
}

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
	c.failures.Describe(ch)
}

// Collect sends the current reading, reading the database first when the
// last reading is older than CacheFor.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	now := c.cfg.Now()
	if c.snap == nil || now.Sub(c.readAt) >= c.cfg.CacheFor || now.Before(c.readAt) {
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
		c.snap = c.read(ctx, now)
		cancel()
		c.readAt = now
	}
	snap := c.snap
	c.mu.Unlock()
	for _, m := range snap {
		ch <- m
	}
	c.failures.Collect(ch)
}

// failed counts and logs a part that could not be read.
func (c *Collector) failed(part string, err error) {
	c.failures.WithLabelValues(part).Inc()
	c.cfg.Log.Warn("operator metrics: a part could not be read; the scrape exports the others", "part", part, "err", err)
}
