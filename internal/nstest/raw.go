package nstest

import (
	"encoding/binary"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// RawSocket is an AF_PACKET socket bound to one device of a namespace:
// what is written to it leaves the device as it is, source MAC address
// included — frames no socket of the IP stack would send (BPDUs, floods,
// addresses the device does not own).
type RawSocket struct {
	fd  int
	MAC net.HardwareAddr // the device's own address
}

// OpenRaw opens a RawSocket on dev in ns, closed at cleanup. The socket
// belongs to ns from its creation, whichever thread writes to it later.
func OpenRaw(t testing.TB, ns, dev string) *RawSocket {
	t.Helper()
	r := &RawSocket{fd: -1}
	err := InNamespace(ns, func() error {
		ifc, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		r.MAC = ifc.HardwareAddr
		// Protocol 0: the socket only sends; nothing received is queued.
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		r.fd = fd
		return unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifc.Index})
	})
	if r.fd >= 0 {
		t.Cleanup(func() { unix.Close(r.fd) })
	}
	if err != nil {
		t.Fatalf("raw socket on %s in %s: %v", dev, ns, err)
	}
	return r
}

// Send writes one whole Ethernet frame (no FCS).
func (r *RawSocket) Send(frame []byte) error {
	_, err := unix.Write(r.fd, frame)
	return err
}

// BPDUFrame is an IEEE 802.1D configuration BPDU in an 802.3 frame with
// an LLC header, as a switch sends it every two seconds.
func BPDUFrame(src net.HardwareAddr) []byte {
	f := make([]byte, 60)
	copy(f, []byte{0x01, 0x80, 0xc2, 0x00, 0x00, 0x00})
	copy(f[6:], src)
	binary.BigEndian.PutUint16(f[12:], 3+35) // 802.3 length: LLC and BPDU
	copy(f[14:], []byte{0x42, 0x42, 0x03})   // LLC: STP SAPs, UI
	bpdu := f[17:]
	// Protocol 0, version 0, type 0 (configuration), flags 0; root and
	// bridge: priority 32768 with the sender's address.
	binary.BigEndian.PutUint16(bpdu[5:], 0x8000)
	copy(bpdu[7:], src)
	binary.BigEndian.PutUint16(bpdu[17:], 0x8000)
	copy(bpdu[19:], src)
	binary.BigEndian.PutUint16(bpdu[25:], 0x8001) // port id
	binary.BigEndian.PutUint16(bpdu[29:], 20*256) // max age 20 s
	binary.BigEndian.PutUint16(bpdu[31:], 2*256)  // hello 2 s
	binary.BigEndian.PutUint16(bpdu[33:], 15*256) // forward delay 15 s
	return f
}

// Standby makes dev in ns a standby port the way an active-backup bond
// holds one: up, with carrier, but nothing received or sent. (This kernel
// has no bonding driver, and a bridge port's blocking state does not hold
// with STP off.) Activate ends it.
func Standby(t testing.TB, ns, dev string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(fmt.Sprintf(`table netdev standby {
	chain in { type filter hook ingress device %[1]q priority filter; policy drop; }
	chain out { type filter hook egress device %[1]q priority filter; policy drop; }
}`, dev))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("standby port %s in %s: %v: %s", dev, ns, err, out)
	}
}

// Activate makes the standby port of ns forward, as a bond failing over.
func Activate(t testing.TB, ns string) {
	t.Helper()
	Sh(t, "ip", "netns", "exec", ns, "nft", "delete", "table", "netdev", "standby")
}
