package dataplane

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ownerAlias marks a port interface as taken by a hub. It survives agent
// restarts (it is kernel state), so a new agent knows which links it may
// give back.
func ownerAlias(h Hub) string { return "tsunagi:" + h.Namespace() }

// markerFile records that this package created the namespace, so Remove
// deletes only namespaces it created and leaves adopted ones in place.
const markerFile = "created-namespace"

// sysctls are set inside every hub namespace, and nowhere else.
var hubSysctls = [][2]string{
	{"net.ipv4.ip_forward", "1"},
	// Strict reverse-path filtering would drop the asymmetric flows of a
	// hub with redundant ports; loose mode still refuses unroutable sources.
	{"net.ipv4.conf.all.rp_filter", "2"},
	{"net.ipv4.conf.default.rp_filter", "2"},
	// The service is IPv4 only. Without IPv6 the hub's links send no
	// neighbour discovery or multicast-listener frames of their own — on a
	// redundant port's legs those would come back through the customer's
	// switch and count against the port's MAC limit.
	{"net.ipv6.conf.all.disable_ipv6", "1"},
	{"net.ipv6.conf.default.disable_ipv6", "1"},
}

// bridgeSysctls are set where the kernel has them (br_netfilter loaded on
// the node, as container runtimes do): a hub's bridges pass no frame to the
// ip, ip6 or arp hooks as a bridged frame. The hub filters what it routes;
// with those hooks on, a TCP flow into a shaped bridge (through its ifb)
// was not forwarded on the kernel, and was once they were off.
var bridgeSysctls = [][2]string{
	{"net.bridge.bridge-nf-call-iptables", "0"},
	{"net.bridge.bridge-nf-call-ip6tables", "0"},
	{"net.bridge.bridge-nf-call-arptables", "0"},
}

// linkSet realises the namespace, its port links, their addresses and the
// hub's sysctls, in that order.
type linkSet struct {
	ops    netOps
	runDir string
}

// wantLink is what a hub wants of a link it owns: its addresses, for a
// redundant port's leg the bridge it is an isolated port of, its MTU (0:
// as it is), and whether it is held down because its port was shut.
type wantLink struct {
	addrs  []netip.Prefix
	master string
	mtu    int
	down   bool
}

// hubLinks are the links a hub owns and what it wants of each. The hub's
// first address of its internal and monitoring networks is put on lo as a
// /32: the hub answers for them (monitoring probes), while the rest of each
// network is a blackhole route from BIRD. The devices of a port held down
// by a shut record (shut.go) stay down; its bridge stays up, without a
// carrier.
func hubLinks(h Hub, shut map[string]PortShut) map[string]wantLink {
	want := map[string]wantLink{
		"lo": {addrs: []netip.Prefix{
			netip.PrefixFrom(h.InternalNetwork.Addr().Next(), 32),
			netip.PrefixFrom(h.MonitoringNetwork.Addr().Next(), 32),
		}},
	}
	for _, p := range h.Ports {
		mtu := 0
		if p.L2Guard != nil {
			mtu = p.L2Guard.MTU
		}
		down := heldDown(p, shut) || p.HeldShut != ""
		want[p.Interface] = wantLink{addrs: []netip.Prefix{p.Address}, mtu: mtu, down: down && len(p.Legs) == 0}
		for _, l := range p.Legs {
			want[l] = wantLink{master: p.Interface, mtu: mtu, down: down}
		}
	}
	if b := h.Backbone; b != nil {
		want[b.Device] = wantLink{addrs: []netip.Prefix{b.Address}}
	}
	return want
}

// takes are the node's interfaces a port moves into the hub: its legs, or
// the interface itself.
func takes(p Port) []string {
	if len(p.Legs) > 0 {
		return p.Legs
	}
	return []string{p.Interface}
}

// bridgeMAC is a redundant port's bridge address: locally administered and
// derived from the hub and port, so it is the same after the bridge is
// rebuilt, on this node or another.
func bridgeMAC(h Hub, p Port) net.HardwareAddr {
	sum := sha256.Sum256([]byte(h.Namespace() + "/" + p.Name))
	mac := net.HardwareAddr(sum[:6])
	mac[0] = 0x02
	return mac
}

// nodeLinks lists the node namespace's links once, for checking every hub
// of a pass against it.
func (s *linkSet) nodeLinks() (map[string]bool, error) {
	links, err := s.ops.Links("")
	if err != nil {
		return nil, err
	}
	present := map[string]bool{}
	for _, l := range links {
		present[l.Name] = true
	}
	return present, nil
}

