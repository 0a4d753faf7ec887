package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/clock"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/tenant"
	"github.com/tsunagi-net/tsunagi/internal/text"
)

// States of a monitor (monitors.state; the operator metrics read them).
const (
	Unknown = "unknown"
	Up      = "up"
	Down    = "down"
	Stopped = "stopped"
)

// Option is the contract option whose quantity, summed over the
// customer's active contracts, is how many monitors it may have.
const Option = "reachability-monitor"

// Defaults and bounds of a monitor's own fields (the interval and
// fail_after bounds are the desired state's).
const (
	DefaultInterval  = 60
	DefaultFailAfter = 3
	maxName          = 100
	// StoppedLong is how long a monitor may stay stopped before the panel
	// flags it and the operations administrators get one reminder.
	StoppedLong = 7 * 24 * time.Hour
)

// Monitor is one reachability monitor as the customer reads it.
type Monitor struct {
	ID              string     `json:"id"`
	Name            string     `json:"name"`
	PortCode        string     `json:"port_code"`
	HubID           string     `json:"hub_id"`
	Target          string     `json:"target"`
	Probe           string     `json:"probe"`
	TCPPort         int        `json:"tcp_port,omitempty"`
	IntervalSeconds int        `json:"interval_seconds"`
	FailAfter       int        `json:"fail_after"`
	State           string     `json:"state"`
	StateSince      time.Time  `json:"state_since"`
	LastError       string     `json:"last_error,omitempty"`
	OverQuota       bool       `json:"over_quota"`
	StoppedAt       *time.Time `json:"stopped_at,omitempty"`
	StopReason      string     `json:"stop_reason,omitempty"`
	// StoppedLong: stopped for more than 7 days (flagged on the panel).
	StoppedLong bool `json:"stopped_long"`
	// BGP is the port's BGP session state as its node last reported it:
	// up, down, or "" when no node reported the port.
	BGP       string    `json:"bgp_state,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Input is a new monitor. Zero interval and fail_after take the defaults.
type Input struct {
	Name            string `json:"name"`
	PortCode        string `json:"port_code"`
	Target          string `json:"target"`
	Probe           string `json:"probe"`
	TCPPort         int    `json:"tcp_port"`
	IntervalSeconds int    `json:"interval_seconds"`
	FailAfter       int    `json:"fail_after"`
}

// Patch changes some fields of a monitor; absent fields stay.
type Patch struct {
	Name            *string `json:"name"`
	PortCode        *string `json:"port_code"`
	Target          *string `json:"target"`
	Probe           *string `json:"probe"`
	TCPPort         *int    `json:"tcp_port"`
	IntervalSeconds *int    `json:"interval_seconds"`
	FailAfter       *int    `json:"fail_after"`
}

// Service is the monitors of every customer over one store.
type Service struct {
	db    *store.DB
	audit *audit.Log
	net   *network.Workflow
	log   *slog.Logger
	// links makes an absolute link to a path of the customer panel, for
	// mail; nil leaves links out.
	links func(path string) string
	// Now is the clock; tests move it.
	Now func() time.Time
	// beforeTake, when set, runs between takeProbes' read and its UPDATE:
	// tests commit a concurrent stop there, which no call order from
	// outside could place.
	beforeTake func()
}

// New returns the monitor service. net reads the applied configuration
// (the hubs' own networks a target may not be in).
func New(db *store.DB, log *audit.Log, net *network.Workflow, logger *slog.Logger, links func(string) string) *Service {
	if logger == nil {
		logger = slog.Default()
	}
	return &Service{db: db, audit: log, net: net, log: logger, links: links, Now: clock.Now}
}

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

const (
	actRead   = tenant.Action(identity.ActMonitorsRead)
	actManage = tenant.Action(identity.ActMonitorsManage)
)

// refused are addresses that are never a customer's host behind a port.
var refused = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"), netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("255.255.255.255/32"),
}

// check normalises in and refuses what no node could probe. own are the
// hub's own networks (internal and monitoring), which are not behind a
// port.
func (in *Input) check(own []netip.Prefix) error {
	in.Name, in.Target = strings.TrimSpace(in.Name), strings.TrimSpace(in.Target)
	if in.Name == "" || utf8.RuneCountInString(in.Name) > maxName || text.SingleLine(in.Name) != "" {
		return fault.Field("name", "name must be valid text of at most %d characters", maxName)
	}
	a, err := netip.ParseAddr(in.Target)
	if err != nil || !a.Is4() {
		return fault.Field("target", "target must be an IPv4 address")
	}
	for _, p := range refused {
		if p.Contains(a) {
			return fault.Field("target", "target %s is not a customer address (%s)", a, p)
		}
	}
	for _, p := range own {
		if p.Contains(a) {
			return fault.Field("target", "target %s is in the hub's own network %s, not behind the port", a, p)
		}
	}
	in.Target = a.String()
	if in.IntervalSeconds == 0 {
		in.IntervalSeconds = DefaultInterval
	}
	if in.FailAfter == 0 {
		in.FailAfter = DefaultFailAfter
	}
	switch {
	case in.Probe == "icmp" && in.TCPPort == 0:
	case in.Probe == "tcp" && in.TCPPort >= 1 && in.TCPPort <= 65535:
	case in.Probe == "icmp":
		return fault.Field("tcp_port", "an icmp probe has no tcp_port")
	case in.Probe == "tcp":
		return fault.Field("tcp_port", "a tcp probe needs tcp_port 1–65535")
	default:
		return fault.Field("probe", "probe must be icmp or tcp")
	}
	if in.IntervalSeconds < desired.MinMonitorInterval || in.IntervalSeconds > desired.MaxMonitorInterval {
		return fault.Field("interval_seconds", "interval_seconds must be %d–%d", desired.MinMonitorInterval, desired.MaxMonitorInterval)
	}
	if in.FailAfter < 1 || in.FailAfter > desired.MaxFailAfter {
		return fault.Field("fail_after", "fail_after must be 1–%d", desired.MaxFailAfter)
	}
	return nil
}

// port is a customer's active port, as a monitor refers to it.
type port struct{ id, hub string }

func portOf(ctx context.Context, q store.Querier, cust tenant.CustomerID, code string) (port, error) {
	var p port
	err := store.Scan(q.QueryRow(ctx, `SELECT id, hub_id FROM ports WHERE customer_id = ? AND port_code = ? AND status = 'active'`,
		string(cust), code), &p.id, &p.hub)
	if errors.Is(err, store.ErrNotFound) {
		return p, fault.Field("port_code", "no active port %q of this customer", code)
	}
	return p, err
}

// ownNetworks are the hub's internal and monitoring networks in the
// customer's applied configuration (none before a first apply).
func (s *Service) ownNetworks(ctx context.Context, sc tenant.Scope, hub string) ([]netip.Prefix, error) {
	if s.net == nil {
		return nil, nil
	}
	v, err := s.net.Applied(ctx, sc)
	if fault.Is(err, fault.NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("monitor: applied configuration: %w", err)
	}
	var out []netip.Prefix
	for _, h := range v.Config.Hubs {
		if string(h.HubID) != hub {
			continue
		}
		for _, n := range []string{h.InternalNetwork, h.MonitoringNetwork} {
			if p, err := netip.ParsePrefix(n); err == nil {
				out = append(out, p.Masked())
			}
		}
	}
	return out, nil
}

// Quota is how many monitors sc's customer may have.
func (s *Service) Quota(ctx context.Context, sc tenant.Scope) (int, error) {
	cust, err := sc.Authorize(actRead, actManage)
	if err != nil {
		return 0, err
	}
	return allowed(ctx, s.db, cust)
}

// allowed is how many monitors cust may have: the quantity of the
// reachability-monitor option summed over its active contracts.
func allowed(ctx context.Context, q store.Querier, cust tenant.CustomerID) (int, error) {
	var n int64
	err := store.Scan(q.QueryRow(ctx, `SELECT COALESCE(SUM(o.quantity), 0) FROM contract_options o
		JOIN contracts c ON c.id = o.contract_id WHERE c.customer_id = ? AND c.status = 'active' AND o.name = ?`,
		string(cust), Option), &n)
	return int(n), err
}

// overQuota returns cust's monitors beyond its allowance: the newest,
// counted by creation, so that a shrinking option stops the last added.
func overQuota(ctx context.Context, q store.Querier, cust tenant.CustomerID) (map[string]bool, error) {
	n, err := allowed(ctx, q, cust)
	if err != nil {
		return nil, fmt.Errorf("monitor quota: %w", err)
	}
	ids, err := store.Strings(ctx, q, `SELECT id FROM monitors WHERE customer_id = ? ORDER BY created_at, id`, string(cust))
	if err != nil {
		return nil, fmt.Errorf("monitor quota: %w", err)
	}
	out := map[string]bool{}
	for i, id := range ids {
		if i >= n {
			out[id] = true
		}
	}
	return out, nil
}
