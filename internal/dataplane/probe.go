package dataplane

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ProbeSpec is one reachability probe sent by a hub: from Source (the
// hub's own address on its monitoring network, on its lo) toward Target,
// inside the hub's namespace, where the hub's routes decide the way out.
type ProbeSpec struct {
	Namespace      string
	Source, Target netip.Addr
	// TCPPort is the port a TCP probe connects to; 0 for an ICMP echo.
	TCPPort int
	// ID and Seq identify an echo's reply among every ICMP packet the
	// namespace's raw sockets see (the payload carries a random nonce
	// besides).
	ID, Seq uint16
	Timeout time.Duration
}

// ProbeResult is what a probe found: an answer and its round-trip time, or
// why there was none — ProbeTimeout, ProbeRefused, ProbeUnreachable, or
// ProbeNodeError with the node's own error in Cause.
type ProbeResult struct {
	OK    bool
	RTT   time.Duration
	Error string
	// Cause is why the node could not send the probe (Error is
	// ProbeNodeError): for the node's log, not for the customer, as it
	// names the node's namespaces and calls.
	Cause error
}

// Why a probe failed, as the node reports it.
const (
	ProbeTimeout     = "timeout"
	ProbeRefused     = "refused"
	ProbeUnreachable = "unreachable"
	ProbeNodeError   = "node error"
)

// Probe sends one probe and waits at most s.Timeout for its answer. The
// socket is created on a thread moved into the hub's namespace, which the
// socket belongs to from then on; the thread goes back at once and the
// wait itself is the runtime's poller's, so a probe in flight holds no
// thread. A socket of the hub's namespace is the hub's own traffic: it
// leaves through the output hook, which the hub's ruleset does not filter,
// keeps its source through NAT (the postrouting chain's first rule accepts
// local sources untranslated), and its answer is accepted by the input
// chain (ICMP, or a connection the hub opened).
func Probe(ctx context.Context, s ProbeSpec) ProbeResult {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	var (
		rtt time.Duration
		err error
	)
	if s.TCPPort == 0 {
		rtt, err = echo(ctx, s, deadline)
	} else {
		rtt, err = connect(ctx, s, deadline)
	}
	if err != nil {
		return failed(err)
	}
	return ProbeResult{OK: true, RTT: rtt}
}

// failed names a failure the way the report does.
func failed(err error) ProbeResult {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return ProbeResult{Error: ProbeTimeout}
	case errors.Is(err, syscall.ECONNREFUSED):
		return ProbeResult{Error: ProbeRefused}
	case errors.Is(err, errUnreachable), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return ProbeResult{Error: ProbeUnreachable}
	}
	return ProbeResult{Error: ProbeNodeError, Cause: err}
}

// errUnreachable is an ICMP error (destination unreachable, time
// exceeded) answering the probe's own echo.
var errUnreachable = errors.New(ProbeUnreachable)

