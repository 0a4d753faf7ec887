package dataplane

import (
	"fmt"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// The ingress half of shaping through netlink (tc.go): the ifb devices,
// the ingress qdisc ffff: and its one u32 filter redirecting to the ifb.
const (
	ingressMajor = 0xffff
	// redirectHandle is the u32 filter's handle (800::800, the first node
	// of the default hash table), fixed so that a changed redirect
	// replaces the filter instead of adding a second one.
	redirectHandle = 0x80000800
	// ifbQueue is the ifb's transmit queue in packets: the queue under
	// the htb class. The ifb default of 32 drops a TCP sender's bursts
	// and keeps its goodput well below the contract; 1000 is what veth
	// and most NICs have.
	ifbQueue = 1000
)

func ingressParent() uint32 { return netlink.MakeHandle(ingressMajor, 0) }

// The redirect takes the IPv4 frames addressed to a unicast MAC — every
// frame the hub can forward — and leaves the rest (ARP, BPDUs, broadcast
// and multicast) to the port's layer-2 guards. It must: a frame the tc
// ingress hook steals and the ifb hands back skips the netfilter ingress
// hook, where the guards are (__netif_receive_skb_core jumps past both
// hooks for a frame an ifb re-injects), so a BPDU redirected to the ifb
// would never be seen by the BPDU guard, nor a broadcast by storm control.
//
// The key tests the group bit of the destination MAC: at ingress the
// frame's data starts at the IP header, so the MAC header is at -14, and
// u32 reads 32-bit words: the word at -16 holds it as its third byte.
var unicastKey = netlink.TcU32Key{Mask: 0x00000100, Val: 0, Off: -16}

func redirectSel() *netlink.TcU32Sel {
	return &netlink.TcU32Sel{Flags: nl.TC_U32_TERMINAL, Nkeys: 1, Keys: []netlink.TcU32Key{unicastKey}}
}

// isOurRedirect reports whether u selects what redirectSel does.
func isOurRedirect(u *netlink.U32) bool {
	return u.Protocol == unix.ETH_P_IP && u.Sel != nil && len(u.Sel.Keys) == 1 &&
		u.Sel.Keys[0].Mask == unicastKey.Mask && u.Sel.Keys[0].Val == unicastKey.Val && u.Sel.Keys[0].Off == unicastKey.Off
}

func (t netlinkTC) IFBs(ns string) (map[string]string, error) {
	if ok, err := t.ops.NamespaceExists(ns); err != nil || !ok {
		return nil, err
	}
	h, err := t.ops.nl(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links in %q: %w", ns, err)
	}
	out := map[string]string{}
	for _, l := range links {
		a := l.Attrs()
		if dev, ok := strings.CutPrefix(a.Alias, ifbAliasPrefix); ok && l.Type() == "ifb" {
			out[a.Name] = dev
		}
	}
	return out, nil
}

func (t netlinkTC) AddIFB(ns, ifb, dev string) error {
	h, err := t.ops.nl(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(ifb)
	if err != nil {
		if err := h.LinkAdd(&netlink.Ifb{LinkAttrs: netlink.LinkAttrs{Name: ifb, TxQLen: ifbQueue}}); err != nil {
			return fmt.Errorf("add ifb %s: %w", ifb, err)
		}
		if l, err = h.LinkByName(ifb); err != nil {
			return fmt.Errorf("ifb %s: %w", ifb, err)
		}
	}
	if l.Type() != "ifb" {
		return fmt.Errorf("%s exists and is a %s, not an ifb", ifb, l.Type())
	}
	if err := h.LinkSetTxQLen(l, ifbQueue); err != nil {
		return fmt.Errorf("queue of ifb %s: %w", ifb, err)
	}
	if err := h.LinkSetAlias(l, ifbAliasPrefix+dev); err != nil {
		return fmt.Errorf("mark ifb %s: %w", ifb, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("ifb %s up: %w", ifb, err)
	}
	return nil
}

func (t netlinkTC) DeleteIFB(ns, ifb string) error {
	return t.withIfPresent(ns, ifb, func(h *netlink.Handle, l netlink.Link) error {
		if err := h.LinkDel(l); err != nil {
			return fmt.Errorf("delete ifb %s: %w", ifb, err)
		}
		return nil
	})
}

// hasIngress reports whether l has the ingress qdisc.
func hasIngress(h *netlink.Handle, l netlink.Link) (bool, error) {
	qs, err := h.QdiscList(l)
	if err != nil {
		return false, err
	}
	for _, q := range qs {
		if _, ok := q.(*netlink.Ingress); ok && q.Attrs().Parent == netlink.HANDLE_INGRESS {
			return true, nil
		}
	}
	return false, nil
}

func (t netlinkTC) Redirect(ns, dev string) (string, bool, error) {
	var to string
	var found bool
	err := t.with(ns, dev, func(h *netlink.Handle, l netlink.Link) error {
		if in, err := hasIngress(h, l); err != nil || !in {
			return err
		}
		fs, err := h.FilterList(l, ingressParent())
		if err != nil {
			return fmt.Errorf("ingress filters of %s: %w", dev, err)
		}
		for _, f := range fs {
			u, ok := f.(*netlink.U32)
			if !ok || u.Handle != redirectHandle {
				continue
			}
			for _, a := range u.Actions {
				m, ok := a.(*netlink.MirredAction)
				if !ok || m.MirredAction != netlink.TCA_EGRESS_REDIR {
					continue
				}
				found = true
				// A redirect selecting other frames than ours (from an
				// older tsunagi) reads as going nowhere: it is replaced.
				if target, err := h.LinkByIndex(m.Ifindex); err == nil && isOurRedirect(u) {
					to = target.Attrs().Name
				}
			}
		}
		return nil
	})
	return to, found, err
}

func (t netlinkTC) SetRedirect(ns, dev, ifb string) error {
	h, err := t.ops.nl(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	target, err := h.LinkByName(ifb)
	if err != nil {
		return fmt.Errorf("ifb %s in %q: %w", ifb, ns, err)
	}
	l, err := h.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("link %s in %q: %w", dev, ns, err)
	}
	f := &netlink.U32{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: l.Attrs().Index,
			Parent:    ingressParent(),
			Handle:    redirectHandle,
			Priority:  1,
			Protocol:  unix.ETH_P_IP,
		},
		Sel:     redirectSel(),
		Actions: []netlink.Action{netlink.NewMirredAction(target.Attrs().Index)},
	}
	ingress := &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{
		LinkIndex: l.Attrs().Index, Handle: ingressParent(), Parent: netlink.HANDLE_INGRESS}}
	in, err := hasIngress(h, l)
	if err != nil {
		return err
	}
	if in {
		// Replaced in place when only the ifb changes; a filter the kernel
		// will not replace (another protocol at the same priority) goes
		// with its qdisc, and frames pass unshaped until the new one is in.
		if err := h.FilterReplace(f); err == nil {
			return nil
		}
		if err := h.QdiscDel(ingress); err != nil {
			return fmt.Errorf("replace ingress qdisc on %s: %w", dev, err)
		}
	}
	if err := h.QdiscAdd(ingress); err != nil {
		return fmt.Errorf("ingress qdisc on %s: %w", dev, err)
	}
	if err := h.FilterAdd(f); err != nil {
		return fmt.Errorf("redirect %s to %s: %w", dev, ifb, err)
	}
	return nil
}

func (t netlinkTC) RemoveRedirect(ns, dev string) error {
	return t.withIfPresent(ns, dev, func(h *netlink.Handle, l netlink.Link) error {
		if in, err := hasIngress(h, l); err != nil || !in {
			return err
		}
		if err := h.QdiscDel(&netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{
			LinkIndex: l.Attrs().Index, Handle: ingressParent(), Parent: netlink.HANDLE_INGRESS}}); err != nil {
			return fmt.Errorf("delete ingress qdisc on %s: %w", dev, err)
		}
		return nil
	})
}
