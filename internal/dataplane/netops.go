package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netOps is the narrow view of the kernel the namespace and link subsystem
// needs. ns "" is the node namespace: where port interfaces wait before a
// hub takes them and where they return when it lets them go (the agent's
// own namespace in production, a test's namespace in tests).
type netOps interface {
	NamespaceExists(ns string) (bool, error)
	CreateNamespace(ns string) error
	DeleteNamespace(ns string) error
	Links(ns string) ([]LinkState, error)
	MoveLink(fromNS, name, toNS string) error
	SetAlias(ns, name, alias string) error
	SetUp(ns, name string, up bool) error
	AddrAdd(ns, name string, p netip.Prefix) error
	AddrDel(ns, name string, p netip.Prefix) error
	Sysctl(ns, key string) (string, error)
	SetSysctl(ns, key, value string) error
	// AddVXLAN creates a VXLAN device in ns whose underlay (UDP socket)
	// is in the node namespace.
	AddVXLAN(ns string, v VXLANSpec) error
	// Floods lists the remote underlay addresses a VXLAN device sends
	// broadcast and unknown unicast to (its all-zeros FDB entries);
	// FloodAdd and FloodDel change that list one entry at a time.
	Floods(ns, dev string) ([]netip.Addr, error)
	FloodAdd(ns, dev string, remote netip.Addr) error
	FloodDel(ns, dev string, remote netip.Addr) error
	// AddVLAN creates a VLAN sub-interface in ns on its parent there.
	AddVLAN(ns string, v VLANLink) error
	// AddBridge creates a bridge in ns (a redundant port's device).
	AddBridge(ns string, b BridgeSpec) error
	// SetMaster makes name a port of the bridge master, or of none when
	// master is "".
	SetMaster(ns, name, master string) error
	// SetIsolated isolates a bridge port from the bridge's other isolated
	// ports: it reaches only the bridge itself.
	SetIsolated(ns, name string, on bool) error
	DeleteLink(ns, name string) error
	// SetMTU sets a link's MTU (read back as LinkState.MTU).
	SetMTU(ns, name string, mtu int) error
	// Carriers reads every link's carrier and the kernel's count of its
	// carrier changes (IFLA_CARRIER_CHANGES), which the flap guard samples.
	Carriers(ns string) (map[string]Carrier, error)
}

// Carrier is a link's carrier and how often it has changed since the
// device was created. The count survives moves between namespaces.
type Carrier struct {
	Up      bool
	Changes uint32
}

// VXLANSpec is the backbone's VXLAN device; where it sends is its flood
// list, not part of the device.
type VXLANSpec struct {
	Name  string
	VNI   uint32
	Local netip.Addr
}

// BridgeSpec is a redundant port's bridge. Its address is set, not taken
// from a port, so it does not change when a leg comes or goes and the
// customer's ARP entry for the hub stays right.
type BridgeSpec struct {
	Name string
	MAC  net.HardwareAddr
}

// bridgeAgeing is how long the bridge remembers where a customer's MAC
// address was heard: the service's MAC ageing of 2,400 s. A leg that loses
// its carrier forgets its addresses at once regardless.
const bridgeAgeing = 2400 * time.Second

// vxlanPort is the IANA VXLAN port.
const vxlanPort = 4789

// LinkState is a link as read back from a namespace.
type LinkState struct {
	Name  string
	Alias string
	Up    bool
	Addrs []netip.Prefix // IPv4 only
	Kind  string         // "veth", "vxlan", "bridge", … as the kernel names the type
	VXLAN *VXLANSpec     // for a VXLAN device
	// Carrier is the link's lower layer state (the cable, the veth peer).
	Carrier bool
	// Master is the bridge the link is a port of; Isolated its isolation
	// flag there.
	Master   string
	Isolated bool
	MTU      int
}

// netlinkOps is netOps on the real kernel through netlink.
type netlinkOps struct {
	// nodeNS names the node namespace ("" for the process's own).
	nodeNS string
}

func (o netlinkOps) handle(ns string) (netns.NsHandle, error) {
	if ns == "" {
		ns = o.nodeNS
	}
	if ns == "" {
		return netns.GetFromPath("/proc/self/ns/net")
	}
	return netns.GetFromName(ns)
}

func (o netlinkOps) nl(ns string) (*netlink.Handle, error) {
	nsh, err := o.handle(ns)
	if err != nil {
		return nil, fmt.Errorf("namespace %q: %w", ns, err)
	}
	defer nsh.Close()
	h, err := netlink.NewHandleAt(nsh)
	if err != nil {
		return nil, fmt.Errorf("netlink in %q: %w", ns, err)
	}
	return h, nil
}

