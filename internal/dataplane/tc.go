package dataplane

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/vishvananda/netlink"
)

// Shaping holds a port to its contracted speed in both directions, on the
// port's device in the hub namespace (a redundant port's bridge, which both
// legs' traffic crosses, so the contract holds with either leg active).
//
// Egress (hub → customer): an htb qdisc 1: at the root of the device with
// one class 1:10 at the contracted rate (rate = ceil), the qdisc's default
// class.
//
// Ingress (customer → hub): an ingress qdisc on the device whose one u32
// filter redirects (mirred) every IPv4 frame to a unicast MAC — all the
// hub can forward — to an ifb device of the port, which carries the same
// htb as the egress. ARP, BPDUs, broadcast and multicast stay on the
// device for its layer-2 guards (tc_ifb.go says why they must). The ifb hands each
// packet back to the device's receive path once the htb lets it go, so the
// hub sees the customer's traffic at the contracted rate and TCP senders
// back off as they would on a slower link. (The kernel's police action and
// matchall filter are not available on every hub kernel, and a policer cuts
// TCP goodput well below the contract where a queue does not.)
//
// A speed change modifies both classes in place (RTM_NEWTCLASS without
// NLM_F_CREATE|EXCL): the qdiscs, their queues, the filter and the links
// stay as they are, so a change drops no packet and touches no BGP session.
const (
	htbMajor   = 1
	htbDefault = 0x10
	// ifbPrefix starts each port's ifb device name; the rest is derived
	// from the port's device (ifbName).
	ifbPrefix = "tsi"
	// ifbAliasPrefix marks an ifb device as one this package made, followed
	// by the port device whose ingress it shapes. The ifb's owner is
	// therefore read back from the kernel, like every other piece of
	// shaping.
	ifbAliasPrefix = "tsunagi-ifb:"
)

// tcOps is the narrow view of traffic control the subsystem needs. Rates
// are in bits per second.
type tcOps interface {
	// Rate returns the rate of the device's shaping class; ok is false
	// when the device has no tsunagi htb qdisc.
	Rate(ns, dev string) (bps uint64, ok bool, err error)
	AddShaping(ns, dev string, bps uint64) error
	ChangeRate(ns, dev string, bps uint64) error
	// RemoveShaping removes the device's htb; a device that is not there
	// (or not shaped) is already done.
	RemoveShaping(ns, dev string) error

	// IFBs lists the ifb devices this package made in the namespace: ifb
	// name → the port device whose ingress it shapes. A namespace that
	// does not exist has none.
	IFBs(ns string) (map[string]string, error)
	// AddIFB makes ifb (up, marked as shaping dev's ingress); an ifb of
	// that name already there is marked and brought up.
	AddIFB(ns, ifb, dev string) error
	DeleteIFB(ns, ifb string) error
	// Redirect returns the ifb the device's ingress is redirected to; ok
	// is false when the device has no ingress qdisc with such a filter.
	// A redirect whose ifb is gone reads as ok with ifb "".
	Redirect(ns, dev string) (ifb string, ok bool, err error)
	// SetRedirect redirects all the device's ingress to ifb, replacing the
	// filter in place if one is there.
	SetRedirect(ns, dev, ifb string) error
	// RemoveRedirect deletes the device's ingress qdisc with its filter; a
	// device that is not there (or has none) is already done.
	RemoveRedirect(ns, dev string) error
}

// ifbName is the ifb device that shapes what enters dev: unique per hub as
// long as the hub's port devices are (checked in tcSet.Set), and within
// IFNAMSIZ (15 characters) whatever dev is called.
func ifbName(dev string) string {
	sum := sha256.Sum256([]byte(dev))
	return ifbPrefix + hex.EncodeToString(sum[:6])
}

// tcSet realises the ports' contracted speeds.
type tcSet struct {
	ops tcOps
}