// socketIn creates a non-blocking socket in the namespace ns, bound to
// src (port 0: the kernel's choice).
func socketIn(ns string, typ, proto int, src netip.Addr) (int, error) {
	target, err := netns.GetFromName(ns)
	if err != nil {
		return -1, fmt.Errorf("namespace %q: %w", ns, err)
	}
	defer target.Close()
	fd := -1
	err = onThreadIn(target, ns, func() error {
		var serr error
		fd, serr = unix.Socket(unix.AF_INET, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
		return serr
	})
	if err != nil {
		return -1, fmt.Errorf("socket in %s: %w", ns, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: src.As4()}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind %s in %s: %w", src, ns, err)
	}
	return fd, nil
}

// echo sends an ICMP echo request from a raw socket bound to the source
// and reads until its reply, an ICMP error quoting it, or the deadline.
// The raw socket sees every ICMP packet to the source address (other
// monitors' replies among them): only the one with this probe's ID,
// sequence and nonce counts.
func echo(ctx context.Context, s ProbeSpec, deadline time.Time) (time.Duration, error) {
	fd, err := socketIn(s.Namespace, unix.SOCK_RAW, unix.IPPROTO_ICMP, s.Source)
	if err != nil {
		return 0, err
	}
	f := os.NewFile(uintptr(fd), "icmp probe")
	c, err := net.FilePacketConn(f)
	f.Close() // c holds its own descriptor
	if err != nil {
		return 0, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := c.SetDeadline(deadline); err != nil {
		return 0, err
	}
	var nonce [8]byte
	rand.Read(nonce[:])
	req := echoRequest(s.ID, s.Seq, nonce[:])
	sent := time.Now()
	if _, err := c.WriteTo(req, &net.IPAddr{IP: s.Target.AsSlice()}); err != nil {
		return 0, err
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return 0, err
		}
		src, _ := netip.AddrFromSlice(from.(*net.IPAddr).IP)
		switch matchEcho(buf[:n], src.Unmap(), s.Target, s.ID, s.Seq, nonce[:]) {
		case echoReply:
			return time.Since(sent), nil
		case echoError:
			return 0, errUnreachable
		}
	}
}

// echoRequest is an ICMP echo request with its checksum.
func echoRequest(id, seq uint16, payload []byte) []byte {
	b := make([]byte, 8+len(payload))
	b[0] = 8 // echo request
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	copy(b[8:], payload)
	binary.BigEndian.PutUint16(b[2:], icmpChecksum(b))
	return b
}

func icmpChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

type echoMatch int

const (
	echoOther echoMatch = iota
	echoReply
	echoError
)

// matchEcho classifies an ICMP message (without its IP header) received
// from src: the reply to this probe's echo (from the target, same ID,
// sequence and nonce), an ICMP error quoting this probe's echo (from any
// router on the way), or something else.
func matchEcho(m []byte, src, target netip.Addr, id, seq uint16, nonce []byte) echoMatch {
	if len(m) < 8 {
		return echoOther
	}
	switch m[0] {
	case 0: // echo reply
		if src == target && binary.BigEndian.Uint16(m[4:]) == id && binary.BigEndian.Uint16(m[6:]) == seq &&
			string(m[8:]) == string(nonce) {
			return echoReply
		}
	case 3, 11: // destination unreachable, time exceeded: the quoted IP header and 8 bytes of the echo
		q := m[8:]
		if len(q) < 20 {
			return echoOther
		}
		ihl := int(q[0]&0x0f) * 4
		if ihl < 20 || len(q) < ihl+8 || q[9] != unix.IPPROTO_ICMP {
			return echoOther
		}
		dst := netip.AddrFrom4([4]byte(q[16:20]))
		e := q[ihl:]
		if dst == target && e[0] == 8 && binary.BigEndian.Uint16(e[4:]) == id && binary.BigEndian.Uint16(e[6:]) == seq {
			return echoError
		}
	}
	return echoOther
}

// connect opens a TCP connection from the source to the target's port and
// closes it once established; a reset answering the SYN is "refused". The
// connect is started on the non-blocking socket and its end awaited
// through the poller, as net.Dialer does, because the socket had to be
// made in the namespace, which the dialer cannot do without keeping a
// thread there for the whole wait.
func connect(ctx context.Context, s ProbeSpec, deadline time.Time) (time.Duration, error) {
	fd, err := socketIn(s.Namespace, unix.SOCK_STREAM, unix.IPPROTO_TCP, s.Source)
	if err != nil {
		return 0, err
	}
	f := os.NewFile(uintptr(fd), "tcp probe")
	defer f.Close()
	sent := time.Now()
	err = unix.Connect(fd, &unix.SockaddrInet4{Addr: s.Target.As4(), Port: s.TCPPort})
	if err == nil {
		return time.Since(sent), nil
	}
	if !errors.Is(err, unix.EINPROGRESS) {
		return 0, err
	}
	stop := context.AfterFunc(ctx, func() { f.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := f.SetWriteDeadline(deadline); err != nil {
		return 0, err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	// The callback reads the connect's outcome before the first wait too:
	// the poller forgets readiness that came before the call (a neighbour
	// answers in microseconds), so waiting first could miss it.
	var result error
	werr := rc.Write(func(fd uintptr) bool {
		v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			result = err
			return true
		}
		switch e := unix.Errno(v); e {
		case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
			return false
		case 0:
			if _, err := unix.Getpeername(int(fd)); err != nil {
				return false // still connecting
			}
			return true
		default:
			result = e
			return true
		}
	})
	rtt := time.Since(sent)
	if werr != nil {
		return 0, werr
	}
	if result != nil {
		return 0, result
	}
	return rtt, nil
}
