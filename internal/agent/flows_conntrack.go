package agent

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	"github.com/tsunagi-net/tsunagi/internal/network/flowrec"
)

// flowSysctls make a DESTROY event carry what a record needs: the bytes
// and packets each way (acct) and the connection's start and end
// (timestamp). Both are per network namespace.
var flowSysctls = [][2]string{
	{"net/netfilter/nf_conntrack_acct", "1"},
	{"net/netfilter/nf_conntrack_timestamp", "1"},
}

// flowReadBuffer is the event socket's receive buffer: room for about
// 20,000 events between two reads before the kernel drops (ENOBUFS).
const flowReadBuffer = 8 << 20

// openConntrack is the FlowSource of a real node: a netlink socket in the
// hub's namespace joined to conntrack's DESTROY group.
func openConntrack(h desired.Hub, emit func(flowrec.Record), lost func(int64)) (io.Closer, error) {
	ns, err := netns.GetFromName(h.Namespace)
	if err != nil {
		return nil, fmt.Errorf("namespace %q: %w", h.Namespace, err)
	}
	if err := inNamespace(ns, setFlowSysctls); err != nil {
		ns.Close()
		return nil, fmt.Errorf("namespace %q: %w", h.Namespace, err)
	}
	s := &ctStream{hub: h, ns: ns, emit: emit, lost: lost, stop: make(chan struct{}), done: make(chan struct{})}
	if err := s.listen(); err != nil {
		ns.Close()
		return nil, fmt.Errorf("namespace %q: conntrack events: %w", h.Namespace, err)
	}
	go s.run()
	return s, nil
}

func setFlowSysctls() error {
	for _, kv := range flowSysctls {
		if err := os.WriteFile("/proc/sys/"+kv[0], []byte(kv[1]), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// inNamespace runs fn on a thread moved into ns (files under /proc/sys/net
// opened there are ns's) and moves it back; a thread that cannot go back
// stays locked, and the runtime retires it with the goroutine.
func inNamespace(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		return errors.Join(ferr, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// ctStream is one hub's event socket. run owns conn, events and errs.
type ctStream struct {
	hub    desired.Hub
	ns     netns.NsHandle
	emit   func(flowrec.Record)
	lost   func(int64)
	conn   *conntrack.Conn
	events chan conntrack.Event
	errs   chan error
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

func (s *ctStream) listen() error {
	c, err := conntrack.Dial(&netlink.Config{NetNS: int(s.ns)})
	if err != nil {
		return err
	}
	if err := c.SetReadBuffer(flowReadBuffer); err != nil {
		c.Close()
		return err
	}
	ev := make(chan conntrack.Event, 1024)
	errs, err := c.Listen(ev, 1, []netfilter.NetlinkGroup{netfilter.GroupCTDestroy})
	if err != nil {
		c.Close()
		return err
	}
	s.conn, s.events, s.errs = c, ev, errs
	return nil
}

// run turns events into records until stopped. The library's worker ends
// on any receive error; an overrun socket (ENOBUFS: the kernel dropped
// events it could not queue, how many it does not say) counts one lost
// record at least, and the socket is opened again.
func (s *ctStream) run() {
	defer close(s.done)
	for {
		select {
		case ev := <-s.events:
			if r, ok := flowRecord(s.hub, ev); ok {
				s.emit(r)
			}
		case err := <-s.errs:
			if errors.Is(err, unix.ENOBUFS) {
				s.lost(1)
			}
			s.closeConn()
			for s.listen() != nil {
				select {
				case <-s.stop:
					return
				case <-time.After(time.Second):
				}
			}
		case <-s.stop:
			s.closeConn()
			return
		}
	}
}

// closeConn closes the socket while draining its channels: Close waits for
// the worker, which may be blocked handing over an event or an error.
func (s *ctStream) closeConn() {
	closed := make(chan struct{})
	go func() {
		s.conn.Close()
		close(closed)
	}()
	for {
		select {
		case <-s.events:
		case <-s.errs:
		case <-closed:
			return
		}
	}
}

// Close stops the stream; no emit or lost call follows its return.
func (s *ctStream) Close() error {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	return s.ns.Close()
}

// flowRecord is the record of a DESTROY event of hub h. A connection the
// kernel gave no timestamps (nf_conntrack_timestamp was off when it
// started) ends now and starts when it ends.
func flowRecord(h desired.Hub, ev conntrack.Event) (flowrec.Record, bool) {
	f := ev.Flow
	if ev.Type != conntrack.EventDestroy || f == nil || !f.TupleOrig.IP.SourceAddress.IsValid() || !f.TupleReply.IP.SourceAddress.IsValid() {
		return flowrec.Record{}, false
	}
	tuple := func(t conntrack.Tuple) flowrec.Tuple {
		return flowrec.Tuple{Src: t.IP.SourceAddress.Unmap(), Dst: t.IP.DestinationAddress.Unmap(), SrcPort: t.Proto.SourcePort, DstPort: t.Proto.DestinationPort}
	}
	end := f.Timestamp.Stop
	if end.IsZero() {
		end = time.Now()
	}
	start := f.Timestamp.Start
	if start.IsZero() || start.After(end) || end.Sub(start) > flowrec.MaxLifetime {
		start = end
	}
	r := flowrec.Record{HubID: h.HubID, CustomerID: h.CustomerID, Start: start.UTC(), End: end.UTC(), Protocol: f.TupleOrig.Proto.Protocol,
		Original: tuple(f.TupleOrig), Reply: tuple(f.TupleReply),
		OrigBytes: f.CountersOrig.Bytes, OrigPackets: f.CountersOrig.Packets, ReplyBytes: f.CountersReply.Bytes, ReplyPackets: f.CountersReply.Packets}
	r.Translated = flowrec.Translation(r.Original, r.Reply)
	return r, r.Check() == nil
}
