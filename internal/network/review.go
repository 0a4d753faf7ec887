package network

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// Review is what a reviewer sees before apply (ISO/IEC 27017 14.2.1): what
// changes, what it affects, whether it is valid, how risky it is and why,
// and what the traffic will notice.
type Review struct {
	BaseVersion     int64    `json:"base_version"`
	CurrentVersion  int64    `json:"current_version"`
	Stale           bool     `json:"stale"`
	Changes         []Change `json:"changes"`
	AffectedHubs    []string `json:"affected_hubs"`
	AffectedPorts   []string `json:"affected_ports"`
	AffectedObjects []string `json:"affected_objects"`
	Valid           bool     `json:"valid"`
	Problems        Problems `json:"problems"`
	Risk            string   `json:"risk"` // none | low | medium | high
	Reasons         []Reason `json:"reasons"`
	Impact          string   `json:"impact"` // none | brief-loss | session-reset
	// Hitless is true when nothing in the change interrupts traffic or
	// resets a session (Impact is none), e.g. a speed change, whose
	// shaping rate changes in place.
	Hitless bool `json:"hitless"`
	// Revision identifies the draft this review is of; an apply given it
	// applies that draft or nothing (Workflow.ApplyReviewed).
	Revision string `json:"revision,omitempty"`
	// Removals say, for each port the draft removes (ending.go), what
	// stops with it.
	Removals []PortRemoval `json:"removals,omitempty"`
}

// Change is one difference, at a JSON path where list elements are named by
// their key (hub_id, port_code or name) rather than by position.
type Change struct {
	Path   string `json:"path"`
	Op     string `json:"op"` // added | removed | changed
	Before any    `json:"before,omitempty"`
	After  any    `json:"after,omitempty"`
}

// Reason is why a review has its risk, with the traffic impact expected.
type Reason struct {
	Risk   string `json:"risk"`
	Impact string `json:"impact"`
	Object string `json:"object"`
	Text   string `json:"text"`
}

// Risk and impact levels, in increasing order.
var (
	riskOrder   = []string{"none", "low", "medium", "high"}
	impactOrder = []string{"none", "brief-loss", "session-reset"}
)

// BuildReview compares the applied configuration with the draft, both
// normalized against f, and classifies the risk.
func BuildReview(f Facts, applied, draft Config, s Settings) Review {
	r := Review{Changes: Diff(applied, draft), Problems: Validate(f, draft, s)}
	r.Valid = len(r.Problems) == 0
	r.Reasons = Classify(f, applied, draft)
	r.levels()
	if r.Problems == nil {
		r.Problems = Problems{}
	}
	return r
}