func (o netlinkOps) NamespaceExists(ns string) (bool, error) {
	_, err := os.Stat(filepath.Join("/run/netns", ns))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// CreateNamespace creates a named namespace. netns.NewNamed moves the
// calling thread into it, so the thread is locked and moved back; if it
// cannot be moved back it stays locked and the runtime retires it.
func (o netlinkOps) CreateNamespace(ns string) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	h, err := netns.NewNamed(ns)
	if err != nil {
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	h.Close()
	if err := netns.Set(orig); err != nil {
		return fmt.Errorf("create namespace %s: return to original namespace: %w", ns, err)
	}
	runtime.UnlockOSThread()
	return nil
}

func (o netlinkOps) DeleteNamespace(ns string) error {
	if err := netns.DeleteNamed(ns); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete namespace %s: %w", ns, err)
	}
	return nil
}

func (o netlinkOps) Links(ns string) ([]LinkState, error) {
	h, err := o.nl(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links in %q: %w", ns, err)
	}
	// One address dump for the whole namespace, grouped by link: a dump
	// per link made listing a node with n links cost n dumps (the largest
	// part of a 200-hub reconcile).
	all, err := h.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list addresses in %q: %w", ns, err)
	}
	byLink := map[int][]netip.Prefix{}
	for _, ad := range all {
		ip, ok := netip.AddrFromSlice(ad.IP.To4())
		if !ok {
			continue
		}
		ones, _ := ad.Mask.Size()
		byLink[ad.LinkIndex] = append(byLink[ad.LinkIndex], netip.PrefixFrom(ip, ones))
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	var out []LinkState
	for _, l := range links {
		a := l.Attrs()
		ls := LinkState{Name: a.Name, Alias: a.Alias, Up: a.Flags&unix.IFF_UP != 0, Kind: l.Type(),
			Carrier: a.RawFlags&unix.IFF_LOWER_UP != 0, Master: names[a.MasterIndex], MTU: a.MTU}
		if v, ok := l.(*netlink.Vxlan); ok {
			local, _ := netip.AddrFromSlice(v.SrcAddr.To4())
			ls.VXLAN = &VXLANSpec{Name: a.Name, VNI: uint32(v.VxlanId), Local: local}
		}
		if a.MasterIndex != 0 {
			// Only bridge ports carry the flag; the dump above does not.
			pi, err := h.LinkGetProtinfo(l)
			if err != nil {
				return nil, fmt.Errorf("bridge port %s in %q: %w", a.Name, ns, err)
			}
			ls.Isolated = pi.Isolated
		}
		ls.Addrs = byLink[a.Index]
		slices.SortFunc(ls.Addrs, func(a, b netip.Prefix) int { return strings.Compare(a.String(), b.String()) })
		out = append(out, ls)
	}
	slices.SortFunc(out, func(a, b LinkState) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (o netlinkOps) link(ns, name string, fn func(*netlink.Handle, netlink.Link) error) error {
	h, err := o.nl(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("link %s in %q: %w", name, ns, err)
	}
	return fn(h, l)
}

func (o netlinkOps) MoveLink(fromNS, name, toNS string) error {
	to, err := o.handle(toNS)
	if err != nil {
		return fmt.Errorf("namespace %q: %w", toNS, err)
	}
	defer to.Close()
	return o.link(fromNS, name, func(h *netlink.Handle, l netlink.Link) error {
		return h.LinkSetNsFd(l, int(to))
	})
}

func (o netlinkOps) SetAlias(ns, name, alias string) error {
	return o.link(ns, name, func(h *netlink.Handle, l netlink.Link) error { return h.LinkSetAlias(l, alias) })
}

func (o netlinkOps) SetUp(ns, name string, up bool) error {
	return o.link(ns, name, func(h *netlink.Handle, l netlink.Link) error {
		if up {
			return h.LinkSetUp(l)
		}
		return h.LinkSetDown(l)
	})
}

func nlAddr(p netip.Prefix) *netlink.Addr {
	a, _ := netlink.ParseAddr(p.String())
	return a
}

func (o netlinkOps) AddrAdd(ns, name string, p netip.Prefix) error {
	return o.link(ns, name, func(h *netlink.Handle, l netlink.Link) error { return h.AddrAdd(l, nlAddr(p)) })
}

func (o netlinkOps) AddrDel(ns, name string, p netip.Prefix) error {
	return o.link(ns, name, func(h *netlink.Handle, l netlink.Link) error { return h.AddrDel(l, nlAddr(p)) })
}

// AddVXLAN creates the device through a netlink socket in the node
// namespace with IFLA_NET_NS_FD naming the hub's: the kernel puts the
// device in the hub namespace and its UDP socket in the node namespace,
// as "ip link add … netns hub-x" does. The name is thus only ever taken in
// the hub namespace, where hubs cannot collide.
func (o netlinkOps) AddVXLAN(ns string, v VXLANSpec) error {
	target, err := o.handle(ns)
	if err != nil {
		return fmt.Errorf("namespace %q: %w", ns, err)
	}
	defer target.Close()
	h, err := o.nl("")
	if err != nil {
		return err
	}
	defer h.Close()
	l := &netlink.Vxlan{
		LinkAttrs: netlink.LinkAttrs{Name: v.Name, Namespace: netlink.NsFd(target)},
		VxlanId:   int(v.VNI),
		SrcAddr:   v.Local.AsSlice(),
		Port:      vxlanPort,
		// Unicast goes to the node the destination was heard from, not
		// to every peer.
		Learning: true,
	}
	if err := h.LinkAdd(l); err != nil {
		return fmt.Errorf("add vxlan %s (VNI %d) to %s: %w", v.Name, v.VNI, ns, err)
	}
	return nil
}

// floodEntry is the all-zeros FDB entry of a VXLAN device toward remote,
// as "bridge fdb append 00:00:00:00:00:00 dev vx dst remote" makes it.
func floodEntry(index int, remote netip.Addr) *netlink.Neigh {
	return &netlink.Neigh{LinkIndex: index, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF,
		State: netlink.NUD_PERMANENT | netlink.NUD_NOARP, HardwareAddr: make(net.HardwareAddr, 6), IP: remote.AsSlice()}
}

func (o netlinkOps) Floods(ns, dev string) ([]netip.Addr, error) {
	var out []netip.Addr
	err := o.link(ns, dev, func(h *netlink.Handle, l netlink.Link) error {
		fdb, err := h.NeighList(l.Attrs().Index, unix.AF_BRIDGE)
		if err != nil {
			return fmt.Errorf("FDB of %s in %q: %w", dev, ns, err)
		}
		for _, n := range fdb {
			ip, ok := netip.AddrFromSlice(n.IP.To4())
			// Learned entries name a MAC address; only the flood list's
			// are all zeros.
			if ok && n.LinkIndex == l.Attrs().Index && slices.Equal(n.HardwareAddr, make(net.HardwareAddr, 6)) {
				out = append(out, ip)
			}
		}
		return nil
	})
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out), err
}

func (o netlinkOps) FloodAdd(ns, dev string, remote netip.Addr) error {
	return o.link(ns, dev, func(h *netlink.Handle, l netlink.Link) error {
		if err := h.NeighAppend(floodEntry(l.Attrs().Index, remote)); err != nil {
			return fmt.Errorf("flood %s to %v: %w", dev, remote, err)
		}
		return nil
	})
}

// FloodDel removes remote from the flood list, and the addresses the device
// learned behind it: a peer hub that left is not sent unicast until those
// would have aged out.
func (o netlinkOps) FloodDel(ns, dev string, remote netip.Addr) error {
	return o.link(ns, dev, func(h *netlink.Handle, l netlink.Link) error {
		if err := h.NeighDel(floodEntry(l.Attrs().Index, remote)); err != nil {
			return fmt.Errorf("stop flooding %s to %v: %w", dev, remote, err)
		}
		fdb, err := h.NeighList(l.Attrs().Index, unix.AF_BRIDGE)
		if err != nil {
			return fmt.Errorf("FDB of %s: %w", dev, err)
		}
		for _, n := range fdb {
			if ip, ok := netip.AddrFromSlice(n.IP.To4()); ok && ip == remote && n.LinkIndex == l.Attrs().Index {
				n.Family, n.Flags = unix.AF_BRIDGE, netlink.NTF_SELF
				if err := h.NeighDel(&n); err != nil && !errors.Is(err, unix.ENOENT) {
					return fmt.Errorf("forget %v learned behind %v on %s: %w", n.HardwareAddr, remote, dev, err)
				}
			}
		}
		return nil
	})
}

// AddVLAN creates the sub-interface beside its parent; it is then moved
// into the hub namespace like any port device (a VLAN device may live in
// another namespace than its parent). Not exercised by the tests on this
// machine, whose kernel has no 8021q: the fakes stand in for it there.
func (o netlinkOps) AddVLAN(ns string, v VLANLink) error {
	return o.link(ns, v.Parent, func(h *netlink.Handle, parent netlink.Link) error {
		l := &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: v.Name, ParentIndex: parent.Attrs().Index}, VlanId: v.ID}
		if err := h.LinkAdd(l); err != nil {
			return fmt.Errorf("add VLAN %s (%s tag %d): %w", v.Name, v.Parent, v.ID, err)
		}
		return nil
	})
}

