package observed

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"
)

// SchemaJSON is the JSON schema of a report (report.schema.json).
//
//go:embed report.schema.json
var SchemaJSON []byte

// Bounds of a report. A node carries at most a few hundred hubs; the
// bounds are far above what a node sends and far below what would let
// one report exhaust the controller. MaxReport bounds the encoding as a
// whole; the others bound each list, so that no single hub can crowd the
// others out of it.
const (
	MaxReport      = 32 << 20
	MaxHubs        = 4096
	MaxPorts       = 256  // per hub
	MaxSessions    = 4    // per port
	MaxBackbone    = 16   // per hub
	MaxLinks       = 8    // per port
	MaxRules       = 1024 // per port: a policy's rules and the default
	MaxProblems    = 256  // per hub
	MaxHolds       = 256  // per hub
	MaxEvents      = 1024 // per hub
	MaxMonitors    = 1024 // per hub
	MaxProbes      = 64   // per monitor and report
	MaxText        = 2048 // bytes of any free text (errors, reasons, details)
	maxIdentifiers = 80
)

var (
	generationRE = regexp.MustCompile(`^[0-9a-f]{0,64}$`)
	versionRE    = regexp.MustCompile(`^[A-Za-z0-9._+-]{1,64}$`)
	idRE         = regexp.MustCompile(`^[a-z]{2,8}_[a-z0-9_]{1,64}$`)
	codeRE       = regexp.MustCompile(`^shc[0-9]{8}$`)
)

// Encode returns the report's encoding (JSON, no HTML escaping). The
// agent lists hubs, ports and sessions in the desired state's order, so
// that two passes over an unchanged node encode alike.
func Encode(r Report) ([]byte, error) {
	r = r.WithLists()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Decode reads a report strictly — unknown fields and trailing data are
// refused — and checks it. A report failing either is refused whole.
func Decode(b []byte) (Report, error) {
	if len(b) > MaxReport {
		return Report{}, fmt.Errorf("node report: larger than %d bytes", MaxReport)
	}
	var r Report
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Report{}, fmt.Errorf("node report: %w", err)
	}
	if dec.More() {
		return Report{}, errors.New("node report: trailing data")
	}
	if err := r.Check(); err != nil {
		return Report{}, err
	}
	return r.WithLists(), nil
}

// WithLists returns r with every absent list empty, as the schema has
// them: a list is always a list, never null. It copies what it changes.
func (r Report) WithLists() Report {
	r.Hubs = nonNil(r.Hubs)
	hubs := make([]Hub, len(r.Hubs))
	for i, h := range r.Hubs {
		h.Problems, h.Backbone, h.Holds, h.Events = nonNil(h.Problems), sessions(h.Backbone), nonNil(h.Holds), nonNil(h.Events)
		if h.Monitors != nil {
			mons := make([]MonitorReport, len(h.Monitors))
			for j, m := range h.Monitors {
				m.Probes = nonNil(m.Probes)
				mons[j] = m
			}
			h.Monitors = mons
		}
		ports := make([]Port, len(h.Ports))
		for j, p := range h.Ports {
			p.Sessions, p.Links, p.Rules = sessions(p.Sessions), nonNil(p.Links), nonNil(p.Rules)
			ports[j] = p
		}
		h.Ports = ports
		hubs[i] = h
	}
	r.Hubs = hubs
	return r
}