// levels sets the review's risk, impact, hitlessness and affected objects
// from its reasons.
func (r *Review) levels() {
	r.Risk, r.Impact = "none", "none"
	for _, rs := range r.Reasons {
		if slices.Index(riskOrder, rs.Risk) > slices.Index(riskOrder, r.Risk) {
			r.Risk = rs.Risk
		}
		if slices.Index(impactOrder, rs.Impact) > slices.Index(impactOrder, r.Impact) {
			r.Impact = rs.Impact
		}
	}
	hubs, ports, objects := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, rs := range r.Reasons {
		kind, name, _ := strings.Cut(rs.Object, ":")
		switch kind {
		case "hub":
			hubs[name] = true
		case "port":
			ports[name] = true
		case "object":
			objects[name] = true
		}
	}
	r.AffectedHubs, r.AffectedPorts, r.AffectedObjects = sortedKeys(hubs), sortedKeys(ports), sortedKeys(objects)
	r.Hitless = r.Impact == "none"
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Classify lists the reasons for a change's risk. Each rule states the risk
// and the traffic impact of one kind of change; the review's level is the
// highest of them.
func Classify(f Facts, old, new Config) []Reason {
	out := []Reason{} // an empty list, never null, in the review document
	add := func(risk, impact, object, format string, args ...any) {
		out = append(out, Reason{Risk: risk, Impact: impact, Object: object, Text: fmt.Sprintf(format, args...)})
	}
	kinds := map[string]string{}
	for _, p := range f.Ports {
		kinds[p.Code] = p.Kind
	}
	if old.ASN != new.ASN && old.ASN != 0 {
		add("high", "session-reset", "hub:*", "changes the hub ASN from %d to %d: every BGP session resets", old.ASN, new.ASN)
	}
	oldHubs := map[string]HubConfig{}
	for _, h := range old.Hubs {
		oldHubs[string(h.HubID)] = h
	}
	for _, h := range new.Hubs {
		o, ok := oldHubs[string(h.HubID)]
		if !ok {
			add("low", "none", "hub:"+string(h.HubID), "sets up hub %s with internal network %s", h.HubID, h.InternalNetwork)
			continue
		}
		if o.InternalNetwork != h.InternalNetwork {
			add("high", "brief-loss", "hub:"+string(h.HubID), "changes the internal network of hub %s from %s to %s: every port re-learns it",
				h.HubID, o.InternalNetwork, h.InternalNetwork)
		}
		if o.MonitoringNetwork != h.MonitoringNetwork {
			add("medium", "brief-loss", "hub:"+string(h.HubID), "changes the monitoring network of hub %s: reachability probes restart", h.HubID)
		}
	}
	// Object changes affect the ports whose rules use them.
	changedObjects := objectChanges(old.Objects, new.Objects)
	for _, name := range changedObjects {
		add("low", "none", "object:"+name, "changes firewall object %s", name)
	}
	oldPorts := map[string]PortConfig{}
	for _, p := range old.Ports {
		oldPorts[p.PortCode] = p
	}
	newPorts := map[string]bool{}
	for _, p := range new.Ports {
		newPorts[p.PortCode] = true
		obj := "port:" + p.PortCode
		o, existed := oldPorts[p.PortCode]
		if !existed {
			add("low", "none", obj, "configures port %s for the first time", p.PortCode)
			continue
		}
		public := isPublicKind(kinds[p.PortCode])
		if peerChanged(o, p) {
			add("medium", "session-reset", obj, "changes a BGP peer on port %s: session reset expected", p.PortCode)
		}
		if p.OnPrem != nil && o.OnPrem != nil && !p.OnPrem.L2Guard.Equal(o.OnPrem.L2Guard) {
			add("low", "none", obj, "changes the layer-2 guards of port %s", p.PortCode)
		}
		if p.Cloud != nil && o.Cloud != nil && !reflect.DeepEqual(p.Cloud.RoutePolicy, o.Cloud.RoutePolicy) {
			impact := "none"
			if p.Cloud.RoutePolicy.Type != o.Cloud.RoutePolicy.Type || len(removed(o.Cloud.RoutePolicy.Prefixes, p.Cloud.RoutePolicy.Prefixes)) > 0 {
				impact = "brief-loss"
			}
			add("medium", impact, obj, "changes the route policy toward port %s from %s to %s: advertised routes change",
				p.PortCode, o.Cloud.RoutePolicy.Type, p.Cloud.RoutePolicy.Type)
		}
		fwChanged := !reflect.DeepEqual(o.Firewall, p.Firewall) || usesAny(p.Firewall, new.Objects, changedObjects)
		if fwChanged {
			risk, impact := "low", "none"
			if public {
				risk = "medium"
			}
			if o.Firewall != nil && p.Firewall != nil && o.Firewall.Mode != p.Firewall.Mode {
				impact = "brief-loss"
			}
			if public {
				add(risk, impact, obj, "firewall change on a public port %s", p.PortCode)
			} else {
				add(risk, impact, obj, "firewall change on port %s", p.PortCode)
			}
		}
		if len(p.NAPT) < len(o.NAPT) || !slices.Equal(p.NAPT[:min(len(p.NAPT), len(o.NAPT))], o.NAPT[:min(len(p.NAPT), len(o.NAPT))]) {
			add("medium", "session-reset", obj, "removes or resizes a NAPT grade on port %s: sessions through its public addresses are dropped", p.PortCode)
		} else if len(p.NAPT) > len(o.NAPT) {
			add("low", "none", obj, "adds NAPT grades on port %s", p.PortCode)
		}
		if gone := removed(insides(o.StaticNAT), insides(p.StaticNAT)); len(gone) > 0 {
			add("medium", "brief-loss", obj, "removes static NAT for %s on port %s", strings.Join(gone, ", "), p.PortCode)
		} else if len(p.StaticNAT) > len(o.StaticNAT) {
			add("low", "none", obj, "adds static NAT on port %s", p.PortCode)
		}
	}
	for _, o := range old.Ports {
		if !newPorts[o.PortCode] {
			add("high", "session-reset", "port:"+o.PortCode, "removes the configuration of port %s: its BGP session stops and it carries no traffic", o.PortCode)
		}
	}
	if defaultRoutes(old) > 0 && defaultRoutes(new) == 0 {
		add("high", "brief-loss", "hub:*", "removes the only default route advertised to your cloud ports")
	}
	return out
}

func defaultRoutes(c Config) int {
	n := 0
	for _, p := range c.Ports {
		if p.Cloud != nil && p.Cloud.RoutePolicy.Type == PolicyDefaultRoute {
			n++
		}
	}
	return n
}

func peerChanged(o, p PortConfig) bool {
	switch {
	case o.OnPrem != nil && p.OnPrem != nil:
		a, b := *o.OnPrem, *p.OnPrem
		a.L2Guard, b.L2Guard = L2Guard{}, L2Guard{}
		return a != b
	case o.Cloud != nil && p.Cloud != nil:
		a, b := *o.Cloud, *p.Cloud
		a.RoutePolicy, b.RoutePolicy = RoutePolicy{}, RoutePolicy{}
		return !reflect.DeepEqual(a, b)
	}
	return true
}

func insides(s []StaticNAT) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = x.Inside
	}
	return out
}