func (o netlinkOps) AddBridge(ns string, b BridgeSpec) error {
	h, err := o.nl(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	ageing := uint32(bridgeAgeing / (10 * time.Millisecond)) // centiseconds
	l := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: b.Name, HardwareAddr: b.MAC}, AgeingTime: &ageing}
	if err := h.LinkAdd(l); err != nil {
		return fmt.Errorf("add bridge %s to %s: %w", b.Name, ns, err)
	}
	return nil
}

func (o netlinkOps) SetMaster(ns, name, master string) error {
	return o.link(ns, name, func(h *netlink.Handle, l netlink.Link) error {
		if master == "" {
			return h.LinkSetNoMaster(l)
		}
		m, err := h.LinkByName(master)
		if err != nil {
			return fmt.Errorf("bridge %s in %q: %w", master, ns, err)
		}
		return h.LinkSetMaster(l, m)
	})
}

func (o netlinkOps) SetIsolated(ns, name string, on bool) error {
	return o.link(ns, name, func(h *netlink.Handle, l netlink.Link) error { return h.LinkSetIsolated(l, on) })
}

func (o netlinkOps) DeleteLink(ns, name string) error {
	return o.link(ns, name, func(h *netlink.Handle, l netlink.Link) error { return h.LinkDel(l) })
}

