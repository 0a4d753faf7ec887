package dataplane

import (
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// A guard watcher's BPDU alarm (guardwatch.go): a packet socket per
// guarded device that hears, and only hears, frames to the bridge group
// address.

// bpduFilter is a classic BPF program that passes (the first 64 bytes of)
// frames whose destination is the bridge group address and nothing else.
var bpduFilter = []unix.SockFilter{
	{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0},
	{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 3, K: 0x0180c200},
	{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 4},
	{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: 0x0000},
	{Code: unix.BPF_RET | unix.BPF_K, K: 64},
	{Code: unix.BPF_RET | unix.BPF_K, K: 0},
}

// bpduSocket is a packet socket hearing the BPDUs of one device.
type bpduSocket struct {
	f       *os.File
	ifindex int
	done    chan struct{} // closed when its reader has returned
	err     error         // why the reader returned; written before done closes
}

// openBPDUSocket opens a device's BPDU socket in ns. It is created bound to
// no protocol, so nothing is queued before its filter is attached, then
// bound to the device for every protocol: an ETH_P_ALL tap on the device
// alone, which sees frames before the ingress hook. Each frame it passes
// signals heard, a failure broken (without blocking: one pending signal is
// enough).
func (o netlinkOps) openBPDUSocket(ns, dev string, heard, broken chan<- struct{}) (*bpduSocket, error) {
	s := &bpduSocket{done: make(chan struct{})}
	fd := -1
	err := o.inNamespace(ns, func() error {
		ifc, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		s.ifindex = ifc.Index
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0); err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		prog := unix.SockFprog{Len: uint16(len(bpduFilter)), Filter: &bpduFilter[0]}
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
			return fmt.Errorf("socket filter: %w", err)
		}
		// The hub sends no BPDUs; none of its own frames are wanted.
		_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index})
	})
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("guard watch: BPDU socket on %s in %q: %w", dev, ns, err)
	}
	// Non-blocking, so the runtime's poller waits on it and Close wakes
	// the reader.
	s.f = os.NewFile(uintptr(fd), "bpdu-"+dev)
	go func() {
		defer close(s.done)
		buf := make([]byte, 128)
		for {
			_, err := s.f.Read(buf)
			switch {
			case errors.Is(err, os.ErrClosed):
				return
			case errors.Is(err, unix.ENETDOWN):
				// The device went down (a shut port, a re-enable under
				// way): reported once, and the socket hears again when it
				// comes back up.
				continue
			case err != nil:
				s.err = err
				signal(broken)
				return
			}
			signal(heard)
		}
	}()
	return s, nil
}

// failed returns why the socket's reader stopped, nil while it runs.
func (s *bpduSocket) failed() error {
	select {
	case <-s.done:
		if s.err == nil {
			return errors.New("closed")
		}
		return s.err
	default:
		return nil
	}
}

func (s *bpduSocket) close() {
	s.f.Close()
	<-s.done
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
