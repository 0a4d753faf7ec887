package dataplane

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
)

// calls records the altering calls made through the recording wrappers,
// which sit in front of either the real kernel or the fakes. An Apply that
// records nothing made no change.
type calls struct {
	mu  sync.Mutex
	log []string // guarded by mu
}

func (c *calls) add(format string, a ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log = append(c.log, fmt.Sprintf(format, a...))
}

func (c *calls) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.log
	c.log = nil
	return out
}

type recNet struct {
	netOps
	c *calls
}

func (r recNet) CreateNamespace(ns string) error {
	r.c.add("netns add %s", ns)
	return r.netOps.CreateNamespace(ns)
}
func (r recNet) DeleteNamespace(ns string) error {
	r.c.add("netns del %s", ns)
	return r.netOps.DeleteNamespace(ns)
}
func (r recNet) MoveLink(from, name, to string) error {
	r.c.add("link move %s %q→%q", name, from, to)
	return r.netOps.MoveLink(from, name, to)
}
func (r recNet) SetAlias(ns, name, alias string) error {
	r.c.add("link alias %s %s %q", ns, name, alias)
	return r.netOps.SetAlias(ns, name, alias)
}
func (r recNet) SetUp(ns, name string, up bool) error {
	r.c.add("link up=%v %s %s", up, ns, name)
	return r.netOps.SetUp(ns, name, up)
}
func (r recNet) AddrAdd(ns, name string, p netip.Prefix) error {
	r.c.add("addr add %s %s %s", ns, name, p)
	return r.netOps.AddrAdd(ns, name, p)
}
func (r recNet) AddrDel(ns, name string, p netip.Prefix) error {
	r.c.add("addr del %s %s %s", ns, name, p)
	return r.netOps.AddrDel(ns, name, p)
}
func (r recNet) SetSysctl(ns, key, value string) error {
	r.c.add("sysctl %s %s=%s", ns, key, value)
	return r.netOps.SetSysctl(ns, key, value)
}

type recNft struct {
	nftOps
	c *calls
}

func (r recNft) Apply(ctx context.Context, ns, script string) error {
	r.c.add("nft -f %s", ns)
	return r.nftOps.Apply(ctx, ns, script)
}

type recUnderlay struct {
	underlayOps
	c *calls
}

func (r recUnderlay) Apply(ctx context.Context, script string) error {
	r.c.add("nft -f (node) %s", strings.Fields(script)[2])
	return r.underlayOps.Apply(ctx, script)
}

type recTC struct {
	tcOps
	c *calls
}

func (r recTC) AddShaping(ns, dev string, bps uint64) error {
	r.c.add("tc add %s %s %d", ns, dev, bps)
	return r.tcOps.AddShaping(ns, dev, bps)
}
func (r recTC) ChangeRate(ns, dev string, bps uint64) error {
	r.c.add("tc change %s %s %d", ns, dev, bps)
	return r.tcOps.ChangeRate(ns, dev, bps)
}
func (r recTC) RemoveShaping(ns, dev string) error {
	r.c.add("tc del %s %s", ns, dev)
	return r.tcOps.RemoveShaping(ns, dev)
}
func (r recTC) AddIFB(ns, ifb, dev string) error {
	r.c.add("ifb add %s %s for %s", ns, ifb, dev)
	return r.tcOps.AddIFB(ns, ifb, dev)
}
func (r recTC) DeleteIFB(ns, ifb string) error {
	r.c.add("ifb del %s %s", ns, ifb)
	return r.tcOps.DeleteIFB(ns, ifb)
}
func (r recTC) SetRedirect(ns, dev, ifb string) error {
	r.c.add("tc redirect %s %s to %s", ns, dev, ifb)
	return r.tcOps.SetRedirect(ns, dev, ifb)
}
func (r recTC) RemoveRedirect(ns, dev string) error {
	r.c.add("tc unredirect %s %s", ns, dev)
	return r.tcOps.RemoveRedirect(ns, dev)
}

type recBird struct {
	birdOps
	c *calls
}

func (r recBird) Check(ctx context.Context, config string) error {
	r.c.add("bird -p")
	return r.birdOps.Check(ctx, config)
}
func (r recBird) Start(ctx context.Context, ns string, p birdPaths) error {
	r.c.add("bird start %s", ns)
	return r.birdOps.Start(ctx, ns, p)
}
func (r recBird) Configure(ctx context.Context, p birdPaths) error {
	r.c.add("birdc configure")
	return r.birdOps.Configure(ctx, p)
}
func (r recBird) Stop(p birdPaths) error {
	r.c.add("bird stop")
	return r.birdOps.Stop(p)
}

// recordingManager wraps each subsystem's operations in a recorder.
func recordingManager(runDir string, n netOps, f nftOps, t tcOps, b birdOps) (*Manager, *calls) {
	c := &calls{}
	// The underlay filter follows the links: in the kernel's node
	// namespace with the real kernel, a fake with fakes.
	var u underlayOps = &fakeUnderlay{}
	if nl, ok := n.(netlinkOps); ok {
		u = nodeNft{ns: nl.nodeNS}
	}
	m := newManager(runDir, recNet{n, c}, recNft{f, c}, recUnderlay{u, c}, recTC{t, c}, recBird{b, c})
	if nl, ok := n.(netlinkOps); ok {
		// The guards' watchers too (their calls that change the kernel go
		// through the recorded operations).
		m.events = &nl
	}
	return m, c
}

func (r recNet) AddVXLAN(ns string, v VXLANSpec) error {
	r.c.add("vxlan add %s %s vni %d local %s", ns, v.Name, v.VNI, v.Local)
	return r.netOps.AddVXLAN(ns, v)
}
func (r recNet) FloodAdd(ns, dev string, remote netip.Addr) error {
	r.c.add("flood add %s %s %s", ns, dev, remote)
	return r.netOps.FloodAdd(ns, dev, remote)
}
func (r recNet) FloodDel(ns, dev string, remote netip.Addr) error {
	r.c.add("flood del %s %s %s", ns, dev, remote)
	return r.netOps.FloodDel(ns, dev, remote)
}
func (r recNet) AddVLAN(ns string, v VLANLink) error {
	r.c.add("vlan add %q %s on %s tag %d", ns, v.Name, v.Parent, v.ID)
	return r.netOps.AddVLAN(ns, v)
}
func (r recNet) AddBridge(ns string, b BridgeSpec) error {
	r.c.add("bridge add %s %s %s", ns, b.Name, b.MAC)
	return r.netOps.AddBridge(ns, b)
}
func (r recNet) SetMaster(ns, name, master string) error {
	r.c.add("link master %s %s %q", ns, name, master)
	return r.netOps.SetMaster(ns, name, master)
}
func (r recNet) SetIsolated(ns, name string, on bool) error {
	r.c.add("link isolated=%v %s %s", on, ns, name)
	return r.netOps.SetIsolated(ns, name, on)
}
func (r recNet) DeleteLink(ns, name string) error {
	r.c.add("link del %s %s", ns, name)
	return r.netOps.DeleteLink(ns, name)
}
func (r recNet) SetMTU(ns, name string, mtu int) error {
	r.c.add("link mtu %d %s %s", mtu, ns, name)
	return r.netOps.SetMTU(ns, name, mtu)
}
