package dataplane

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// carrierPoll reads the carrier counters of a hub namespace's links over
// one netlink socket opened in it and kept: a read is one RTM_GETLINK per
// guarded device on that open socket, with no thread moved between
// namespaces, cheap enough for a hub's
// watcher to take several times a second (guardwatch.go says why it must).
type carrierPoll struct {
	s *nl.NetlinkSocket
}

func (o netlinkOps) openCarrierPoll(ns string) (*carrierPoll, error) {
	nsh, err := o.handle(ns)
	if err != nil {
		return nil, fmt.Errorf("carrier poll: namespace %q: %w", ns, err)
	}
	defer nsh.Close()
	s, err := nl.GetNetlinkSocketAt(nsh, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("carrier poll: netlink in %q: %w", ns, err)
	}
	// A kernel that does not answer does not hold the watcher.
	if err := s.SetReceiveTimeout(&unix.Timeval{Sec: 1}); err != nil {
		s.Close()
		return nil, fmt.Errorf("carrier poll: %w", err)
	}
	return &carrierPoll{s: s}, nil
}

// read returns the carriers of the named devices, one request each (a
// device that does not exist is left out). Statistics, the bulk of a link
// message, are not asked for.
func (c *carrierPoll) read(devs []string) (map[string]Carrier, error) {
	out := map[string]Carrier{}
	for _, dev := range devs {
		req := nl.NewNetlinkRequest(unix.RTM_GETLINK, 0)
		req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
		req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(dev)))
		req.AddData(nl.NewRtAttr(unix.IFLA_EXT_MASK, nl.Uint32Attr(rtextFilterSkipStats)))
		if err := c.s.Send(req); err != nil {
			return nil, fmt.Errorf("carrier poll: %w", err)
		}
		name, cr, err := c.answer(req.Seq)
		if errors.Is(err, unix.ENODEV) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("carrier poll %s: %w", dev, err)
		}
		out[name] = cr
	}
	return out, nil
}

// answer receives the answer to request seq.
func (c *carrierPoll) answer(seq uint32) (string, Carrier, error) {
	for {
		msgs, _, err := c.s.Receive()
		if err != nil {
			return "", Carrier{}, err
		}
		for _, m := range msgs {
			if m.Header.Seq != seq {
				continue // the answer to an earlier request that timed out
			}
			switch m.Header.Type {
			case unix.RTM_NEWLINK:
				return parseCarrier(m.Data)
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if errno := int32(nl.NativeEndian().Uint32(m.Data[:4])); errno != 0 {
						return "", Carrier{}, syscall.Errno(-errno)
					}
				}
				return "", Carrier{}, errors.New("error message")
			}
		}
	}
}

// rtextFilterSkipStats is RTEXT_FILTER_SKIP_STATS (linux/rtnetlink.h).
const rtextFilterSkipStats = 1 << 3

func (c *carrierPoll) close() { c.s.Close() }
