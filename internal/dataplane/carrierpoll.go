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
// one netlink socket opened in it and kept: a read is a dump on an open
// socket, with no thread moved between namespaces, cheap enough for a hub's
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

// read returns the carrier of every link, as Carriers does.
func (c *carrierPoll) read() (map[string]Carrier, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	if err := c.s.Send(req); err != nil {
		return nil, fmt.Errorf("carrier poll: %w", err)
	}
	out := map[string]Carrier{}
	for {
		msgs, _, err := c.s.Receive()
		if err != nil {
			return nil, fmt.Errorf("carrier poll: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != req.Seq {
				continue // the answer to an earlier request that timed out
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return out, nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if errno := int32(nl.NativeEndian().Uint32(m.Data[:4])); errno != 0 {
						return nil, fmt.Errorf("carrier poll: %w", syscall.Errno(-errno))
					}
				}
				return nil, errors.New("carrier poll: error message")
			case unix.RTM_NEWLINK:
				name, cr, err := parseCarrier(m.Data)
				if err != nil {
					return nil, fmt.Errorf("carrier poll: %w", err)
				}
				out[name] = cr
			}
		}
	}
}

func (c *carrierPoll) close() { c.s.Close() }