// Check refuses, before anything is changed, a hub whose port interfaces
// are neither in its namespace nor in the node namespace (node, as listed
// by nodeLinks): such a hub is refused whole and what runs stays as it is.
func (s *linkSet) Check(h Hub, node map[string]bool) error {
	present := maps.Clone(node)
	if ok, err := s.ops.NamespaceExists(h.Namespace()); err != nil {
		return err
	} else if ok {
		links, err := s.ops.Links(h.Namespace())
		if err != nil {
			return err
		}
		for _, l := range links {
			present[l.Name] = true
		}
	}
	var errs []error
	for _, p := range h.Ports {
		for _, name := range takes(p) {
			if present[name] {
				continue
			}
			if v, ok := vlanOf(p, name); ok && node[v.Parent] {
				continue // made on its parent when the hub is set
			}
			errs = append(errs, fmt.Errorf("port %s: interface %s does not exist on this node", p.Name, name))
		}
	}
	return errors.Join(errs...)
}

// vlanOf is the VLAN sub-interface spec of one of p's devices, if it is one.
func vlanOf(p Port, name string) (VLANLink, bool) {
	i := slices.IndexFunc(p.VLANs, func(v VLANLink) bool { return v.Name == name })
	if i < 0 {
		return VLANLink{}, false
	}
	return p.VLANs[i], true
}