// Set shapes each port of h at its contracted speed in both directions
// and removes the ingress shaping of ports that no longer have a speed.
// It makes no altering call when the kernel already matches.
func (s *tcSet) Set(h Hub) error {
	ns := h.Namespace()
	have, err := s.ops.IFBs(ns)
	if err != nil {
		return err
	}
	want := map[string]string{} // ifb → port device, of the shaped ports
	var errs []error
	for _, p := range h.Ports {
		bps := uint64(p.SpeedMbps) * 1_000_000
		if err := s.setRate(ns, p.Interface, bps); err != nil {
			errs = append(errs, fmt.Errorf("port %s egress: %w", p.Name, err))
		}
		if bps == 0 {
			// An unshaped port's ingress is redirected nowhere, even by a
			// filter whose ifb is gone (it would drop every packet).
			if _, ok, err := s.ops.Redirect(ns, p.Interface); err != nil {
				errs = append(errs, fmt.Errorf("port %s ingress: %w", p.Name, err))
			} else if ok {
				errs = append(errs, s.ops.RemoveRedirect(ns, p.Interface))
			}
			continue
		}
		ifb := ifbName(p.Interface)
		if other, dup := want[ifb]; dup {
			errs = append(errs, fmt.Errorf("port %s: devices %s and %s share the ifb name %s", p.Name, other, p.Interface, ifb))
			continue
		}
		want[ifb] = p.Interface
		if err := s.setIngress(ns, p.Interface, ifb, have, bps); err != nil {
			errs = append(errs, fmt.Errorf("port %s ingress: %w", p.Name, err))
		}
	}
	// The ifbs no longer wanted: a port that lost its speed was unredirected
	// above; one whose device left the hub, by Release.
	for ifb, dev := range sortedMap(have) {
		if want[ifb] != dev {
			errs = append(errs, s.ops.DeleteIFB(ns, ifb))
		}
	}
	return errors.Join(errs...)
}

// setRate makes dev's htb the rate bps, 0 meaning none.
func (s *tcSet) setRate(ns, dev string, bps uint64) error {
	have, ok, err := s.ops.Rate(ns, dev)
	switch {
	case err != nil:
		return err
	case bps == 0 && ok:
		return s.ops.RemoveShaping(ns, dev)
	case bps == 0:
		return nil
	case !ok:
		return s.ops.AddShaping(ns, dev, bps)
	case have != bps:
		return s.ops.ChangeRate(ns, dev, bps)
	}
	return nil
}

// setIngress shapes what enters dev through ifb. The ifb and its htb come
// first and the redirect last, so that no packet is ever redirected to a
// device that is missing or not yet shaped.
func (s *tcSet) setIngress(ns, dev, ifb string, have map[string]string, bps uint64) error {
	if have[ifb] != dev {
		if err := s.ops.AddIFB(ns, ifb, dev); err != nil {
			return err
		}
	}
	if err := s.setRate(ns, ifb, bps); err != nil {
		return err
	}
	to, ok, err := s.ops.Redirect(ns, dev)
	if err != nil {
		return err
	}
	if !ok || to != ifb {
		return s.ops.SetRedirect(ns, dev, ifb)
	}
	return nil
}

// Release unshapes the devices that are about to leave the hub — those
// shaped through an ifb whose device is no longer a port of h — and deletes
// their ifbs. It runs before the links are given back, so that a port
// interface goes back to the node namespace without a qdisc of the hub's
// (an ingress redirect to a deleted ifb would drop everything it receives).
// Release with a hub of no ports unshapes all of it (Manager.Remove).
func (s *tcSet) Release(h Hub) error {
	ns := h.Namespace()
	have, err := s.ops.IFBs(ns)
	if err != nil {
		return err
	}
	var errs []error
	for ifb, dev := range sortedMap(have) {
		if slices.ContainsFunc(h.Ports, func(p Port) bool { return p.Interface == dev }) {
			continue
		}
		errs = append(errs, s.ops.RemoveRedirect(ns, dev), s.ops.RemoveShaping(ns, dev), s.ops.DeleteIFB(ns, ifb))
	}
	return errors.Join(errs...)
}

// sortedMap iterates m in key order, so that the calls made (and the
// recorded calls tests compare) are the same on every pass.
func sortedMap(m map[string]string) func(func(string, string) bool) {
	return func(yield func(string, string) bool) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if !yield(k, m[k]) {
				return
			}
		}
	}
}

// netlinkTC is tcOps through netlink.
type netlinkTC struct {
	ops netlinkOps
}

func (t netlinkTC) with(ns, dev string, fn func(*netlink.Handle, netlink.Link) error) error {
	return t.ops.link(ns, dev, fn)
}

