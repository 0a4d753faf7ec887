package e2e_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/agent"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/nstest"
)

// TestDecommissionWipesNode is `tsunagi agent decommission` on the kernel
// (ISO/IEC 27017 11.2.7): a real agent runs two customers' hubs (each an
// on-premises port and a cloud port's two links, shaped, with its
// firewall and its BIRD), is stopped, and the node is decommissioned.
// Afterwards nothing of tsunagi remains on the node — no hub namespace, no
// link marked by a hub or ifb device in the node's namespace, no nftables
// table of tsunagi there, no BIRD of a hub, no file of the agent's state
// or run directory — and the controller shows the node decommissioned with
// what the agent removed, and refuses the node's certificate.
//
// The node's port interfaces are veths of the node's namespace: they
// are the machine's ports, which stay (given back, unmarked). Everything
// checked is named after this run's hubs or lives in this run's
// namespaces and directories.
func TestDecommissionWipesNode(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx
	t.Logf("names and run directories start with %s", h.prefix)
	sites := []*site{newSite(h.prefix, "a"), newSite(h.prefix, "b")}
	var phys []catalog.PhysicalPort
	for _, s := range sites {
		phys = append(phys, catalog.PhysicalPort{Name: s.onPhys, SpeedMbps: 10_000, Kind: "onprem"},
			catalog.PhysicalPort{Name: s.cloudPhysA, SpeedMbps: 10_000, Kind: "cloud-aws"},
			catalog.PhysicalPort{Name: s.cloudPhysB, SpeedMbps: 10_000, Kind: "cloud-aws"})
	}
	tyo := h.addNode(t, "tokyo", "tyo-1", phys)
	for _, s := range sites {
		configure(t, ctx, h.cat, h.netSvc, s)
		// This kernel has no dummy devices: each port is a veth whose
		// other end stays in the node's namespace, unwired.
		for _, name := range []string{s.onPhys, fmt.Sprintf("%s.%d", s.cloudPhysA, vlan), fmt.Sprintf("%s.%d", s.cloudPhysB, vlan)} {
			nstest.IPBatch(t, tyo.ns, []string{"link add " + name + " type veth peer name w" + strings.ReplaceAll(name, ".", "")})
		}
	}

	client, state := h.enrol(t, tyo)
	m := dataplane.NewManager(dataplane.Options{RunDir: tyo.runDir, NodeNamespace: tyo.ns})
	t.Cleanup(func() { removeHubs(m, tyo.runDir) }) // whatever a failed decommission left
	stop := runAgent(t, newLoop(client, m, tyo.runDir, state))
	h.converged(t, tyo, "with both hubs")
	stop()

	// Before: both hubs run; the checks below would see them.
	var pids []string
	for _, s := range sites {
		ns := dataplane.NamespacePrefix + s.dataplaneID
		if !slices.Contains(netnsList(t), ns) {
			t.Fatalf("hub namespace %s does not run before the decommission", ns)
		}
		pid := birdPID(t, tyo.runDir, s.dataplaneID)
		if !alive(pid) {
			t.Fatalf("hub %s's BIRD (%s) does not run before the decommission", s.dataplaneID, pid)
		}
		pids = append(pids, pid)
		if out := nstest.Sh(t, "ip", "-n", ns, "-o", "link", "show", "type", "ifb"); strings.TrimSpace(out) == "" {
			t.Fatalf("hub %s has no ifb device before the decommission", s.dataplaneID)
		}
	}
	if leftovers := tsunagiTraces(t, tyo, state, sites, pids); len(leftovers) == 0 {
		t.Fatal("the traces check finds nothing on a running node: it cannot fail")
	}

	d := &agent.Decommissioner{M: m, RunDir: tyo.runDir, StateDir: state, Client: client, Version: "e2e"}
	r, err := d.Run(ctx)
	if err != nil {
		t.Fatalf("decommission: %v (report %+v)", err, r)
	}
	for _, s := range sites {
		if !slices.Contains(r.HubsRemoved, s.dataplaneID) {
			t.Errorf("the report does not name hub %s: %v", s.dataplaneID, r.HubsRemoved)
		}
	}
	for _, f := range []string{"state/node.key", "state/desired-state.json"} {
		if !slices.Contains(r.FilesRemoved, f) {
			t.Errorf("the report does not name %s: %v", f, r.FilesRemoved)
		}
	}

	if leftovers := tsunagiTraces(t, tyo, state, sites, pids); len(leftovers) > 0 {
		t.Errorf("after the decommission, left on the node:\n%s", strings.Join(leftovers, "\n"))
	}

	// The controller recorded it and refuses the node.
	l, err := h.fl.NodeLifecycle(ctx, tyo.name)
	if err != nil {
		t.Fatal(err)
	}
	if l.DecommissionedAt == nil || l.Decommission == nil || len(l.Decommission.HubsRemoved) != 2 {
		t.Errorf("the controller's node after the decommission: %+v", l)
	}
	_, err = client.DesiredState(ctx, "", 0)
	var st *agent.ErrStatus
	if !errors.As(err, &st) || st.Code != 401 {
		t.Errorf("the old certificate asking for its desired state: %v, want 401", err)
	}
}

// tsunagiTraces lists what of tsunagi is on the node: this run's hub
// namespaces, links marked by a hub or ifb devices in the node's
// namespace, tsunagi's nftables tables there, the hubs' BIRD processes
// (by the PIDs they had, and by any process started on a hub's files), and
// the agent's state and run directories.
func tsunagiTraces(t *testing.T, n *node, state string, sites []*site, pids []string) []string {
	t.Helper()
	var out []string
	have := netnsList(t)
	for _, s := range sites {
		if ns := dataplane.NamespacePrefix + s.dataplaneID; slices.Contains(have, ns) {
			out = append(out, "namespace "+ns)
		}
	}
	for _, line := range strings.Split(nstest.Sh(t, "ip", "-n", n.ns, "-o", "-d", "link", "show"), "\n") {
		if strings.Contains(line, "alias tsunagi:") || strings.Contains(line, " ifb ") {
			out = append(out, "link "+strings.TrimSpace(line))
		}
	}
	for _, line := range strings.Split(nstest.Sh(t, "ip", "netns", "exec", n.ns, "nft", "list", "tables"), "\n") {
		if strings.Contains(line, "tsunagi") {
			out = append(out, "nftables "+strings.TrimSpace(line))
		}
	}
	for _, pid := range pids {
		if alive(pid) {
			out = append(out, "BIRD process "+pid)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), filepath.Join(n.runDir, dataplane.NamespacePrefix)) {
			out = append(out, "process "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	for _, dir := range []string{state, n.runDir} {
		if _, err := os.Stat(dir); err == nil {
			_ = filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
				if err == nil && path != dir {
					out = append(out, "file "+path)
				}
				return nil
			})
		}
	}
	return out
}

func netnsList(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}

// alive reports whether process pid runs (and is not a zombie).
func alive(pid string) bool {
	var n int
	if _, err := fmt.Sscan(pid, &n); err != nil || n <= 0 {
		return false
	}
	if err := syscall.Kill(n, 0); err != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	return err == nil && !strings.Contains(string(b), ") Z ")
}
