package dataplane

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/nstest"
)

// The kernel-test helpers live in internal/nstest; these names keep the
// tests of this package short.
var (
	runPrefix     = nstest.RunPrefix
	sh            = nstest.Sh
	addNamespace  = nstest.AddNamespace
	startPeerBird = nstest.StartPeerBird
	waitFor       = nstest.WaitFor
	ping          = nstest.Ping
	pingStream    = nstest.PingStream
	killPidFile   = nstest.KillPidFile
)

type (
	peerBird = nstest.PeerBird
	peerConf = nstest.PeerConf
)

func requireRoot(t *testing.T) { t.Helper(); nstest.RequireRoot(t) }

// kernelTest starts a test on the real kernel: it needs root, and returns
// the run's name prefix and a run directory removed at cleanup (after
// everything the test registers later, which may live in it).
func kernelTest(t *testing.T) (prefix, runDir string) {
	t.Helper()
	requireRoot(t)
	prefix = runPrefix(t)
	runDir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(runDir) })
	return prefix, runDir
}

func peerClient(p peerBird) BirdClient { return BirdClient{Socket: p.Sock} }

func protocolState(c BirdClient, name string) (ProtocolStatus, error) {
	ps, err := c.Protocols(context.Background())
	if err != nil {
		return ProtocolStatus{}, err
	}
	for _, p := range ps {
		if p.Name == name {
			return p, nil
		}
	}
	return ProtocolStatus{}, fmt.Errorf("no protocol %s", name)
}

func waitEstablished(t *testing.T, c BirdClient, name string) ProtocolStatus {
	t.Helper()
	var st ProtocolStatus
	waitFor(t, name+" Established", 60*time.Second, func() (bool, string) {
		var err error
		st, err = protocolState(c, name)
		if err != nil {
			return false, err.Error()
		}
		return st.Established(), fmt.Sprintf("%+v", st)
	})
	return st
}

func hasRoute(c BirdClient, prefix, protocol string) (bool, string) {
	rs, err := c.Routes(context.Background())
	if err != nil {
		return false, err.Error()
	}
	for _, r := range rs {
		if r.Net.String() == prefix && r.Protocol == protocol {
			return true, ""
		}
	}
	return false, fmt.Sprintf("%v", rs)
}

// wirePeers makes the on-premises and cloud peers' namespaces, each joined
// to a port of the node by a veth (eth0 on the peer's side, 169.254.10.2/30
// and 169.254.20.2/30, up).
func wirePeers(t *testing.T, node, onNS, onPort, clNS, clPort string) {
	t.Helper()
	for _, side := range []struct{ ns, port, addr string }{
		{onNS, onPort, "169.254.10.2/30"}, {clNS, clPort, "169.254.20.2/30"},
	} {
		addNamespace(t, side.ns)
		sh(t, "ip", "-n", node, "link", "add", side.port, "type", "veth", "peer", "name", "eth0", "netns", side.ns)
		sh(t, "ip", "-n", side.ns, "addr", "add", side.addr, "dev", "eth0")
		sh(t, "ip", "-n", side.ns, "link", "set", "eth0", "up")
	}
}