// withIfPresent is with for a removal: a device that is not there has
// nothing to remove.
func (t netlinkTC) withIfPresent(ns, dev string, fn func(*netlink.Handle, netlink.Link) error) error {
	err := t.with(ns, dev, fn)
	if _, missing := errors.AsType[netlink.LinkNotFoundError](err); missing {
		return nil
	}
	return err
}

func htbClass(l netlink.Link, bps uint64) *netlink.HtbClass {
	// Quantum: bytes a class may send per round; the kernel's default
	// (rate/r2q) is too large at gigabit rates and warns. Clamp it to
	// between one MTU-sized frame and htb's maximum.
	q := min(max(bps/8/10, 1514), 200_000)
	return netlink.NewHtbClass(netlink.ClassAttrs{
		LinkIndex: l.Attrs().Index,
		Parent:    netlink.MakeHandle(htbMajor, 0),
		Handle:    netlink.MakeHandle(htbMajor, htbDefault),
	}, netlink.HtbClassAttrs{Rate: bps, Ceil: bps, Quantum: uint32(q)})
}

// hasRootHTB reports whether l's root qdisc is tsunagi's htb 1:.
func hasRootHTB(h *netlink.Handle, l netlink.Link) (bool, error) {
	qs, err := h.QdiscList(l)
	if err != nil {
		return false, err
	}
	for _, q := range qs {
		if _, isHTB := q.(*netlink.Htb); isHTB && q.Attrs().Parent == netlink.HANDLE_ROOT && q.Attrs().Handle == netlink.MakeHandle(htbMajor, 0) {
			return true, nil
		}
	}
	return false, nil
}

func (t netlinkTC) Rate(ns, dev string) (uint64, bool, error) {
	var bps uint64
	var ok bool
	err := t.with(ns, dev, func(h *netlink.Handle, l netlink.Link) error {
		if root, err := hasRootHTB(h, l); err != nil || !root {
			return err
		}
		cs, err := h.ClassList(l, netlink.MakeHandle(htbMajor, 0))
		if err != nil {
			return err
		}
		for _, c := range cs {
			if hc, isHTB := c.(*netlink.HtbClass); isHTB && hc.Handle == netlink.MakeHandle(htbMajor, htbDefault) {
				bps, ok = hc.Rate*8, true // the kernel reports bytes per second
			}
		}
		return nil
	})
	return bps, ok, err
}

func (t netlinkTC) AddShaping(ns, dev string, bps uint64) error {
	return t.with(ns, dev, func(h *netlink.Handle, l netlink.Link) error {
		q := netlink.NewHtb(netlink.QdiscAttrs{
			LinkIndex: l.Attrs().Index,
			Handle:    netlink.MakeHandle(htbMajor, 0),
			Parent:    netlink.HANDLE_ROOT,
		})
		q.Defcls = htbDefault
		// Replace, not add: a root qdisc other than ours (the kernel's
		// default noqueue/pfifo) is swapped for htb in one step.
		if err := h.QdiscReplace(q); err != nil {
			return fmt.Errorf("htb qdisc on %s: %w", dev, err)
		}
		if err := h.ClassReplace(htbClass(l, bps)); err != nil {
			return fmt.Errorf("htb class on %s: %w", dev, err)
		}
		return nil
	})
}

func (t netlinkTC) ChangeRate(ns, dev string, bps uint64) error {
	return t.with(ns, dev, func(h *netlink.Handle, l netlink.Link) error {
		if err := h.ClassChange(htbClass(l, bps)); err != nil {
			return fmt.Errorf("change htb class on %s: %w", dev, err)
		}
		return nil
	})
}

func (t netlinkTC) RemoveShaping(ns, dev string) error {
	return t.withIfPresent(ns, dev, func(h *netlink.Handle, l netlink.Link) error {
		if root, err := hasRootHTB(h, l); err != nil || !root {
			return err
		}
		if err := h.QdiscDel(&netlink.Htb{QdiscAttrs: netlink.QdiscAttrs{
			LinkIndex: l.Attrs().Index, Handle: netlink.MakeHandle(htbMajor, 0), Parent: netlink.HANDLE_ROOT}}); err != nil {
			return fmt.Errorf("delete htb on %s: %w", dev, err)
		}
		return nil
	})
}
