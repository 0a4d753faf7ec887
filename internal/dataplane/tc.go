package dataplane

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
)

// Shaping: an htb qdisc 1: at the root of each port's egress with one class
// 1:10 at the contracted rate (rate = ceil), the qdisc's default class. A
// speed change modifies that class in place (RTM_NEWTCLASS without
// NLM_F_CREATE|EXCL): the qdisc, its queue and the link stay as they are,
// so a change drops no packet and touches no BGP session.
const (
	htbMajor   = 1
	htbDefault = 0x10
)

// tcOps is the narrow view of traffic control the subsystem needs. Rates
// are in bits per second.
type tcOps interface {
	// Rate returns the rate of the port's shaping class; ok is false when
	// the port has no tsunagi htb qdisc.
	Rate(ns, dev string) (bps uint64, ok bool, err error)
	AddShaping(ns, dev string, bps uint64) error
	ChangeRate(ns, dev string, bps uint64) error
	RemoveShaping(ns, dev string) error
}

// tcSet realises the ports' contracted speeds.
type tcSet struct {
	ops tcOps
}

func (s *tcSet) Set(h Hub) error {
	var errs []error
	for _, p := range h.Ports {
		want := uint64(p.SpeedMbps) * 1_000_000
		have, ok, err := s.ops.Rate(h.Namespace(), p.Interface)
		switch {
		case err != nil:
			errs = append(errs, err)
		case want == 0 && ok:
			errs = append(errs, s.ops.RemoveShaping(h.Namespace(), p.Interface))
		case want == 0:
		case !ok:
			errs = append(errs, s.ops.AddShaping(h.Namespace(), p.Interface, want))
		case have != want:
			errs = append(errs, s.ops.ChangeRate(h.Namespace(), p.Interface, want))
		}
	}
	return errors.Join(errs...)
}

// netlinkTC is tcOps through netlink.
type netlinkTC struct {
	ops netlinkOps
}

func (t netlinkTC) with(ns, dev string, fn func(*netlink.Handle, netlink.Link) error) error {
	return t.ops.link(ns, dev, fn)
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

func (t netlinkTC) Rate(ns, dev string) (uint64, bool, error) {
	var bps uint64
	var ok bool
	err := t.with(ns, dev, func(h *netlink.Handle, l netlink.Link) error {
		qs, err := h.QdiscList(l)
		if err != nil {
			return err
		}
		root := false
		for _, q := range qs {
			if _, isHTB := q.(*netlink.Htb); isHTB && q.Attrs().Parent == netlink.HANDLE_ROOT && q.Attrs().Handle == netlink.MakeHandle(htbMajor, 0) {
				root = true
			}
		}
		if !root {
			return nil
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
	return t.with(ns, dev, func(h *netlink.Handle, l netlink.Link) error {
		return h.QdiscDel(&netlink.Htb{QdiscAttrs: netlink.QdiscAttrs{
			LinkIndex: l.Attrs().Index, Handle: netlink.MakeHandle(htbMajor, 0), Parent: netlink.HANDLE_ROOT}})
	})
}