func sessions(ss []Session) []Session {
	out := make([]Session, len(ss))
	for i, s := range ss {
		s.Refused = nonNil(s.Refused)
		out[i] = s
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Check validates what the controller relies on: the schema, identifiers
// it stores and looks hubs up by, names it shows, the bounds above. It
// does not check that the hubs are the node's: only the controller knows
// which hubs the desired state places on a node.
func (r Report) Check() error {
	if r.Schema != Schema {
		return fmt.Errorf("node report: schema %q, want %q", r.Schema, Schema)
	}
	if !generationRE.MatchString(r.AppliedGeneration) {
		return errors.New("node report: applied_generation must be a hex digest or empty")
	}
	if !versionRE.MatchString(r.AgentVersion) {
		return errors.New("node report: agent_version must be 1–64 letters, digits or ._+-")
	}
	if r.ObservedAt.IsZero() {
		return errors.New("node report: observed_at is required")
	}
	if err := text("error", r.Error); err != nil {
		return err
	}
	if len(r.Hubs) > MaxHubs {
		return fmt.Errorf("node report: more than %d hubs", MaxHubs)
	}
	seen := map[string]bool{}
	for i, h := range r.Hubs {
		if err := h.check(); err != nil {
			return fmt.Errorf("node report: hubs[%d]: %w", i, err)
		}
		if seen[h.HubID] {
			return fmt.Errorf("node report: hub %s reported twice", h.HubID)
		}
		seen[h.HubID] = true
	}
	return nil
}

func (h Hub) check() error {
	if !idRE.MatchString(h.HubID) || !idRE.MatchString(h.CustomerID) {
		return fmt.Errorf("hub_id %q or customer_id %q is not an identifier", h.HubID, h.CustomerID)
	}
	if h.WantedVersion < 0 || h.ConfigVersion < 0 {
		return errors.New("versions cannot be negative")
	}
	if err := text("error", h.Error); err != nil {
		return err
	}
	if err := bound("problems", len(h.Problems), MaxProblems, "ports", len(h.Ports), MaxPorts, "backbone", len(h.Backbone), MaxBackbone,
		"holds", len(h.Holds), MaxHolds, "events", len(h.Events), MaxEvents); err != nil {
		return err
	}
	for _, p := range h.Problems {
		if p.PortCode != "" && !codeRE.MatchString(p.PortCode) {
			return fmt.Errorf("problem: port_code %q", p.PortCode)
		}
		if p.Item == "" || p.Reason == "" {
			return errors.New("problem: item and reason are required")
		}
		if err := texts("problem", p.Item, p.Reason); err != nil {
			return err
		}
	}
	codes := map[string]bool{}
	for _, p := range h.Ports {
		if !codeRE.MatchString(p.PortCode) || codes[p.PortCode] {
			return fmt.Errorf("port_code %q is invalid or repeated", p.PortCode)
		}
		codes[p.PortCode] = true
		if err := p.check(); err != nil {
			return fmt.Errorf("port %s: %w", p.PortCode, err)
		}
	}
	for _, s := range h.Backbone {
		if err := s.check(backboneNames); err != nil {
			return fmt.Errorf("backbone: %w", err)
		}
	}
	for _, hd := range h.Holds {
		if err := hd.check(); err != nil {
			return err
		}
	}
	for _, e := range h.Events {
		if err := e.check(); err != nil {
			return err
		}
	}
	if len(h.Monitors) > MaxMonitors {
		return fmt.Errorf("more than %d monitors", MaxMonitors)
	}
	mons := map[string]bool{}
	for _, m := range h.Monitors {
		if !idRE.MatchString(m.ID) || mons[m.ID] {
			return fmt.Errorf("monitor %q: the ID is invalid or repeated", m.ID)
		}
		mons[m.ID] = true
		if err := m.check(); err != nil {
			return fmt.Errorf("monitor %s: %w", m.ID, err)
		}
	}
	return nil
}

func (m MonitorReport) check() error {
	if len(m.Probes) > MaxProbes || m.Dropped < 0 {
		return fmt.Errorf("more than %d probes, or a negative count dropped", MaxProbes)
	}
	var last time.Time
	for _, p := range m.Probes {
		if p.At.IsZero() || p.At.Before(last) {
			return errors.New("probes need their times, oldest first")
		}
		last = p.At
		if p.RTTMicros < 0 || (!p.OK && p.RTTMicros != 0) {
			return errors.New("a probe's round-trip time is not negative, and only an answered probe has one")
		}
		if err := text("probe error", p.Error); err != nil {
			return err
		}
	}
	return nil
}

var (
	sessionNames  = []string{"single", "primary", "secondary"}
	backboneNames = []string{"main", "sub", "backup"}
	legNames      = []string{"", "primary", "secondary"}
	holdKinds     = []string{HoldL2Guard, HoldRouteLimit}
	eventKinds    = []string{EventSession, EventHold}
)

// Reasons of a hold: a layer-2 guard shuts a port for a BPDU, for
// flapping, or — when the node's record of why is unreadable — for an
// unknown reason (the port stays shut all the same); a route-limit hold is
// for the limit. The controller and the desired state accept exactly these.
var holdReasons = map[string][]string{HoldL2Guard: {"bpdu", "flap", "unknown"}, HoldRouteLimit: {"limit"}}

// ValidHoldReason reports whether reason is one a hold of kind may carry.
func ValidHoldReason(kind, reason string) bool { return slices.Contains(holdReasons[kind], reason) }

// HoldReasons lists the reasons a hold of kind may carry.
func HoldReasons(kind string) []string { return slices.Clone(holdReasons[kind]) }

func (p Port) check() error {
	if err := bound("bgp_sessions", len(p.Sessions), MaxSessions, "links", len(p.Links), MaxLinks, "firewall_rules", len(p.Rules), MaxRules); err != nil {
		return err
	}
	for _, s := range p.Sessions {
		if err := s.check(sessionNames); err != nil {
			return err
		}
	}
	for _, l := range p.Links {
		if !slices.Contains(sessionNames, l.Connection) || !slices.Contains(legNames, l.Leg) {
			return fmt.Errorf("link %q/%q: connection is single, primary or secondary; leg primary, secondary or none", l.Connection, l.Leg)
		}
		if l.IfIndex < 0 {
			return fmt.Errorf("link %q/%q: negative ifindex", l.Connection, l.Leg)
		}
	}
	rules := map[int]bool{}
	for _, c := range p.Rules {
		if c.Rule < DefaultRule || rules[c.Rule] {
			return fmt.Errorf("firewall rule %d is invalid or repeated", c.Rule)
		}
		rules[c.Rule] = true
	}
	return nil
}

func (s Session) check(names []string) error {
	if !slices.Contains(names, s.Name) {
		return fmt.Errorf("session %q: the name is one of %v", s.Name, names)
	}
	if s.Imported < 0 || s.Filtered < 0 || s.Exported < 0 {
		return fmt.Errorf("session %s: negative route count", s.Name)
	}
	if len(s.Refused) > MaxRefused {
		return fmt.Errorf("session %s: more than %d refused prefixes", s.Name, MaxRefused)
	}
	if err := texts("session "+s.Name, s.State, s.Info); err != nil {
		return err
	}
	for _, f := range s.Refused {
		if err := texts("refused prefix", f.Prefix, f.Reason); err != nil {
			return err
		}
	}
	return nil
}

func (h Hold) check() error {
	if !slices.Contains(holdKinds, h.Kind) || !ValidHoldReason(h.Kind, h.Reason) {
		return fmt.Errorf("hold: kind %q with reason %q", h.Kind, h.Reason)
	}
	if !codeRE.MatchString(h.PortCode) {
		return fmt.Errorf("hold: port_code %q", h.PortCode)
	}
	if h.Session != "" && !slices.Contains(sessionNames, h.Session) {
		return fmt.Errorf("hold: session %q", h.Session)
	}
	if h.Prefixes < 0 || h.Limit < 0 || h.ReenableSeq < 0 {
		return errors.New("hold: negative count or sequence")
	}
	return text("hold detail", h.Detail)
}

func (e Event) check() error {
	if !slices.Contains(eventKinds, e.Kind) {
		return fmt.Errorf("event: kind %q", e.Kind)
	}
	if e.PortCode != "" && !codeRE.MatchString(e.PortCode) {
		return fmt.Errorf("event: port_code %q", e.PortCode)
	}
	if (e.Kind == EventHold) != (e.Hold != nil) {
		return errors.New("event: a hold event carries its hold, and only it")
	}
	if e.Hold != nil {
		if err := e.Hold.check(); err != nil {
			return err
		}
	}
	return texts("event", e.Session, e.From, e.To)
}

// bound checks list lengths given as name, length, maximum triples.
func bound(args ...any) error {
	for i := 0; i+2 < len(args); i += 3 {
		if n, max := args[i+1].(int), args[i+2].(int); n > max {
			return fmt.Errorf("more than %d %s", max, args[i])
		}
	}
	return nil
}

func texts(what string, ss ...string) error {
	for _, s := range ss {
		if err := text(what, s); err != nil {
			return err
		}
	}
	return nil
}

func text(what, s string) error {
	if len(s) > MaxText || !utf8.ValidString(s) {
		return fmt.Errorf("%s: text longer than %d bytes or not UTF-8", what, MaxText)
	}
	return nil
}

// Clip shortens s to MaxText bytes at a character boundary, marking the
// cut: the agent clips the errors it reports, which can join many.
func Clip(s string) string {
	if len(s) <= MaxText {
		return s
	}
	const mark = " …"
	cut := MaxText - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
