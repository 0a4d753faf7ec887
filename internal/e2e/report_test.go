package e2e_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/nstest"
	"github.com/tsunagi-net/tsunagi/internal/tenanttest"
)

// appliedVersion is the customer's current configuration version.
func (h *harness) appliedVersion(tb testing.TB, cust catalog.CustomerID) int64 {
	tb.Helper()
	v, err := h.netSvc.Workflow.Applied(h.ctx, tenanttest.Customer(cust))
	if err != nil {
		tb.Fatal(err)
	}
	return v.Version
}

// waitHub waits until what the node reports of the customer's hub
// satisfies ok, and returns it.
func (h *harness) waitHub(tb testing.TB, n *node, cust catalog.CustomerID, hub catalog.HubID, what string, ok func(observed.Hub) bool) observed.Hub {
	tb.Helper()
	var got observed.Hub
	nstest.WaitFor(tb, string(hub)+" to report "+what, 90*time.Second, func() (bool, string) {
		obs, err := h.fl.HubObservations(h.ctx, tenanttest.Customer(cust), hub)
		if err != nil {
			return false, err.Error()
		}
		for _, o := range obs {
			if o.Node == n.name {
				got = o.Hub
				return ok(got), fmt.Sprintf("running %d, wanted %d, error %q, problems %+v", got.ConfigVersion, got.WantedVersion, got.Error, got.Problems)
			}
		}
		return false, fmt.Sprintf("no observation from %s in %+v", n.name, obs)
	})
	return got
}

// walkDesiredAndObserved is what the hub was asked against what it was
// observed to run: every session, connection link and firewall rule of
// every port of the node's desired state, and every backbone peer, must
// be in the node's report of the hub — or named in the hub's problems.
// It returns the differences, one line each.
func (h *harness) walkDesiredAndObserved(tb testing.TB, n *node) []string {
	tb.Helper()
	doc, _, err := h.netSvc.Compiler.DesiredStateDoc(h.ctx, n.name)
	if err != nil {
		tb.Fatal(err)
	}
	st, err := desired.Decode(doc)
	if err != nil {
		tb.Fatal(err)
	}
	var diffs []string
	for _, dh := range st.Hubs {
		obs, err := h.fl.HubObservations(h.ctx, tenanttest.Customer(catalog.CustomerID(dh.CustomerID)), catalog.HubID(dh.HubID))
		if err != nil {
			tb.Fatal(err)
		}
		var o *observed.Hub
		for i := range obs {
			if obs[i].Node == n.name {
				o = &obs[i].Hub
			}
		}
		if o == nil {
			diffs = append(diffs, dh.HubID+": not reported")
			continue
		}
		if len(o.Problems) > 0 {
			tb.Logf("%s reports what it does not run: %+v", dh.HubID, o.Problems)
		}
		if o.ConfigVersion != dh.ConfigVersion && o.Error == "" {
			diffs = append(diffs, fmt.Sprintf("%s: runs version %d, was given %d, and reports no error", dh.HubID, o.ConfigVersion, dh.ConfigVersion))
		}
		problem := func(code, item string) bool {
			for _, p := range o.Problems {
				if p.PortCode == code && strings.HasPrefix(p.Item, item) {
					return true
				}
			}
			return false
		}
		ports := map[string]observed.Port{}
		for _, p := range o.Ports {
			ports[p.PortCode] = p
		}
		for _, p := range dh.Ports {
			op := ports[p.PortCode]
			here := map[string]bool{}
			for _, l := range p.Legs {
				here[l.Role] = true
			}
			for _, s := range p.Sessions {
				leg := s.Name
				if leg == "single" {
					leg = "primary"
				}
				if !here[leg] {
					continue // this session's leg is on another node
				}
				found, linked := false, false
				for _, os := range op.Sessions {
					found = found || os.Name == s.Name
				}
				for _, l := range op.Links {
					linked = linked || l.Connection == s.Name
				}
				if !found && !problem(p.PortCode, "session "+s.Name) {
					diffs = append(diffs, fmt.Sprintf("%s %s: session %s neither observed nor a problem", dh.HubID, p.PortCode, s.Name))
				}
				if !linked && !problem(p.PortCode, "link "+s.Name) {
					diffs = append(diffs, fmt.Sprintf("%s %s: link %s neither observed nor a problem", dh.HubID, p.PortCode, s.Name))
				}
			}
			if p.Firewall == nil {
				continue
			}
			counted := map[int]bool{}
			for _, c := range op.Rules {
				counted[c.Rule] = true
			}
			for _, r := range p.Firewall.Rules {
				if !counted[r.Index] && !problem(p.PortCode, fmt.Sprintf("firewall rule %d", r.Index)) {
					diffs = append(diffs, fmt.Sprintf("%s %s: firewall rule %d neither counted nor a problem", dh.HubID, p.PortCode, r.Index))
				}
			}
			if !counted[observed.DefaultRule] {
				diffs = append(diffs, fmt.Sprintf("%s %s: the firewall's default deny is not counted", dh.HubID, p.PortCode))
			}
		}
		peers := map[string]bool{}
		for _, s := range o.Backbone {
			peers[s.Name] = true
		}
		for _, p := range dh.Backbone.Peers {
			if !peers[p.Priority] && !problem("", "backbone") {
				diffs = append(diffs, fmt.Sprintf("%s: backbone peer %s neither observed nor a problem", dh.HubID, p.Priority))
			}
		}
	}
	return diffs
}