func (o netlinkOps) SetMTU(ns, name string, mtu int) error {
	return o.link(ns, name, func(h *netlink.Handle, l netlink.Link) error {
		if err := h.LinkSetMTU(l, mtu); err != nil {
			return fmt.Errorf("MTU %d on %s: %w", mtu, name, err)
		}
		return nil
	})
}

// Carriers dumps the namespace's links once and reads IFLA_CARRIER_CHANGES
// from each, which the netlink library does not parse. The dump is made
// from a thread inside the namespace: a netlink socket answers for the
// namespace it was opened in.
func (o netlinkOps) Carriers(ns string) (map[string]Carrier, error) {
	out := map[string]Carrier{}
	err := o.inNamespace(ns, func() error {
		req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
		req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
		msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
		if err != nil {
			return fmt.Errorf("dump links: %w", err)
		}
		for _, m := range msgs {
			name, c, err := parseCarrier(m)
			if err != nil {
				return err
			}
			out[name] = c
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("carriers in %q: %w", ns, err)
	}
	return out, nil
}

// parseCarrier reads a link's name and carrier from an RTM_NEWLINK
// message's payload.
func parseCarrier(m []byte) (string, Carrier, error) {
	info := nl.DeserializeIfInfomsg(m)
	attrs, err := nl.ParseRouteAttr(m[info.Len():])
	if err != nil {
		return "", Carrier{}, fmt.Errorf("link attributes: %w", err)
	}
	var name string
	c := Carrier{Up: info.Flags&unix.IFF_LOWER_UP != 0}
	for _, a := range attrs {
		switch a.Attr.Type {
		case unix.IFLA_IFNAME:
			name = strings.TrimRight(string(a.Value), "\x00")
		case unix.IFLA_CARRIER_CHANGES:
			if len(a.Value) >= 4 {
				c.Changes = nl.NativeEndian().Uint32(a.Value)
			}
		}
	}
	return name, c, nil
}

// inNamespace runs fn on a thread moved into ns. Files under /proc/sys/net
// opened there belong to that namespace's network stack.
func (o netlinkOps) inNamespace(ns string, fn func() error) error {
	target, err := o.handle(ns)
	if err != nil {
		return fmt.Errorf("namespace %q: %w", ns, err)
	}
	defer target.Close()
	return onThreadIn(target, ns, fn)
}

func sysctlPath(key string) string {
	return filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
}

func (o netlinkOps) Sysctl(ns, key string) (string, error) {
	var v string
	err := o.inNamespace(ns, func() error {
		b, err := os.ReadFile(sysctlPath(key))
		v = strings.TrimSpace(string(b))
		return err
	})
	return v, err
}

func (o netlinkOps) SetSysctl(ns, key, value string) error {
	return o.inNamespace(ns, func() error {
		return os.WriteFile(sysctlPath(key), []byte(value), 0o644)
	})
}