// Set converges the namespace and links of h. It makes no altering call
// when everything already matches.
func (s *linkSet) Set(h Hub) error {
	ns := h.Namespace()
	exists, err := s.ops.NamespaceExists(ns)
	if err != nil {
		return err
	}
	dir := filepath.Join(s.runDir, ns)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("run directory: %w", err)
	}
	if !exists {
		// The marker is written first: an agent that dies between the two
		// steps leaves a claim on a namespace that may not exist (harmless)
		// rather than a namespace of its own that it would later take for
		// someone else's.
		marker := filepath.Join(dir, markerFile)
		if err := os.WriteFile(marker, []byte(ns+"\n"), 0o600); err != nil {
			return fmt.Errorf("ownership marker: %w", err)
		}
		if err := s.ops.CreateNamespace(ns); err != nil {
			return errors.Join(err, os.Remove(marker))
		}
	}

	links, err := s.ops.Links(ns)
	if err != nil {
		return err
	}
	byName := map[string]LinkState{}
	for _, l := range links {
		byName[l.Name] = l
	}
	shut, err := readShut(s.runDir, h)
	if err != nil {
		return err
	}
	alias := ownerAlias(h)
	want := hubLinks(h, shut)
	// Links: take the ports in, create the bridges and the backbone
	// device, let go of what is marked as the hub's and no longer wanted.
	var errs []error
	changed := false
	var node map[string]bool // the node namespace's links, listed when a VLAN may be missing
	for _, p := range h.Ports {
		for _, name := range takes(p) {
			if _, ok := byName[name]; ok {
				continue
			}
			changed = true
			if v, ok := vlanOf(p, name); ok {
				if node == nil {
					if node, err = s.nodeLinks(); err != nil {
						return err
					}
				}
				if !node[name] {
					if err := s.ops.AddVLAN("", v); err != nil {
						errs = append(errs, fmt.Errorf("port %s: %w", p.Name, err))
						continue
					}
				}
			}
			if err := s.ops.MoveLink("", name, ns); err != nil {
				errs = append(errs, fmt.Errorf("port %s: %w", p.Name, err))
			}
		}
	}
	// Devices the package creates rather than takes: a redundant port's
	// bridge, and the backbone's VXLAN device, replaced when its VNI or
	// underlay changed.
	create := func(name, kind string, same func(LinkState) bool, add func() error) {
		have, ok := byName[name]
		if ok && have.Kind == kind && same(have) {
			return
		}
		changed = true
		if ok {
			if have.Alias != alias {
				errs = append(errs, fmt.Errorf("%s %s exists and is not the hub's", kind, name))
				return
			}
			if err := s.ops.DeleteLink(ns, name); err != nil {
				errs = append(errs, err)
				return
			}
		}
		errs = append(errs, add())
	}
	for _, p := range h.Ports {
		if len(p.Legs) > 0 {
			create(p.Interface, "bridge", func(LinkState) bool { return true }, func() error {
				return s.ops.AddBridge(ns, BridgeSpec{Name: p.Interface, MAC: bridgeMAC(h, p)})
			})
		}
	}
	if b := h.Backbone; b != nil {
		spec := VXLANSpec{Name: b.Device, VNI: b.VNI, Local: b.LocalUnderlay}
		create(b.Device, "vxlan", func(l LinkState) bool { return l.VXLAN != nil && *l.VXLAN == spec }, func() error {
			if err := s.ops.AddVXLAN(ns, spec); err != nil {
				return fmt.Errorf("backbone: %w", err)
			}
			return nil
		})
	}
	for _, l := range links {
		if _, wanted := want[l.Name]; !wanted && l.Alias == alias {
			changed = true
			errs = append(errs, s.release(ns, l))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// A moved or created link comes without addresses and down: read back
	// what is there now.
	if changed {
		if links, err = s.ops.Links(ns); err != nil {
			return err
		}
	}
	for _, l := range links {
		w, ok := want[l.Name]
		if !ok {
			continue
		}
		if l.Name != "lo" && l.Alias != alias {
			errs = append(errs, s.ops.SetAlias(ns, l.Name, alias))
		}
		if l.Master != w.master {
			errs = append(errs, s.ops.SetMaster(ns, l.Name, w.master))
			l.Isolated = false // a new bridge port starts unisolated
		}
		if w.master != "" && !l.Isolated {
			errs = append(errs, s.ops.SetIsolated(ns, l.Name, true))
		}
		for _, a := range w.addrs {
			if !slices.Contains(l.Addrs, a) {
				errs = append(errs, s.ops.AddrAdd(ns, l.Name, a))
			}
		}
		for _, a := range l.Addrs {
			if !slices.Contains(w.addrs, a) && !(l.Name == "lo" && a.Addr().IsLoopback()) {
				errs = append(errs, s.ops.AddrDel(ns, l.Name, a))
			}
		}
		if w.mtu != 0 && l.MTU != w.mtu {
			errs = append(errs, s.ops.SetMTU(ns, l.Name, w.mtu))
		}
		if l.Up == w.down {
			errs = append(errs, s.ops.SetUp(ns, l.Name, !w.down))
		}
	}
	if b := h.Backbone; b != nil {
		errs = append(errs, s.setFloods(ns, b))
	}
	for i, kv := range slices.Concat(hubSysctls, bridgeSysctls) {
		v, err := s.ops.Sysctl(ns, kv[0])
		if i >= len(hubSysctls) && errors.Is(err, fs.ErrNotExist) {
			continue // no br_netfilter: nothing to turn off
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if v != kv[1] {
			errs = append(errs, s.ops.SetSysctl(ns, kv[0], kv[1]))
		}
	}
	return errors.Join(errs...)
}

// setFloods makes the backbone device's flood list the peers' nodes: a
// peer hub that comes or goes adds or removes one entry, and the sessions
// to the other peers do not notice.
func (s *linkSet) setFloods(ns string, b *Backbone) error {
	have, err := s.ops.Floods(ns, b.Device)
	if err != nil {
		return err
	}
	var want []netip.Addr
	for _, p := range b.Peers {
		want = append(want, p.RemoteUnderlay)
	}
	var errs []error
	for _, r := range want {
		if !slices.Contains(have, r) {
			errs = append(errs, s.ops.FloodAdd(ns, b.Device, r))
		}
	}
	for _, r := range have {
		if !slices.Contains(want, r) {
			errs = append(errs, s.ops.FloodDel(ns, b.Device, r))
		}
	}
	return errors.Join(errs...)
}

// release lets go of a link the hub marked: a device it created (VXLAN,
// bridge, VLAN sub-interface) is deleted; a port interface goes back to the
// node namespace down, out of any bridge, without its addresses or mark.
func (s *linkSet) release(ns string, l LinkState) error {
	if l.Kind == "vxlan" || l.Kind == "bridge" || l.Kind == "vlan" {
		return s.ops.DeleteLink(ns, l.Name)
	}
	var errs []error
	if l.Master != "" {
		errs = append(errs, s.ops.SetMaster(ns, l.Name, ""))
	}
	for _, a := range l.Addrs {
		errs = append(errs, s.ops.AddrDel(ns, l.Name, a))
	}
	errs = append(errs, s.ops.SetAlias(ns, l.Name, ""), s.ops.SetUp(ns, l.Name, false), s.ops.MoveLink(ns, l.Name, ""))
	return errors.Join(errs...)
}

// Remove gives back every link marked as the hub's, then deletes the
// namespace if this package created it. Links it did not mark stay where
// they are and die with the namespace only if they are virtual.
func (s *linkSet) Remove(hubID string) error {
	h := Hub{ID: hubID}
	ns := h.Namespace()
	exists, err := s.ops.NamespaceExists(ns)
	if err != nil || !exists {
		return err
	}
	links, err := s.ops.Links(ns)
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range links {
		if l.Alias == ownerAlias(h) {
			errs = append(errs, s.release(ns, l))
		}
	}
	marker := filepath.Join(s.runDir, ns, markerFile)
	if _, err := os.Stat(marker); err == nil {
		errs = append(errs, s.ops.DeleteNamespace(ns))
	}
	return errors.Join(errs...)
}

// DumpLinks renders the state of a namespace's links as text in the manner
// of "ip -brief address": the readable state tests compare.
func dumpLinks(ops netOps, ns string) (string, error) {
	links, err := ops.Links(ns)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, l := range links {
		state := "DOWN"
		if l.Up {
			state = "UP"
		}
		fmt.Fprintf(&b, "%s %s", l.Name, state)
		if l.Alias != "" {
			fmt.Fprintf(&b, " alias=%s", l.Alias)
		}
		for _, a := range l.Addrs {
			fmt.Fprintf(&b, " %s", a)
		}
		b.WriteByte('\n')
	}
	for _, kv := range hubSysctls {
		v, err := ops.Sysctl(ns, kv[0])
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s=%s\n", kv[0], v)
	}
	return b.String(), nil
}
