// Package nstest is the test support for tests on the real kernel: network
// namespaces named with a per-run prefix, peer routers running their own
// BIRD, pings and throughput from inside a namespace. Everything lives in
// namespaces the test creates and is removed at cleanup; the root namespace
// is never touched.
package nstest

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, veth pairs, nftables tables and BIRD processes")
	}
	for _, bin := range []string{"/usr/sbin/bird", "ip", "nft", "tc"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("needs %s: %v", bin, err)
		}
	}
}

func RunPrefix(t testing.TB) string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "tsg" + hex.EncodeToString(b)
}

func Sh(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// AddNamespace creates a namespace and removes it (with every process
// started by the test in it) at cleanup.
func AddNamespace(t testing.TB, name string) {
	t.Helper()
	Sh(t, "ip", "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	Sh(t, "ip", "-n", name, "link", "set", "lo", "up")
}

// PeerBird runs a BIRD in a peer namespace playing the customer's router or
// the cloud's: it advertises its prefix to the hub and installs what it
// learns with its own loopback address as the source.
type PeerBird struct {
	NS, Dir string
	Sock    string // BIRD's control socket
}

// PeerConf describes a peer router. Prefixes are advertised to the hub as
// blackholes; Loopback is the source of the routes it installs.
type PeerConf struct {
	Local, Hub  string
	ASN, HubASN uint32
	Prefixes    []string
	Loopback    string
	MD5         string
	BFD         bool
	// Passive makes the peer wait for the hub to open the BGP session.
	Passive bool
	// Second is a second BGP session with the hub, named hub2 (a cloud
	// router's secondary link), on another link; nil for none.
	Second *PeerLink
}

// PeerLink is one more BGP session of a peer router: its own address and
// the hub's on that link.
type PeerLink struct{ Local, Hub string }

func StartPeerBird(t testing.TB, ns, dir string, c PeerConf) PeerBird {
	t.Helper()
	p := PeerBird{NS: ns, Dir: dir, Sock: filepath.Join(dir, ns+".ctl")}
	confPath := p.writeConfig(t, c)
	pidPath := filepath.Join(dir, ns+".pid")
	t.Cleanup(func() { KillPidFile(pidPath) })
	Sh(t, "ip", "netns", "exec", ns, "/usr/sbin/bird", "-c", confPath, "-s", p.Sock, "-P", pidPath)
	return p
}

// Reconfigure rewrites the peer's configuration and makes its BIRD re-read
// it, e.g. to advertise more prefixes.
func (p PeerBird) Reconfigure(t testing.TB, c PeerConf) {
	t.Helper()
	p.writeConfig(t, c)
	Sh(t, "/usr/sbin/birdc", "-s", p.Sock, "configure")
}

func (p PeerBird) writeConfig(t testing.TB, c PeerConf) string {
	t.Helper()
	ns, dir := p.NS, p.Dir
	var routes, password strings.Builder
	for _, pr := range c.Prefixes {
		fmt.Fprintf(&routes, "\troute %s blackhole;\n", pr)
	}
	if c.MD5 != "" {
		fmt.Fprintf(&password, "\tpassword %q;\n", c.MD5)
	}
	if c.Passive {
		password.WriteString("\tpassive on;\n")
	}
	bfd := ""
	if c.BFD {
		password.WriteString("\tbfd on;\n")
		bfd = "protocol bfd { interface \"eth0\" { interval 300 ms; multiplier 3; }; }\n"
	}
	conf := fmt.Sprintf(`router id %[1]s;
log "%[7]s/%[8]s.log" all;
timeformat protocol iso long;
protocol device {}
%[10]sprotocol static { ipv4;
%[5]s}
protocol kernel {
	ipv4 { import none; export filter { if source = RTS_BGP then { krt_prefsrc = %[6]s; accept; } reject; }; };
}
protocol bgp hub {
	local %[1]s as %[3]d;
	neighbor %[2]s as %[4]d;
%[9]s	ipv4 { import all; export where source = RTS_STATIC; };
}
`, c.Local, c.Hub, c.ASN, c.HubASN, routes.String(), c.Loopback, dir, ns, password.String(), bfd)
	if l := c.Second; l != nil {
		conf += fmt.Sprintf(`protocol bgp hub2 {
	local %[1]s as %[3]d;
	neighbor %[2]s as %[4]d;
%[5]s	ipv4 { import all; export where source = RTS_STATIC; };
}
`, l.Local, l.Hub, c.ASN, c.HubASN, strings.ReplaceAll(password.String(), "\tbfd on;\n", ""))
	}
	confPath := filepath.Join(dir, ns+".conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return confPath
}

func KillPidFile(path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	var pid int
	if _, err := fmt.Sscan(string(b), &pid); err == nil && pid > 1 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// WaitFor polls cond until it holds or the timeout passes.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s; last state: %s", timeout, what, last)
}

// pinger sends ICMP echo requests from an address in a namespace.
type pinger struct {
	conn net.PacketConn
	dst  string
	id   uint16
	seq  uint16
}

func newPinger(ns, src, dst string) (*pinger, error) {
	var conn net.PacketConn
	err := InNamespace(ns, func() error {
		var err error
		conn, err = net.ListenPacket("ip4:icmp", src)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("icmp socket in %s: %w", ns, err)
	}
	return &pinger{conn: conn, dst: dst, id: uint16(os.Getpid()&0x7fff) ^ uint16(time.Now().UnixNano())}, nil
}

// echo sends one request and waits for its reply.
func (p *pinger) echo(timeout time.Duration) (bool, error) {
	p.seq++
	msg := make([]byte, 16)
	msg[0] = 8 // echo request
	binary.BigEndian.PutUint16(msg[4:], p.id)
	binary.BigEndian.PutUint16(msg[6:], p.seq)
	copy(msg[8:], "tsunagi!")
	binary.BigEndian.PutUint16(msg[2:], ICMPChecksum(msg))
	if _, err := p.conn.WriteTo(msg, &net.IPAddr{IP: net.ParseIP(p.dst)}); err != nil {
		return false, fmt.Errorf("send to %s: %w", p.dst, err)
	}
	_ = p.conn.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 1500)
	for {
		n, from, err := p.conn.ReadFrom(buf)
		if err != nil {
			return false, nil // timeout
		}
		if n >= 8 && buf[0] == 0 && binary.BigEndian.Uint16(buf[4:]) == p.id &&
			binary.BigEndian.Uint16(buf[6:]) == p.seq && from.String() == p.dst {
			return true, nil
		}
	}
}

// Ping reports whether dst answers an echo from src in ns within timeout.
func Ping(ns, src, dst string, timeout time.Duration) error {
	p, err := newPinger(ns, src, dst)
	if err != nil {
		return err
	}
	defer p.conn.Close()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ok, err := p.echo(300 * time.Millisecond)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
	return errors.New("no echo reply from " + dst)
}

// PingStream pings every interval until stop is closed and returns how
// many requests were sent and how many went unanswered.
func PingStream(ns, src, dst string, interval time.Duration, stop <-chan struct{}) (sent, lost int, err error) {
	p, err := newPinger(ns, src, dst)
	if err != nil {
		return 0, 0, err
	}
	defer p.conn.Close()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return sent, lost, nil
		case <-tick.C:
		}
		ok, err := p.echo(500 * time.Millisecond)
		if err != nil {
			return sent, lost, err
		}
		sent++
		if !ok {
			lost++
		}
	}
}

// ICMPChecksum is the Internet checksum of an ICMP message.
func ICMPChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// Goodput sends as fast as it can for d from src in fromNS to dst (a
// listener it opens in toNS at listen) and returns the receiver's rate in
// bit/s.
func Goodput(t testing.TB, fromNS, src, toNS, listen, dst string, d time.Duration) float64 {
	t.Helper()
	var ln net.Listener
	if err := InNamespace(toNS, func() error {
		var err error
		ln, err = net.Listen("tcp4", listen)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		n   int64
		dur time.Duration
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{}
			return
		}
		defer c.Close()
		buf := make([]byte, 64<<10)
		var n int64
		var first time.Time
		for {
			k, err := c.Read(buf)
			if k > 0 && first.IsZero() {
				first = time.Now()
			}
			n += int64(k)
			if err != nil {
				got <- result{n, time.Since(first)}
				return
			}
		}
	}()
	var conn net.Conn
	if err := InNamespace(fromNS, func() error {
		var err error
		conn, err = (&net.Dialer{Timeout: 3 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}).Dial("tcp4", dst)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if _, err := conn.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	r := <-got
	if r.dur <= 0 {
		t.Fatal("nothing received")
	}
	return float64(r.n*8) / r.dur.Seconds()
}

// InNamespace runs fn on an OS thread switched into the named namespace;
// sockets fn opens stay in that namespace.
func InNamespace(name string, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	target, err := netns.GetFromName(name)
	if err != nil {
		return err
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return err
	}
	defer func() {
		if netns.Set(orig) != nil {
			// The thread is in a foreign namespace: let it die with the
			// goroutine rather than return it to the pool.
			runtime.Goexit()
		}
	}()
	return fn()
}

// Iperf3 measures one TCP stream with iperf3 (Debian package iperf3) from
// clientAddr in clientNS to a one-off server it starts on serverAddr:port in
// serverNS, for the given seconds, and returns the receiver's rate in bit/s.
func Iperf3(t testing.TB, serverNS, serverAddr, clientNS, clientAddr, port string, seconds int) float64 {
	t.Helper()
	if _, err := exec.LookPath("iperf3"); err != nil {
		t.Skipf("needs iperf3 (Debian package iperf3): %v", err)
	}
	srv := exec.Command("ip", "netns", "exec", serverNS, "iperf3", "-s", "-1", "-B", serverAddr, "-p", port)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	var last string
	for range 25 { // the server may still be starting
		out, err := exec.Command("ip", "netns", "exec", clientNS, "iperf3", "-c", serverAddr, "-B", clientAddr, "-p", port,
			"-t", fmt.Sprint(seconds), "-J").Output()
		var r struct {
			End struct {
				SumReceived struct {
					BitsPerSecond float64 `json:"bits_per_second"`
				} `json:"sum_received"`
			} `json:"end"`
			Error string `json:"error"`
		}
		if jerr := json.Unmarshal(out, &r); jerr == nil && r.End.SumReceived.BitsPerSecond > 0 {
			return r.End.SumReceived.BitsPerSecond
		}
		last = fmt.Sprintf("%v %s", err, r.Error)
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("iperf3 %s → %s: %s", clientAddr, serverAddr, last)
	return 0
}