// removed lists what is in a and not in b.
func removed(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// objectChanges names the objects that differ between o and n.
func objectChanges(o, n Objects) []string {
	set := map[string]bool{}
	cmp := func(kind string, a, b map[string]any) {
		for k, v := range a {
			if w, ok := b[k]; !ok || !reflect.DeepEqual(v, w) {
				set[kind+"/"+k] = true
			}
		}
		for k := range b {
			if _, ok := a[k]; !ok {
				set[kind+"/"+k] = true
			}
		}
	}
	cmp("address", byName(o.Addresses, func(x AddressObject) string { return x.Name }), byName(n.Addresses, func(x AddressObject) string { return x.Name }))
	cmp("service", byName(o.Services, func(x ServiceObject) string { return x.Name }), byName(n.Services, func(x ServiceObject) string { return x.Name }))
	cmp("application", byName(o.Applications, func(x ApplicationObject) string { return x.Name }), byName(n.Applications, func(x ApplicationObject) string { return x.Name }))
	return sortedKeys(set)
}

func byName[T any](xs []T, name func(T) string) map[string]any {
	m := map[string]any{}
	for _, x := range xs {
		m[name(x)] = x
	}
	return m
}

// usesAny reports whether a policy references one of the changed objects,
// directly or through an application object.
func usesAny(fw *Firewall, objs Objects, changed []string) bool {
	if fw == nil || len(changed) == 0 {
		return false
	}
	hit := func(kind, name string) bool { return slices.Contains(changed, kind+"/"+name) }
	appServices := map[string][]string{}
	for _, a := range objs.Applications {
		appServices[a.Name] = a.Services
	}
	for _, r := range fw.Rules {
		for _, n := range append(slices.Clone(r.Sources), r.Destinations...) {
			if hit("address", n) {
				return true
			}
		}
		for _, n := range r.Services {
			if hit("service", n) {
				return true
			}
		}
		for _, n := range r.Applications {
			if hit("application", n) {
				return true
			}
			for _, s := range appServices[n] {
				if hit("service", s) {
					return true
				}
			}
		}
	}
	return false
}

// Diff lists the differences between two configurations. Secrets (md5) are
// shown only as "(set)" or absent.
func Diff(old, new Config) []Change {
	a, b := generic(old), generic(new)
	out := []Change{}
	diffValue("", a, b, &out)
	return out
}

func generic(c Config) any {
	raw, _ := json.Marshal(c) // a Config always encodes
	var v any
	_ = json.Unmarshal(raw, &v)
	return v
}

var listKeys = []string{"hub_id", "port_code", "name"}

func diffValue(path string, a, b any, out *[]Change) {
	if reflect.DeepEqual(a, b) {
		return
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		for _, k := range sortedKeys(keys) {
			diffValue(join(path, k), am[k], bm[k], out)
		}
		return
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok {
		if ka, ok := keyed(al); ok {
			if kb, ok := keyed(bl); ok {
				keys := map[string]bool{}
				for k := range ka {
					keys[k] = true
				}
				for k := range kb {
					keys[k] = true
				}
				for _, k := range sortedKeys(keys) {
					diffValue(fmt.Sprintf("%s[%s]", path, k), ka[k], kb[k], out)
				}
				return
			}
		}
		if allMaps(al) && allMaps(bl) {
			for i := range max(len(al), len(bl)) {
				var x, y any
				if i < len(al) {
					x = al[i]
				}
				if i < len(bl) {
					y = bl[i]
				}
				diffValue(fmt.Sprintf("%s[%d]", path, i), x, y, out)
			}
			return
		}
	}
	c := Change{Path: path, Before: a, After: b}
	switch {
	case a == nil:
		c.Op = "added"
	case b == nil:
		c.Op = "removed"
	default:
		c.Op = "changed"
	}
	if strings.HasSuffix(path, "md5") {
		c.Before, c.After = maskSecret(a), maskSecret(b)
	} else {
		c.Before, c.After = scrub(a), scrub(b)
	}
	*out = append(*out, c)
}

func maskSecret(v any) any {
	if v == nil {
		return nil
	}
	return "(set)"
}

// scrub masks every md5 inside a whole added or removed object, so that no
// password reaches a review (and with it the audit log).
func scrub(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if k == "md5" {
				out[k] = maskSecret(e)
			} else {
				out[k] = scrub(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = scrub(e)
		}
		return out
	}
	return v
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func allMaps(l []any) bool {
	for _, x := range l {
		if _, ok := x.(map[string]any); !ok {
			return false
		}
	}
	return true
}

// keyed indexes a list of objects by their key field when every element has
// one and the keys are unique.
func keyed(l []any) (map[string]any, bool) {
	out := map[string]any{}
	for _, x := range l {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, false
		}
		found := false
		for _, k := range listKeys {
			if s, ok := m[k].(string); ok {
				if _, dup := out[s]; dup {
					return nil, false
				}
				out[s] = x
				found = true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	return out, true
}

// auditDetail is what the audit log keeps of a review: the whole review is
// in the version row; the log carries its verdict, a bounded diff and the
// revision of the draft it reviewed (the review a customer saw).
func (r Review) auditDetail(version int64) map[string]any {
	changes := r.Changes
	if len(changes) > 50 {
		changes = changes[:50]
	}
	reasons := make([]string, len(r.Reasons))
	for i, x := range r.Reasons {
		reasons[i] = x.Text
	}
	return map[string]any{"version": version, "base_version": r.BaseVersion, "revision": r.Revision, "risk": r.Risk, "impact": r.Impact,
		"reasons": reasons, "affected_ports": r.AffectedPorts, "affected_hubs": r.AffectedHubs,
		"change_count": len(r.Changes), "changes": changes}
}
