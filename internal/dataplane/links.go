package dataplane

import (
	"errors"
	"fmt"
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
}

// linkSet realises the namespace, its port links, their addresses and the
// hub's sysctls, in that order.
type linkSet struct {
	ops    netOps
	runDir string
}

// hubAddrs are the addresses a hub wants on each link it owns. The hub's
// first address of its internal and monitoring networks is put on lo as a
// /32: the hub answers for them (monitoring probes), while the rest of each
// network is a blackhole route from BIRD.
func hubAddrs(h Hub) map[string][]netip.Prefix {
	want := map[string][]netip.Prefix{
		"lo": {
			netip.PrefixFrom(h.InternalNetwork.Addr().Next(), 32),
			netip.PrefixFrom(h.MonitoringNetwork.Addr().Next(), 32),
		},
	}
	for _, p := range h.Ports {
		want[p.Interface] = []netip.Prefix{p.Address}
	}
	for _, b := range h.Backbone {
		want[b.Device] = []netip.Prefix{b.Address}
	}
	return want
}

func vxlanSpec(b BackbonePeer) VXLANSpec {
	return VXLANSpec{Name: b.Device, VNI: b.VNI, Local: b.LocalUnderlay, Remote: b.RemoteUnderlay}
}

// Check refuses, before anything is changed, a hub whose port interfaces
// are neither in its namespace nor in the node namespace: such a hub is
// refused whole and what runs stays as it is.
func (s *linkSet) Check(h Hub) error {
	present := map[string]bool{}
	for _, ns := range []string{"", h.Namespace()} {
		if ns != "" {
			if ok, err := s.ops.NamespaceExists(ns); err != nil || !ok {
				continue
			}
		}
		links, err := s.ops.Links(ns)
		if err != nil {
			return err
		}
		for _, l := range links {
			present[l.Name] = true
		}
	}
	var errs []error
	for _, p := range h.Ports {
		if !present[p.Interface] {
			errs = append(errs, fmt.Errorf("port %s: interface %s does not exist on this node", p.Name, p.Interface))
		}
	}
	return errors.Join(errs...)
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
	alias := ownerAlias(h)
	want := hubAddrs(h)
	// Links: take the ports in, create the backbone devices, let go of
	// what is marked as the hub's and no longer wanted.
	var errs []error
	changed := false
	for _, p := range h.Ports {
		if _, ok := byName[p.Interface]; ok {
			continue
		}
		changed = true
		if err := s.ops.MoveLink("", p.Interface, ns); err != nil {
			errs = append(errs, fmt.Errorf("port %s: %w", p.Name, err))
		}
	}
	// A VXLAN device whose VNI or underlay changed is replaced: these are
	// the only links the package creates rather than takes.
	for _, b := range h.Backbone {
		have, ok := byName[b.Device]
		if ok && have.VXLAN != nil && *have.VXLAN == vxlanSpec(b) {
			continue
		}
		changed = true
		if ok {
			if have.Alias != alias {
				errs = append(errs, fmt.Errorf("backbone %s: device %s exists and is not the hub's", b.Name, b.Device))
				continue
			}
			if err := s.ops.DeleteLink(ns, b.Device); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if err := s.ops.AddVXLAN(ns, vxlanSpec(b)); err != nil {
			errs = append(errs, fmt.Errorf("backbone %s: %w", b.Name, err))
		}
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
		addrs, ok := want[l.Name]
		if !ok {
			continue
		}
		if l.Name != "lo" && l.Alias != alias {
			errs = append(errs, s.ops.SetAlias(ns, l.Name, alias))
		}
		for _, a := range addrs {
			if !slices.Contains(l.Addrs, a) {
				errs = append(errs, s.ops.AddrAdd(ns, l.Name, a))
			}
		}
		for _, a := range l.Addrs {
			if !slices.Contains(addrs, a) && !(l.Name == "lo" && a.Addr().IsLoopback()) {
				errs = append(errs, s.ops.AddrDel(ns, l.Name, a))
			}
		}
		if !l.Up {
			errs = append(errs, s.ops.SetUp(ns, l.Name, true))
		}
	}
	for _, kv := range hubSysctls {
		v, err := s.ops.Sysctl(ns, kv[0])
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

// release lets go of a link the hub marked: a VXLAN device it created is
// deleted; a port interface goes back to the node namespace down, without
// its addresses or mark.
func (s *linkSet) release(ns string, l LinkState) error {
	if l.Kind == "vxlan" {
		return s.ops.DeleteLink(ns, l.Name)
	}
	var errs []error
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
